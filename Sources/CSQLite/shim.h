#ifndef SUTRADHAR_CSQLITE_SHIM_H
#define SUTRADHAR_CSQLITE_SHIM_H
#include <sqlite3.h>

/* sqlite3_db_config is variadic, which Swift cannot call: one typed wrapper per option used. */
static inline int sutradhar_sqlite_no_checkpoint_on_close(sqlite3 *db, int enabled) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, enabled, (int *)0);
}

#endif

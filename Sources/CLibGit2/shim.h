#ifndef SUTRADHAR_CLIBGIT2_SHIM_H
#define SUTRADHAR_CLIBGIT2_SHIM_H
#include <git2.h>
#endif

#ifndef SUTRADHAR_CZLIB_SHIM_H
#define SUTRADHAR_CZLIB_SHIM_H
#include <zlib.h>
#endif

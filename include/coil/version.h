/*
 * coil's version: the headers' (macros, at compile time) and the library's
 * (calls, at run time), so a program or a binding can check that the two
 * agree. The ABI follows the major version (libcoil.so.MAJOR).
 */
#ifndef COIL_VERSION_H
#define COIL_VERSION_H

#include "coil/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COIL_VERSION_MAJOR 0
#define COIL_VERSION_MINOR 1
#define COIL_VERSION_PATCH 0
#define COIL_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define COIL_VERSION_NUMBER (COIL_VERSION_MAJOR * 10000 + COIL_VERSION_MINOR * 100 + COIL_VERSION_PATCH)

/* The library's version string ("0.1.0"). */
COIL_API const char *coil_version(void);

/* The library's version as COIL_VERSION_NUMBER computes it. */
COIL_API int coil_version_number(void);

#ifdef __cplusplus
}
#endif

#endif

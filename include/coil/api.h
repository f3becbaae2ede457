/* coil/api.h: COIL_API, the mark of every call libcoil exports (the
 * others are hidden: src/coil.symbols lists what it exports). Every public
 * header includes it. */
#ifndef COIL_API_H
#define COIL_API_H

#if defined(COIL_BUILDING) && defined(__GNUC__)
#define COIL_API __attribute__((visibility("default")))
#else
#define COIL_API
#endif

#endif

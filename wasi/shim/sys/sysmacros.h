/* Device numbers (README): WASI reports none, so these see 0. */
#ifndef COIL_WASI_SHIM_SYS_SYSMACROS_H
#define COIL_WASI_SHIM_SYS_SYSMACROS_H
#define major(dev) ((unsigned)(((dev) >> 8) & 0xfff))
#define minor(dev) ((unsigned)(((dev) & 0xff) | (((dev) >> 12) & 0xfff00)))
#define makedev(ma, mi) ((((unsigned long long)(ma)) << 8) | (mi))
#endif

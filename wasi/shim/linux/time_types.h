/* The kernel's timespec, which io_uring's timeouts take (README). */
#ifndef COIL_WASI_SHIM_LINUX_TIME_TYPES_H
#define COIL_WASI_SHIM_LINUX_TIME_TYPES_H
struct __kernel_timespec {
	long long tv_sec;
	long long tv_nsec;
};
#endif

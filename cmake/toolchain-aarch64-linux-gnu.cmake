# Cross-build for AArch64 Linux on a Debian amd64 host; ctest runs the test
# programs under qemu-user. Used by the "aarch64" preset (scripts/test-aarch64
# installs everything this needs).
#
# Debian packages: gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user, and
# from the arm64 multiarch archive liburing-dev:arm64 check:arm64 (with their
# dependencies libsubunit-dev:arm64, liburing2:arm64, libc6:arm64, whose
# loader runs the test programs under qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# The Debian architecture of the target's libraries: messages that name a
# missing package name its arm64 build (libuv1-dev:arm64), not the host's.
set(COIL_DEBIAN_ARCH arm64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

# Debian's cross gcc already searches /usr/include and the multiarch
# /usr/lib/aarch64-linux-gnu after its own /usr/aarch64-linux-gnu, so the arm64
# builds of liburing and check are found once pkg-config reads their .pc files
# (and only theirs, never the host's).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})

# Target libraries and headers: the cross root first, then the multiarch host
# paths (/usr/lib/aarch64-linux-gnu); programs (pkg-config, qemu) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Run target programs (ctest, try_run) under qemu-user, with Debian's arm64
# multiarch libc (libc6:arm64, a dependency of liburing2:arm64): qemu loads
# /lib/ld-linux-aarch64.so.1, which finds libc, liburing.so.2 and
# libsubunit.so.0 in /lib and /usr/lib/aarch64-linux-gnu as on an arm64 Debian.
# Not "-L /usr/aarch64-linux-gnu": with the cross libc's loader (libc6-arm64-cross
# 2.36-8cross1 under qemu-user 7.2) every fork()ed child spins forever right
# after set_robust_list, and Check runs each test in a forked child. Programs
# are still compiled and linked against the cross libc (same glibc 2.36 ABI).
find_program(COIL_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${COIL_QEMU_AARCH64}")

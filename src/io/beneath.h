/*
 * Opening a path beneath a directory, the blocking way: the body of
 * COIL__OP_OPENAT2 where io_uring does not run it (the blocking pool).
 */
#ifndef COIL_IO_BENEATH_H
#define COIL_IO_BENEATH_H

#include <linux/openat2.h>

/*
 * openat2(dirfd, path, how); where the kernel has no openat2 (-ENOSYS:
 * before 5.6, or a seccomp filter that does not know it) and how asks for
 * RESOLVE_BENEATH, a walk of path one component at a time that gives the
 * same answers: every component opened with O_NOFOLLOW relative to the
 * one before, ".." taken back along the directories walked (never above
 * dirfd: -EXDEV), each symlink read and its text walked in its place
 * (absolute: -EXDEV; more than 40: -ELOOP). Returns the fd or -errno.
 */
int coil__open_beneath_blocking(int dirfd, const char *path, const struct open_how *how);

#endif

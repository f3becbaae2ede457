/* coil/fd.h: closing any descriptor coil used (files, sockets,
 * listeners, pipes). coil/net.h and coil/fs.h include it. */
#ifndef COIL_FD_H
#define COIL_FD_H

#include "coil/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Close any descriptor (file, socket, listener, pipe...): every fd coil
 * uses should be closed here, not with close(2), so that the backend forgets
 * it (a new fd of that number starts clean; with COIL_FEATURE_FIXED_FILES
 * a worker's ring keeps the file of an fd closed with close(2) open).
 * Operations that other fibers have in flight on fd end first, with -EBADF,
 * on every backend and every worker of the runtime (io_uring cancels them
 * before the close; the close waits until each other worker that used fd
 * has let go of it), so none of them ever touches a new fd that takes the
 * number. The same holds for a close from outside the runtime (a plain
 * thread, a fiber of another runtime): it reaches every worker of every
 * coil_run runtime that used fd, one worker or several, and waits for
 * them (a plain thread on a futex), so it must not be called on a thread
 * that such a worker waits for. A fiber of a coil_loop is reached only by
 * a close in its own loop (between ticks the loop's thread is the
 * embedder's, which nobody may wait for). It closes also in a cancelled
 * task (clean-up must stay possible).
 * Returns 0 or -EBADF, -EIO...
 */
COIL_API int coil_close(int fd);

#ifdef __cplusplus
}
#endif
#endif

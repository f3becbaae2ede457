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
 * on every backend and every worker of the runtime (io_uring cancels them,
 * IORING_ASYNC_CANCEL_FD, before the close; with several workers the close
 * waits until each worker that used fd has let go of it), so none of them
 * ever touches a new fd that takes the number. It closes also in a
 * cancelled task (clean-up must stay possible), and also outside a runtime
 * (a plain close(2) then: a fiber parked on fd is not ended by it).
 * Returns 0 or -EBADF, -EIO...
 */
COIL_API int coil_close(int fd);

#ifdef __cplusplus
}
#endif
#endif

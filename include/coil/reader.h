/*
 * coil/reader.h: reading a stream socket into buffers coil lends.
 *
 * coil_sock_read() needs a buffer from its caller, held for as long as the
 * read waits: an idle connection pins one. A reader borrows instead: each
 * read hands back a buffer that coil lent, filled, and takes it back at
 * the next read (or at close). On io_uring the buffers sit in a provided
 * buffer ring and one multishot recv stays armed per reader, so an idle
 * connection holds no buffer at all and a busy one needs no submission per
 * read (enum coil_feature COIL_FEATURE_BUF_RING). On the readiness
 * backends, or with that feature off, a read waits for data with a 1-byte
 * peek (holding no buffer), then takes a free buffer of the same pool and
 * receives into it. Same results on every backend.
 *
 *     coil_reader *r;
 *     if (coil_reader_open(&r, fd) == 0) {
 *             const void *p;
 *             ssize_t n;
 *             while ((n = coil_reader_read(r, &p)) > 0)
 *                     if (coil_sock_write_all(fd, p, (size_t)n) < 0)
 *                             break;
 *             coil_reader_close(r);
 *     }
 *     coil_close(fd);
 *
 * Data is never lost: bytes that arrive while nobody reads wait in the
 * reader (a few buffers at most: past that the reader stops receiving
 * until they are read, and the data waits in the socket) or in the socket.
 * When every buffer of the worker is out, receiving waits for one to come
 * back: backpressure, never an error. A read cancelled or past its
 * deadline loses nothing either: the next read returns what came.
 *
 * A reader belongs to the worker (thread) that opened it: read and close
 * it from fibers of that worker. Readers still open when coil_run ends are
 * closed by it (their pointers are then invalid).
 */
#ifndef COIL_READER_H
#define COIL_READER_H

#include <sys/types.h>

#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coil_reader coil_reader;

/* Open a reader on fd, a connected stream socket (TCP, Unix stream). The
 * fd stays the caller's: close it with coil_close after the reader.
 * Returns 0 (*out set), or:
 *   -EINVAL   out is NULL, or fd is not a stream socket
 *   -EBADF    fd is negative or not open
 *   -ENOTSOCK fd is not a socket
 *   -ENOMEM   no memory for the reader or the worker's buffers
 *   -EPERM    not on a fiber inside coil_run */
COIL_API int coil_reader_open(coil_reader **out, int fd);

/* Wait for data and lend it: *data points at the bytes received (at most
 * coil_config.recv_buffer_size), valid until the next coil_reader_read or
 * coil_reader_close on r. Returns the byte count (> 0); 0 at end of stream
 * (and at every read after it); or:
 *   -EINVAL     r or data is NULL
 *   -EXDEV      r belongs to another worker
 *   -EBUSY      another fiber is reading r now
 *   -ECANCELED  the task or a scope was cancelled (nothing was lost)
 *   -ETIMEDOUT  a scope's deadline passed (nothing was lost)
 *   -EBADF      the fd was closed under the reader, or the reader is closing
 *   -ECONNRESET and the socket's other errors, as recv(2) gives them; each
 *               such error is returned again by every later read
 *   -EPERM      not on a fiber inside coil_run */
COIL_API ssize_t coil_reader_read(coil_reader *r, const void **data);

/* Close r: its buffers go back to the worker and its receive is stopped
 * (waiting for the kernel to let go, even in a cancelled task). A fiber
 * still waiting in coil_reader_read on r gets -EBADF. Does not close the
 * fd. Returns 0, or -EINVAL (r is NULL), -EXDEV (another worker's),
 * -EPERM (not inside coil_run). */
COIL_API int coil_reader_close(coil_reader *r);

#ifdef __cplusplus
}
#endif

#endif

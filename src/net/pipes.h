/* The pipes that carry bytes between two fds without copying them through
 * user memory (coil_sock_sendfile on io_uring for a range not in the page
 * cache, coil_sock_splice): each worker keeps a few empty ones for the
 * next call. */
#ifndef COIL_NET_PIPES_H
#define COIL_NET_PIPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coil__io;

/* The most one splice moves, and the size asked of a new pipe. */
#define COIL__PIPE_CHUNK (1u << 20)

/* An empty pipe of the worker's, or a new one (non-blocking; as big as
 * COIL__PIPE_CHUNK where the system lets it: fewer splices). 0 or -errno. */
int coil__pipe_take(struct coil__io *io, int p[2]);

/* Keep an empty pipe for the next call; one still holding bytes (the
 * output failed mid-chunk, or the call was cancelled) is closed. */
void coil__pipe_give(struct coil__io *io, int p[2], bool empty);

/* One splice op: len bytes at most from in (at off_in; -1: a stream) to
 * out, without waiting (the fds are non-blocking: -EAGAIN). */
int coil__splice_once(int in, int64_t off_in, int out, size_t len);

/* Move n bytes from the pipe's read end rd to the stream socket sock,
 * waiting for room whenever the socket has none; *moved says how many went
 * out. Returns 0 (all n), or -errno (the rest is still in the pipe). */
int coil__pipe_drain(int rd, int sock, int n, int *moved);

#endif

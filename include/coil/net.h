/* coil/net.h: TCP, UDP and Unix stream sockets on fibers.
 *
 * Sockets are plain file descriptors, created non-blocking and close-on-exec,
 * so they can be passed to setsockopt() and friends. Close them with
 * coil_close() (coil/fd.h): a fiber parked on one (a read waiting for data),
 * on any worker, then gets -EBADF, on every backend; that is how to stop a
 * reader.
 */
#ifndef COIL_NET_H
#define COIL_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include "coil/fd.h"
#include "coil/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Flags for coil_tcp_listen(). SO_REUSEADDR is always set. */
#define COIL_LISTEN_REUSEPORT 0x1u /* also set SO_REUSEPORT */
#define COIL_LISTEN_V6ONLY 0x2u    /* IPv6 listener that refuses IPv4 */

/*
 * Create a TCP listener on a numeric IPv4 ("127.0.0.1") or IPv6 ("::1")
 * address and port (0 picks a free port; see coil_sock_port()). backlog <= 0
 * means SOMAXCONN. Setting up a listener does not block, so this also works
 * outside a runtime.
 * Returns the listening fd, or -EINVAL (addr not numeric, NULL, bad flags),
 * -EADDRINUSE, -EACCES, or the socket call's error.
 */
COIL_API int coil_tcp_listen(const char *addr, uint16_t port, int backlog,
			     unsigned flags);

/* ---- a server over every worker ------------------------------------------
 *
 * One listening address served by all the workers of the runtime. Two ways
 * to spread the connections:
 */
/* One SO_REUSEPORT listener per worker, each accepting on its worker; the
 * kernel spreads connections by a hash of their addresses (long-lived
 * connections can pile up on one worker). */
#define COIL_SERVE_REUSEPORT 1u
/* One listener and one accepting fiber (the caller of coil_server_run),
 * handing each connection to the worker with the fewest live fibers. */
#define COIL_SERVE_HANDOFF 2u

typedef struct coil_server coil_server;

/* A connection's handler: runs in a fiber of its own (detached) on the
 * worker the connection went to, and owns fd (close it with coil_close). */
typedef void (*coil_server_fn)(int fd, void *ctx);

/*
 * Listen on addr:port (numeric; port 0 picks a free port, shared by all the
 * listeners: coil_server_port) in mode COIL_SERVE_REUSEPORT or
 * COIL_SERVE_HANDOFF. From a fiber.
 * Returns 0 and *out, or -EINVAL (mode, out NULL, addr), -EPERM (not in a
 * fiber), -ENOMEM, or coil_tcp_listen's error (nothing is left open).
 */
COIL_API int coil_server_open(coil_server **out, const char *addr, uint16_t port,
			      int backlog, unsigned mode);

/* The port the server listens on, or -EINVAL. */
COIL_API int coil_server_port(const coil_server *s);

/*
 * Accept connections until the calling task is cancelled (-ECANCELED) or a
 * listener fails (its error); each connection runs handler(fd, ctx) in a
 * new detached fiber. Transient accept errors (a client gone, out of fds
 * for a moment) are skipped. REUSEPORT: one accepting fiber per worker,
 * all stopped (and waited for) before this returns. Connections already
 * handed out keep running.
 */
COIL_API int coil_server_run(coil_server *s, coil_server_fn handler, void *ctx);

/* Close the listeners and free s (s NULL: 0). Returns 0 or the first
 * close error. */
COIL_API int coil_server_close(coil_server *s);

/*
 * Accept one connection on a listener (TCP or Unix). If peer is not NULL it
 * receives the peer's address and *peer_len its length (*peer_len must hold
 * peer's size on entry). The new fd is non-blocking and close-on-exec.
 * Returns the new fd, or -EBADF, -EINVAL (not listening, or the listener was
 * shut down), -ECANCELED, -ETIMEDOUT (a scope's deadline), -EMFILE...,
 * -EPERM (outside a runtime).
 */
COIL_API int coil_tcp_accept(int listen_fd, struct sockaddr *peer,
			     socklen_t *peer_len);

/*
 * Connect to a host and port. host is a numeric IPv4 or IPv6 address, or a
 * name ("localhost"): names are resolved with getaddrinfo on the runtime's
 * blocking pool (the fiber parks, the thread does not), on every backend,
 * and the first address returned is used.
 * Returns the connected fd, or -EINVAL (host NULL or empty), -ENOENT (no
 * such name), -EAGAIN (name service temporarily failing), -ECONNREFUSED,
 * -ETIMEDOUT, -ENETUNREACH, -ECANCELED, -EPERM (outside a runtime)...
 */
COIL_API int coil_tcp_connect(const char *addr, uint16_t port);

/* Set TCP_NODELAY on (1) or off (0). Returns 0 or -errno. */
COIL_API int coil_tcp_nodelay(int fd, int on);

/* The local port a socket is bound to, or -errno. */
COIL_API int coil_sock_port(int fd);

/*
 * Receive up to len bytes from a connected socket. len 0 returns 0 at once
 * (after the cancellation check), as read(2) does.
 * Returns the count (0 means the peer closed its side: end of file), or
 * -EINVAL (buf NULL with len > 0), -EBADF (also when another fiber closed fd
 * meanwhile), -ECONNRESET, -ECANCELED, -ETIMEDOUT (a scope's deadline), -EPERM.
 */
COIL_API ssize_t coil_sock_read(int fd, void *buf, size_t len);

/*
 * Send up to len bytes on a connected socket; may send fewer (a short write).
 * Never raises SIGPIPE: a closed peer gives -EPIPE.
 * Returns the count sent, or -EINVAL, -EBADF, -EPIPE, -ECONNRESET,
 * -ECANCELED, -ETIMEDOUT (a scope's deadline), -EPERM.
 */
COIL_API ssize_t coil_sock_write(int fd, const void *buf, size_t len);

/*
 * Receive exactly len bytes, looping over short reads.
 * Returns len; or the smaller count received when the peer closed first
 * (0 if it closed before any byte); or a negative errno if an error came
 * first (bytes received before the error stay in buf, uncounted: use
 * coil_sock_read() to see every partial count).
 */
COIL_API ssize_t coil_sock_read_exact(int fd, void *buf, size_t len);

/*
 * Send all len bytes, looping over short writes.
 * Returns len, or a negative errno (then an unknown prefix was sent).
 */
COIL_API ssize_t coil_sock_write_all(int fd, const void *buf, size_t len);

/* Shut down one or both directions (SHUT_RD, SHUT_WR, SHUT_RDWR).
 * Returns 0, -EINVAL, -EBADF, -ENOTCONN, -ECANCELED, -ETIMEDOUT, -EPERM. */
COIL_API int coil_sock_shutdown(int fd, int how);

/* Send up to len bytes of the file `file` from offset off to the stream
 * socket sock, without copying them through user memory (io_uring:
 * sendfile(2) on the worker when every page of the range is in the page
 * cache, else splice through a pipe coil keeps; elsewhere sendfile(2); a
 * full socket is waited for on every backend). The file's own
 * position is not used or moved. The fds are checked before the offset,
 * as sendfile(2) does, on every backend: a file not open for reading is
 * -EBADF also past its end. Returns the bytes sent (fewer than len
 * at the end of the file, or when the socket failed after some: the next
 * call reports that), 0 when off is at or past the end, or -errno:
 * -EBADF (sock or file is not an open fd, file is not open for reading,
 * sock not for writing), -ESPIPE (file takes no offsets, as pread(2)
 * says: a pipe, a socket, an eventfd), -EINVAL (off < 0, or fds that
 * cannot splice), -EPIPE, -ECONNRESET, -ECANCELED, -ETIMEDOUT, -EPERM
 * (not on a fiber inside coil_run). */
COIL_API ssize_t coil_sock_sendfile(int sock, int file, int64_t off, size_t len);

/* Move bytes that arrive on the stream socket from to the stream socket
 * to, without copying them through user memory (splice through a pipe
 * coil keeps, on every backend): wait until from has bytes or has ended,
 * take up to len of them (at most 1 MiB; what is there, not len), and send
 * all of them to to, waiting for room as coil_sock_write_all does. A
 * proxy's loop: `while ((n = coil_sock_splice(out, in, 65536)) > 0) {}`.
 * Returns the bytes moved (every one of them sent), 0 when from has ended
 * (nothing was moved), or -errno: -EBADF, -ENOTSOCK (from is not a
 * socket), -EINVAL (to cannot take a splice), -EPIPE, -ECONNRESET, -ECANCELED,
 * -ETIMEDOUT, -EPERM (not on a fiber inside coil_run). A cancel or a
 * deadline while it waits for from takes nothing from it; one while it
 * waits for room in to ends the call with an unknown part of the bytes
 * taken sent and the rest dropped, as coil_sock_write_all would. */
COIL_API ssize_t coil_sock_splice(int to, int from, size_t len);

/*
 * Create a UDP socket bound to a numeric IPv4 or IPv6 address and port (0
 * picks one). Works outside a runtime too.
 * Returns the fd or -errno.
 */
COIL_API int coil_udp_bind(const char *addr, uint16_t port);

/* Send one datagram of len bytes to a numeric address and port.
 * Returns the count sent or -errno (-EMSGSIZE when too large). */
COIL_API ssize_t coil_udp_sendto(int fd, const void *buf, size_t len,
				 const char *addr, uint16_t port);

/* Send one datagram to a socket address. Returns the count sent or -errno. */
COIL_API ssize_t coil_udp_sendto_addr(int fd, const void *buf, size_t len,
				      const struct sockaddr *to, socklen_t to_len);

/*
 * Receive one datagram into buf (a longer datagram is truncated to len). If
 * from is not NULL it receives the sender's address and *from_len its
 * length (*from_len must hold from's size on entry).
 * Returns the datagram's byte count or -errno.
 */
COIL_API ssize_t coil_udp_recvfrom(int fd, void *buf, size_t len,
				   struct sockaddr *from, socklen_t *from_len);

/*
 * Listen on a Unix stream socket at path (an existing socket file there is
 * not removed: unlink it first). Works outside a runtime.
 * Returns the fd, or -EINVAL (path NULL, empty or too long), -EADDRINUSE...
 */
COIL_API int coil_unix_listen(const char *path, int backlog);

/* Connect to a Unix stream socket. Returns the fd or -errno
 * (-ENOENT, -ECONNREFUSED, -EINVAL...). Accept with coil_tcp_accept(). */
COIL_API int coil_unix_connect(const char *path);

#ifdef __cplusplus
}
#endif
#endif

/* wasi-libc's sys/socket.h, plus the flags coil passes (README). WASI
 * raises no SIGPIPE, so MSG_NOSIGNAL means nothing there; MSG_DONTWAIT is
 * what a non-blocking fd does anyway (coil's fds on WASI are). */
#ifndef COIL_WASI_SHIM_SYS_SOCKET_H
#define COIL_WASI_SHIM_SYS_SOCKET_H
#include_next <sys/socket.h>
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0x4000
#endif
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0x0040
#endif
#include <errno.h>
#ifndef SO_REUSEADDR
#define SO_REUSEADDR 2
#endif
#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif
#ifndef SOMAXCONN
#define SOMAXCONN 4096
#endif
/* Preview 1 makes, binds, connects and names no socket: those fail with
 * ENOSYS. */
static inline int socket(int domain, int type, int proto)
{ (void)domain; (void)type; (void)proto; errno = ENOSYS; return -1; }
static inline int socketpair(int domain, int type, int proto, int fds[2])
{ (void)domain; (void)type; (void)proto; (void)fds; errno = ENOSYS; return -1; }
static inline int bind(int fd, const struct sockaddr *a, socklen_t n)
{ (void)fd; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline int listen(int fd, int backlog) { (void)fd; (void)backlog; errno = ENOSYS; return -1; }
static inline int setsockopt(int fd, int level, int name, const void *v, socklen_t n)
{ (void)fd; (void)level; (void)name; (void)v; (void)n; errno = ENOSYS; return -1; }
static inline int getsockname(int fd, struct sockaddr *a, socklen_t *n)
{ (void)fd; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline int getpeername(int fd, struct sockaddr *a, socklen_t *n)
{ (void)fd; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline ssize_t sendto(int fd, const void *b, size_t len, int flags, const struct sockaddr *a,
			     socklen_t n)
{ (void)fd; (void)b; (void)len; (void)flags; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline ssize_t recvfrom(int fd, void *b, size_t len, int flags, struct sockaddr *a,
			       socklen_t *n)
{ (void)fd; (void)b; (void)len; (void)flags; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline int connect(int fd, const struct sockaddr *a, socklen_t n)
{ (void)fd; (void)a; (void)n; errno = ENOSYS; return -1; }
static inline ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{ (void)fd; (void)m; (void)flags; errno = ENOSYS; return -1; }
static inline ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{ (void)fd; (void)m; (void)flags; errno = ENOSYS; return -1; }
/* It does have sock_accept, sock_recv, sock_send and sock_shutdown, on
 * sockets the host pre-opened (wasi-libc's accept, accept4, recv, send and
 * shutdown call them), but no host this project can install gives a guest
 * such a socket, and Node's WASI (uvwasi 0.0.19 to 0.0.23) takes the whole
 * process down with SIGSEGV when any of the four is called on stdin, stdout
 * or stderr (which it types as sockets) or on a socket passed as one
 * (docs/wasi.md, "Sockets"). So the WASI libcoil never calls them: they too
 * fail with ENOSYS, the same answer as every other socket call there. */
static inline int coil_wasi_no_accept4(int fd, struct sockaddr *a, socklen_t *n, int flags)
{ (void)fd; (void)a; (void)n; (void)flags; errno = ENOSYS; return -1; }
static inline ssize_t coil_wasi_no_recv(int fd, void *b, size_t len, int flags)
{ (void)fd; (void)b; (void)len; (void)flags; errno = ENOSYS; return -1; }
static inline ssize_t coil_wasi_no_send(int fd, const void *b, size_t len, int flags)
{ (void)fd; (void)b; (void)len; (void)flags; errno = ENOSYS; return -1; }
static inline int coil_wasi_no_shutdown(int fd, int how)
{ (void)fd; (void)how; errno = ENOSYS; return -1; }
#define accept(fd, a, n) coil_wasi_no_accept4(fd, a, n, 0)
#define accept4(fd, a, n, flags) coil_wasi_no_accept4(fd, a, n, flags)
#define recv(fd, b, len, flags) coil_wasi_no_recv(fd, b, len, flags)
#define send(fd, b, len, flags) coil_wasi_no_send(fd, b, len, flags)
#define shutdown(fd, how) coil_wasi_no_shutdown(fd, how)
#endif

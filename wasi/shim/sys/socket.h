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
/* Preview 1 has sock_accept, sock_recv, sock_send and sock_shutdown on
 * sockets the host pre-opened (wasi-libc: accept, accept4, recv, send,
 * shutdown, getsockopt), and nothing that makes, binds, connects or names
 * one: those fail with ENOSYS. */
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
#endif

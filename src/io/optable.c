/* The op table. See optable.h: a new op is a row here. */
#include "io/optable.h"

#include "io/blocking.h"
#include "io/try.h"

/* The flags an op on a socket or stream has: it works on op->fd's file
 * and may name its registered slot. */
#define ON_FD (COIL__OPF_NAMES_FD | COIL__OPF_FIXED_FILE)
/* ...and the read/write family takes an offset. */
#define RW (ON_FD | COIL__OPF_SEEKS)

const struct coil__opdef coil__optable[] = {
	[COIL__OP_NOP] = {
		.name = "nop", .flags = COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_nop,
		.route = COIL__ROUTE_NOW, .try = coil__try_nop,
	},
	/* A sleep as a kernel timer (coil_config.coalesce_sleeps off);
	 * elsewhere sleeps are sched's timers. */
	[COIL__OP_TIMEOUT] = {.name = "timeout", .flags = COIL__OPF_URING_ONLY},
	[COIL__OP_ACCEPT] = {
		.name = "accept", .flags = COIL__OPF_NAMES_FD | COIL__OPF_MAKES_FD,
		.out = COIL__OUT_ADDR,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_READ, .try = coil__try_accept,
	},
	[COIL__OP_CONNECT] = {
		.name = "connect", .flags = COIL__OPF_NAMES_FD,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_WRITE, .try = coil__try_connect,
	},
	[COIL__OP_RECV] = {
		.name = "recv", .flags = ON_FD, .out = COIL__OUT_RW,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_READ, .try = coil__try_recv,
	},
	[COIL__OP_SEND] = {
		.name = "send", .flags = ON_FD,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_WRITE, .try = coil__try_send,
	},
	[COIL__OP_RECVMSG] = {
		.name = "recvmsg", .flags = ON_FD, .out = COIL__OUT_MSG,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_READ, .try = coil__try_recvmsg,
	},
	[COIL__OP_SENDMSG] = {
		.name = "sendmsg", .flags = ON_FD,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_WRITE, .try = coil__try_sendmsg,
	},
	[COIL__OP_READ] = {
		.name = "read", .flags = RW, .out = COIL__OUT_RW,
		.blocking = coil__blocking_read,
		.route = COIL__ROUTE_FILE, .dir = COIL__DIR_READ, .try = coil__try_stream,
	},
	[COIL__OP_WRITE] = {
		.name = "write", .flags = RW,
		.blocking = coil__blocking_write,
		.route = COIL__ROUTE_FILE, .dir = COIL__DIR_WRITE, .try = coil__try_stream,
	},
	[COIL__OP_READV] = {
		.name = "readv", .flags = RW, .out = COIL__OUT_VEC,
		.blocking = coil__blocking_readv,
		.route = COIL__ROUTE_FILE, .dir = COIL__DIR_READ, .try = coil__try_stream,
	},
	[COIL__OP_WRITEV] = {
		.name = "writev", .flags = RW,
		.blocking = coil__blocking_writev,
		.route = COIL__ROUTE_FILE, .dir = COIL__DIR_WRITE, .try = coil__try_stream,
	},
	[COIL__OP_CLOSE] = {
		.name = "close", .flags = COIL__OPF_CLOSES_FD | COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_close,
		.route = COIL__ROUTE_NOW, .try = coil__try_close,
	},
	[COIL__OP_SHUTDOWN] = {
		.name = "shutdown", .flags = COIL__OPF_NAMES_FD,
		.route = COIL__ROUTE_NOW, .try = coil__try_shutdown,
	},
	/* fd is the directory the path is relative to. */
	[COIL__OP_OPENAT] = {
		.name = "openat", .flags = COIL__OPF_MAKES_FD | COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_openat,
		.route = COIL__ROUTE_CACHED, .try = coil__try_openat,
	},
	/* The same with a struct open_how (RESOLVE_BENEATH...); the pool does
	 * a checked walk where the kernel has no openat2 (io/beneath.h). */
	[COIL__OP_OPENAT2] = {
		.name = "openat2", .flags = COIL__OPF_MAKES_FD | COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_openat2,
		.route = COIL__ROUTE_CACHED, .try = coil__try_openat2,
	},
	[COIL__OP_FSYNC] = {
		.name = "fsync", .flags = COIL__OPF_NAMES_FD | COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_fsync, .route = COIL__ROUTE_POOL,
	},
	[COIL__OP_STATX] = {
		.name = "statx", .flags = COIL__OPF_POOL_STANDS_IN, .out = COIL__OUT_STATX,
		.blocking = coil__blocking_statx,
		.route = COIL__ROUTE_CACHED, .try = coil__try_statx,
	},
	/* No system call resolves names: always the pool's. */
	[COIL__OP_RESOLVE] = {
		.name = "resolve", .flags = COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_resolve, .route = COIL__ROUTE_POOL,
	},
	/* Never waits: the fds are non-blocking (net/pipes.h waits apart). */
	[COIL__OP_SPLICE] = {
		.name = "splice", .flags = COIL__OPF_NAMES_FD,
		.route = COIL__ROUTE_NOW, .try = coil__try_splice,
	},
	/* coil_sock_sendfile where there is no splice (io->can_splice): on a
	 * blocking socket the pool sends. */
	[COIL__OP_SENDFILE] = {
		.name = "sendfile", .flags = COIL__OPF_NAMES_FD | COIL__OPF_POOL_STANDS_IN,
		.blocking = coil__blocking_sendfile,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_WRITE, .try = coil__try_sendfile,
	},
	/* The socket a splice said -EAGAIN for has room again. */
	[COIL__OP_POLL_OUT] = {
		.name = "poll_out", .flags = COIL__OPF_NAMES_FD,
		.route = COIL__ROUTE_FD, .dir = COIL__DIR_WRITE, .try = coil__try_poll_out,
	},
};

_Static_assert(sizeof coil__optable / sizeof coil__optable[0] == COIL__OP_COUNT,
	       "coil__optable: one row per enum coil__opcode");

/*
 * What a WASI host does with preview 1's four socket calls on one fd: the
 * host survey of docs/wasi.md ("Sockets") was made with it. Not coil: the
 * raw calls, one per run, since a host may end the process on one.
 *   sh scripts/wasi-cc wasi/sock-probe.c -o sock-probe.wasm
 *   sh scripts/wasi-run sock-probe.wasm accept|recv|send|shutdown [FD] < ...
 * FD is 0 (stdin) unless given: run it with a listening or a connected
 * socket, a pipe or /dev/null on stdin, or name a pre-opened fd (3 is the
 * first pre-opened directory). Prints the call's WASI errno and its name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sock-probe accept|recv|send|shutdown [fd]\n");
		return 2;
	}
	const char *call = argv[1];
	__wasi_fd_t fd = argc > 2 ? (__wasi_fd_t)atoi(argv[2]) : 0;
	__wasi_fdstat_t st;
	__wasi_errno_t e = __wasi_fd_fdstat_get(fd, &st);
	if (e == 0)
		printf("fd %u: filetype %u, rights %#llx\n", fd, st.fs_filetype,
		       (unsigned long long)st.fs_rights_base);
	char buf[64];
	__wasi_size_t n = 0;
	if (!strcmp(call, "accept")) {
		__wasi_fd_t conn = 0;
		e = __wasi_sock_accept(fd, __WASI_FDFLAGS_NONBLOCK, &conn);
		n = e == 0 ? conn : 0;
	} else if (!strcmp(call, "recv")) {
		__wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
		__wasi_roflags_t ro = 0;
		e = __wasi_sock_recv(fd, &iov, 1, 0, &n, &ro);
	} else if (!strcmp(call, "send")) {
		__wasi_ciovec_t iov = {(const uint8_t *)"probe\n", 6};
		e = __wasi_sock_send(fd, &iov, 1, 0, &n);
	} else if (!strcmp(call, "shutdown")) {
		e = __wasi_sock_shutdown(fd, __WASI_SDFLAGS_WR);
	} else {
		fprintf(stderr, "sock-probe: no call \"%s\"\n", call);
		return 2;
	}
	printf("sock_%s(%u): errno %u (%s), result %lu\n", call, fd, e, strerror(e),
	       (unsigned long)n);
	return 0;
}

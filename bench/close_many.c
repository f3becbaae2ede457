/*
 * close_many: closing N idle connections at once.
 *
 * A one-worker coil server accepts N loopback connections from a child
 * process; each connection's fiber waits for data (through a coil_reader,
 * as the HTTP server's idle keep-alive connections do, or a plain
 * coil_sock_read into its stack with --read plain). Once all N are idle:
 *
 *   --closer client   the client closes all N at once (the default): each
 *                     server fiber sees the end of stream and closes its fd
 *   --closer server   the server's main fiber coil_closes all N while their
 *                     fibers still wait (each wait ends with -EBADF)
 *
 * Timed from the signal to the last server fiber's end: wall seconds and
 * the server process's CPU (user + system: on io_uring the kernel's work
 * for the closes runs in the server's io_uring_enter). One line:
 *
 *   backend=io_uring conns=N read=reader closer=client seconds=S cpu=C
 *
 *   close_many [--conns N] [--read reader|plain] [--closer client|server]
 *
 * The backend is $COIL_BACKEND's (default io_uring). N needs N + a few fds
 * in each process (RLIMIT_NOFILE; the soft limit is raised to the hard).
 * bench/close_many.sh runs it over N and backends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <coil.h>

#include "bench_util.h"

static int g_conns = 1000;
static bool g_plain;	     /* --read plain */
static bool g_server_closes; /* --closer server */
static int g_to_child[2], g_from_child[2];
static int g_lfd;
static pid_t g_child;

static void die(const char *what, int r)
{
	fprintf(stderr, "close_many: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void say(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		die("pipe write", errno);
}

static char hear(int fd)
{
	char c = 0;
	if (read(fd, &c, 1) != 1)
		die("pipe read", errno ? errno : EPIPE);
	return c;
}

/* The client: N connections, told when to close them. */
static void client(uint16_t port)
{
	int *fds = malloc(sizeof *fds * (size_t)g_conns);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < g_conns; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0)
			die("client connect", errno);
	}
	say(g_from_child[1], 'c');
	if (hear(g_to_child[0]) == 'g') { /* else 'x': the server closed them */
		for (int i = 0; i < g_conns; i++)
			close(fds[i]);
		(void)hear(g_to_child[0]); /* 'x': the server is done */
	}
	_exit(0);
}

struct conn {
	int fd;
	int end; /* how its wait ended: 0 (end of stream) or -errno */
};

static void *serve(void *arg)
{
	struct conn *c = arg;
	if (g_plain) {
		char buf[64];
		ssize_t n;
		while ((n = coil_sock_read(c->fd, buf, sizeof buf)) > 0) {
		}
		c->end = (int)n;
	} else {
		coil_reader *r;
		int rc = coil_reader_open(&r, c->fd);
		if (rc < 0)
			die("coil_reader_open", rc);
		const void *p;
		ssize_t n;
		while ((n = coil_reader_read(r, &p)) > 0) {
		}
		c->end = (int)n;
		coil_reader_close(r);
	}
	if (!g_server_closes)
		coil_close(c->fd);
	return NULL;
}

static void *server(void *arg)
{
	(void)arg;
	int lfd = g_lfd;
	struct conn *conns = calloc((size_t)g_conns, sizeof *conns);
	coil_task *tasks = calloc((size_t)g_conns, sizeof *tasks);
	if (!conns || !tasks)
		die("calloc", ENOMEM);
	for (int i = 0; i < g_conns; i++) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd < 0)
			die("accept", fd);
		conns[i].fd = fd;
		int rc = coil_task_spawn(&tasks[i], serve, &conns[i]);
		if (rc < 0)
			die("spawn", rc);
	}
	coil_close(lfd);
	/* Every client connected (its side), every server fiber parked. */
	int rc = coil_file_read(g_from_child[0], &(char){0}, 1, -1);
	if (rc != 1)
		die("child", rc < 0 ? rc : EPIPE);
	coil_sleep(200 * 1000 * 1000);
	double cpu0 = bench_cpu_ns();
	uint64_t t0 = bench_now_ns();
	if (g_server_closes) {
		for (int i = 0; i < g_conns; i++)
			coil_close(conns[i].fd);
	} else {
		say(g_to_child[1], 'g');
	}
	int bad = 0;
	for (int i = 0; i < g_conns; i++) {
		coil_task_join(tasks[i], NULL);
		if (conns[i].end != (g_server_closes ? -EBADF : 0))
			bad++;
	}
	uint64_t t1 = bench_now_ns();
	double cpu1 = bench_cpu_ns();
	say(g_to_child[1], 'x');
	waitpid(g_child, NULL, 0);
	printf("backend=%s conns=%d read=%s closer=%s seconds=%.3f cpu=%.3f\n", coil_backend_name(),
	       g_conns, g_plain ? "plain" : "reader", g_server_closes ? "server" : "client",
	       (double)(t1 - t0) / 1e9, (cpu1 - cpu0) / 1e9);
	if (bad)
		fprintf(stderr, "close_many: %d connections ended otherwise than expected\n", bad);
	free(conns);
	free(tasks);
	return (void *)(intptr_t)(bad != 0);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--conns") && i + 1 < argc) {
			g_conns = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--read") && i + 1 < argc) {
			g_plain = !strcmp(argv[++i], "plain");
		} else if (!strcmp(argv[i], "--closer") && i + 1 < argc) {
			g_server_closes = !strcmp(argv[++i], "server");
		} else {
			fprintf(stderr, "usage: close_many [--conns N] [--read reader|plain] "
					"[--closer client|server]\n");
			return 2;
		}
	}
	if (g_conns < 1)
		g_conns = 1;
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (pipe2(g_to_child, O_CLOEXEC) < 0 || pipe2(g_from_child, O_CLOEXEC | O_NONBLOCK) < 0)
		die("pipe", errno);
	/* The client is forked before the runtime starts. */
	g_lfd = coil_tcp_listen("127.0.0.1", 0, 0, 0);
	if (g_lfd < 0)
		die("listen", g_lfd);
	int port = coil_sock_port(g_lfd);
	if (port < 0)
		die("port", port);
	if ((g_child = fork()) < 0)
		die("fork", errno);
	if (g_child == 0)
		client((uint16_t)port);
	struct coil_config cfg;
	coil_config_init(&cfg);
	void *res = NULL;
	int rc = coil_run(&cfg, server, NULL, &res);
	if (rc < 0)
		die("coil_run", rc);
	return res ? 1 : 0;
}

/*
 * echo_server: a TCP echo server, one fiber per connection.
 *
 *   echo_server [--port N] [--host ADDR] [--exit-after N]
 *               [--workers N] [--listen handoff|reuseport] [--read copy|lend]
 *               [--recv-buffers N]
 *
 * --workers N runs N worker threads (0: one per CPU; default 1).
 * Connections are spread over them by one accepting fiber that hands each
 * to the least-loaded worker (handoff, the default), or by one
 * SO_REUSEPORT listener per worker (reuseport: the kernel spreads by a
 * hash, which can leave long-lived connections uneven).
 * --read lend reads through a coil_reader (coil/reader.h): buffers lent by
 * coil, none held by an idle connection; copy (the default) reads into a
 * buffer on the connection fiber's stack. --recv-buffers N sets how many
 * buffers each worker lends (coil_config.recv_buffers).
 *
 * Prints "listening on ADDR:PORT" (flushed) once it accepts connections.
 * Echoes each connection until end of file; on a half-close it echoes all it
 * received, then closes. A client's error closes that client only.
 * SIGINT or SIGTERM, or --exit-after N closed connections, end it with
 * status 0 (the second is for runs under valgrind, where a process parked in
 * io_uring_enter takes no signal). It exits 1, with a message, when it
 * cannot listen, cannot watch its signals, or its listener fails.
 */
#include <coil.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct server {
	const char *host;
	int port;
	unsigned mode;     /* COIL_SERVE_HANDOFF or COIL_SERVE_REUSEPORT */
	bool lend;         /* --read lend */
	long exit_after;   /* 0: never */
	long closed;       /* connections closed so far (atomic: any worker) */
	coil_task main;
	int sigfd;
};

/* Echo into buffers coil lends: an idle connection holds none. */
static __attribute__((noinline)) void echo_lent(int fd)
{
	coil_reader *r;
	if (coil_reader_open(&r, fd) < 0)
		return;
	const void *p;
	ssize_t n;
	while ((n = coil_reader_read(r, &p)) > 0)
		if (coil_sock_write_all(fd, p, (size_t)n) < 0)
			break;
	coil_reader_close(r);
}

/* noinline: its 16 KiB buffer must not sit in serve_conn's frame under --read lend. */
static __attribute__((noinline)) void echo_copied(int fd)
{
	char buf[16384];
	for (;;) {
		ssize_t n = coil_sock_read(fd, buf, sizeof buf);
		if (n <= 0)
			break; /* end of file, or this client's error */
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	}
}

static void serve_conn(int fd, void *arg)
{
	struct server *srv = arg;
	coil_tcp_nodelay(fd, 1);
	if (srv->lend)
		echo_lent(fd);
	else
		echo_copied(fd);
	coil_close(fd);
	if (srv->exit_after &&
	    __atomic_add_fetch(&srv->closed, 1, __ATOMIC_RELAXED) == srv->exit_after)
		coil_task_cancel(srv->main);
}

/* Turns SIGINT/SIGTERM into a cancel of the accept loop. A failed read
 * (not a cancel at the end) is reported, and stops the server too: a
 * server that cannot hear SIGTERM must not keep running deaf. */
static void *watch_signals(void *arg)
{
	struct server *srv = arg;
	struct signalfd_siginfo si;
	ssize_t n = coil_file_read(srv->sigfd, &si, sizeof si, -1);
	if (n != (ssize_t)sizeof si && n != -ECANCELED)
		fprintf(stderr, "echo_server: reading signals: %s\n",
			n < 0 ? strerror((int)-n) : "short read");
	if (n != -ECANCELED)
		coil_task_cancel(srv->main);
	return NULL;
}

static void *run_server(void *arg)
{
	struct server *srv = arg;
	srv->main = coil_task_current();
	coil_server *server;
	int r = coil_server_open(&server, srv->host, (uint16_t)srv->port, 1024, srv->mode);
	if (r < 0) {
		fprintf(stderr, "echo_server: listen on %s:%d: %s\n", srv->host, srv->port,
			strerror(-r));
		return (void *)1;
	}
	r = coil_task_spawn(NULL, watch_signals, srv);
	if (r < 0) {
		fprintf(stderr, "echo_server: watching signals: %s\n", strerror(-r));
		coil_server_close(server);
		return (void *)1;
	}
	printf("listening on %s:%d\n", srv->host, coil_server_port(server));
	fflush(stdout);

	/* Until a signal or --exit-after cancels this fiber (-ECANCELED), or
	 * a listener fails. */
	r = coil_server_run(server, serve_conn, srv);
	void *result = NULL;
	if (r != -ECANCELED) {
		fprintf(stderr, "echo_server: accept: %s\n", strerror(-r));
		result = (void *)1;
	}
	/* Returning ends the runtime: it cancels the connection fibers and
	 * waits for each of their operations to finish. coil_server_close
	 * works in a cancelled task (closing is clean-up). */
	coil_server_close(server);
	return result;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_server [--port N] [--host ADDR] [--exit-after N]\n"
			"                   [--workers N] [--listen handoff|reuseport]\n"
			"                   [--read copy|lend] [--recv-buffers N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct server srv = {.host = "127.0.0.1", .port = 0, .sigfd = -1,
			     .mode = COIL_SERVE_HANDOFF};
	struct coil_config cfg;
	coil_config_init(&cfg);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			srv.port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			srv.host = argv[++i];
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			srv.exit_after = atol(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			cfg.workers = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "handoff"))
				srv.mode = COIL_SERVE_HANDOFF;
			else if (!strcmp(m, "reuseport"))
				srv.mode = COIL_SERVE_REUSEPORT;
			else
				usage();
		} else if (!strcmp(argv[i], "--recv-buffers") && i + 1 < argc) {
			cfg.recv_buffers = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--read") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "lend"))
				srv.lend = true;
			else if (strcmp(m, "copy"))
				usage();
		} else
			usage();
	}
	if (srv.port < 0 || srv.port > 65535 || srv.exit_after < 0)
		usage();

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (srv.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "echo_server: cannot watch SIGINT/SIGTERM: %s\n", strerror(errno));
		return 1;
	}

	void *result = NULL;
	int r = coil_run(&cfg, run_server, &srv, &result);
	if (r < 0) {
		fprintf(stderr, "echo_server: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

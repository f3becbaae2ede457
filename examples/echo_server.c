/*
 * echo_server: a TCP echo server, one fiber per connection.
 *
 *   echo_server [--port N] [--host ADDR] [--exit-after N]
 *
 * Prints "listening on ADDR:PORT" (flushed) once it accepts connections.
 * Echoes each connection until end of file; on a half-close it echoes all it
 * received, then closes. A client's error closes that client only.
 * SIGINT or SIGTERM, or --exit-after N closed connections, end it with
 * status 0 (the second is for runs under valgrind, where a process parked in
 * io_uring_enter takes no signal).
 */
#include <coil.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct server {
	const char *host;
	int port;
	long exit_after;   /* 0: never */
	long closed;       /* connections closed so far */
	coil_task main;
	int sigfd;
};

static void *serve_conn(void *arg)
{
	struct server *srv = *(struct server **)arg;
	int fd = (int)(intptr_t)((void **)arg)[1];
	free(arg);
	char buf[16384];
	for (;;) {
		ssize_t n = coil_sock_read(fd, buf, sizeof buf);
		if (n <= 0)
			break; /* end of file, or this client's error */
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	}
	coil_close(fd);
	if (srv->exit_after && ++srv->closed == srv->exit_after)
		coil_task_cancel(srv->main);
	return NULL;
}

/* Turns SIGINT/SIGTERM into a cancel of the accept loop. */
static void *watch_signals(void *arg)
{
	struct server *srv = arg;
	struct signalfd_siginfo si;
	ssize_t n = coil_file_read(srv->sigfd, &si, sizeof si, -1);
	if (n == (ssize_t)sizeof si)
		coil_task_cancel(srv->main);
	return NULL;
}

static void *run_server(void *arg)
{
	struct server *srv = arg;
	srv->main = coil_task_current();
	int lfd = coil_tcp_listen(srv->host, (uint16_t)srv->port, 1024, 0);
	if (lfd < 0) {
		fprintf(stderr, "echo_server: listen on %s:%d: %s\n", srv->host, srv->port,
			strerror(-lfd));
		return (void *)1;
	}
	printf("listening on %s:%d\n", srv->host, coil_sock_port(lfd));
	fflush(stdout);
	if (srv->sigfd >= 0)
		coil_task_spawn(NULL, watch_signals, srv);

	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd == -ECANCELED)
			break; /* a signal or --exit-after */
		if (fd < 0) {
			/* EMFILE, ECONNABORTED...: this client's problem, not ours */
			if (fd == -EMFILE || fd == -ENFILE)
				coil_sleep(10 * COIL_NSEC_PER_MSEC);
			continue;
		}
		coil_tcp_nodelay(fd, 1);
		void **conn = malloc(2 * sizeof *conn);
		if (!conn) {
			coil_close(fd);
			continue;
		}
		conn[0] = srv;
		conn[1] = (void *)(intptr_t)fd;
		if (coil_task_spawn(NULL, serve_conn, conn) < 0) {
			free(conn);
			coil_close(fd);
		}
	}
	/* Returning ends the runtime: it cancels the connection fibers and
	 * waits for each of their operations to finish. Close the listener
	 * with a plain close: this task is cancelled, so coil calls refuse. */
	close(lfd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_server [--port N] [--host ADDR] [--exit-after N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct server srv = {.host = "127.0.0.1", .port = 0, .sigfd = -1};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			srv.port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			srv.host = argv[++i];
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			srv.exit_after = atol(argv[++i]);
		else
			usage();
	}
	if (srv.port < 0 || srv.port > 65535 || srv.exit_after < 0)
		usage();

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == 0)
		srv.sigfd = signalfd(-1, &mask, SFD_CLOEXEC);

	void *result = NULL;
	int r = coil_run(NULL, run_server, &srv, &result);
	if (r < 0) {
		fprintf(stderr, "echo_server: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

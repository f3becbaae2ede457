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

/* Accept errors that say nothing about the listener: a client gave up
 * (ECONNABORTED...), or a resource ran out for now (EMFILE, ENOBUFS...). */
static bool accept_error_is_transient(int err)
{
	switch (err) {
	case -ECONNABORTED:
	case -EPROTO:
	case -EPERM: /* a firewall said no to this one */
	case -EINTR:
	case -EAGAIN:
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
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
	int r = coil_task_spawn(NULL, watch_signals, srv);
	if (r < 0) {
		fprintf(stderr, "echo_server: watching signals: %s\n", strerror(-r));
		coil_close(lfd);
		return (void *)1;
	}
	printf("listening on %s:%d\n", srv->host, coil_sock_port(lfd));
	fflush(stdout);

	void *result = NULL;
	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd == -ECANCELED)
			break; /* a signal or --exit-after */
		if (fd < 0) {
			if (!accept_error_is_transient(fd)) {
				fprintf(stderr, "echo_server: accept: %s\n", strerror(-fd));
				result = (void *)1;
				break;
			}
			/* Out of fds or memory: the connections we hold are
			 * served meanwhile; give them a moment to close. */
			if (fd != -ECONNABORTED && fd != -EPROTO && fd != -EPERM)
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
	 * waits for each of their operations to finish. coil_close works in a
	 * cancelled task (closing is clean-up). */
	coil_close(lfd);
	return result;
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
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (srv.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "echo_server: cannot watch SIGINT/SIGTERM: %s\n", strerror(errno));
		return 1;
	}

	void *result = NULL;
	int r = coil_run(NULL, run_server, &srv, &result);
	if (r < 0) {
		fprintf(stderr, "echo_server: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

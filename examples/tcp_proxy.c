/*
 * tcp_proxy: bytes both ways between each client and an upstream.
 *
 *   tcp_proxy --upstream HOST:PORT [--port N] [--host ADDR] [--workers N]
 *             [--timeout MS] [--drain MS] [--copy]
 *
 * Every accepted connection gets a connection of its own to the upstream
 * (a client is closed at once when the upstream cannot be reached within
 * --timeout ms, default 10000) and two
 * fibers, one per direction, each reading what one side sends and writing
 * it to the other. When a side ends its sending (EOF), the proxy ends its
 * own sending to the other side (shutdown SHUT_WR) and the other direction
 * goes on: half-close is honoured, so a client that shuts down its write
 * side still receives the rest of the answer. An error on either side
 * (a reset) ends both.
 *
 * The bytes go from socket to socket through a pipe, never through user
 * memory (coil_sock_splice); --copy moves them through a buffer instead
 * (coil_sock_read and coil_sock_write_all), to compare the two.
 *
 * --port 0 (the default) takes a free port. Prints "listening on
 * ADDR:PORT" (flushed) once it accepts. --workers N runs N worker threads
 * (0: one per CPU; default 1). SIGINT or SIGTERM stop the accepting; the
 * connections open then may finish for --drain ms (default 10000), then
 * are cut; it exits 0. It exits 1 with a message when it cannot listen,
 * 2 on a bad command line.
 */
#include <coil.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "program_args.h"
#include "signal_stop.h"

#define PIECE 65536

struct app {
	const char *addr;
	uint16_t port;
	char up_host[256];
	uint16_t up_port;
	int64_t connect_timeout; /* ns */
	int64_t drain;		/* ns */
	bool copy;		/* --copy: through a buffer, not a pipe */
	coil_wg live;		/* connections being proxied */
	struct signal_stop stop;
};

struct pump {
	int from, to;
	bool copy;
	int err;		/* 0: the sender ended (EOF) */
};

/* Through a buffer: what --copy asks for. */
static ssize_t copy_all(int from, int to)
{
	char *buf = malloc(PIECE);
	ssize_t n = buf ? 0 : -ENOMEM;
	while (buf && (n = coil_sock_read(from, buf, PIECE)) > 0) {
		ssize_t w = coil_sock_write_all(to, buf, (size_t)n);
		if (w < 0) {
			n = w;
			break;
		}
	}
	free(buf);
	return n;
}

/* Move from -> to until from's end (then to's write side is shut down) or
 * an error (then both connections are shut down, which ends the other
 * direction too). */
static void *pump(void *arg)
{
	struct pump *p = arg;
	ssize_t n;
	if (p->copy)
		n = copy_all(p->from, p->to);
	else
		while ((n = coil_sock_splice(p->to, p->from, PIECE)) > 0) {
		}
	p->err = (int)n;
	if (n == 0) {
		coil_sock_shutdown(p->to, SHUT_WR);
	} else {
		shutdown(p->from, SHUT_RDWR); /* plain calls: they work when cancelled too */
		shutdown(p->to, SHUT_RDWR);
	}
	return NULL;
}

static void serve(int client, void *ctx)
{
	struct app *app = ctx;
	coil_wg_add(&app->live, 1);
	coil_scope sc;
	bool scoped = coil_scope_enter_timeout(&sc, app->connect_timeout) == 0;
	int up = coil_tcp_connect(app->up_host, app->up_port);
	if (scoped)
		coil_scope_exit(&sc);
	if (up < 0) {
		coil_close(client);
		coil_wg_done(&app->live);
		return;
	}
	coil_tcp_nodelay(client, 1);
	coil_tcp_nodelay(up, 1);
	struct pump down = {up, client, app->copy, 0}, upward = {client, up, app->copy, 0};
	coil_task t;
	if (coil_task_spawn(&t, pump, &down) == 0) {
		pump(&upward);
		/* Cancelled (the drain is over): the other direction too. */
		if (coil_task_cancelled() == 1)
			coil_task_cancel(t);
		while (coil_task_join(t, NULL) == -ECANCELED)
			coil_task_cancel(t);
	}
	coil_close(up);
	coil_close(client);
	coil_wg_done(&app->live);
}

static void *run(void *arg)
{
	struct app *app = arg;
	coil_server *s;
	int r = coil_server_open(&s, app->addr, app->port, 1024, COIL_SERVE_HANDOFF);
	if (r < 0) {
		fprintf(stderr, "tcp_proxy: listen on %s:%u: %s\n", app->addr, app->port,
			strerror(-r));
		return (void *)1;
	}
	if (signal_stop_watch(&app->stop) < 0) {
		coil_server_close(s);
		return (void *)1;
	}
	printf("listening on %s:%d\n", app->addr, coil_server_port(s));
	fflush(stdout);
	r = coil_server_run(s, serve, app); /* until a signal cancels this fiber */
	coil_server_close(s);
	if (r != -ECANCELED)
		fprintf(stderr, "tcp_proxy: %s\n", strerror(-r));
	/* Let the connections finish, for a while: this task is cancelled,
	 * a shielded scope waits all the same. */
	coil_scope sc;
	if (coil_scope_enter_shielded(&sc, coil_now() + app->drain) == 0) {
		coil_wg_wait(&app->live);
		coil_scope_exit(&sc);
	}
	signal_stop_end(&app->stop);
	/* Returning ends the runtime, which cancels the connections left. */
	return r != -ECANCELED ? (void *)1 : NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: tcp_proxy --upstream HOST:PORT [--port N] [--host ADDR]"
			" [--workers N] [--timeout MS] [--drain MS] [--copy]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct app app = {.addr = "127.0.0.1",
				 .connect_timeout = 10 * COIL_NSEC_PER_SEC,
				 .drain = 10 * COIL_NSEC_PER_SEC};
	struct coil_config cfg;
	coil_config_init(&cfg);
	for (int i = 1; i < argc; i++) {
		int taken = program_arg_server(argc, argv, &i, &app.port, &app.addr, &cfg.workers);
		if (taken < 0)
			usage();
		if (taken)
			continue;
		if (!strcmp(argv[i], "--upstream") && i + 1 < argc) {
			if (!program_arg_host_port(argv[++i], app.up_host, sizeof app.up_host,
						   &app.up_port))
				usage();
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (!program_arg_msec(argv[++i], 1, &app.connect_timeout))
				usage();
		} else if (!strcmp(argv[i], "--copy")) {
			app.copy = true;
		} else if (!strcmp(argv[i], "--drain") && i + 1 < argc) {
			if (!program_arg_msec(argv[++i], 0, &app.drain))
				usage();
		} else {
			usage();
		}
	}
	if (!app.up_port)
		usage();
	coil_wg_init(&app.live);
	program_raise_nofile();
	if (signal_stop_open(&app.stop, "tcp_proxy") < 0)
		return 1;
	void *result = NULL;
	int r = coil_run(&cfg, run, &app, &result);
	if (r < 0) {
		fprintf(stderr, "tcp_proxy: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

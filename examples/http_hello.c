/*
 * http_hello: an HTTP/1.1 server that answers every request with
 * "Hello, World!" (text/plain), keep-alive; the benchmark's server.
 *
 *   http_hello [--port N] [--host ADDR] [--workers N] [--listen handoff|reuseport]
 *
 * --port 0 (the default) takes a free port. Prints "listening on
 * ADDR:PORT" (flushed) once it accepts connections. --workers N runs N
 * worker threads (0: one per CPU; default 1). SIGINT or SIGTERM shut it
 * down gracefully (idle connections close, requests in flight finish) and
 * it exits 0; it exits 1 with a message when it cannot listen or watch its
 * signals.
 */
#include <coil.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

struct app {
	struct coil_http_config cfg;
	coil_task main;
	int sigfd;
};

static int hello(coil_http_request *req, coil_http_response *res, void *ctx)
{
	return coil_http_respond(res, 200, "text/plain", "Hello, World!", 13);
}

/* SIGINT/SIGTERM cancel the serving fiber: coil_http_server_run then
 * shuts down gracefully and returns 0. */
static void *watch_signals(void *arg)
{
	struct app *app = arg;
	struct signalfd_siginfo si;
	ssize_t n = coil_file_read(app->sigfd, &si, sizeof si, -1);
	if (n != (ssize_t)sizeof si && n != -ECANCELED)
		fprintf(stderr, "http_hello: reading signals: %s\n",
			n < 0 ? strerror((int)-n) : "short read");
	if (n != -ECANCELED)
		coil_task_cancel(app->main);
	return NULL;
}

static void *run(void *arg)
{
	struct app *app = arg;
	app->main = coil_task_current();
	coil_http_server *s;
	int r = coil_http_server_open(&s, &app->cfg);
	if (r < 0) {
		fprintf(stderr, "http_hello: listen on %s:%d: %s\n", app->cfg.addr, app->cfg.port,
			strerror(-r));
		return (void *)1;
	}
	coil_task watcher;
	r = coil_task_spawn(&watcher, watch_signals, app);
	if (r < 0) {
		fprintf(stderr, "http_hello: watching signals: %s\n", strerror(-r));
		coil_http_server_close(s);
		return (void *)1;
	}
	printf("listening on %s:%d\n", app->cfg.addr, coil_http_server_port(s));
	fflush(stdout);
	r = coil_http_server_run(s, hello, NULL);
	if (r < 0)
		fprintf(stderr, "http_hello: %s\n", strerror(-r));
	coil_task_cancel(watcher);
	coil_task_join(watcher, NULL);
	coil_http_server_close(s);
	return r < 0 ? (void *)1 : NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: http_hello [--port N] [--host ADDR] [--workers N]"
			" [--listen handoff|reuseport]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct app app = {.sigfd = -1};
	coil_http_config_init(&app.cfg);
	struct coil_config cfg;
	coil_config_init(&cfg);
	long port = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			port = strtol(argv[++i], &end, 10);
			if (*end || port < 0 || port > 65535)
				usage();
		} else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
			app.cfg.addr = argv[++i];
		} else if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
			cfg.workers = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
			const char *m = argv[++i];
			if (!strcmp(m, "handoff"))
				app.cfg.serve_mode = COIL_SERVE_HANDOFF;
			else if (!strcmp(m, "reuseport"))
				app.cfg.serve_mode = COIL_SERVE_REUSEPORT;
			else
				usage();
		} else {
			usage();
		}
	}
	app.cfg.port = (uint16_t)port;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (app.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "http_hello: cannot watch SIGINT/SIGTERM: %s\n", strerror(errno));
		return 1;
	}
	void *result = NULL;
	int r = coil_run(&cfg, run, &app, &result);
	if (r < 0) {
		fprintf(stderr, "http_hello: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

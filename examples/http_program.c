/* http_program: see http_program.h. */
#include "http_program.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>

struct program {
	const char *name;
	const struct coil_http_config *http;
	coil_http_handler handler;
	void *ctx;
	coil_task main;
	int sigfd;
};

/* SIGINT/SIGTERM cancel the serving fiber: coil_http_server_run then
 * shuts down gracefully and returns 0. */
static void *watch_signals(void *arg)
{
	struct program *p = arg;
	struct signalfd_siginfo si;
	ssize_t n = coil_file_read(p->sigfd, &si, sizeof si, -1);
	if (n != (ssize_t)sizeof si && n != -ECANCELED)
		fprintf(stderr, "%s: reading signals: %s\n", p->name,
			n < 0 ? strerror((int)-n) : "short read");
	if (n != -ECANCELED)
		coil_task_cancel(p->main);
	return NULL;
}

static void *serve(void *arg)
{
	struct program *p = arg;
	p->main = coil_task_current();
	coil_http_server *s;
	int r = coil_http_server_open(&s, p->http);
	if (r < 0) {
		fprintf(stderr, "%s: listen on %s:%d: %s\n", p->name, p->http->addr,
			p->http->port, strerror(-r));
		return (void *)1;
	}
	coil_task watcher;
	r = coil_task_spawn(&watcher, watch_signals, p);
	if (r < 0) {
		fprintf(stderr, "%s: watching signals: %s\n", p->name, strerror(-r));
		coil_http_server_close(s);
		return (void *)1;
	}
	printf("listening on %s:%d\n", p->http->addr, coil_http_server_port(s));
	fflush(stdout);
	r = coil_http_server_run(s, p->handler, p->ctx);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", p->name, strerror(-r));
	coil_task_cancel(watcher);
	coil_task_join(watcher, NULL);
	coil_http_server_close(s);
	return r < 0 ? (void *)1 : NULL;
}

int http_program_run(const char *name, const struct coil_http_config *http,
		     const struct coil_config *rt, coil_http_handler handler, void *ctx)
{
	struct program p = {.name = name, .http = http, .handler = handler, .ctx = ctx,
			    .sigfd = -1};
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (p.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "%s: cannot watch SIGINT/SIGTERM: %s\n", name, strerror(errno));
		return 1;
	}
	void *result = NULL;
	int r = coil_run(rt, serve, &p, &result);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

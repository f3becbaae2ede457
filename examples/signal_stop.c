/* signal_stop.h: SIGINT/SIGTERM as a cancel, for the example servers. */
#include "signal_stop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>

int signal_stop_open(struct signal_stop *st, const char *prog)
{
	*st = (struct signal_stop){.prog = prog, .fd = -1};
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (st->fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "%s: cannot watch SIGINT/SIGTERM: %s\n", prog, strerror(errno));
		return -1;
	}
	return 0;
}

/* A failed read (not the cancel at the end) is reported, and stops the
 * server too: better than a server that cannot be stopped. */
static void *watch(void *arg)
{
	struct signal_stop *st = arg;
	struct signalfd_siginfo si;
	ssize_t n = coil_file_read(st->fd, &si, sizeof si, -1);
	if (n != (ssize_t)sizeof si && n != -ECANCELED)
		fprintf(stderr, "%s: reading signals: %s\n", st->prog,
			n < 0 ? strerror((int)-n) : "short read");
	if (n != -ECANCELED)
		coil_task_cancel(st->target);
	return NULL;
}

int signal_stop_watch(struct signal_stop *st)
{
	st->target = coil_task_current();
	int r = coil_task_spawn(&st->watcher, watch, st);
	if (r < 0) {
		fprintf(stderr, "%s: watching signals: %s\n", st->prog, strerror(-r));
		return -1;
	}
	return 0;
}

void signal_stop_end(struct signal_stop *st)
{
	coil_task_cancel(st->watcher);
	coil_task_join(st->watcher, NULL);
}

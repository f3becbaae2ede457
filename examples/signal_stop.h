/*
 * signal_stop: SIGINT/SIGTERM turned into a cancel of the serving fiber,
 * for the example servers (their graceful shutdown starts with that
 * cancel). The signals are blocked and read from a signalfd, so no handler
 * runs in a worker and every backend sees them the same way.
 */
#ifndef SIGNAL_STOP_H
#define SIGNAL_STOP_H

#include <coil.h>

struct signal_stop {
	const char *prog;	/* for messages */
	int fd;			/* the signalfd */
	coil_task target;	/* cancelled at the first signal */
	coil_task watcher;
};

/* Before coil_run (the workers inherit the mask): block SIGINT and SIGTERM
 * and open the signalfd. Returns 0, or -1 after a message on stderr. */
int signal_stop_open(struct signal_stop *st, const char *prog);

/* From the fiber to cancel: watch the signals in a fiber of their own.
 * Returns 0, or -1 after a message on stderr. */
int signal_stop_watch(struct signal_stop *st);

/* Stop watching (cancel and join the watcher). */
void signal_stop_end(struct signal_stop *st);

#endif

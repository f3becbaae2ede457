/*
 * stdin to stdout through coil's file calls, the pipes a WASI program has
 * (preview 1 makes none: its host hands them over as stdio). A reader
 * fiber copies until end of input while another fiber keeps sleeping 1 ms
 * at a time: the worker waits for stdin in poll_oneoff beside the clock,
 * not in a blocking read. Exits 0 when every byte went through; says on
 * stderr how many sleeps ran meanwhile (not judged: it depends on how fast
 * the input comes). Used by tests/wasi/stdio.sh.
 */
#include <coil.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int done;
static long ticks;

static void *ticker(void *arg)
{
	(void)arg;
	while (!done && coil_sleep(COIL_NSEC_PER_MSEC) == 0)
		ticks++;
	return NULL;
}

static void *copy(void *arg)
{
	long *copied = arg;
	char buf[4096];
	ssize_t n;
	while ((n = coil_file_read(0, buf, sizeof buf, -1)) > 0) {
		ssize_t w = coil_file_write_all(1, buf, (size_t)n, -1);
		if (w != n) {
			fprintf(stderr, "stdio_copy: write: %s\n", strerror((int)-w));
			return (void *)1;
		}
		*copied += n;
	}
	if (n < 0) {
		fprintf(stderr, "stdio_copy: read: %s\n", strerror((int)-n));
		return (void *)1;
	}
	return NULL;
}

static void *copy_main(void *arg)
{
	(void)arg;
	long copied = 0;
	coil_task t, c;
	if (coil_task_spawn(&t, ticker, NULL) < 0 || coil_task_spawn(&c, copy, &copied) < 0)
		return (void *)1;
	void *res = (void *)1;
	coil_task_join(c, &res);
	done = 1;
	coil_task_join(t, NULL);
	fprintf(stderr, "stdio_copy: %ld bytes, %ld sleeps of 1 ms meanwhile\n", copied, ticks);
	return res;
}

int main(void)
{
	void *res = (void *)1;
	int r = coil_run(NULL, copy_main, NULL, &res);
	if (r < 0) {
		fprintf(stderr, "stdio_copy: coil_run: %s\n", strerror(-r));
		return 1;
	}
	return res != NULL;
}

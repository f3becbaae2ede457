/*
 * A fiber reads stdin to its end while others sleep and do file I/O, all
 * in one wait: under Node's WASI, stdin as /dev/null is an fd whose
 * poll_oneoff subscription the host refuses (EPERM, for the whole call),
 * and that must end only the reader's wait, with the read's own answer (0:
 * end of input), not the run. As a pipe it is watched as usual. Prints
 * what each fiber did; exits 0 when the reader got all of stdin and every
 * other fiber finished. Used by tests/wasi/stdin_refused.sh.
 */
#include <coil.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLEEPERS 3
#define SLEEPS 20
#define FILE_ROUNDS 20

static void *reader(void *arg)
{
	long *got = arg;
	char buf[4096];
	ssize_t n;
	while ((n = coil_file_read(0, buf, sizeof buf, -1)) > 0)
		*got += n;
	if (n < 0) {
		fprintf(stderr, "stdin_refused: read: %s\n", strerror((int)-n));
		return (void *)1;
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	long *slept = arg;
	for (int i = 0; i < SLEEPS; i++) {
		if (coil_sleep(COIL_NSEC_PER_MSEC) != 0)
			return (void *)1;
		(*slept)++;
	}
	return NULL;
}

/* Writes a block to a file and reads it back, round after round. */
static void *file_io(void *arg)
{
	long *rounds = arg;
	char path[64];
	snprintf(path, sizeof path, "/tmp/coil-stdin-refused-%d", (int)getpid());
	int fd = coil_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "stdin_refused: open %s: %s\n", path, strerror(-fd));
		return (void *)1;
	}
	void *res = NULL;
	char out[512], in[512];
	for (int i = 0; i < FILE_ROUNDS && !res; i++) {
		memset(out, 'a' + i, sizeof out);
		if (coil_file_write_all(fd, out, sizeof out, 0) != (ssize_t)sizeof out ||
		    coil_file_read(fd, in, sizeof in, 0) != (ssize_t)sizeof in ||
		    memcmp(in, out, sizeof in) != 0 || coil_sleep(COIL_NSEC_PER_MSEC) != 0)
			res = (void *)1;
		else
			(*rounds)++;
	}
	coil_close(fd);
	unlink(path);
	return res;
}

static void *run_main(void *arg)
{
	long expect = *(long *)arg;
	long got = 0, slept[SLEEPERS] = {0}, rounds = 0;
	coil_task r, s[SLEEPERS], f;
	if (coil_task_spawn(&r, reader, &got) < 0 || coil_task_spawn(&f, file_io, &rounds) < 0)
		return (void *)1;
	for (int i = 0; i < SLEEPERS; i++)
		if (coil_task_spawn(&s[i], sleeper, &slept[i]) < 0)
			return (void *)1;
	void *res, *failed = NULL;
	coil_task_join(r, &res);
	failed = res ? res : failed;
	coil_task_join(f, &res);
	failed = res ? res : failed;
	long sleeps = 0;
	for (int i = 0; i < SLEEPERS; i++) {
		coil_task_join(s[i], &res);
		failed = res ? res : failed;
		sleeps += slept[i];
	}
	printf("stdin_refused: read %ld bytes of stdin (want %ld), %ld sleeps (want %d), "
	       "%ld file rounds (want %d)\n",
	       got, expect, sleeps, SLEEPERS * SLEEPS, rounds, FILE_ROUNDS);
	if (got != expect || sleeps != SLEEPERS * SLEEPS || rounds != FILE_ROUNDS)
		return (void *)1;
	return failed;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stdin_refused BYTES_ON_STDIN\n");
		return 2;
	}
	long expect = atol(argv[1]);
	void *res = (void *)1;
	int r = coil_run(NULL, run_main, &expect, &res);
	if (r < 0) {
		fprintf(stderr, "stdin_refused: coil_run: %s\n", strerror(-r));
		return 1;
	}
	return res ? 1 : 0;
}

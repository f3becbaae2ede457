/*
 * fiber_micro: three costs of the fiber runtime itself, one program for the
 * native build and for wasm32-wasi (bench/wasi_compare.sh runs both):
 *
 *   switch    two fibers coil_task_yield() to each other: ns per switch
 *   spawn     coil_task_spawn + coil_task_join of an empty fiber: ns per pair
 *   pingpong  one int there and back over two unbuffered channels: ns per
 *             round trip (two sends, two receives, two switches)
 *
 * Each runs once untimed (warms the stack cache), then R timed repetitions;
 * the median of them is printed as "name<TAB>ns" on stdout.
 *
 *   fiber_micro [N] [R]    N operations per repetition (default 200000),
 *                          R repetitions (default 5)
 */
#include <coil.h>

#include <stdio.h>
#include <stdlib.h>

static long n_ops = 200000;
static int reps = 5;
static volatile int stop;

static void *yielder(void *arg)
{
	(void)arg;
	while (!stop)
		coil_task_yield();
	return NULL;
}

static int64_t run_switch(void)
{
	stop = 0;
	coil_task t;
	if (coil_task_spawn(&t, yielder, NULL) < 0)
		exit(1);
	int64_t t0 = coil_now();
	for (long i = 0; i < n_ops / 2; i++)
		coil_task_yield(); /* there and back: two switches */
	int64_t dt = coil_now() - t0;
	stop = 1;
	coil_task_join(t, NULL);
	return dt;
}

static void *empty(void *arg)
{
	return arg;
}

static int64_t run_spawn(void)
{
	int64_t t0 = coil_now();
	for (long i = 0; i < n_ops; i++) {
		coil_task t;
		if (coil_task_spawn(&t, empty, NULL) < 0 || coil_task_join(t, NULL) < 0)
			exit(1);
	}
	return coil_now() - t0;
}

struct pair {
	coil_chan *there, *back;
};

static void *echo(void *arg)
{
	struct pair *p = arg;
	int v;
	while (coil_chan_recv(p->there, &v) == 0)
		if (coil_chan_send(p->back, &v) != 0)
			break;
	return NULL;
}

static int64_t run_pingpong(void)
{
	struct pair p;
	if (coil_chan_new(&p.there, sizeof(int), 0) < 0 || coil_chan_new(&p.back, sizeof(int), 0) < 0)
		exit(1);
	coil_task t;
	if (coil_task_spawn(&t, echo, &p) < 0)
		exit(1);
	int64_t t0 = coil_now();
	for (int i = 0; i < n_ops; i++) {
		int v;
		if (coil_chan_send(p.there, &i) != 0 || coil_chan_recv(p.back, &v) != 0 || v != i)
			exit(1);
	}
	int64_t dt = coil_now() - t0;
	coil_chan_close(p.there);
	coil_task_join(t, NULL);
	coil_chan_free(p.there);
	coil_chan_free(p.back);
	return dt;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void measure(const char *name, int64_t (*fn)(void), double per)
{
	int64_t t[64];
	fn();
	for (int r = 0; r < reps; r++)
		t[r] = fn();
	qsort(t, (size_t)reps, sizeof t[0], cmp64);
	printf("%s\t%.1f\n", name, (double)t[reps / 2] / per);
}

static void *bench(void *arg)
{
	(void)arg;
	measure("switch", run_switch, (double)(n_ops / 2 * 2));
	measure("spawn", run_spawn, (double)n_ops);
	measure("pingpong", run_pingpong, (double)n_ops);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n_ops = atol(argv[1]);
	if (argc > 2)
		reps = atoi(argv[2]);
	if (n_ops < 2 || reps < 1 || reps > 64)
		return 2;
	int r = coil_run(NULL, bench, NULL, NULL);
	return r != 0;
}

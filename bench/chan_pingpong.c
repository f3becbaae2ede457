/*
 * chan_pingpong: the cost of channels between two fibers of one runtime
 * (one thread), through the public API.
 *
 *   pingpong-rdv   two rendezvous channels (capacity 0): A sends on ab and
 *                  receives on ba, B the reverse. ns per round trip (two
 *                  sends, two receives, two fiber switches).
 *   pingpong-cap1  the same with capacity-1 channels.
 *   stream-cap128  a producer sends N 8-byte values on a capacity-128
 *                  channel, a consumer receives them. ns per message.
 *   stream-unbounded  the same on an unbounded channel.
 *
 * Each variant runs one untimed warm-up, then R timed repetitions with
 * clock_gettime(CLOCK_MONOTONIC); it prints the median and min-max.
 * (Go's unbuffered ping-pong measures about 225 ns per round trip on the
 * project's 2-core VM.)
 *
 *   chan_pingpong [--iters N] [--reps R] [--tsv]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <coil.h>

#include "bench_variants.h"



static void check(int e, const char *what)
{
	if (e < 0) {
		fprintf(stderr, "chan_pingpong: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

struct pair {
	coil_chan *ab, *ba;
	long n;
};

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;
	for (long i = 0; i < p->n; i++) {
		check(coil_chan_recv(p->ab, &v), "recv");
		v++;
		check(coil_chan_send(p->ba, &v), "send");
	}
	return NULL;
}

/* ns per round trip */
static double pingpong(size_t cap, long n)
{
	struct pair p = {NULL, NULL, n};
	check(coil_chan_new(&p.ab, sizeof(uint64_t), cap), "coil_chan_new");
	check(coil_chan_new(&p.ba, sizeof(uint64_t), cap), "coil_chan_new");
	coil_task t;
	check(coil_task_spawn(&t, ponger, &p), "spawn");
	uint64_t v = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		check(coil_chan_send(p.ab, &v), "send");
		check(coil_chan_recv(p.ba, &v), "recv");
	}
	uint64_t t1 = bench_now_ns();
	check(coil_task_join(t, NULL), "join");
	if (v != (uint64_t)n) {
		fprintf(stderr, "chan_pingpong: value %llu after %ld round trips\n",
			(unsigned long long)v, n);
		exit(1);
	}
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	return (double)(t1 - t0) / (double)n;
}

static void *consumer(void *arg)
{
	struct pair *p = arg;
	uint64_t v, sum = 0;
	while (coil_chan_recv(p->ab, &v) == 0)
		sum += v;
	return (void *)(uintptr_t)sum;
}

/* ns per message, from the first send to the consumer's end */
static double stream(size_t cap, long n)
{
	struct pair p = {NULL, NULL, n};
	check(coil_chan_new(&p.ab, sizeof(uint64_t), cap), "coil_chan_new");
	coil_task t;
	check(coil_task_spawn(&t, consumer, &p), "spawn");
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i;
		check(coil_chan_send(p.ab, &v), "send");
	}
	check(coil_chan_close(p.ab), "close");
	void *sum;
	check(coil_task_join(t, &sum), "join");
	uint64_t t1 = bench_now_ns();
	if ((uintptr_t)sum != (uintptr_t)((uint64_t)n * (uint64_t)(n - 1) / 2)) {
		fprintf(stderr, "chan_pingpong: stream checksum wrong\n");
		exit(1);
	}
	coil_chan_free(p.ab);
	return (double)(t1 - t0) / (double)n;
}

static const struct bench_variant variants[] = {
	{"pingpong-rdv", "ns/round trip", pingpong, 0},
	{"pingpong-cap1", "ns/round trip", pingpong, 1},
	{"stream-cap128", "ns/message", stream, 128},
	{"stream-unbounded", "ns/message", stream, COIL_CHAN_UNBOUNDED},
};

int main(int argc, char **argv)
{
	return bench_variants_main(argc, argv, "chan_pingpong", variants, sizeof variants / sizeof variants[0]);
}

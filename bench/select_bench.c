/*
 * select_bench: the cost of coil_select, through the public API, on one
 * runtime (one thread).
 *
 *   try-recv          baseline: coil_chan_try_recv from a channel that has
 *                     a value (what a select's fired case does at least).
 *   select2-1ready    a select over 2 receive cases, one ready (the last);
 *                     ns per select.
 *   select8-1ready    the same over 8 cases.
 *   select8-8ready    8 cases, all ready (one chosen at random).
 *   pingpong-recv     baseline: two fibers, rendezvous channels, plain
 *                     send and recv; ns per round trip.
 *   pingpong-select2  the same, each side receiving with a blocking select
 *                     over 2 cases (its channel and an idle one); ns per
 *                     round trip (two selects that park, two sends, two
 *                     fiber switches).
 *   pingpong-select8  the same with 8 cases (7 idle).
 *
 * The ready channels are unbounded and filled beforehand, so the timed loop
 * is the select alone. Each variant runs one untimed warm-up, then R timed
 * repetitions; it prints the median and min-max.
 *
 *   select_bench [--iters N] [--reps R] [--tsv]
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
		fprintf(stderr, "select_bench: %s: %s\n", what, strerror(-e));
		exit(1);
	}
}

/* ---- one fiber, cases ready ------------------------------------------------------ */

/* ncases receive cases, the last nready of them on channels holding n
 * values each; ns per select (nready 0: try_recv baseline on one channel). */
static double ready_select(int ncases, int nready, long n)
{
	coil_chan *ch[8];
	uint64_t vals[8];
	struct coil_select_case cs[8];
	int nch = ncases ? ncases : 1;
	int full_from = ncases ? ncases - nready : 0;
	for (int i = 0; i < nch; i++) {
		check(coil_chan_new(&ch[i], sizeof(uint64_t), COIL_CHAN_UNBOUNDED), "coil_chan_new");
		if (i >= full_from)
			for (long k = 0; k < n; k++) {
				uint64_t v = (uint64_t)k;
				check(coil_chan_try_send(ch[i], &v), "try_send");
			}
		cs[i] = COIL_SELECT_RECV_CASE(ch[i], &vals[i]);
	}
	uint64_t sum = 0;
	uint64_t t0 = bench_now_ns();
	if (ncases == 0) {
		for (long k = 0; k < n; k++) {
			check(coil_chan_try_recv(ch[0], &vals[0]), "try_recv");
			sum += vals[0];
		}
	} else {
		for (long k = 0; k < n; k++) {
			int r = coil_select(cs, ncases, COIL_NO_DEADLINE, 0);
			check(r, "coil_select");
			sum += vals[r];
		}
	}
	uint64_t t1 = bench_now_ns();
	if (nready <= 1 && sum != (uint64_t)n * (uint64_t)(n - 1) / 2) {
		fprintf(stderr, "select_bench: checksum wrong\n");
		exit(1);
	}
	for (int i = 0; i < nch; i++)
		coil_chan_free(ch[i]);
	return (double)(t1 - t0) / (double)n;
}

static double try_recv_base(size_t unused, long n)
{
	(void)unused;
	return ready_select(0, 1, n);
}

static double select_1ready(size_t ncases, long n)
{
	return ready_select((int)ncases, 1, n);
}

static double select_allready(size_t ncases, long n)
{
	return ready_select((int)ncases, (int)ncases, n);
}

/* ---- ping-pong ---------------------------------------------------------------------- */

struct pair {
	coil_chan *ab, *ba;
	coil_chan *idle[7];
	int ncases;
	long n;
};

/* Receive from ch: plain (ncases 0) or by a select over ch and idle ones. */
static void recv_via(struct pair *p, coil_chan *ch, uint64_t *v)
{
	if (p->ncases == 0) {
		check(coil_chan_recv(ch, v), "recv");
		return;
	}
	struct coil_select_case cs[8];
	uint64_t junk;
	for (int i = 0; i < p->ncases - 1; i++)
		cs[i] = COIL_SELECT_RECV_CASE(p->idle[i], &junk);
	cs[p->ncases - 1] = COIL_SELECT_RECV_CASE(ch, v);
	int r = coil_select(cs, p->ncases, COIL_NO_DEADLINE, 0);
	check(r, "coil_select");
	if (r != p->ncases - 1) {
		fprintf(stderr, "select_bench: an idle case fired\n");
		exit(1);
	}
}

static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v;
	for (long i = 0; i < p->n; i++) {
		recv_via(p, p->ab, &v);
		v++;
		check(coil_chan_send(p->ba, &v), "send");
	}
	return NULL;
}

/* ns per round trip */
static double pingpong(size_t ncases, long n)
{
	struct pair p = {.ncases = (int)ncases, .n = n};
	check(coil_chan_new(&p.ab, sizeof(uint64_t), 0), "coil_chan_new");
	check(coil_chan_new(&p.ba, sizeof(uint64_t), 0), "coil_chan_new");
	for (int i = 0; i < 7; i++)
		check(coil_chan_new(&p.idle[i], sizeof(uint64_t), 0), "coil_chan_new");
	coil_task t;
	check(coil_task_spawn(&t, ponger, &p), "spawn");
	uint64_t v = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		check(coil_chan_send(p.ab, &v), "send");
		recv_via(&p, p.ba, &v);
	}
	uint64_t t1 = bench_now_ns();
	check(coil_task_join(t, NULL), "join");
	if (v != (uint64_t)n) {
		fprintf(stderr, "select_bench: value %llu after %ld round trips\n",
			(unsigned long long)v, n);
		exit(1);
	}
	coil_chan_free(p.ab);
	coil_chan_free(p.ba);
	for (int i = 0; i < 7; i++)
		coil_chan_free(p.idle[i]);
	return (double)(t1 - t0) / (double)n;
}

static const struct bench_variant variants[] = {
	{"try-recv", "ns/recv", try_recv_base, 0},
	{"select2-1ready", "ns/select", select_1ready, 2},
	{"select8-1ready", "ns/select", select_1ready, 8},
	{"select8-8ready", "ns/select", select_allready, 8},
	{"pingpong-recv", "ns/round trip", pingpong, 0},
	{"pingpong-select2", "ns/round trip", pingpong, 2},
	{"pingpong-select8", "ns/round trip", pingpong, 8},
};

int main(int argc, char **argv)
{
	return bench_variants_main(argc, argv, "select_bench", variants, sizeof variants / sizeof variants[0]);
}

/* file_randread: 4 KiB random reads of one file with coil, public API only.
 *
 *   file_randread --file PATH [--qd N] [--direct] [--seconds S] [--warmup S]
 *                 [--bs BYTES] [--plain-buffers]
 *
 * N fibers (the queue depth) each loop: pick a random bs-aligned offset in the
 * file, coil_file_read() bs bytes there into its own buffer (aligned to 4096,
 * as O_DIRECT needs), record the latency. --direct opens with O_DIRECT.
 * Buffers come from coil_iobuf_alloc (registered with the ring on io_uring
 * unless COIL_FEATURES=-fixedbufs); --plain-buffers uses posix_memalign.
 * After --warmup seconds (default 1) the counters reset, then --seconds (5)
 * are measured. Prints one line:
 *   qd=N direct=0|1 bs=4096 seconds=.. ops=.. iops=.. p50_us=.. p99_us=..
 *   cpu_ns_op=.. usr_ns_op=.. sys_ns_op=..
 * CPU is getrusage(RUSAGE_SELF) over the measured window: every thread of the
 * process, io_uring's io-wq workers included.
 */
#define _GNU_SOURCE
#include <coil.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *path;
static int qd = 1, direct;
static double seconds = 5, warmup = 1;
static size_t bs = 4096;
static int plain_buffers;
static uint64_t nblocks;
static int fd = -1;
static volatile int stop;
static int measuring;
static uint64_t ops, errors;
static int first_err;

/* log-linear latency histogram, as bench/loadgen.c: 64 sub-buckets per power of two */
#define SUB 6
#define NB ((40 - SUB) << SUB)
static uint64_t hist[NB], hcount;
static unsigned bucket(uint64_t v)
{
	if (v < (2u << SUB))
		return (unsigned)v;
	int msb = 63 - __builtin_clzll(v), sh = msb - SUB;
	unsigned b = (unsigned)((sh + 1) << SUB) + (unsigned)((v >> sh) - (1u << SUB));
	return b < NB ? b : NB - 1;
}
static double bucket_ns(unsigned i)
{
	if (i < (2u << SUB))
		return i;
	unsigned sh = (i >> SUB) - 1;
	return (double)((uint64_t)((i & ((1u << SUB) - 1)) + (1u << SUB)) << sh) +
	       (double)(1ull << sh) / 2;
}
static double pct_us(double p)
{
	uint64_t want = (uint64_t)(hcount * p / 100.0 + 0.5), seen = 0;
	if (!want)
		want = 1;
	for (unsigned i = 0; i < NB; i++)
		if ((seen += hist[i]) >= want)
			return bucket_ns(i) / 1000.0;
	return 0;
}

static void *reader(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 12345;
	void *buf;
	bool iobuf = !plain_buffers && coil_iobuf_alloc(&buf, bs) == 0;
	if (!iobuf && posix_memalign(&buf, 4096, bs))
		return NULL;
	while (!stop) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17; /* xorshift64 */
		int64_t off = (int64_t)((x % nblocks) * bs);
		int64_t t0 = coil_now();
		ssize_t n = coil_file_read(fd, buf, bs, off);
		int64_t t1 = coil_now();
		if (n != (ssize_t)bs) {
			if (!first_err)
				first_err = n < 0 ? (int)-n : EIO;
			errors++;
			if (n < 0 && n != -EINTR && n != -EAGAIN)
				break;
			continue;
		}
		if (measuring) {
			ops++;
			hist[bucket((uint64_t)(t1 - t0))]++;
			hcount++;
		}
	}
	if (iobuf)
		coil_iobuf_free(buf);
	else
		free(buf);
	return NULL;
}

static double tv(struct timeval t) { return (double)t.tv_sec * 1e9 + (double)t.tv_usec * 1e3; }

static void *bench_main(void *arg)
{
	(void)arg;
	fd = coil_file_open(path, O_RDONLY | (direct ? O_DIRECT : 0), 0);
	if (fd < 0) {
		fprintf(stderr, "file_randread: open %s: %s\n", path, strerror(-fd));
		return (void *)1;
	}
	struct coil_stat st;
	int r = coil_file_stat(fd, &st);
	if (r < 0 || st.size < bs) {
		fprintf(stderr, "file_randread: %s: too small or no stat\n", path);
		return (void *)1;
	}
	nblocks = st.size / bs;
	coil_task *t = calloc((size_t)qd, sizeof *t);
	for (int i = 0; i < qd; i++)
		if (coil_task_spawn(&t[i], reader, (void *)(uintptr_t)(i + 1)) < 0) {
			fprintf(stderr, "file_randread: spawn failed\n");
			return (void *)1;
		}
	coil_sleep((int64_t)(warmup * 1e9));
	struct rusage u0, u1;
	getrusage(RUSAGE_SELF, &u0);
	int64_t t0 = coil_now();
	measuring = 1;
	coil_sleep((int64_t)(seconds * 1e9));
	measuring = 0;
	int64_t t1 = coil_now();
	getrusage(RUSAGE_SELF, &u1);
	stop = 1;
	for (int i = 0; i < qd; i++)
		coil_task_join(t[i], NULL);
	free(t);
	coil_close(fd);
	double secs = (double)(t1 - t0) / 1e9;
	double usr = tv(u1.ru_utime) - tv(u0.ru_utime), sys = tv(u1.ru_stime) - tv(u0.ru_stime);
	double n = ops ? (double)ops : 1;
	printf("qd=%d direct=%d bs=%zu seconds=%.2f ops=%llu iops=%.0f p50_us=%.1f p99_us=%.1f "
	       "cpu_ns_op=%.0f usr_ns_op=%.0f sys_ns_op=%.0f errors=%llu\n",
	       qd, direct, bs, secs, (unsigned long long)ops, (double)ops / secs, pct_us(50),
	       pct_us(99), (usr + sys) / n, usr / n, sys / n, (unsigned long long)errors);
	if (errors)
		fprintf(stderr, "file_randread: %llu failed reads, first: %s\n",
			(unsigned long long)errors, strerror(first_err));
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: file_randread --file PATH [--qd N] [--direct] [--seconds S] "
			"[--warmup S] [--bs BYTES] [--plain-buffers]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--direct"))
			direct = 1;
		else if (!strcmp(argv[i], "--plain-buffers"))
			plain_buffers = 1;
		else if (i + 1 >= argc)
			usage();
		else if (!strcmp(argv[i], "--file"))
			path = argv[++i];
		else if (!strcmp(argv[i], "--qd"))
			qd = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--warmup"))
			warmup = atof(argv[++i]);
		else if (!strcmp(argv[i], "--bs"))
			bs = (size_t)atol(argv[++i]);
		else
			usage();
	}
	if (!path || qd < 1 || qd > 4096 || seconds <= 0 || warmup < 0 || bs < 512 || bs % 512)
		usage();
	void *res = NULL;
	/* One I/O buffer per fiber. */
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.io_buffers = (unsigned)qd;
	cfg.io_buffer_size = bs < 4096 ? 4096 : (unsigned)bs;
	int r = coil_run(&cfg, bench_main, NULL, &res);
	if (r < 0) {
		fprintf(stderr, "file_randread: coil_run: %s\n", strerror(-r));
		return 1;
	}
	return res || errors ? 1 : 0;
}

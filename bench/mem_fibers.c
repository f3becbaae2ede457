/* mem_fibers: resident memory per sleeping fiber, and what happens beyond
 * coil's bound on operations in flight. Public API only.
 *
 *   mem_fibers [--fibers N] [--cq-entries C] [--stack-size B] [--wake-ms MS]
 *   mem_fibers --serve [--port P] [--cq-entries C] [--exit-after N]
 *
 * Sleep mode (default N = 100000, C = 65536): the main fiber reads VmRSS from
 * /proc/self/status, spawns N fibers that each call coil_sleep(1 hour), waits
 * until every one has started (and parked), reads VmRSS again and prints
 *   fibers=N started=S rss0_kib=.. rss_kib=.. per_fiber_bytes=.. spawn_ms=..
 * then cancels and joins them all (cancel_ms=..). coil keeps at most
 * cq_entries/2 operations in flight; a fiber whose sleep would exceed that
 * parks waiting for room, still holding its stack. With --wake-ms MS (default
 * 1000) a second phase spawns N fibers sleeping MS each and reports how long
 * until all have woken and been joined (wake_all_ms=..): beyond the bound the
 * sleeps run in waves.
 *
 * Serve mode (--serve, or any --port): a TCP echo server like examples/echo_server.c (one fiber per
 * connection, 16 KiB buffer on its stack) but with cq_entries = C, for the
 * idle-connection memory test. Prints "listening on 127.0.0.1:PORT"; exits 0
 * on --exit-after N closed connections, SIGINT or SIGTERM.
 *
 * Guard regions are MADV_GUARD_INSTALL (Linux 6.13+), which splits no
 * mapping: measured here, 1M sleeping fibers (128 KiB stacks) all start with
 * the default vm.max_map_count (65530), RSS 4,190,388 KiB (4288 bytes a
 * fiber). On older kernels the guard is mprotect, a mapping split per stack:
 * raise vm.max_map_count (sysctl -w vm.max_map_count=262144) beyond ~32k.
 */
#define _GNU_SOURCE
#include <coil.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static long nfibers = 100000, wake_ms = 1000, exit_after = -1, closed;
static unsigned cq_entries = 65536;
static size_t stack_size;
static int serve, port, sigfd = -1;
static long started, woke, failed_sleeps;
static int64_t sleep_ns;
static coil_task main_task;

static long vm_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	if (f)
		fclose(f);
	return v;
}

static void *sleeper(void *arg)
{
	(void)arg;
	started++;
	int r = coil_sleep(sleep_ns);
	if (r == 0)
		woke++;
	else if (r != -ECANCELED)
		failed_sleeps++;
	return NULL;
}

static int spawn_all(coil_task *t, long n)
{
	for (long i = 0; i < n; i++) {
		int r = coil_task_spawn(&t[i], sleeper, NULL);
		if (r < 0) {
			fprintf(stderr, "mem_fibers: spawn %ld: %s\n", i, strerror(-r));
			return (int)i;
		}
	}
	return (int)n;
}

static void *sleep_main(void *arg)
{
	(void)arg;
	coil_task *t = calloc((size_t)nfibers, sizeof *t);
	if (!t)
		return (void *)1;
	long rss0 = vm_rss_kib();
	sleep_ns = 3600 * COIL_NSEC_PER_SEC;
	int64_t t0 = coil_now();
	int n = spawn_all(t, nfibers);
	/* Let them all run up to their sleep (or the wait for room). */
	for (int i = 0; i < 1000 && started < n; i++)
		coil_sleep(COIL_NSEC_PER_MSEC);
	int64_t t1 = coil_now();
	coil_sleep(100 * COIL_NSEC_PER_MSEC); /* settle */
	long rss = vm_rss_kib();
	printf("fibers=%ld spawned=%d started=%ld cq_entries=%u inflight_bound=%u rss0_kib=%ld "
	       "rss_kib=%ld per_fiber_bytes=%.0f spawn_ms=%.1f",
	       nfibers, n, started, cq_entries, cq_entries / 2, rss0, rss,
	       n ? (double)(rss - rss0) * 1024.0 / n : 0.0, (double)(t1 - t0) / 1e6);
	fflush(stdout);
	t0 = coil_now();
	for (int i = 0; i < n; i++)
		coil_task_cancel(t[i]);
	for (int i = 0; i < n; i++)
		coil_task_join(t[i], NULL);
	t1 = coil_now();
	printf(" cancel_join_ms=%.1f", (double)(t1 - t0) / 1e6);
	if (wake_ms > 0) {
		started = woke = 0;
		sleep_ns = wake_ms * COIL_NSEC_PER_MSEC;
		t0 = coil_now();
		n = spawn_all(t, nfibers);
		for (int i = 0; i < n; i++)
			coil_task_join(t[i], NULL);
		t1 = coil_now();
		printf(" wake_ms=%ld woke=%ld wake_all_ms=%.1f", wake_ms, woke, (double)(t1 - t0) / 1e6);
	}
	printf(" failed_sleeps=%ld\n", failed_sleeps);
	fflush(stdout);
	free(t);
	return NULL;
}

/* ---- serve mode ---- */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];
	ssize_t n;
	while ((n = coil_sock_read(fd, buf, sizeof buf)) > 0)
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	coil_close(fd);
	if (exit_after > 0 && ++closed == exit_after)
		coil_task_cancel(main_task);
	return NULL;
}

static void *watch_signals(void *arg)
{
	(void)arg;
	struct signalfd_siginfo si;
	if (coil_file_read(sigfd, &si, sizeof si, -1) == (ssize_t)sizeof si)
		coil_task_cancel(main_task);
	return NULL;
}

static void *serve_main(void *arg)
{
	(void)arg;
	main_task = coil_task_current();
	int lfd = coil_tcp_listen("127.0.0.1", (uint16_t)port, 4096, 0);
	if (lfd < 0) {
		fprintf(stderr, "mem_fibers: listen: %s\n", strerror(-lfd));
		return (void *)1;
	}
	printf("listening on 127.0.0.1:%d\n", coil_sock_port(lfd));
	fflush(stdout);
	if (sigfd >= 0)
		coil_task_spawn(NULL, watch_signals, NULL);
	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd == -ECANCELED)
			break;
		if (fd < 0)
			continue;
		coil_tcp_nodelay(fd, 1);
		if (coil_task_spawn(NULL, serve_conn, (void *)(intptr_t)fd) < 0)
			coil_close(fd);
	}
	close(lfd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: mem_fibers [--fibers N] [--cq-entries C] [--stack-size B] [--wake-ms MS]\n"
			"       mem_fibers --serve [--port P] [--cq-entries C] [--exit-after N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--serve"))
			serve = 1;
		else if (i + 1 >= argc)
			usage();
		else if (!strcmp(argv[i], "--fibers"))
			nfibers = atol(argv[++i]);
		else if (!strcmp(argv[i], "--cq-entries"))
			cq_entries = (unsigned)atol(argv[++i]);
		else if (!strcmp(argv[i], "--stack-size"))
			stack_size = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--wake-ms"))
			wake_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--port"))
			port = atoi(argv[++i]), serve = 1;
		else if (!strcmp(argv[i], "--exit-after"))
			exit_after = atol(argv[++i]);
		else
			usage();
	}
	if (nfibers < 1 || port < 0 || port > 65535)
		usage();
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.cq_entries = cq_entries;
	if (stack_size)
		cfg.stack_size = stack_size;
	if (serve) {
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGINT);
		sigaddset(&m, SIGTERM);
		if (sigprocmask(SIG_BLOCK, &m, NULL) == 0)
			sigfd = signalfd(-1, &m, SFD_CLOEXEC);
	}
	void *res = NULL;
	int r = coil_run(&cfg, serve ? serve_main : sleep_main, NULL, &res);
	if (r < 0) {
		fprintf(stderr, "mem_fibers: coil_run: %s\n", strerror(-r));
		return 1;
	}
	return res ? 1 : 0;
}

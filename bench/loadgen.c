/* loadgen: closed-loop TCP echo load generator (single thread, epoll).
 *
 *   loadgen --host 127.0.0.1 --port P --conns N --size BYTES --duration SECONDS
 *           [--warmup SECONDS] [--requests-per-conn K] [--timeout SECONDS]
 *           [--sample-pid PID] [--churn] [--hold SECONDS] [--src-ips K]
 *
 * Opens N TCP connections (TCP_NODELAY). Each sends a message of BYTES, waits
 * for the whole echo (checking every byte), then sends the next message. The
 * round-trip time of each message in the measured window (after --warmup) goes
 * into a log-linear histogram (128 sub-buckets per power of two, < 0.8% error).
 *
 * With --requests-per-conn K each connection stops after K round trips (warmup
 * included) and the run ends when all have; --duration is then only the limit.
 *
 * --sample-pid PID reads that process's CPU time exactly at the start and end of
 * the measured window: the sum over its threads of /proc/PID/task/T/schedstat
 * field 1 (ns on CPU) and utime/stime from /proc/PID/stat (clock ticks, whole
 * thread group).
 *
 * --churn: connection churn. Each of the N clients connects (non-blocking),
 * sends one message, waits for the whole echo, closes, and connects again at
 * once. A "round trip" is then one whole connection (connect to echo); its
 * time, from connect() to the last byte, goes into the histogram.
 *
 * --hold S (with --requests-per-conn K): each connection that has finished its
 * K round trips stays open and idle; when all have, the result line is printed
 * (flushed) and loadgen keeps the connections open S more seconds before it
 * closes them (for measuring a server's memory per idle connection). Connecting
 * stops at the first connection that fails (the rest would fail alike).
 *
 * --src-ips K binds the client sockets to 127.0.0.1 .. 127.0.0.K in turn
 * (IP_BIND_ADDRESS_NO_PORT), for more than ~28k connections to one port.
 *
 * Prints one line on stdout at the end:
 *   conns=50 size=64 seconds=5.00 rtt=123456 rps=24691.2 p50_us=.. p90_us=..
 *   p99_us=.. p999_us=.. max_us=.. errors=0 total_rtt=.. [srv_cpu_ns=..
 *   srv_utime_ticks=.. srv_stime_ticks=.. clk_tck=100]
 * Errors (refused, reset, EOF, mismatched bytes, a round trip that takes longer
 * than --timeout, default 5 s) are counted, described on stderr, and the
 * connection is closed; exit status is 1 if errors > 0. The whole run is bounded
 * by warmup + duration + timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- histogram ---------------------------------------------------------- */
#define SUB_BITS 7
#define HALF (1u << SUB_BITS)
#define MAX_NS 10000000000ull /* 10 s */
#define NBUCKETS ((36 - SUB_BITS + 1) * HALF)

static uint64_t hist[NBUCKETS];
static uint64_t hist_count, hist_max;

static unsigned bucket_of(uint64_t v)
{
	if (v > MAX_NS)
		v = MAX_NS;
	if (v < 2 * HALF)
		return (unsigned)v;
	int msb = 63 - __builtin_clzll(v);
	int shift = msb - SUB_BITS;
	return (unsigned)((shift + 1) * HALF + ((v >> shift) - HALF));
}

/* Middle of the bucket, in ns. */
static double bucket_value(unsigned idx)
{
	if (idx < 2 * HALF)
		return idx;
	unsigned shift = idx / HALF - 1;
	uint64_t lo = (uint64_t)(idx % HALF + HALF) << shift;
	return (double)lo + (double)((1ull << shift) - 1) / 2.0;
}

static void hist_record(uint64_t ns)
{
	hist[bucket_of(ns)]++;
	hist_count++;
	if (ns > hist_max)
		hist_max = ns;
}

static double hist_pct_us(double pct)
{
	if (!hist_count)
		return 0;
	uint64_t want = (uint64_t)((double)hist_count * pct / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += hist[i];
		if (seen >= want) {
			double v = bucket_value(i);
			if (v > (double)hist_max)
				v = (double)hist_max;
			return v / 1000.0;
		}
	}
	return (double)hist_max / 1000.0;
}

/* ---- connections --------------------------------------------------------- */
struct conn {
	int fd;
	int id;
	int dead;
	int want_out;      /* EPOLLOUT registered */
	uint32_t seq;      /* message number, varies the pattern */
	size_t sent, got;  /* of the current message */
	uint64_t t_start;  /* ns, when the current message started */
	uint64_t done;     /* round trips completed */
	int connecting;    /* --churn: non-blocking connect in progress */
	unsigned char *sbuf, *rbuf;
};

static size_t msg_size;
static int epfd;
static long long n_errors;
static int n_live;
static long long per_conn_limit = -1;
static int measuring;
static uint64_t rtt_measured, rtt_total;
static int churn, src_ips;
static double hold_secs = -1;
static struct sockaddr_in server_addr;
static unsigned src_next;

static int bind_src(int fd)
{
	if (src_ips <= 1)
		return 0;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x7f000001u + (src_next++ % (unsigned)src_ips));
	int one = 1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	return bind(fd, (struct sockaddr *)&a, sizeof a);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline unsigned char pattern(const struct conn *c, size_t i)
{
	return (unsigned char)((uint32_t)c->id * 131u + c->seq * 17u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

static void fill(struct conn *c)
{
	for (size_t i = 0; i < msg_size; i++)
		c->sbuf[i] = pattern(c, i);
}

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (c->dead)
		return;
	n_errors++;
	if (n_errors <= 10)
		fprintf(stderr, "loadgen: conn %d: %s%s%s (after %llu round trips)\n", c->id, what,
			err ? ": " : "", err ? strerror(err) : "", (unsigned long long)c->done);
	close(c->fd);
	c->dead = 1;
	n_live--;
}

static void conn_finish(struct conn *c)
{
	close(c->fd);
	c->dead = 1;
	n_live--;
}

static void set_out(struct conn *c, int on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		conn_fail(c, "epoll_ctl", errno);
		return;
	}
	c->want_out = on;
}

static void do_send(struct conn *c)
{
	while (c->sent < msg_size) {
		ssize_t n = send(c->fd, c->sbuf + c->sent, msg_size - c->sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_out(c, 1);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		conn_fail(c, "send", n < 0 ? errno : 0);
		return;
	}
	set_out(c, 0);
}

static void start_msg(struct conn *c, uint64_t t)
{
	c->seq++;
	fill(c);
	c->sent = c->got = 0;
	c->t_start = t;
	do_send(c);
}

/* --churn: a fresh non-blocking connect for slot c; the message starts once
 * it is connected. */
static void churn_connect(struct conn *c, uint64_t t)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->t_start = t;
	c->want_out = 0;
	c->connecting = 0;
	if (c->fd < 0) {
		int e = errno;
		c->fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* so conn_fail can close */
		conn_fail(c, "socket", e);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind_src(c->fd) < 0) {
		conn_fail(c, "bind", errno);
		return;
	}
	int r = connect(c->fd, (const struct sockaddr *)&server_addr, sizeof server_addr);
	if (r < 0 && errno != EINPROGRESS) {
		conn_fail(c, "connect", errno);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN | (r < 0 ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_fail(c, "epoll_ctl", errno);
		return;
	}
	if (r == 0) {
		c->seq++;
		fill(c);
		c->sent = c->got = 0;
		do_send(c);
	} else {
		c->connecting = 1;
		c->want_out = 1;
	}
}

static void churn_connected(struct conn *c)
{
	int soerr = 0;
	socklen_t l = sizeof soerr;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
	if (soerr) {
		conn_fail(c, "connect", soerr);
		return;
	}
	c->connecting = 0;
	c->seq++;
	fill(c);
	c->sent = c->got = 0;
	do_send(c); /* keeps t_start: the connection's time starts at connect() */
}

static void do_recv(struct conn *c)
{
	for (;;) {
		size_t want = msg_size - c->got;
		ssize_t n = recv(c->fd, c->rbuf, want, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			conn_fail(c, "recv", errno);
			return;
		}
		if (n == 0) {
			conn_fail(c, "unexpected EOF from server", 0);
			return;
		}
		if (c->got + (size_t)n > c->sent) {
			conn_fail(c, "server echoed bytes not yet sent", 0);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (c->rbuf[i] != pattern(c, c->got + (size_t)i)) {
				char what[96];
				snprintf(what, sizeof what, "mismatched byte at offset %zu of message %u",
					 c->got + (size_t)i, c->seq);
				conn_fail(c, what, 0);
				return;
			}
		}
		c->got += (size_t)n;
		if (c->got < msg_size)
			continue; /* level-triggered; read on until EAGAIN */
		uint64_t t = now_ns();
		rtt_total++;
		c->done++;
		if (measuring) {
			rtt_measured++;
			hist_record(t - c->t_start);
		}
		if (churn) {
			close(c->fd);
			churn_connect(c, t);
			return;
		}
		if (per_conn_limit >= 0 && (long long)c->done >= per_conn_limit) {
			if (hold_secs >= 0) { /* keep it open and idle */
				epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
				c->dead = 2;
				n_live--;
				return;
			}
			conn_finish(c);
			return;
		}
		start_msg(c, t);
		return;
	}
}

/* ---- server CPU sampling ------------------------------------------------ */
struct cpu_sample {
	int ok;
	unsigned long long sched_ns, utime, stime;
};

static void sample_pid(int pid, struct cpu_sample *s)
{
	char path[64], buf[1024];
	memset(s, 0, sizeof *s);
	if (pid <= 0)
		return;
	snprintf(path, sizeof path, "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p2[300];
		snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", pid, e->d_name);
		FILE *f = fopen(p2, "r");
		if (!f)
			continue;
		unsigned long long ns;
		if (fscanf(f, "%llu", &ns) == 1)
			s->sched_ns += ns;
		fclose(f);
	}
	closedir(d);
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may contain spaces */
	if (!p)
		return;
	p += 2;
	/* fields after comm: 3=state ... 14=utime 15=stime -> index 11, 12 from state */
	int field = 3;
	char *save = NULL;
	for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 14)
			s->utime = strtoull(tok, NULL, 10);
		else if (field == 15) {
			s->stime = strtoull(tok, NULL, 10);
			s->ok = 1;
			break;
		}
	}
}

/* ---- main --------------------------------------------------------------- */
static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --host 127.0.0.1 --port P --conns N --size BYTES --duration SECONDS\n"
		"               [--warmup SECONDS] [--requests-per-conn K] [--timeout SECONDS]\n"
		"               [--sample-pid PID] [--churn] [--hold SECONDS] [--src-ips K]\n");
	exit(2);
}

static int connect_one(const struct sockaddr_in *sa, uint64_t deadline, int *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline) {
			*err = ETIMEDOUT;
			close(fd);
			return -1;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int r = poll(&pfd, 1, (int)((deadline - t) / 1000000 + 1));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		int soerr = 0;
		socklen_t l = sizeof soerr;
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
		if (soerr) {
			*err = soerr;
			close(fd);
			return -1;
		}
		return fd;
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = -1, nconns = 1, sample = 0;
	double duration = -1, warmup = 0, timeout = 5;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--churn")) {
			churn = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--host"))
			host = v;
		else if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--conns"))
			nconns = atoi(v);
		else if (!strcmp(a, "--size"))
			msg_size = (size_t)atol(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(a, "--requests-per-conn"))
			per_conn_limit = atoll(v);
		else if (!strcmp(a, "--timeout"))
			timeout = atof(v);
		else if (!strcmp(a, "--sample-pid"))
			sample = atoi(v);
		else if (!strcmp(a, "--hold"))
			hold_secs = atof(v);
		else if (!strcmp(a, "--src-ips"))
			src_ips = atoi(v);
		else
			usage();
	}
	if (port <= 0 || port > 65535 || nconns <= 0 || msg_size == 0 || duration <= 0 ||
	    warmup < 0 || timeout <= 0 || src_ips < 0 || src_ips > 250 ||
	    (hold_secs >= 0 && per_conn_limit < 0) || (churn && per_conn_limit >= 0))
		usage();
	signal(SIGPIPE, SIG_IGN);

	/* enough fds for the connections */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
		rl.rlim_cur = (rlim_t)nconns + 64;
		if (rl.rlim_max < rl.rlim_cur && nconns > 60000)
			fprintf(stderr, "loadgen: raising RLIMIT_NOFILE to %d\n", nconns + 64);
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: --host must be an IPv4 address: %s\n", host);
		return 2;
	}
	server_addr = sa;

	const uint64_t t0 = now_ns();
	const uint64_t hard_deadline = t0 + (uint64_t)((warmup + duration + timeout) * 1e9);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("loadgen: epoll_create1");
		return 1;
	}
	struct conn *conns = calloc((size_t)nconns, sizeof *conns);
	unsigned char *bufs = malloc(msg_size * 2 * (size_t)nconns);
	if (!conns || !bufs) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	int stop_connecting = 0;
	for (int i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		c->id = i;
		c->sbuf = bufs + (size_t)i * 2 * msg_size;
		c->rbuf = c->sbuf + msg_size;
		if (churn)
			continue; /* connected in the loop below */
		if (stop_connecting) {
			c->dead = 1;
			c->fd = -1;
			continue;
		}
		int err = 0;
		uint64_t cd = now_ns() + (uint64_t)(timeout * 1e9);
		if (cd > hard_deadline)
			cd = hard_deadline;
		c->fd = connect_one(&sa, cd, &err);
		if (c->fd < 0) {
			c->dead = 1;
			n_errors++;
			if (hold_secs >= 0) {
				stop_connecting = 1;
				fprintf(stderr, "loadgen: --hold: connect %d failed: stopping at %d connections\n",
					i, i);
			}
			if (n_errors <= 10)
				fprintf(stderr, "loadgen: conn %d: connect: %s\n", i, strerror(err));
			continue;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			n_live++;
			conn_fail(c, "epoll_ctl", errno);
			continue;
		}
		n_live++;
	}

	/* Start all messages, then loop. */
	uint64_t t = now_ns();
	const uint64_t t_warm_end = t + (uint64_t)(warmup * 1e9);
	uint64_t t_end = t_warm_end + (uint64_t)(duration * 1e9);
	if (t_end > hard_deadline)
		t_end = hard_deadline;
	struct cpu_sample s0 = { 0 }, s1 = { 0 };
	uint64_t t_meas0 = t, t_meas1 = t;
	if (warmup <= 0) {
		measuring = 1;
		sample_pid(sample, &s0);
		t_meas0 = now_ns();
	}
	if (churn) {
		n_live = nconns;
		for (int i = 0; i < nconns; i++)
			churn_connect(&conns[i], now_ns());
	}
	for (int i = 0; i < nconns && !churn; i++)
		if (!conns[i].dead)
			start_msg(&conns[i], now_ns());

	struct epoll_event evs[512];
	uint64_t next_scan = t + 100000000ull;
	const uint64_t rtt_timeout = (uint64_t)(timeout * 1e9);
	while (n_live > 0) {
		t = now_ns();
		if (!measuring && t >= t_warm_end) {
			sample_pid(sample, &s0);
			t_meas0 = now_ns();
			measuring = 1;
		}
		if (t >= t_end && per_conn_limit < 0)
			break;
		if (t >= hard_deadline)
			break;
		if (t >= next_scan) { /* stuck round trips */
			next_scan = t + 100000000ull;
			for (int i = 0; i < nconns; i++) {
				struct conn *c = &conns[i];
				if (!c->dead && t - c->t_start > rtt_timeout)
					conn_fail(c, "round trip timed out", 0);
			}
		}
		uint64_t wake = next_scan;
		if (!measuring && t_warm_end < wake)
			wake = t_warm_end;
		if (t_end < wake)
			wake = t_end;
		int ms = wake > t ? (int)((wake - t + 999999) / 1000000) : 0;
		int n = epoll_wait(epfd, evs, (int)(sizeof evs / sizeof evs[0]), ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("loadgen: epoll_wait");
			n_errors++;
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->dead)
				continue;
			if (c->connecting) {
				if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					churn_connected(c);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				do_send(c);
			if (c->dead)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				do_recv(c);
		}
	}
	t_meas1 = now_ns();
	if (measuring)
		sample_pid(sample, &s1);
	else
		t_meas0 = t_meas1;

	long held = 0;
	for (int i = 0; i < nconns; i++)
		if (conns[i].dead == 2)
			held++;
	if (per_conn_limit >= 0 && hold_secs < 0) {
		for (int i = 0; i < nconns; i++)
			if (!conns[i].dead && (long long)conns[i].done < per_conn_limit) {
				n_errors++;
				if (n_errors <= 10)
					fprintf(stderr, "loadgen: conn %d: only %llu of %lld requests before the time limit\n",
						i, (unsigned long long)conns[i].done, per_conn_limit);
			}
	}
	for (int i = 0; i < nconns; i++)
		if (!conns[i].dead && conns[i].fd >= 0)
			close(conns[i].fd);
	if (n_errors > 10)
		fprintf(stderr, "loadgen: ... %lld errors in all\n", n_errors);

	double secs = (double)(t_meas1 - t_meas0) / 1e9;
	printf("conns=%d size=%zu seconds=%.2f rtt=%llu rps=%.1f p50_us=%.1f p90_us=%.1f "
	       "p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%lld total_rtt=%llu",
	       nconns, msg_size, secs, (unsigned long long)rtt_measured,
	       secs > 0 ? (double)rtt_measured / secs : 0.0, hist_pct_us(50), hist_pct_us(90),
	       hist_pct_us(99), hist_pct_us(99.9), (double)hist_max / 1000.0, n_errors,
	       (unsigned long long)rtt_total);
	if (sample) {
		if (s0.ok && s1.ok)
			printf(" srv_cpu_ns=%llu srv_utime_ticks=%llu srv_stime_ticks=%llu clk_tck=%ld",
			       s1.sched_ns - s0.sched_ns, s1.utime - s0.utime, s1.stime - s0.stime,
			       sysconf(_SC_CLK_TCK));
		else
			printf(" srv_cpu_ns=NA");
	}
	if (hold_secs >= 0)
		printf(" held=%ld", held);
	printf("\n");
	fflush(stdout);
	if (hold_secs >= 0) {
		struct timespec ts = { (time_t)hold_secs, (long)((hold_secs - (double)(time_t)hold_secs) * 1e9) };
		nanosleep(&ts, NULL);
		for (int i = 0; i < nconns; i++)
			if (conns[i].dead == 2)
				close(conns[i].fd);
	}
	free(conns);
	free(bufs);
	close(epfd);
	return n_errors ? 1 : 0;
}

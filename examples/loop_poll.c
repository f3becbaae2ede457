/*
 * loop_poll: coil inside a plain poll(2) loop that also serves fds of its
 * own.
 *
 * The program's loop polls coil_loop_fd(), with coil_loop_timeout() as the
 * poll timeout, and ticks coil when the fd is readable or the timeout has
 * come. coil's fibers run a TCP echo server on 127.0.0.1 (and one fiber
 * that sleeps 2 ms: timers come through coil_loop_timeout). The program's
 * own client, a plain non-blocking socket in the same poll set, does N
 * round trips through it: each one wakes the loop through coil's fd (the
 * server's read completing) and then through the client's socket, and
 * nothing else wakes it meanwhile (no fiber ticks periodically). Then a
 * thread of the program's own writes N numbers into a pipe, one every
 * 200 us, which the loop polls beside coil's fd and hands to coil with
 * coil_loop_post (as a foreign event source would); coil sums them on the
 * loop.
 *
 *   loop_poll [--rounds N] [--against-epoll RATIO]
 *
 * --against-epoll runs a second coil loop on the epoll backend beside the
 * first (its own server and client, polled by the same loop, at the same
 * time) and fails when the first's median round trip is more than RATIO
 * times the epoll one's: a wake through coil's fd must cost about the
 * same on every backend that has one. A ratio of medians from the same
 * run, so a busy machine slows both.
 *
 * Prints "loop_poll: ok, ..." and exits 0, or says what failed and exits 1.
 * On the poll backend coil has no fd: the loop then waits at most 1 ms
 * (and is not compared).
 */
#define _GNU_SOURCE
#include <coil.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One coil loop with its echo server, and the program's client of it. */
struct side {
	coil_loop *l;
	int fd;				/* coil_loop_fd, or -1 (poll backend) */
	int port;			/* coil's echo server, once it listens */
	int slept;			/* the sleeper's 2 ms ended, not early */
	int sock;			/* the client's socket, -1 until connected */
	long done;			/* round trips done */
	char out[32];			/* this round's message */
	size_t len, got;
	int64_t sent_at;
	int64_t *rtt;			/* ns, one per round trip */
	const char *err;
};

struct app {
	struct side side[2];
	int nsides;
	long rounds;
	long sum;			/* numbers from the pipe, summed on the loop */
	long numbers;
	int pipe_w;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- coil's fibers -------------------------------------------------------- */

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	ssize_t n;
	while ((n = coil_sock_read(fd, buf, sizeof buf)) > 0)
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	coil_close(fd);
	return NULL;
}

static void *server(void *arg)
{
	struct side *s = arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	s->port = lfd < 0 ? lfd : coil_sock_port(lfd);
	if (lfd < 0)
		return NULL;
	int fd;
	while ((fd = coil_tcp_accept(lfd, NULL, NULL)) >= 0)
		if (coil_task_spawn(NULL, echo_conn, (void *)(intptr_t)fd) < 0)
			coil_close(fd);
	coil_close(lfd);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct side *s = arg;
	int64_t t0 = coil_now();
	if (coil_sleep(2000000) == 0 && coil_now() - t0 >= 2000000)
		s->slept = 1;
	return NULL;
}

static void add_number(coil_loop *l, void *arg)
{
	struct app *a = (struct app *)((intptr_t *)arg)[0];
	a->sum += ((intptr_t *)arg)[1];
	a->numbers++;
	free(arg);
}

/* ---- the program's client --------------------------------------------------- */

static void send_round(struct side *s)
{
	s->len = (size_t)snprintf(s->out, sizeof s->out, "round %ld\n", s->done);
	s->got = 0;
	s->sent_at = now_ns();
	/* A few bytes into an empty socket buffer: all of it goes. */
	if (send(s->sock, s->out, s->len, MSG_NOSIGNAL) != (ssize_t)s->len)
		s->err = "client send";
}

/* The client's socket is readable: take the echo, then the next round. */
static void client_read(struct side *s, long rounds)
{
	char in[32];
	ssize_t n = recv(s->sock, in, s->len - s->got, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || memcmp(in, s->out + s->got, (size_t)n)) {
		s->err = n <= 0 ? "client recv" : "echo differs";
		return;
	}
	s->got += (size_t)n;
	if (s->got < s->len)
		return;
	s->rtt[s->done++] = now_ns() - s->sent_at;
	if (s->done < rounds)
		send_round(s);
}

/* Once coil's server listens: connect (blocking: the kernel completes a
 * loopback connect from the listen backlog) and send the first round. */
static void client_start(struct side *s)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		s->err = "client connect";
		if (fd >= 0)
			close(fd);
		return;
	}
	s->sock = fd;
	send_round(s);
}

/* ---- the loops ------------------------------------------------------------------- */

static int side_start(struct side *s, const char *backend, long rounds)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.backend = backend; /* NULL: $COIL_BACKEND, else io_uring */
	s->sock = -1;
	int r = coil_loop_new(&s->l, &cfg);
	if (r < 0) {
		fprintf(stderr, "loop_poll: coil_loop_new: %s\n", strerror(-r));
		return r;
	}
	s->rtt = calloc((size_t)rounds, sizeof *s->rtt);
	if (!s->rtt || coil_loop_spawn(s->l, NULL, server, s) < 0 ||
	    coil_loop_spawn(s->l, NULL, sleeper, s) < 0) {
		fprintf(stderr, "loop_poll: spawn failed\n");
		return -ENOMEM;
	}
	s->fd = coil_loop_fd(s->l);
	return 0;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

static double median_us(struct side *s)
{
	qsort(s->rtt, (size_t)s->done, sizeof *s->rtt, cmp_i64);
	return (double)s->rtt[s->done / 2] / 1000.0;
}

/* ---- the program's own fd source --------------------------------------------- */

static void *producer(void *arg)
{
	struct app *a = arg;
	for (long i = 1; i <= a->rounds; i++) {
		if (write(a->pipe_w, &i, sizeof i) != sizeof i)
			break;
		usleep(200);
	}
	close(a->pipe_w);
	return NULL;
}

int main(int argc, char **argv)
{
	struct app a = {.rounds = 2000};
	double max_ratio = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			a.rounds = atol(argv[++i]);
		else if (!strcmp(argv[i], "--against-epoll") && i + 1 < argc)
			max_ratio = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: loop_poll [--rounds N] [--against-epoll RATIO]\n");
			return 2;
		}
	}
	if (a.rounds < 1 || max_ratio < 0)
		return 2;
	a.nsides = max_ratio > 0 ? 2 : 1;
	for (int i = 0; i < a.nsides; i++)
		if (side_start(&a.side[i], i ? "epoll" : NULL, a.rounds) < 0)
			return 1;
	coil_loop *l = a.side[0].l; /* the pipe's numbers go to the first */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("loop_poll: pipe");
		return 1;
	}
	a.pipe_w = p[1];
	pthread_t th;
	bool pipe_open = false, producing = false;
	long loops = 0;
	int r;
	for (;;) {
		bool done = true;
		for (int i = 0; i < a.nsides; i++) {
			struct side *s = &a.side[i];
			if (s->err) {
				fprintf(stderr, "loop_poll: %s: %s\n", s->err, strerror(errno));
				return 1;
			}
			if (s->sock < 0 && s->port != 0) {
				if (s->port < 0) {
					fprintf(stderr, "loop_poll: listen: %s\n", strerror(-s->port));
					return 1;
				}
				client_start(s);
			}
			done = done && s->done == a.rounds;
		}
		if (done && !producing) {
			/* The round trips are over: now the pipe. */
			pthread_create(&th, NULL, producer, &a);
			producing = pipe_open = true;
		}
		if (done && !pipe_open)
			break;
		/* Per loop its fd and its client's socket (poll skips a
		 * negative fd), then the pipe; the timeout is the nearest of
		 * the loops' (1 ms at most for a loop without an fd). */
		struct pollfd fds[5];
		nfds_t nfds = 0;
		int64_t t = -1;
		for (int i = 0; i < a.nsides; i++) {
			struct side *s = &a.side[i];
			fds[nfds++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
			fds[nfds++] = (struct pollfd){.fd = s->done < a.rounds ? s->sock : -1,
						      .events = POLLIN};
			int64_t ti = coil_loop_timeout(s->l);
			if (s->fd < 0 && (ti < 0 || ti > 1000000))
				ti = 1000000;
			if (ti >= 0 && (t < 0 || ti < t))
				t = ti;
		}
		struct pollfd *pipe_fd = &fds[nfds++];
		*pipe_fd = (struct pollfd){.fd = pipe_open ? p[0] : -1, .events = POLLIN};
		int ms = t < 0 ? -1 : (int)((t + 999999) / 1000000);
		if (poll(fds, nfds, ms) < 0 && errno != EINTR) {
			perror("loop_poll: poll");
			return 1;
		}
		loops++;
		if (pipe_open && (pipe_fd->revents & (POLLIN | POLLHUP))) {
			long v;
			ssize_t n = read(p[0], &v, sizeof v);
			if (n == sizeof v) {
				intptr_t *msg = malloc(2 * sizeof *msg);
				msg[0] = (intptr_t)&a;
				msg[1] = v;
				while ((r = coil_loop_post(l, add_number, msg)) == -EAGAIN)
					coil_loop_tick(l, 0, 0); /* full: let the loop catch up */
				if (r < 0) {
					fprintf(stderr, "loop_poll: post: %s\n", strerror(-r));
					return 1;
				}
			} else if (n == 0) {
				pipe_open = false;
			}
		}
		for (int i = 0; i < a.nsides; i++) {
			struct side *s = &a.side[i];
			/* Tick a loop when it says so: its fd, or its timeout
			 * (a loop without an fd: each time, 1 ms at most apart). */
			if (s->fd < 0 || (fds[2 * i].revents & POLLIN) ||
			    coil_loop_timeout(s->l) == 0) {
				r = coil_loop_tick(s->l, 0, 0);
				if (r < 0) {
					fprintf(stderr, "loop_poll: tick: %s\n", strerror(-r));
					return 1;
				}
			}
			/* After the tick, which may have armed the server's
			 * read: the next round's bytes then reach a waiting
			 * read, and its completion must wake this loop. */
			if (fds[2 * i + 1].revents)
				client_read(s, a.rounds);
		}
	}
	pthread_join(th, NULL);
	close(p[0]);
	coil_loop_tick(l, 0, 0); /* the last posts */
	int ret = 0;
	for (int i = 0; i < a.nsides; i++) {
		struct side *s = &a.side[i];
		close(s->sock);
		r = coil_loop_free(s->l);
		if (r < 0 || !s->slept) {
			fprintf(stderr, "loop_poll: %s: free %d, %s\n", i ? "epoll beside" : "the loop",
				r, s->slept ? "slept" : "the 2 ms sleep did not end right");
			ret = 1;
		}
	}
	long want = a.rounds * (a.rounds + 1) / 2;
	if (a.sum != want) {
		fprintf(stderr, "loop_poll: sum %ld, want %ld\n", a.sum, want);
		ret = 1;
	}
	if (ret)
		return 1;
	double med = median_us(&a.side[0]);
	printf("loop_poll: ok, %ld round trips (median %.1f us), %ld numbers from the pipe, %ld polls",
	       a.side[0].done, med, a.numbers, loops);
	if (a.nsides == 2) {
		double ref = median_us(&a.side[1]);
		printf(", epoll beside %.1f us (%.2fx)", ref, med / ref);
		if (a.side[0].fd < 0)
			printf(", not compared: no fd on this backend");
		else if (med > max_ratio * ref)
			ret = 1;
	}
	printf("\n");
	if (ret)
		fprintf(stderr, "loop_poll: a round trip costs more than %.1f times epoll's\n",
			max_ratio);
	free(a.side[0].rtt);
	free(a.side[1].rtt);
	return ret;
}

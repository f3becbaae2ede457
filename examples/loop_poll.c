/*
 * loop_poll: coil inside a plain poll(2) loop that also serves fds of its
 * own.
 *
 * The program's loop polls a pipe (fed by a thread of its own, which
 * writes N numbers, one every 200 us) together with coil_loop_fd(), with
 * coil_loop_timeout() as the poll timeout. coil's fibers meanwhile run a
 * TCP echo server and a client doing N round trips through it, and a
 * ticker fiber that sleeps 1 ms at a time. The pipe's numbers are handed to
 * coil with coil_loop_post (as a foreign event source would), which sums
 * them on the loop.
 *
 *   loop_poll [--rounds N]
 *
 * Prints "loop_poll: ok, ..." and exits 0, or says what failed and exits 1.
 * On the poll backend coil has no fd: the loop then waits at most 1 ms.
 */
#define _GNU_SOURCE
#include <coil.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct app {
	long rounds;
	int port;			/* coil's echo server, once it listens */
	long echoed;			/* client round trips done */
	int client_err;
	long ticks;			/* the ticker fiber's wake-ups */
	long sum;			/* numbers from the pipe, summed on the loop */
	long numbers;
	int pipe_w;
};

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
	struct app *a = arg;
	int lfd = coil_tcp_listen("127.0.0.1", 0, 16, 0);
	a->port = lfd < 0 ? lfd : coil_sock_port(lfd);
	if (lfd < 0)
		return NULL;
	int fd;
	while ((fd = coil_tcp_accept(lfd, NULL, NULL)) >= 0)
		if (coil_task_spawn(NULL, echo_conn, (void *)(intptr_t)fd) < 0)
			coil_close(fd);
	coil_close(lfd);
	return NULL;
}

static void *client(void *arg)
{
	struct app *a = arg;
	while (a->port == 0)
		coil_task_yield();
	if (a->port < 0) {
		a->client_err = a->port;
		return NULL;
	}
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)a->port);
	if (fd < 0) {
		a->client_err = fd;
		return NULL;
	}
	for (long i = 0; i < a->rounds; i++) {
		char out[32], in[32];
		int n = snprintf(out, sizeof out, "round %ld\n", i);
		ssize_t r = coil_sock_write_all(fd, out, (size_t)n);
		if (r >= 0)
			r = coil_sock_read_exact(fd, in, (size_t)n);
		if (r < 0 || memcmp(in, out, (size_t)n)) {
			a->client_err = r < 0 ? (int)r : -EPROTO;
			break;
		}
		a->echoed++;
	}
	coil_close(fd);
	return NULL;
}

static void *ticker(void *arg)
{
	struct app *a = arg;
	while (coil_sleep(1000000) == 0)
		a->ticks++;
	return NULL;
}

static void add_number(coil_loop *l, void *arg)
{
	struct app *a = (struct app *)((intptr_t *)arg)[0];
	a->sum += ((intptr_t *)arg)[1];
	a->numbers++;
	free(arg);
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
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			a.rounds = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: loop_poll [--rounds N]\n");
			return 2;
		}
	}
	if (a.rounds < 1)
		return 2;
	coil_loop *l;
	int r = coil_loop_new(&l, NULL);
	if (r < 0) {
		fprintf(stderr, "loop_poll: coil_loop_new: %s\n", strerror(-r));
		return 1;
	}
	if (coil_loop_spawn(l, NULL, server, &a) < 0 || coil_loop_spawn(l, NULL, client, &a) < 0 ||
	    coil_loop_spawn(l, NULL, ticker, &a) < 0) {
		fprintf(stderr, "loop_poll: spawn failed\n");
		return 1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("loop_poll: pipe");
		return 1;
	}
	a.pipe_w = p[1];
	pthread_t th;
	pthread_create(&th, NULL, producer, &a);

	int cfd = coil_loop_fd(l);
	bool pipe_open = true;
	long loops = 0;
	while (pipe_open || a.echoed + (a.client_err != 0) < a.rounds) {
		if (a.client_err)
			break;
		struct pollfd fds[2] = {{.fd = p[0], .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
		int nfds = pipe_open ? 1 : 0;
		struct pollfd *first = pipe_open ? &fds[0] : &fds[1];
		if (cfd >= 0)
			nfds++;
		int64_t t = coil_loop_timeout(l);
		if (cfd < 0 && (t < 0 || t > 1000000))
			t = 1000000;
		int ms = t < 0 ? -1 : (int)((t + 999999) / 1000000);
		if (poll(first, (nfds_t)nfds, ms) < 0 && errno != EINTR) {
			perror("loop_poll: poll");
			return 1;
		}
		loops++;
		if (pipe_open && (fds[0].revents & (POLLIN | POLLHUP))) {
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
		r = coil_loop_tick(l, 0, 0);
		if (r < 0) {
			fprintf(stderr, "loop_poll: tick: %s\n", strerror(-r));
			return 1;
		}
	}
	pthread_join(th, NULL);
	close(p[0]);
	coil_loop_tick(l, 0, 0); /* the last posts */
	r = coil_loop_free(l);
	long want = a.rounds * (a.rounds + 1) / 2;
	if (r < 0 || a.client_err || a.echoed != a.rounds || a.sum != want || a.ticks < 1) {
		fprintf(stderr, "loop_poll: failed: free %d, client %s, %ld/%ld round trips, sum %ld/%ld, %ld ticks\n",
			r, a.client_err ? strerror(-a.client_err) : "ok", a.echoed, a.rounds, a.sum,
			want, a.ticks);
		return 1;
	}
	printf("loop_poll: ok, %ld round trips, %ld numbers from the pipe, %ld 1-ms ticks, %ld polls\n",
	       a.echoed, a.numbers, a.ticks, loops);
	return 0;
}

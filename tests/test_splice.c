/* coil_sock_splice: bytes from one connection to another through a pipe,
 * on every backend, over 127.0.0.1 only. */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected pair of TCP sockets: *a connected, *b accepted. */
static void tcp_pair(int *a, int *b)
{
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	*a = coil_tcp_connect("127.0.0.1", (uint16_t)coil_sock_port(lfd));
	ck_assert_int_ge(*a, 0);
	*b = coil_tcp_accept(lfd, NULL, NULL);
	ck_assert_int_ge(*b, 0);
	ck_assert_int_eq(coil_close(lfd), 0);
}

/* ---- every byte, in order, through a slow reader ------------------------------------- */

#define BULK (8u << 20)

struct bulk {
	unsigned char *data;
	int in_w, in_r;	  /* the source's two ends */
	int out_w, out_r; /* the sink's two ends */
	long calls;	  /* splices that moved bytes */
};

static void *bulk_writer(void *arg)
{
	struct bulk *b = arg;
	/* In uneven pieces, so the splices see every kind of arrival. */
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, 7);
	for (size_t off = 0; off < BULK;) {
		size_t n = (size_t)coil_test_rng_range(&rng, 1, 200000);
		if (n > BULK - off)
			n = BULK - off;
		ck_assert_int_eq(coil_sock_write_all(b->in_w, b->data + off, n), (ssize_t)n);
		off += n;
	}
	ck_assert_int_eq(coil_sock_shutdown(b->in_w, SHUT_WR), 0);
	return NULL;
}

static void *bulk_splicer(void *arg)
{
	struct bulk *b = arg;
	ssize_t n;
	size_t moved = 0;
	while ((n = coil_sock_splice(b->out_w, b->in_r, 1u << 16)) > 0) {
		ck_assert_int_le(n, 1 << 16);
		moved += (size_t)n;
		b->calls++;
	}
	ck_assert_int_eq(n, 0); /* the source's end, nothing moved */
	ck_assert_uint_eq(moved, BULK);
	ck_assert_int_eq(coil_sock_shutdown(b->out_w, SHUT_WR), 0);
	return NULL;
}

static void *bulk_main(void *arg)
{
	(void)arg;
	struct bulk b = {.data = malloc(BULK)};
	ck_assert_ptr_nonnull(b.data);
	struct coil_test_rng rng;
	coil_test_rng_init(&rng, coil_test_seed("splice"));
	coil_test_rng_fill(&rng, b.data, BULK);
	tcp_pair(&b.in_w, &b.in_r);
	tcp_pair(&b.out_w, &b.out_r);
	coil_task w, s;
	ck_assert_int_eq(coil_task_spawn(&w, bulk_writer, &b), 0);
	ck_assert_int_eq(coil_task_spawn(&s, bulk_splicer, &b), 0);
	/* A slow sink: small reads with a yield between, so the splicer meets
	 * a full socket and waits for room. */
	unsigned char *got = malloc(BULK + 1);
	ck_assert_ptr_nonnull(got);
	size_t have = 0;
	ssize_t n;
	while ((n = coil_sock_read(b.out_r, got + have,
				   BULK + 1 - have < 4096 ? BULK + 1 - have : 4096)) > 0) {
		have += (size_t)n;
		coil_task_yield();
	}
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(have, BULK);
	ck_assert(memcmp(got, b.data, BULK) == 0);
	ck_assert_int_eq(coil_task_join(w, NULL), 0);
	ck_assert_int_eq(coil_task_join(s, NULL), 0);
	ck_assert_int_gt(b.calls, 0);
	for (int *fd = &b.in_w; fd <= &b.out_r; fd++)
		ck_assert_int_eq(coil_close(*fd), 0);
	free(got);
	free(b.data);
	return NULL;
}

START_TEST(splice_moves_every_byte_in_order_to_a_slow_reader)
{
	coil_test_run(bulk_main, NULL);
}
END_TEST

/* ---- a wait for input that ends takes nothing ---------------------------------------- */

struct parked {
	int to, from;
	ssize_t res;
};

static void *parked_splice(void *arg)
{
	struct parked *p = arg;
	p->res = coil_sock_splice(p->to, p->from, 4096);
	return NULL;
}

static void *ended_wait_main(void *arg)
{
	(void)arg;
	int in_w, in_r, out_w, out_r;
	tcp_pair(&in_w, &in_r);
	tcp_pair(&out_w, &out_r);
	char buf[16];

	/* A deadline while nothing came: -ETIMEDOUT, nothing taken. */
	coil_scope sc;
	ck_assert_int_eq(coil_scope_enter_timeout(&sc, 20 * COIL_NSEC_PER_MSEC), 0);
	ck_assert_int_eq(coil_sock_splice(out_w, in_r, sizeof buf), -ETIMEDOUT);
	coil_scope_exit(&sc);
	ck_assert_int_eq(coil_sock_write_all(in_w, "abc", 3), 3);
	ck_assert_int_eq(coil_sock_read_exact(in_r, buf, 3), 3);
	ck_assert(memcmp(buf, "abc", 3) == 0);

	/* A cancelled task: -ECANCELED, nothing taken. */
	struct parked p = {.to = out_w, .from = in_r};
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, parked_splice, &p), 0);
	ck_assert_int_eq(coil_task_yield(), 0); /* it parks in its wait */
	ck_assert_int_eq(coil_task_cancel(t), 0);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	ck_assert_int_eq(p.res, -ECANCELED);
	ck_assert_int_eq(coil_sock_write_all(in_w, "def", 3), 3);
	ck_assert_int_eq(coil_sock_read_exact(in_r, buf, 3), 3);
	ck_assert(memcmp(buf, "def", 3) == 0);

	/* Bytes waiting: moved at once, no more than len. */
	ck_assert_int_eq(coil_sock_write_all(in_w, "0123456789", 10), 10);
	ssize_t n = 0;
	for (ssize_t k; n < 10; n += k)
		ck_assert_int_gt(k = coil_sock_splice(out_w, in_r, 4), 0);
	ck_assert_int_eq(n, 10);
	ck_assert_int_eq(coil_sock_read_exact(out_r, buf, 10), 10);
	ck_assert(memcmp(buf, "0123456789", 10) == 0);

	int fds[] = {in_w, in_r, out_w, out_r};
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(coil_close(fds[i]), 0);
	return NULL;
}

START_TEST(a_splice_that_waited_for_nothing_takes_nothing)
{
	coil_test_run(ended_wait_main, NULL);
}
END_TEST

/* ---- errors, as the socket calls give them ------------------------------------------- */

static void *errors_main(void *arg)
{
	(void)arg;
	int in_w, in_r, out_w, out_r;
	tcp_pair(&in_w, &in_r);
	tcp_pair(&out_w, &out_r);
	ck_assert_int_eq(coil_sock_splice(-1, in_r, 10), -EBADF);
	ck_assert_int_eq(coil_sock_splice(out_w, -1, 10), -EBADF);
	ck_assert_int_eq(coil_sock_splice(out_w, in_r, 0), 0);

	/* from is not a socket. */
	int pfd[2];
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(write(pfd[1], "x", 1), 1);
	ck_assert_int_eq(coil_sock_splice(out_w, pfd[0], 10), -ENOTSOCK);
	ck_assert_int_eq(coil_close(pfd[0]), 0);
	ck_assert_int_eq(coil_close(pfd[1]), 0);

	/* The source's end: 0, and again 0. */
	ck_assert_int_eq(coil_sock_shutdown(in_w, SHUT_WR), 0);
	ck_assert_int_eq(coil_sock_splice(out_w, in_r, 10), 0);
	ck_assert_int_eq(coil_sock_splice(out_w, in_r, 10), 0);

	/* A sink that is gone: -EPIPE or -ECONNRESET, never a signal. */
	int a, b;
	tcp_pair(&a, &b);
	ck_assert_int_eq(coil_close(out_r), 0);
	ssize_t n = 0;
	static char chunk[65536];
	for (int i = 0; i < 1000 && n >= 0; i++) {
		ck_assert_int_eq(coil_sock_write_all(a, chunk, sizeof chunk),
				 (ssize_t)sizeof chunk);
		n = coil_sock_splice(out_w, b, sizeof chunk);
	}
	ck_assert_msg(n == -EPIPE || n == -ECONNRESET, "splice to a closed peer: %zd", n);

	int fds[] = {in_w, in_r, out_w, a, b};
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(coil_close(fds[i]), 0);
	return NULL;
}

START_TEST(splice_errors_are_the_socket_calls_errors)
{
	coil_test_run(errors_main, NULL);
	/* Not on a fiber. */
	ck_assert_int_eq(coil_sock_splice(1, 0, 10), -EPERM);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("splice");
	TCase *tc = tcase_create("splice");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, splice_moves_every_byte_in_order_to_a_slow_reader);
	tcase_add_test(tc, a_splice_that_waited_for_nothing_takes_nothing);
	tcase_add_test(tc, splice_errors_are_the_socket_calls_errors);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}

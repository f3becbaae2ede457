/*
 * Bugs users hit in the seams of the wave-one core, one test each, named
 * for the bug; every one failed (or hung, or killed the process) on some
 * backend before the re-cut. No verdict here depends on how fast the
 * machine is: where the bug was a deadline starved or a worker blocked,
 * the test is built so that the bug makes it hang (and ctest's timeout
 * fail it), and the result codes say which way each wait ended.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_util.h"

#define MS COIL_NSEC_PER_MSEC

/* ---- 1. a yielding fiber starves timers ------------------------------------ */

static volatile int stop_yielding;

/* Yields until told to stop: if a deadline or a sleep of the fiber that
 * tells it were starved, it would yield forever. */
static void *yielder(void *arg)
{
	while (!stop_yielding)
		coil_task_yield();
	return NULL;
}

static void *deadline_under_yielder(void *arg)
{
	stop_yielding = 0;
	coil_task y;
	ck_assert_int_eq(coil_task_spawn(&y, yielder, NULL), 0);
	coil_chan *ch;
	ck_assert_int_eq(coil_chan_new(&ch, sizeof(int), 0), 0);
	coil_scope s;
	ck_assert_int_eq(coil_scope_enter_timeout(&s, 10 * MS), 0);
	int v;
	ck_assert_int_eq(coil_chan_recv(ch, &v), -ETIMEDOUT);
	coil_scope_exit(&s);
	ck_assert_int_eq(coil_sleep(5 * MS), 0); /* a sleep: a timer too */
	stop_yielding = 1;
	ck_assert_int_eq(coil_task_join(y, NULL), 0);
	coil_chan_free(ch);
	return NULL;
}

START_TEST(yield_loop_does_not_starve_deadlines_or_sleeps)
{
	coil_test_run(deadline_under_yielder, NULL);
}
END_TEST

/* ---- 2. coil_race ignores scope deadlines ---------------------------------------- */

static int room_pipe[2][2];

static void *blocked_reader(void *arg)
{
	int *fds = arg;
	char c;
	return (void *)(intptr_t)coil_file_read(fds[0], &c, 1, -1);
}

static void *race_waiting_for_room(void *arg)
{
	coil_task t[2];
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe2(room_pipe[i], O_NONBLOCK | O_CLOEXEC), 0);
		ck_assert_int_eq(coil_task_spawn(&t[i], blocked_reader, room_pipe[i]), 0);
	}
	coil_sleep(MS); /* the readers hold both slots (io_uring: max_inflight 2) */
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char buf[8];
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = buf, .len = sizeof buf},
		{.kind = COIL_RACE_SLEEP, .ns = 10 * COIL_NSEC_PER_SEC},
	};
	/* The race can only end by its scope's deadline: no data comes, its
	 * sleep is 10 s, and on io_uring it waits for room that the readers
	 * hold until after it returns (ignoring the deadline hangs). */
	coil_scope s;
	coil_scope_enter_timeout(&s, 10 * MS);
	int r = coil_race(ops, 2, 0);
	coil_scope_exit(&s);
	/* Let the readers go: a byte each. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(write(room_pipe[i][1], "x", 1), 1);
		ck_assert_int_eq(coil_task_join(t[i], NULL), 0);
		coil_close(room_pipe[i][0]);
		coil_close(room_pipe[i][1]);
	}
	coil_close(sv[0]);
	coil_close(sv[1]);
	ck_assert_int_eq(r, -ETIMEDOUT);
	return NULL;
}

START_TEST(race_waiting_for_room_honours_the_scope_deadline)
{
	struct coil_config cfg;
	coil_config_init(&cfg);
	cfg.max_inflight = 2;
	coil_test_run_cfg(&cfg, race_waiting_for_room, NULL);
}
END_TEST

static void *race_of_sleeps(void *arg)
{
	/* Hour-long sleeps: only the scope's deadline can end the race. */
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SLEEP, .ns = 3600 * COIL_NSEC_PER_SEC},
		{.kind = COIL_RACE_SLEEP, .ns = 3600 * COIL_NSEC_PER_SEC},
	};
	coil_scope s;
	coil_scope_enter_timeout(&s, 2 * MS);
	int r = coil_race(ops, 2, 0);
	coil_scope_exit(&s);
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert_int_eq(ops[0].res, -ECANCELED);
	ck_assert_int_eq(ops[1].res, -ECANCELED);
	return NULL;
}

START_TEST(race_of_sleeps_honours_the_scope_deadline)
{
	coil_test_run(race_of_sleeps, NULL);
}
END_TEST

/* ---- 3. a refused connect closed its socket behind the backend -------------------- */

static void *after_refused_connect(void *arg)
{
	/* A port nobody listens on: listen, note the port, close. */
	int lfd = coil_tcp_listen("127.0.0.1", 0, 1, 0);
	ck_assert_int_ge(lfd, 0);
	int port = coil_sock_port(lfd);
	coil_close(lfd);
	ck_assert_int_eq(coil_tcp_connect("127.0.0.1", (uint16_t)port), -ECONNREFUSED);
	/* The next fd of that number is the user's own pipe. */
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(write(p[1], "hi", 2), 2);
	char buf[4];
	coil_scope s;
	coil_scope_enter_timeout(&s, COIL_NSEC_PER_SEC);
	ssize_t n = coil_file_read(p[0], buf, sizeof buf, -1);
	coil_scope_exit(&s);
	ck_assert_int_eq(n, 2);
	coil_close(p[0]);
	coil_close(p[1]);
	/* And a file op (the blocking pool's eventfd on readiness backends). */
	ck_assert_int_eq(coil_tcp_connect("127.0.0.1", (uint16_t)port), -ECONNREFUSED);
	char path[128];
	coil_test_tmp_path(path, sizeof path, "refused");
	coil_scope_enter_timeout(&s, 5 * COIL_NSEC_PER_SEC);
	int fd = coil_file_open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(coil_file_write_all(fd, "data", 4, 0), 4);
	ck_assert_int_eq(coil_file_read(fd, buf, 4, 0), 4);
	coil_scope_exit(&s);
	coil_close(fd);
	unlink(path);
	return NULL;
}

START_TEST(refused_connect_leaves_the_next_fd_working)
{
	coil_test_run(after_refused_connect, NULL);
}
END_TEST

/* ---- 4. fibers left by a deadlock stayed waiters of live objects ---------------- */

static coil_event dl_event;
static coil_sem dl_sem;
static coil_mutex dl_mutex;
static coil_chan *dl_chan;

static void *dl_event_waiter(void *arg)
{
	coil_event_wait(&dl_event);
	return NULL;
}

static void *dl_sem_waiter(void *arg)
{
	coil_sem_acquire(&dl_sem);
	return NULL;
}

static void *dl_mutex_waiter(void *arg)
{
	coil_mutex_lock(&dl_mutex);
	return NULL;
}

static void *dl_chan_waiter(void *arg)
{
	int v;
	coil_chan_recv(dl_chan, &v);
	return NULL;
}

static void *deadlocking_main(void *arg)
{
	ck_assert_int_eq(coil_task_spawn(NULL, dl_event_waiter, NULL), 0);
	ck_assert_int_eq(coil_task_spawn(NULL, dl_sem_waiter, NULL), 0);
	ck_assert_int_eq(coil_task_spawn(NULL, dl_chan_waiter, NULL), 0);
	coil_event_wait(&dl_event); /* nobody will notify */
	return NULL;
}

static void *after_deadlock(void *arg)
{
	ck_assert_int_eq(coil_event_notify_all(&dl_event), 0);
	ck_assert_int_eq(coil_sem_release(&dl_sem), 0);
	ck_assert_int_eq(coil_sem_try_acquire(&dl_sem), 0);
	ck_assert_int_eq(coil_chan_close(dl_chan), 0);
	return NULL;
}

START_TEST(deadlock_leaves_no_fiber_waiting_on_objects)
{
	ck_assert_int_eq(coil_event_init(&dl_event), 0);
	ck_assert_int_eq(coil_sem_init(&dl_sem, 0), 0);
	ck_assert_int_eq(coil_chan_new(&dl_chan, sizeof(int), 0), 0);
	ck_assert_int_eq(coil_run(NULL, deadlocking_main, NULL, NULL), -EDEADLK);
	/* Touching the objects again (also from a new runtime) must not reach
	 * into the dead fibers' stacks, and they are free to go. */
	coil_test_run(after_deadlock, NULL);
	ck_assert_int_eq(coil_event_destroy(&dl_event), 0);
	ck_assert_int_eq(coil_sem_destroy(&dl_sem), 0);
	coil_chan_free(dl_chan);
}
END_TEST

static void *lock_then_deadlock(void *arg)
{
	ck_assert_int_eq(coil_mutex_lock(&dl_mutex), 0);
	ck_assert_int_eq(coil_task_spawn(NULL, dl_mutex_waiter, NULL), 0);
	coil_event_wait(&dl_event);
	return NULL;
}

START_TEST(deadlock_unlinks_mutex_waiters)
{
	ck_assert_int_eq(coil_event_init(&dl_event), 0);
	ck_assert_int_eq(coil_mutex_init(&dl_mutex), 0);
	ck_assert_int_eq(coil_run(NULL, lock_then_deadlock, NULL, NULL), -EDEADLK);
	/* Still held by the fiber the deadlock left (documented), but no
	 * fiber waits on it any more: the event is free. */
	ck_assert_int_eq(coil_mutex_destroy(&dl_mutex), -EBUSY);
	ck_assert_int_eq(coil_event_destroy(&dl_event), 0);
}
END_TEST

/* ---- 5. SIGPIPE from a file write ------------------------------------------------- */

static void *write_to_broken_pipe(void *arg)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	ck_assert_int_eq(coil_file_write(p[1], "x", 1, -1), -EPIPE);
	coil_close(p[1]);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(coil_file_write(sv[0], "x", 1, -1), -EPIPE);
	coil_close(sv[0]);
	return NULL;
}

START_TEST(file_write_to_broken_pipe_is_epipe_not_sigpipe)
{
	signal(SIGPIPE, SIG_DFL);
	coil_test_run(write_to_broken_pipe, NULL);
	/* Nothing pending either: the process survives the mask coming back. */
	sigset_t pending;
	sigpending(&pending);
	ck_assert(!sigismember(&pending, SIGPIPE));
}
END_TEST

/* What coil_run does to its thread (timer slack, SIGPIPE) it undoes. */
static void *slack_inside(void *arg)
{
	return (void *)(intptr_t)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}

START_TEST(run_tightens_timer_slack_and_restores_thread_state)
{
	ck_assert_int_eq(prctl(PR_SET_TIMERSLACK, 123456UL, 0, 0, 0), 0);
	sigset_t none, mask;
	sigemptyset(&none);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &none, NULL), 0);
	/* Waits end when timers are due, not up to 123 us later. */
	ck_assert_int_eq((int)(intptr_t)coil_test_run(slack_inside, NULL), 1);
	ck_assert_int_eq(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 123456);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
	ck_assert(!sigismember(&mask, SIGPIPE));
	/* A caller that blocks SIGPIPE itself keeps it blocked. */
	sigaddset(&none, SIGPIPE);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &none, NULL), 0);
	coil_test_run(slack_inside, NULL);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
	ck_assert(sigismember(&mask, SIGPIPE));
}
END_TEST

/* ---- 6. a big write into a blocking pipe blocked the worker --------------------- */

static int slow_pipe[2];
/* Ticks of the ticker fiber while the big write is under way. */
static int ticks_while_writing;
static int writing;

/* The pipe's reader (a plain thread) reads nothing until the worker has
 * shown it is alive while the write waits for room: if the write blocked
 * the worker, the ticker could not tick, the pipe would never drain and the
 * test would hang. */
static void *slow_reader(void *arg)
{
	while (__atomic_load_n(&ticks_while_writing, __ATOMIC_ACQUIRE) < 3)
		usleep(1000);
	char buf[65536];
	while (read(slow_pipe[0], buf, sizeof buf) > 0) {
	}
	return NULL;
}

static int ticking;

/* The ticker may run on another worker than the writer (workers2), and
 * the reader is a plain thread: every flag they share is atomic. */
static void *ticker(void *arg)
{
	while (__atomic_load_n(&ticking, __ATOMIC_ACQUIRE)) {
		coil_sleep(MS);
		if (__atomic_load_n(&writing, __ATOMIC_ACQUIRE))
			__atomic_add_fetch(&ticks_while_writing, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *big_write_into_blocking_pipe(void *arg)
{
	__atomic_store_n(&ticking, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&ticks_while_writing, 0, __ATOMIC_RELEASE);
	coil_task t;
	ck_assert_int_eq(coil_task_spawn(&t, ticker, NULL), 0);
	/* 4 MiB into a 64 KiB pipe that nobody reads yet. */
	size_t len = 4u << 20;
	char *buf = calloc(1, len);
	ck_assert_ptr_nonnull(buf);
	__atomic_store_n(&writing, 1, __ATOMIC_RELEASE);
	for (size_t done = 0; done < len;) {
		ssize_t n = coil_file_write(slow_pipe[1], buf + done, len - done, -1);
		ck_assert_int_gt(n, 0);
		done += (size_t)n;
	}
	__atomic_store_n(&writing, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&ticking, 0, __ATOMIC_RELEASE);
	ck_assert_int_eq(coil_task_join(t, NULL), 0);
	free(buf);
	ck_assert_int_ge(__atomic_load_n(&ticks_while_writing, __ATOMIC_ACQUIRE), 3);
	return NULL;
}

START_TEST(blocking_pipe_write_never_blocks_the_worker)
{
	ck_assert_int_eq(pipe2(slow_pipe, O_CLOEXEC), 0); /* blocking, both ends */
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, slow_reader, NULL), 0);
	coil_test_run(big_write_into_blocking_pipe, NULL);
	close(slow_pipe[1]);
	pthread_join(th, NULL);
	close(slow_pipe[0]);
}
END_TEST

/* ---- 7. a semaphore count that coil_sem_value cannot report ------------------- */

START_TEST(sem_init_rejects_counts_value_cannot_report)
{
	coil_sem s;
	ck_assert_int_eq(coil_sem_init(&s, SIZE_MAX), -EINVAL);
	ck_assert_int_eq(coil_sem_init(&s, (size_t)PTRDIFF_MAX + 1), -EINVAL);
	ck_assert_int_eq(coil_sem_init(&s, (size_t)PTRDIFF_MAX), 0);
	ck_assert(coil_sem_value(&s) == PTRDIFF_MAX);
	ck_assert_int_eq(coil_sem_release(&s), -EOVERFLOW);
}
END_TEST

/* ---- 8. smaller contract gaps --------------------------------------------------- */

static void *zero_byte_read(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	coil_scope s;
	coil_scope_enter_timeout(&s, COIL_NSEC_PER_SEC);
	char c;
	ck_assert_int_eq(coil_sock_read(sv[0], &c, 0), 0);
	coil_scope_exit(&s);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(zero_byte_sock_read_returns_at_once)
{
	coil_test_run(zero_byte_read, NULL);
}
END_TEST

static void *offset_on_streams(void *arg)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	char c = 'x';
	ck_assert_int_eq(coil_file_write(p[1], &c, 1, 0), -ESPIPE);
	ck_assert_int_eq(coil_file_write(p[1], &c, 1, -1), 1);
	ck_assert_int_eq(coil_file_read(p[0], &c, 1, 0), -ESPIPE);
	ck_assert_int_eq(coil_file_read(p[0], &c, 1, -1), 1);
	/* -1 is how to write all of a buffer to a stream. */
	char two[2];
	ck_assert_int_eq(coil_file_write_all(p[1], "ab", 2, -1), 2);
	ck_assert_int_eq(coil_file_read(p[0], two, 2, -1), 2);
	ck_assert_int_eq(coil_file_write_all(p[1], "ab", 2, 0), -ESPIPE);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(coil_file_write(sv[0], &c, 1, 4096), -ESPIPE);
	ck_assert_int_eq(coil_file_read(sv[1], &c, 1, 4096), -ESPIPE);
	coil_close(p[0]);
	coil_close(p[1]);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(file_offset_on_pipe_or_socket_is_espipe)
{
	coil_test_run(offset_on_streams, NULL);
}
END_TEST

static void *race_stopped_by_deadline(void *arg)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	char a[4], b[4];
	struct coil_race_op ops[2] = {
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[0], .buf = a, .len = sizeof a},
		{.kind = COIL_RACE_SOCK_READ, .fd = sv[1], .buf = b, .len = sizeof b},
	};
	coil_scope s;
	coil_scope_enter_timeout(&s, 5 * MS);
	ck_assert_int_eq(coil_race(ops, 2, 0), -ETIMEDOUT);
	coil_scope_exit(&s);
	ck_assert_int_eq(ops[0].res, -ECANCELED);
	ck_assert_int_eq(ops[1].res, -ECANCELED);
	coil_close(sv[0]);
	coil_close(sv[1]);
	return NULL;
}

START_TEST(race_stopped_by_deadline_reports_losers_cancelled)
{
	coil_test_run(race_stopped_by_deadline, NULL);
}
END_TEST

static coil_once rec_once = COIL_ONCE_INIT;
static int inner_result;

static int recursive_init(void *arg)
{
	inner_result = coil_once_call(&rec_once, recursive_init, NULL);
	return 0;
}

static void *recursive_once(void *arg)
{
	ck_assert_int_eq(coil_once_call(&rec_once, recursive_init, NULL), 0);
	ck_assert_int_eq(inner_result, -EDEADLK);
	return NULL;
}

START_TEST(recursive_once_call_is_edeadlk)
{
	coil_test_run(recursive_once, NULL);
}
END_TEST

/* ---- 9. closing an fd another fiber is parked on -------------------------------- */

static int close_sv[2], close_pipe[2];

/* Reads one byte from *arg (a socket: coil_sock_read; else coil_file_read)
 * under a 5 s deadline; returns the result. */
struct parked_read {
	int fd;
	bool sock;
};

static void *parked_reader(void *arg)
{
	struct parked_read *pr = arg;
	char c;
	coil_scope s;
	coil_scope_enter_timeout(&s, 5 * COIL_NSEC_PER_SEC);
	ssize_t r = pr->sock ? coil_sock_read(pr->fd, &c, 1) : coil_file_read(pr->fd, &c, 1, -1);
	coil_scope_exit(&s);
	return (void *)(intptr_t)r;
}

static void *close_under_reader(void *arg)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, close_sv), 0);
	ck_assert_int_eq(pipe2(close_pipe, O_NONBLOCK | O_CLOEXEC), 0);
	coil_task a, b;
	struct parked_read ra_arg = {close_sv[0], true}, rb_arg = {close_pipe[0], false};
	ck_assert_int_eq(coil_task_spawn(&a, parked_reader, &ra_arg), 0);
	ck_assert_int_eq(coil_task_spawn(&b, parked_reader, &rb_arg), 0);
	coil_sleep(5 * MS);
	ck_assert_int_eq(coil_close(close_sv[0]), 0);
	ck_assert_int_eq(coil_close(close_pipe[0]), 0);
	void *ra, *rb;
	ck_assert_int_eq(coil_task_join(a, &ra), 0);
	ck_assert_int_eq(coil_task_join(b, &rb), 0);
	/* a reader the close did not reach ends by its deadline: -ETIMEDOUT */
	ck_assert_int_eq((int)(intptr_t)ra, -EBADF);
	ck_assert_int_eq((int)(intptr_t)rb, -EBADF);
	coil_close(close_sv[1]);
	coil_close(close_pipe[1]);
	return NULL;
}

START_TEST(close_fails_a_parked_reader_with_ebadf)
{
	coil_test_run(close_under_reader, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seams");
	TCase *tc = tcase_create("bugs");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, yield_loop_does_not_starve_deadlines_or_sleeps);
	tcase_add_test(tc, race_waiting_for_room_honours_the_scope_deadline);
	tcase_add_test(tc, race_of_sleeps_honours_the_scope_deadline);
	tcase_add_test(tc, refused_connect_leaves_the_next_fd_working);
	tcase_add_test(tc, deadlock_leaves_no_fiber_waiting_on_objects);
	tcase_add_test(tc, deadlock_unlinks_mutex_waiters);
	tcase_add_test(tc, file_write_to_broken_pipe_is_epipe_not_sigpipe);
	tcase_add_test(tc, run_tightens_timer_slack_and_restores_thread_state);
	tcase_add_test(tc, blocking_pipe_write_never_blocks_the_worker);
	tcase_add_test(tc, sem_init_rejects_counts_value_cannot_report);
	tcase_add_test(tc, zero_byte_sock_read_returns_at_once);
	tcase_add_test(tc, file_offset_on_pipe_or_socket_is_espipe);
	tcase_add_test(tc, race_stopped_by_deadline_reports_losers_cancelled);
	tcase_add_test(tc, recursive_once_call_is_edeadlk);
	tcase_add_test(tc, close_fails_a_parked_reader_with_ebadf);
	suite_add_tcase(s, tc);
	return coil_test_main(s);
}

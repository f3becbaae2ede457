/*
 * demo: what coil does, in one process. An echo server fiber, five client
 * fibers talking to it concurrently, a few sleepers, and a file written and
 * read back, all on one thread, each blocking call an io_uring operation.
 *
 * Every step checks what it got, as a program of yours should: a step that
 * fails is named on stderr and the demo exits 1; nothing waits forever
 * (the clients run under a deadline). The file goes to $DEMO_TMPDIR if set
 * (an unwritable one shows a failed step), else /tmp.
 *
 * Where the host makes no sockets (WASI preview 1: scripts/wasi-cc and
 * scripts/wasi-run build and run this same file), the echo part says so
 * and five fibers sleep at once instead.
 */
#include <coil.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;

static void step_failed(const char *what, long err)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror((int)-err));
}

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;
	while ((n = coil_sock_read(fd, buf, sizeof buf)) > 0)
		if (coil_sock_write_all(fd, buf, (size_t)n) < 0)
			break;
	coil_close(fd);
	return NULL;
}

/* Accepts until cancelled; any other accept error ends it, and its result
 * says so (the clients then fail, under their deadline, rather than hang). */
static void *server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	long err = 0;
	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd == -ECANCELED)
			break; /* the demo is over */
		if (fd < 0) {
			step_failed("accept", fd);
			err = fd;
			break;
		}
		int r = coil_task_spawn(NULL, echo_conn, (void *)(intptr_t)fd);
		if (r < 0) {
			step_failed("spawn a connection fiber", r);
			coil_close(fd);
		}
	}
	coil_close(lfd);
	return (void *)(intptr_t)err;
}

static void *client(void *arg)
{
	long id = (long)(intptr_t)arg;
	/* No exchange of a few bytes on loopback takes 5 s: past that, the
	 * server is gone and this client says so instead of waiting. */
	coil_scope deadline;
	coil_scope_enter_timeout(&deadline, 5 * COIL_NSEC_PER_SEC);
	long ok = 0, err = 0;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	char msg[64], back[64];
	for (int i = 0; i < 3; i++) {
		int len = snprintf(msg, sizeof msg, "client %ld, message %d", id, i);
		ssize_t n = coil_sock_write_all(fd, msg, (size_t)len);
		if (n == len)
			n = coil_sock_read_exact(fd, back, (size_t)len);
		if (n < 0) {
			err = n;
			break;
		}
		if (n != len || memcmp(msg, back, (size_t)len) != 0) {
			err = -EPROTO;
			break;
		}
		ok++;
		coil_sleep((id + 1) * COIL_NSEC_PER_MSEC);
	}
	coil_close(fd);
out:
	coil_scope_exit(&deadline);
	printf("  client %ld: %ld/3 messages echoed intact\n", id, ok);
	if (err)
		step_failed("client exchange", err);
	return (void *)(intptr_t)(ok == 3 ? 0 : 1);
}

static void *sleeper(void *arg)
{
	long id = (long)(intptr_t)arg;
	return (void *)(intptr_t)(coil_sleep((id + 1) * 10 * COIL_NSEC_PER_MSEC) != 0);
}

/* Five fibers sleep 10..50 ms at once: done in about 50 ms, not 150. */
static int sleepers(void)
{
	int64_t t0 = coil_now();
	coil_task t[5];
	int started = 0, failed = 0;
	for (long i = 0; i < 5; i++) {
		int r = coil_task_spawn(&t[started], sleeper, (void *)(intptr_t)i);
		if (r < 0) {
			step_failed("spawn a sleeper", r);
			failed++;
			continue;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		void *res = (void *)1;
		coil_task_join(t[i], &res);
		failed += res != NULL;
	}
	printf("5 sleepers (10..50 ms) done in %.2f ms (they slept concurrently)\n",
	       (double)(coil_now() - t0) / 1e6);
	return failed;
}

/* Write a line to a new file, sync it, read it back, stat it. */
static int file_round_trip(void)
{
	const char *dir = getenv("DEMO_TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/coil-demo-%ld", dir && *dir ? dir : "/tmp",
		 (long)getpid());
	int fd = coil_file_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		step_failed("open a file", fd);
		return -1;
	}
	const char text[] = "written and read back through coil";
	char back[sizeof text] = {0};
	struct coil_stat st;
	long r = coil_file_write_all(fd, text, sizeof text, 0);
	const char *what = "write the file";
	if (r >= 0 && (what = "sync the file", r = coil_file_sync(fd, true)) >= 0 &&
	    (what = "read the file", r = coil_file_read(fd, back, sizeof back, 0)) >= 0 &&
	    (what = "stat the file", r = coil_file_stat(fd, &st)) >= 0) {
		if (memcmp(back, text, sizeof text) != 0) {
			what = "read back what was written";
			r = -EIO;
		} else {
			printf("file: %llu bytes, \"%s\"\n", (unsigned long long)st.size, back);
		}
	}
	if (r < 0)
		step_failed(what, r);
	coil_close(fd);
	unlink(path);
	return r < 0 ? -1 : 0;
}

static void *demo(void *arg)
{
	printf("coil %s demo on the %s backend\n", COIL_VERSION_STRING, coil_backend_name());

	int lfd = coil_tcp_listen("127.0.0.1", 0, 128, 0);
	if (lfd == -ENOSYS) {
		printf("this host makes no sockets (WASI preview 1): no echo server\n");
		int failed = sleepers() + (file_round_trip() < 0);
		if (failed)
			printf("%d step(s) FAILED\n", failed);
		else
			printf("all good\n");
		return (void *)(intptr_t)(failed != 0);
	}
	if (lfd < 0) {
		step_failed("listen on 127.0.0.1", lfd);
		return (void *)1;
	}
	port = coil_sock_port(lfd);
	printf("echo server listening on 127.0.0.1:%d\n", port);
	coil_task srv;
	int r = coil_task_spawn(&srv, server, (void *)(intptr_t)lfd);
	if (r < 0) {
		step_failed("spawn the server", r);
		coil_close(lfd);
		return (void *)1;
	}

	int64_t t0 = coil_now();
	coil_task clients[5];
	int started = 0, failed = 0;
	for (long i = 0; i < 5; i++) {
		r = coil_task_spawn(&clients[started], client, (void *)(intptr_t)i);
		if (r < 0) {
			step_failed("spawn a client", r);
			failed++;
			continue;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		void *res = (void *)1;
		coil_task_join(clients[i], &res);
		failed += res != NULL;
	}
	printf("5 clients done in %.2f ms (they ran concurrently)\n",
	       (double)(coil_now() - t0) / 1e6);

	failed += file_round_trip() < 0;

	coil_task_cancel(srv);
	void *srv_res = NULL;
	coil_task_join(srv, &srv_res);
	failed += srv_res != NULL;
	if (failed)
		printf("server stopped; %d step(s) FAILED\n", failed);
	else
		printf("server stopped; all good\n");
	return (void *)(intptr_t)(failed != 0);
}

int main(void)
{
	void *result = NULL;
	int r = coil_run(NULL, demo, NULL, &result);
	if (r < 0) {
		fprintf(stderr, "demo: coil_run: %s\n", strerror(-r));
		return 1;
	}
	return result ? 1 : 0;
}

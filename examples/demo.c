/*
 * demo: what coil does, in one process. An echo server fiber, five client
 * fibers talking to it concurrently, a few sleepers, and a file written and
 * read back, all on one thread, each blocking call an io_uring operation.
 */
#include <coil.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;

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

static void *server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	for (;;) {
		int fd = coil_tcp_accept(lfd, NULL, NULL);
		if (fd < 0)
			break; /* cancelled when the demo ends */
		coil_task_spawn(NULL, echo_conn, (void *)(intptr_t)fd);
	}
	coil_close(lfd);
	return NULL;
}

static void *client(void *arg)
{
	long id = (long)(intptr_t)arg;
	int fd = coil_tcp_connect("127.0.0.1", (uint16_t)port);
	if (fd < 0)
		return (void *)(intptr_t)fd;
	char msg[64], back[64];
	long ok = 0;
	for (int i = 0; i < 3; i++) {
		int len = snprintf(msg, sizeof msg, "client %ld, message %d", id, i);
		if (coil_sock_write_all(fd, msg, (size_t)len) != len ||
		    coil_sock_read_exact(fd, back, (size_t)len) != len ||
		    memcmp(msg, back, (size_t)len) != 0)
			break;
		ok++;
		coil_sleep((id + 1) * COIL_NSEC_PER_MSEC);
	}
	printf("  client %ld: %ld/3 messages echoed intact\n", id, ok);
	coil_close(fd);
	return (void *)(intptr_t)(ok == 3 ? 0 : -1);
}

static void *demo(void *arg)
{
	printf("coil %s demo on the %s backend\n", COIL_VERSION_STRING, coil_backend_name());

	int lfd = coil_tcp_listen("127.0.0.1", 0, 128, 0);
	if (lfd < 0)
		return (void *)1;
	port = coil_sock_port(lfd);
	printf("echo server listening on 127.0.0.1:%d\n", port);
	coil_task srv;
	coil_task_spawn(&srv, server, (void *)(intptr_t)lfd);

	int64_t t0 = coil_now();
	coil_task clients[5];
	for (long i = 0; i < 5; i++)
		coil_task_spawn(&clients[i], client, (void *)(intptr_t)i);
	int failed = 0;
	for (int i = 0; i < 5; i++) {
		void *res;
		coil_task_join(clients[i], &res);
		failed += res != NULL;
	}
	printf("5 clients done in %.2f ms (they ran concurrently)\n",
	       (double)(coil_now() - t0) / 1e6);

	char path[] = "/tmp/coil-demo-XXXXXX";
	int tmp = mkstemp(path);
	if (tmp >= 0) {
		close(tmp);
		int fd = coil_file_open(path, O_RDWR | O_TRUNC, 0600);
		const char text[] = "written and read back through io_uring";
		char back[sizeof text] = {0};
		coil_file_write_all(fd, text, sizeof text, 0);
		coil_file_sync(fd, true);
		coil_file_read(fd, back, sizeof back, 0);
		struct coil_stat st;
		coil_file_stat(fd, &st);
		printf("file: %llu bytes, \"%s\"\n", (unsigned long long)st.size, back);
		coil_close(fd);
		unlink(path);
	}

	coil_task_cancel(srv);
	coil_task_join(srv, NULL);
	printf("server stopped; %s\n", failed ? "SOME CLIENTS FAILED" : "all good");
	return (void *)(intptr_t)failed;
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

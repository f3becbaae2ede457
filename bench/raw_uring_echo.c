/* raw_uring_echo: a hand-written, single-threaded, no-fibers liburing TCP echo
 * server. It is the bar for coil's overhead in bench/echo_compare.sh: the best
 * reasonable idiomatic loop with one ring, one op in flight per connection.
 *
 *   raw_uring_echo --port N [--exit-after N] [--stats] [--fixed-files]
 *
 * --port 0 picks a free port. When ready it prints exactly
 * "listening on 127.0.0.1:PORT" on stdout (flushed). --exit-after N exits 0
 * after N connections have closed (a process parked in io_uring_enter under
 * valgrind does not take signals). SIGINT/SIGTERM exit 0. --stats prints, at
 * exit on stderr, the io_uring_enter calls it made and the round trips (recv
 * completions with data) it served, counted by itself.
 *
 * Per connection: RECV into a 16 KiB buffer -> SEND what came (again on a
 * short send) -> RECV ... ; on EOF or an error IORING_OP_CLOSE, and the conn
 * is freed when the close completes. Accept is a single-shot IORING_OP_ACCEPT
 * re-armed on each completion. user_data is the conn pointer with the op kind
 * in its low 2 bits.
 *
 * --fixed-files: the lab's registered-files variant (issue 11). Accepted
 * sockets are direct descriptors (a sparse table of FIXED_FILES slots,
 * IORING_FILE_INDEX_ALLOC): no fd exists, and recv/send/close name the slot
 * with IOSQE_FIXED_FILE, so the kernel takes no file reference per op. It
 * measures what registered files buy a loop that has them everywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (16 * 1024)
#define RING_ENTRIES 4096
#define FIXED_FILES 8192

enum op_kind { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2, OP_CLOSE = 3 };
#define KIND_MASK ((uintptr_t)3)

struct conn {
	struct conn *prev, *next; /* live list, only so exit can free everything */
	int fd;
	unsigned len; /* bytes received, to be echoed */
	unsigned off; /* bytes of them already sent */
	_Alignas(64) unsigned char buf[BUF_SIZE];
};

static struct io_uring ring;
static struct conn live = { .prev = &live, .next = &live };
static int listen_fd = -1;
static int fixed_files; /* --fixed-files: conn fds are direct descriptors */
static volatile sig_atomic_t stop_flag;
static unsigned long long n_enter, n_roundtrips, n_closed;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "raw_uring_echo: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	while (!sqe) { /* SQ full: flush it (cannot happen with <4096 conns) */
		int ret = io_uring_submit(&ring);
		n_enter++;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			die("io_uring_submit", -ret);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static inline void set_data(struct io_uring_sqe *sqe, void *p, enum op_kind k)
{
	io_uring_sqe_set_data(sqe, (void *)((uintptr_t)p | (uintptr_t)k));
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = get_sqe();
	if (fixed_files)
		/* liburing 2.3 encodes the slot as index + 1, which turns
		 * IORING_FILE_INDEX_ALLOC into 0 (no slot: a plain fd);
		 * ALLOC - 1 encodes to ALLOC, as its own multishot helper does. */
		io_uring_prep_accept_direct(sqe, listen_fd, NULL, NULL, 0, IORING_FILE_INDEX_ALLOC - 1);
	else
		io_uring_prep_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	set_data(sqe, NULL, OP_ACCEPT); /* NULL | OP_ACCEPT == 0 */
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
	if (fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
	set_data(sqe, c, OP_RECV);
}

static void arm_send(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	if (fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
	set_data(sqe, c, OP_SEND);
}

static void arm_close(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	if (fixed_files)
		io_uring_prep_close_direct(sqe, (unsigned)c->fd);
	else
		io_uring_prep_close(sqe, c->fd);
	set_data(sqe, c, OP_CLOSE);
}

static void handle(struct io_uring_cqe *cqe)
{
	uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
	struct conn *c = (struct conn *)(ud & ~KIND_MASK);
	int res = cqe->res;

	switch ((enum op_kind)(ud & KIND_MASK)) {
	case OP_ACCEPT:
		if (res >= 0) {
			struct conn *n = aligned_alloc(64, sizeof *n);
			if (!n) {
				int none = -1;
				if (fixed_files)
					io_uring_register_files_update(&ring, (unsigned)res, &none, 1);
				else
					close(res);
			} else {
				n->fd = res;
				n->len = n->off = 0;
				n->next = live.next;
				n->prev = &live;
				live.next->prev = n;
				live.next = n;
				arm_recv(n);
			}
		} else if (res != -EINTR && res != -ECONNABORTED && res != -EMFILE &&
			   res != -ENFILE && res != -ENOBUFS && res != -ENOMEM &&
			   res != -EAGAIN) {
			die("accept", -res);
		}
		arm_accept();
		break;
	case OP_RECV:
		if (res <= 0) {
			arm_close(c);
			break;
		}
		n_roundtrips++;
		c->len = (unsigned)res;
		c->off = 0;
		arm_send(c);
		break;
	case OP_SEND:
		if (res < 0) {
			arm_close(c);
			break;
		}
		c->off += (unsigned)res;
		if (c->off < c->len)
			arm_send(c); /* short send: send the rest */
		else
			arm_recv(c);
		break;
	case OP_CLOSE:
		c->prev->next = c->next;
		c->next->prev = c->prev;
		free(c);
		n_closed++;
		break;
	}
}

static int setup_ring(void)
{
	static const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int ret = -EINVAL;
	for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = flag_sets[i];
		ret = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
		if (ret == 0)
			break;
	}
	if (ret == 0 && fixed_files) {
		ret = io_uring_register_files_sparse(&ring, FIXED_FILES);
		if (ret < 0)
			io_uring_queue_exit(&ring);
	}
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: raw_uring_echo --port N [--exit-after N] [--stats] [--fixed-files]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = -1;
	long long exit_after = -1;
	int stats = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			exit_after = atoll(argv[++i]);
		else if (!strcmp(argv[i], "--stats"))
			stats = 1;
		else if (!strcmp(argv[i], "--fixed-files"))
			fixed_files = 1;
		else
			usage();
	}
	if (port < 0 || port > 65535)
		usage();

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: io_uring_enter returns -EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		die("socket", errno);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* Accepted sockets inherit TCP_NODELAY from the listener on Linux. */
	setsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("bind", errno);
	if (listen(listen_fd, 4096) < 0)
		die("listen", errno);
	socklen_t alen = sizeof addr;
	if (getsockname(listen_fd, (struct sockaddr *)&addr, &alen) < 0)
		die("getsockname", errno);

	int ret = setup_ring();
	if (ret < 0)
		die(fixed_files ? "io_uring set-up with registered files" : "io_uring_queue_init_params",
		    -ret);

	arm_accept();
	printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
	fflush(stdout);

	while (!stop_flag && (exit_after < 0 || (long long)n_closed < exit_after)) {
		ret = io_uring_submit_and_wait(&ring, 1);
		n_enter++;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
		    ret != -ETIME)
			die("io_uring_submit_and_wait", -ret);

		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			handle(cqe);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}

	if (stats)
		fprintf(stderr, "raw_uring_echo: io_uring_enter=%llu roundtrips=%llu closed=%llu\n",
			n_enter, n_roundtrips, n_closed);

	io_uring_queue_exit(&ring);
	close(listen_fd);
	while (live.next != &live) {
		struct conn *c = live.next;
		live.next = c->next;
		if (!fixed_files)
			close(c->fd); /* direct descriptors went with the ring */
		free(c);
	}
	return 0;
}

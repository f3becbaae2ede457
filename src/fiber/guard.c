#include "fiber/guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define ALTSTACK_SIZE ((size_t)64 * 1024)

struct guard_thread {
	coil__guard_lookup_fn lookup;
	void *ctx;
	void *altstack; /* ours, to unmap at stop; NULL if the thread had one */
};

static __thread struct guard_thread guard;

/* The handlers that were there before ours, to pass foreign faults on.
 * Written once under pthread_once, before our handler can run. */
static struct sigaction prev_segv, prev_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

/* --- async-signal-safe formatting ------------------------------------- */

static size_t fmt_u64(char *out, uint64_t v, unsigned base)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t put(char *buf, size_t at, const char *s)
{
	size_t len = strlen(s);
	memcpy(buf + at, s, len);
	return at + len;
}

static void report_overflow(uint64_t task_id, const struct coil__stack *st, void *addr)
{
	char msg[256];
	size_t n = 0;
	n = put(msg, n, "coil: fiber ");
	n += fmt_u64(msg + n, task_id, 10);
	n = put(msg, n, " overflowed its stack (");
	n += fmt_u64(msg + n, st->size, 10);
	n = put(msg, n, " bytes; fault at 0x");
	n += fmt_u64(msg + n, (uintptr_t)addr, 16);
	n = put(msg, n, "): stack overflow, aborting\n");
	ssize_t ignored = write(STDERR_FILENO, msg, n);
	(void)ignored;
}

static uintptr_t fault_sp(void *uc_void)
{
	ucontext_t *uc = uc_void;
#if defined(__x86_64__) && defined(__linux__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__) && defined(__linux__)
	return (uintptr_t)uc->uc_mcontext.sp;
#else
	(void)uc;
	return 0;
#endif
}

static void pass_on(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
	if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
		prev->sa_sigaction(sig, si, uc);
		return;
	}
	if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
		prev->sa_handler(sig);
		return;
	}
	/* Default action: restore it and return; the faulting instruction
	 * runs again and the kernel applies it (core dump). */
	signal(sig, SIG_DFL);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	const struct coil__stack *st = NULL;
	uint64_t id = 0;
	if (guard.lookup && guard.lookup(guard.ctx, &st, &id) && st) {
		uintptr_t addr = (uintptr_t)si->si_addr;
		uintptr_t guard_lo = (uintptr_t)st->map, stack_lo = (uintptr_t)st->lo;
		uintptr_t sp = fault_sp(uc);
		/* In the guard page, or the stack pointer already under the
		 * stack (a frame larger than the guard page jumped past it). */
		if ((addr >= guard_lo && addr < stack_lo) ||
		    (sp && sp < stack_lo && stack_lo - sp < ((uintptr_t)1 << 20))) {
			report_overflow(id, st, si->si_addr);
			signal(SIGABRT, SIG_DFL);
			abort();
		}
	}
	pass_on(sig, si, uc);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &prev_segv) != 0 || sigaction(SIGBUS, &sa, &prev_bus) != 0)
		install_error = errno;
}

int coil__guard_thread_start(coil__guard_lookup_fn lookup, void *ctx)
{
	pthread_once(&install_once, install);
	if (install_error)
		return -install_error;

	stack_t old;
	if (sigaltstack(NULL, &old) != 0)
		return -errno;
	guard.altstack = NULL;
	if (old.ss_flags & SS_DISABLE) {
		void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			return -errno;
		stack_t ss = {.ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
		if (sigaltstack(&ss, NULL) != 0) {
			int err = errno;
			munmap(mem, ALTSTACK_SIZE);
			return -err;
		}
		guard.altstack = mem;
	}
	guard.ctx = ctx;
	guard.lookup = lookup;
	return 0;
}

void coil__guard_thread_stop(void)
{
	guard.lookup = NULL;
	guard.ctx = NULL;
	if (guard.altstack) {
		stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
		sigaltstack(&ss, NULL);
		munmap(guard.altstack, ALTSTACK_SIZE);
		guard.altstack = NULL;
	}
}

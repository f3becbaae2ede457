/*
 * Opening beneath a directory on the blocking pool. See beneath.h.
 *
 * The walk keeps the directories it went through as a stack of O_PATH fds
 * (the first is the caller's dirfd, not ours): a component is opened
 * relative to the top with O_NOFOLLOW, so no symlink is ever followed by
 * the kernel, and ".." pops the stack, so it can never name a directory
 * above dirfd however the tree is renamed meanwhile. A symlink's text
 * replaces its component in the path still to walk. The final component
 * is opened with the caller's flags plus O_NOFOLLOW once it is known not
 * to be a symlink (a symlink swapped in between fails with -ELOOP: the
 * race fails closed).
 */
#include "io/beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef O_PATH
#define O_PATH O_RDONLY
#endif

/* As the kernel's MAXSYMLINKS. */
#define WALK_MAX_LINKS 40

struct walk {
	int base;		/* the caller's dirfd */
	int *fds;		/* the directories below it, ours */
	size_t depth, cap;
	char rest[PATH_MAX];	/* the path still to walk */
	int links;
};

static int top(const struct walk *w)
{
	return w->depth ? w->fds[w->depth - 1] : w->base;
}

static int push(struct walk *w, int fd)
{
	if (w->depth == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		int *fds = realloc(w->fds, cap * sizeof *fds);
		if (!fds) {
			close(fd);
			return -ENOMEM;
		}
		w->fds = fds;
		w->cap = cap;
	}
	w->fds[w->depth++] = fd;
	return 0;
}

/* Put the text of the symlink link in place of the component that ended
 * at rest[end]; the walk starts over at rest[0]. */
static int follow(struct walk *w, int link, size_t end)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(link, "", target, sizeof target);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof target)
		return -ENAMETOOLONG;
	if (++w->links > WALK_MAX_LINKS)
		return -ELOOP;
	if (n == 0)
		return -ENOENT;
	if (target[0] == '/')
		return -EXDEV; /* as RESOLVE_BENEATH: never an absolute link */
	size_t tail = strlen(w->rest + end);
	if ((size_t)n + tail >= sizeof w->rest)
		return -ENAMETOOLONG;
	memmove(w->rest + n, w->rest + end, tail + 1);
	memcpy(w->rest, target, (size_t)n);
	return 0;
}

/* Open name in the top directory without following it: an O_PATH fd and
 * its type, or -errno. */
static int peek(const struct walk *w, const char *name, mode_t *type)
{
	int fd = openat(top(w), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*type = st.st_mode & S_IFMT;
	return fd;
}

static int walk(struct walk *w, int flags, mode_t mode)
{
	size_t pos = 0;
	for (;;) {
		while (w->rest[pos] == '/')
			pos++;
		size_t end = pos;
		while (w->rest[end] && w->rest[end] != '/')
			end++;
		size_t next = end;
		while (w->rest[next] == '/')
			next++;
		bool last = w->rest[next] == '\0';
		char name[NAME_MAX + 1];
		if (end - pos > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(name, w->rest + pos, end - pos);
		name[end - pos] = '\0';
		if (end == pos || !strcmp(name, ".") || !strcmp(name, "..")) {
			if (!strcmp(name, "..")) {
				if (w->depth == 0)
					return -EXDEV; /* above dirfd */
				close(w->fds[--w->depth]);
			}
			if (last) {
				int fd = openat(top(w), ".", flags, mode);
				return fd < 0 ? -errno : fd;
			}
			pos = next;
			continue;
		}
		bool as_dir = !last || next != end; /* "name/..." or "name/" */
		if (!as_dir && ((flags & O_NOFOLLOW) || (flags & (O_CREAT | O_EXCL)) ==
								 (O_CREAT | O_EXCL))) {
			/* The kernel never follows this last component. */
			int fd = openat(top(w), name, flags, mode);
			return fd < 0 ? -errno : fd;
		}
		mode_t type = 0;
		int fd = peek(w, name, &type);
		if (fd == -ENOENT && !as_dir && (flags & O_CREAT)) {
			fd = openat(top(w), name, flags | O_NOFOLLOW, mode);
			return fd < 0 ? -errno : fd;
		}
		if (fd < 0)
			return fd;
		if (type == S_IFLNK) {
			int r = follow(w, fd, end);
			close(fd);
			if (r < 0)
				return r;
			pos = 0;
			continue;
		}
		if (!as_dir) {
			close(fd);
			fd = openat(top(w), name, flags | O_NOFOLLOW, mode);
			return fd < 0 ? -errno : fd;
		}
		if (type != S_IFDIR) {
			close(fd);
			return -ENOTDIR;
		}
		int r = push(w, fd);
		if (r < 0)
			return r;
		if (last) { /* "dir/": the directory itself */
			fd = openat(top(w), ".", flags | O_DIRECTORY, mode);
			return fd < 0 ? -errno : fd;
		}
		pos = next;
	}
}

static int open_walk(int dirfd, const char *path, const struct open_how *how)
{
	if (path[0] == '\0')
		return -ENOENT;
	if (path[0] == '/')
		return -EXDEV;
	struct walk *w = malloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	w->base = dirfd;
	w->fds = NULL;
	w->depth = w->cap = 0;
	w->links = 0;
	int r = -ENAMETOOLONG;
	size_t len = strlen(path);
	if (len < sizeof w->rest) {
		memcpy(w->rest, path, len + 1);
		r = walk(w, (int)how->flags, (mode_t)how->mode);
	}
	while (w->depth)
		close(w->fds[--w->depth]);
	free(w->fds);
	free(w);
	return r;
}

int coil__open_beneath_blocking(int dirfd, const char *path, const struct open_how *how)
{
	int r = -ENOSYS;
#ifdef SYS_openat2
	long fd = syscall(SYS_openat2, dirfd, path, how, sizeof *how);
	r = fd < 0 ? -errno : (int)fd;
#endif
	/* Only what the walk knows how to keep: beneath, no magic links (it
	 * reads every link as text, so a /proc magic link is never jumped). */
	if (r == -ENOSYS && (how->resolve & RESOLVE_BENEATH) &&
	    !(how->resolve & ~(uint64_t)(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)))
		r = open_walk(dirfd, path, how);
	return r;
}

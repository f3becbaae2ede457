/* Whether an fd takes offsets. See offsets.h. */
#include "io/offsets.h"

#include <errno.h>
#include <unistd.h>

/*
 * pread(2) takes an offset where the kernel opened the file with
 * FMODE_PREAD, a flag userspace cannot read; fstat(2) and lseek(2) show
 * where it is missing:
 * - no file type in st_mode (an anonymous inode: eventfd, signalfd,
 *   timerfd, epoll, inotify, pidfd): never, though lseek(2) says 0;
 * - a pipe or a socket: never;
 * - anything else (a regular file, a directory, a block or character
 *   device) unless its driver opened it non-seekable (a tty, a FUSE
 *   file opened as a stream), which lseek(2) says with ESPIPE.
 * /dev/null and /dev/zero take offsets, as pread(2) says.
 */
bool coil__fd_takes_offsets(int fd, const struct stat *st)
{
	/* Not a switch: WASI's S_IFIFO and S_IFSOCK are one value. */
	if ((st->st_mode & S_IFMT) == 0 || S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode))
		return false;
	return !(lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE);
}

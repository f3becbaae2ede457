/*
 * Whether an fd takes offsets: the one rule every backend follows for a
 * positional read or write (coil_file_read & co. at off >= 0), so that
 * each gives what pread(2) and pwrite(2) give. io_uring itself does not
 * ask: its IORING_OP_READ at an offset reads anything that is not a pipe
 * or socket (an eventfd's counter, say), where pread(2) says -ESPIPE.
 */
#ifndef COIL_IO_OFFSETS_H
#define COIL_IO_OFFSETS_H

#include <stdbool.h>
#include <sys/stat.h>

/* Whether pread(2) takes an offset on fd, whose fstat(2) is st; false:
 * it says -ESPIPE. Reads and writes nothing; may call lseek(2) (the
 * position stays): ask once per fd and keep the answer. */
bool coil__fd_takes_offsets(int fd, const struct stat *st);

#endif

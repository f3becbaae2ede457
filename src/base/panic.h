/* Abort with a message: only for a broken internal invariant, never for an
 * I/O error or bad input (those are negative errno returns). */
#ifndef COIL_BASE_PANIC_H
#define COIL_BASE_PANIC_H

_Noreturn void coil__panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

#include "base/panic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

_Noreturn void coil__panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("coil: internal error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

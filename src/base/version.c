/* The library's version (coil/version.h). */
#include "coil/version.h"

const char *coil_version(void)
{
	return COIL_VERSION_STRING;
}

int coil_version_number(void)
{
	return COIL_VERSION_NUMBER;
}

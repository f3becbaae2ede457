/* Uses an installed coil: a sleep, a channel, the version calls. Prints ok. */
#include <coil.h>

#include <stdio.h>
#include <string.h>

static void *body(void *arg)
{
	coil_chan *ch;
	int v = 42, got = 0;
	if (coil_sleep(1000000) < 0 || coil_chan_new(&ch, sizeof v, 1) < 0)
		return NULL;
	coil_chan_send(ch, &v);
	coil_chan_recv(ch, &got);
	coil_chan_free(ch);
	return got == 42 ? arg : NULL;
}

int main(void)
{
	void *r = NULL;
	int ok_token = 1;
	if (coil_run(NULL, body, &ok_token, &r) < 0 || r != &ok_token)
		return 1;
	if (strcmp(coil_version(), COIL_VERSION_STRING) || coil_version_number() != COIL_VERSION_NUMBER)
		return 1;
	printf("ok\n");
	return 0;
}

/* Internal helpers shared by the socket calls. */
#ifndef COIL_NET_SOCK_H
#define COIL_NET_SOCK_H

#include <stdint.h>
#include <sys/socket.h>

/* Parse a numeric IPv4 or IPv6 address and port into *ss.
 * Returns the address length, or -EINVAL. */
int coil__addr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss);


#endif

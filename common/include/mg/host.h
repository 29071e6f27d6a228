/* Identity of this machine and boot. */
#ifndef MG_HOST_H
#define MG_HOST_H

#include <stddef.h>

/*
 * The kernel's boot id (/proc/sys/kernel/random/boot_id), lower-case UUID. 0, -EBADMSG when
 * the file does not hold one, or the open/read error. out is written only on success.
 */
int mg_boot_id(char out[37]);

/* The host name (uname nodename), NUL-terminated. 0, -ERANGE when len is too small, or errno. */
int mg_hostname(char *out, size_t len);

/* True when s is a lower-case UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int mg_uuid_valid(const char *s);

#endif

/*
 * The terminal's enrolment as the uplink keeps it in its directory: key.pem (EC P-256 private
 * key, 0600), cert.pem (its client certificate), ca.pem (the pinned collector CA) and
 * collector (the collector's base URL, one line). Nothing else is kept anywhere.
 */
#ifndef MG_UPLINK_CREDS_H
#define MG_UPLINK_CREDS_H

#include <stddef.h>

struct mg_uplink_creds {
	char *key, *cert, *ca; /* PEM, NUL-terminated */
	size_t key_len, cert_len, ca_len;
	char *collector; /* validated https:// URL, without the newline */
};

/*
 * Reads the four files from dirfd into *c. 0; -ENOENT when any is absent (not enrolled);
 * another negative errno with why (the file and what is wrong with it) in words.
 */
int mg_uplink_creds_load(int dirfd, struct mg_uplink_creds *c, char *why, size_t whylen);

/* Replaces the four files (mg_uplink_files_replace). 0 or a negative errno. */
int mg_uplink_creds_store(int dirfd, const struct mg_uplink_creds *c);

/* Frees the buffers (the key's wiped) and zeroes *c. */
void mg_uplink_creds_clear(struct mg_uplink_creds *c);

#endif

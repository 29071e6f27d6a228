/* The enrolment files in the uplink's directory (uplink_creds.h). */
#include "uplink_creds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uplink_files.h"
#include "uplink_http.h"

#define F_KEY       "key.pem"
#define F_CERT      "cert.pem"
#define F_CA        "ca.pem"
#define F_COLLECTOR "collector"

static int load_one(int dirfd, const char *name, char **data, size_t *len, char *why, size_t whylen)
{
	const char *w = NULL;
	int r = mg_uplink_file_read(dirfd, name, MG_UPLINK_FILE_MAX, data, len, &w);
	if (r < 0 && r != -ENOENT)
		snprintf(why, whylen, "%s: %s", name, w ? w : strerror(-r));
	return r;
}

int mg_uplink_creds_load(int dirfd, struct mg_uplink_creds *out, char *why, size_t whylen)
{
	struct mg_uplink_creds c = {0};
	char *url = NULL;
	size_t url_len = 0;
	int r;
	if ((r = load_one(dirfd, F_COLLECTOR, &url, &url_len, why, whylen)) < 0 ||
	    (r = load_one(dirfd, F_CA, &c.ca, &c.ca_len, why, whylen)) < 0 ||
	    (r = load_one(dirfd, F_CERT, &c.cert, &c.cert_len, why, whylen)) < 0 ||
	    (r = load_one(dirfd, F_KEY, &c.key, &c.key_len, why, whylen)) < 0)
		goto fail;
	if (url_len && url[url_len - 1] == '\n')
		url[--url_len] = '\0';
	char w[160] = "";
	if (strlen(url) != url_len || mg_uplink_url_check(url, w, sizeof(w)) < 0) {
		snprintf(why, whylen, "%s: %s", F_COLLECTOR, w[0] ? w : "holds a NUL byte");
		r = -EINVAL;
		goto fail;
	}
	c.collector = url;
	*out = c;
	return 0;
fail:
	free(url);
	mg_uplink_creds_clear(&c);
	return r;
}

int mg_uplink_creds_store(int dirfd, const struct mg_uplink_creds *c)
{
	size_t n = strlen(c->collector);
	char *line = malloc(n + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, c->collector, n);
	line[n] = '\n';
	const struct mg_uplink_file files[] = {
	    {F_KEY, c->key, c->key_len, 0600},
	    {F_CERT, c->cert, c->cert_len, 0644},
	    {F_CA, c->ca, c->ca_len, 0644},
	    {F_COLLECTOR, line, n + 1, 0644},
	};
	int r = mg_uplink_files_replace(dirfd, files, sizeof(files) / sizeof(files[0]));
	free(line);
	return r;
}

void mg_uplink_creds_clear(struct mg_uplink_creds *c)
{
	if (c->key)
		explicit_bzero(c->key, c->key_len);
	free(c->key);
	free(c->cert);
	free(c->ca);
	free(c->collector);
	memset(c, 0, sizeof(*c));
}

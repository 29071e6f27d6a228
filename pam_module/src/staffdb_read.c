/* staff.db on a terminal: safe open, read-only mapping, lookup by name, record parser. */
#include "staffdb_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "encoding.h"
#include "mg/bytes.h"
#include "mg/staff_db.h"
#include "safe_dir.h"

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || whylen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int mg_staffdb_map_open(const char *path, uid_t owner, struct mg_staffdb_map *m, char *why,
                        size_t whylen)
{
	char dir[PATH_MAX], reason[320] = "";
	const char *slash = strrchr(path, '/'), *what = NULL;
	struct stat st;
	int dfd = -1, fd = -1, r;
	if (path[0] != '/' || !slash || slash[1] == '\0' || (size_t)(slash - path) >= sizeof(dir)) {
		say(why, whylen, "staff_db %s: not an absolute file path", path);
		return -EINVAL;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "/");
	dfd = mg_pam_dir_open(dir, owner, reason, sizeof(reason));
	if (dfd < 0) {
		r = dfd;
		if (r != -ENOENT)
			say(why, whylen, "staff_db directory refused: %s", reason);
		goto out;
	}
	struct mg_file_rules rules = {.owner = owner, .max_size = MG_STAFF_DB_MAX_FILE};
	fd = mg_pam_open_at(dfd, slash + 1, &rules, &what);
	if (fd < 0) {
		r = fd;
		if (r != -ENOENT)
			say(why, whylen, "%s: %s", path, what ? what : "cannot be opened");
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > MG_STAFF_DB_MAX_FILE) {
		say(why, whylen, "%s: size %lld out of range", path, (long long)st.st_size);
		r = st.st_size <= 0 ? -EBADMSG : -EFBIG;
		goto out;
	}
	size_t len = (size_t)st.st_size;
	void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		say(why, whylen, "%s: cannot be mapped", path);
		goto out;
	}
	/* A login touches a few pages of a binary search: no readahead around them, and no
	 * huge page (a tmpfs with huge=... would map 2 MiB at the first touch). */
	(void)madvise(p, len, MADV_RANDOM);
	(void)madvise(p, len, MADV_NOHUGEPAGE);
	if (len < MG_STAFF_DB_HEADER || memcmp(p, MG_STAFF_DB_MAGIC, 8) != 0) {
		munmap(p, len);
		say(why, whylen, "%s: not a staff.db (magic)", path);
		r = -EBADMSG;
		goto out;
	}
	m->buf = p;
	m->len = len;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return r;
}

void mg_staffdb_map_close(struct mg_staffdb_map *m)
{
	if (m && m->buf) {
		munmap((void *)(uintptr_t)m->buf, m->len);
		m->buf = NULL;
		m->len = 0;
	}
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * The header alone (40 bytes, mg/staff_db.h): magic, format, issued_us < expires_us. A login
 * never checks the whole index (that is a scan): mg_staff_db_find checks every entry it
 * visits itself. 0 or -EBADMSG.
 */
static int header_info(const struct mg_staffdb_map *m, struct mg_staff_db_info *info)
{
	const unsigned char *b = m->buf;
	if (m->len < MG_STAFF_DB_HEADER || memcmp(b, MG_STAFF_DB_MAGIC, 8) != 0 ||
	    mg_le_get(b + 8, 4) != MG_STAFF_DB_FORMAT)
		return -EBADMSG;
	info->count = (uint32_t)mg_le_get(b + 12, 4);
	info->bundle_version = mg_le_get(b + 16, 8);
	info->issued_us = (int64_t)mg_le_get(b + 24, 8);
	info->expires_us = (int64_t)mg_le_get(b + 32, 8);
	if (info->issued_us >= info->expires_us || info->count > MG_STAFF_DB_MAX_USERS ||
	    (uint64_t)info->count * MG_STAFF_DB_ENTRY > m->len - MG_STAFF_DB_HEADER)
		return -EBADMSG;
	return 0;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int parse_cred(json_t *o, struct mg_fido2_cred *c, const char **rp, char *err, size_t errlen)
{
	static const char *const keys[] = {"aaguid",     "cose_alg", "id", "label",
	                                   "public_key", "rp_id",    "uv", NULL};
	const char *key;
	json_t *v;
	unsigned char tmp[16];
	if (!json_is_object(o))
		return fail(err, errlen, "credential: expected an object");
	json_object_foreach(o, key, v)
	{
		bool known = false;
		for (size_t i = 0; keys[i]; i++)
			known = known || strcmp(key, keys[i]) == 0;
		if (!known)
			return fail(err, errlen, "credential: %.64s: unknown key", key);
	}
	const char *label = str_of(o, "label"), *id = str_of(o, "id");
	const char *pk = str_of(o, "public_key"), *aaguid = str_of(o, "aaguid");
	json_t *alg = json_object_get(o, "cose_alg"), *uv = json_object_get(o, "uv");
	*rp = str_of(o, "rp_id");
	if (!label || !mg_cred_label_valid(label))
		return fail(err, errlen, "label: 1-64 bytes of UTF-8, no control characters");
	snprintf(c->label, sizeof(c->label), "%s", label);
	if (!id || mg_b64_decode(id, c->id, sizeof(c->id), &c->id_len) < 0 || c->id_len == 0)
		return fail(err, errlen, "id: expected base64 of 1-%d bytes", MG_FIDO2_MAX_ID);
	if (!pk || mg_b64_decode(pk, c->pk, sizeof(c->pk), &c->pk_len) < 0 || c->pk_len == 0)
		return fail(err, errlen, "public_key: expected base64 of 1-%d bytes",
		            MG_FIDO2_MAX_PK);
	if (!json_is_integer(alg))
		return fail(err, errlen, "cose_alg: expected an integer");
	json_int_t a = json_integer_value(alg);
	if (a != MG_COSE_ES256 && a != MG_COSE_EDDSA && a != MG_COSE_RS256)
		return fail(err, errlen, "cose_alg: expected -7, -8 or -257");
	c->cose_alg = (int)a;
	if (!aaguid || strlen(aaguid) != 32 || mg_hex_decode(aaguid, tmp, sizeof(tmp)) < 0)
		return fail(err, errlen, "aaguid: expected 32 hex digits");
	mg_hex_encode(tmp, sizeof(tmp), c->aaguid);
	if (!json_is_boolean(uv))
		return fail(err, errlen, "uv: expected true or false");
	c->uv = json_is_true(uv);
	if (!*rp || strlen(*rp) > 255)
		return fail(err, errlen, "rp_id: expected a string of at most 255 bytes");
	return 0;
}

int mg_central_record_parse(const char *buf, size_t len, const char *user, const char *rp_id,
                            struct mg_fido2_credfile **out, char *err, size_t errlen)
{
	json_error_t je;
	struct mg_fido2_credfile *f = NULL;
	int r = -EINVAL;
	if (len > MG_STAFF_DB_MAX_RECORD)
		return fail(err, errlen, "record larger than %u bytes", MG_STAFF_DB_MAX_RECORD);
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, errlen, "record: not JSON: %.80s", je.text);
	json_t *arr = json_object_get(root, "credentials");
	if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(arr)) {
		r = fail(err, errlen, "record: expected {\"credentials\":[...]}");
		goto out;
	}
	if (json_array_size(arr) > MG_FIDO2_MAX_CREDS) {
		r = fail(err, errlen, "record: more than %d credentials", MG_FIDO2_MAX_CREDS);
		goto out;
	}
	f = mg_fido2_credfile_new(user);
	if (!f) {
		r = mg_pam_user_valid(user) ? -ENOMEM : fail(err, errlen, "invalid user name");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *rp = NULL;
		struct mg_fido2_cred *c = &f->creds[f->n];
		memset(c, 0, sizeof(*c));
		if ((r = parse_cred(json_array_get(arr, i), c, &rp, err, errlen)) < 0)
			goto out;
		if (strcmp(rp, rp_id) == 0)
			f->n++; /* another relying party's key is not for this login */
	}
	*out = f;
	f = NULL;
	r = 0;
out:
	mg_fido2_credfile_free(&f);
	json_decref(root);
	return r;
}

int mg_central_lookup(const struct mg_pam_conf *conf, const char *user, int64_t now_us,
                      bool want_creds, struct mg_central *out, char *why, size_t whylen)
{
	struct mg_staffdb_map m = {NULL, 0};
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	char err[256];
	int r;
	memset(out, 0, sizeof(*out));
	if (conf->credentials == MG_PAM_CRED_LOCAL) {
		out->state = MG_CENTRAL_OFF;
		return 0;
	}
	out->state = MG_CENTRAL_NONE;
	if (!conf->staff_db || !mg_pam_user_valid(user))
		return 0;
	r = mg_staffdb_map_open(conf->staff_db, conf->owner, &m, why, whylen);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		out->state = MG_CENTRAL_UNAVAILABLE;
		return 0;
	}
	if (header_info(&m, &info) < 0) {
		out->state = MG_CENTRAL_UNAVAILABLE;
		say(why, whylen, "%s: damaged header", conf->staff_db);
		goto out;
	}
	if (now_us >= info.expires_us) {
		out->state = MG_CENTRAL_EXPIRED;
		say(why, whylen, "%s: expired (bundle %llu)", conf->staff_db,
		    (unsigned long long)info.bundle_version);
		goto out;
	}
	r = mg_staff_db_find(m.buf, m.len, user, &e);
	if (r == -ENOENT)
		goto out;
	if (r < 0) {
		out->state = MG_CENTRAL_UNAVAILABLE;
		say(why, whylen, "%s: damaged entry", conf->staff_db);
		goto out;
	}
	out->unlocked_us = e.unlocked_us > 0 ? e.unlocked_us : 0;
	if (e.disabled) {
		out->state = MG_CENTRAL_DISABLED;
		goto out;
	}
	if (want_creds) {
		r = mg_central_record_parse(e.record, e.record_len, user, conf->rp_id, &out->creds,
		                            err, sizeof(err));
		if (r == -ENOMEM)
			goto out_err;
		if (r < 0) {
			/* A damaged record: this user's central data is not used at all. */
			out->state = MG_CENTRAL_UNAVAILABLE;
			out->unlocked_us = 0;
			say(why, whylen, "%s: record of %s: %s", conf->staff_db, user, err);
			goto out;
		}
	}
	out->state = MG_CENTRAL_ACTIVE;
out:
	mg_staffdb_map_close(&m);
	return 0;
out_err:
	mg_staffdb_map_close(&m);
	mg_central_free(out);
	return -ENOMEM;
}

void mg_central_free(struct mg_central *c)
{
	if (c)
		mg_fido2_credfile_free(&c->creds);
}

const char *mg_central_note(const struct mg_central *c)
{
	if (c->state == MG_CENTRAL_EXPIRED)
		return "expired";
	if (c->state == MG_CENTRAL_UNAVAILABLE)
		return "unavailable";
	return NULL;
}

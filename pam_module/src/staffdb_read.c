/* staff.db on a terminal: safe open, bounded reads, lookup by name, record parser. */
#include "staffdb_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Exactly n bytes at off of the open staff.db (pread, EINTR retried): 0, -EBADMSG (short:
 * the file is not what its size said), or -errno. */
static int staffdb_pread(const struct mg_staffdb_file *f, uint64_t off, void *dst, size_t n)
{
	size_t done = 0;
	if (off > f->len || n > f->len - off)
		return -EBADMSG;
	while (done < n) {
		ssize_t k = pread(f->fd, (char *)dst + done, n - done, (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EBADMSG;
		done += (size_t)k;
	}
	return 0;
}

static int staffdb_read_at(void *ctx, uint64_t off, void *dst, size_t n)
{
	return staffdb_pread(ctx, off, dst, n);
}

int mg_staffdb_file_open(const char *path, uid_t owner, struct mg_staffdb_file *f, char *why,
                         size_t whylen)
{
	char dir[PATH_MAX], reason[320] = "";
	unsigned char magic[8];
	const char *slash = strrchr(path, '/'), *what = NULL;
	struct stat st;
	int dfd = -1, fd = -1, r;
	f->fd = -1;
	f->len = 0;
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
	f->fd = fd;
	f->len = (size_t)st.st_size;
	/* A login reads a few small pieces of a binary search: no readahead around them. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	if (f->len < MG_STAFF_DB_HEADER || staffdb_pread(f, 0, magic, sizeof(magic)) < 0 ||
	    memcmp(magic, MG_STAFF_DB_MAGIC, 8) != 0) {
		say(why, whylen, "%s: not a staff.db (magic)", path);
		r = -EBADMSG;
		goto out;
	}
	fd = -1;
	r = 0;
out:
	if (r < 0 && f->fd >= 0) {
		close(f->fd);
		fd = -1;
		f->fd = -1;
		f->len = 0;
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return r;
}

void mg_staffdb_file_close(struct mg_staffdb_file *f)
{
	if (f && f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		f->len = 0;
	}
}

int mg_staffdb_file_find(const struct mg_staffdb_file *f, const char *user,
                         struct mg_staff_db_info *info, struct mg_staff_entry *out, char *rec,
                         size_t reclen)
{
	struct mg_staff_db_reader rd = {
	    .read = staffdb_read_at, .ctx = (void *)(uintptr_t)f, .len = f->len};
	return mg_staff_db_find_read(&rd, user, info, out, rec, reclen);
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
	struct mg_staffdb_file file = {-1, 0};
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	char err[256], *rec = NULL;
	int r;
	memset(out, 0, sizeof(*out));
	if (conf->credentials == MG_PAM_CRED_LOCAL) {
		out->state = MG_CENTRAL_OFF;
		return 0;
	}
	out->state = MG_CENTRAL_NONE;
	if (!conf->staff_db || !mg_pam_user_valid(user))
		return 0;
	r = mg_staffdb_file_open(conf->staff_db, conf->owner, &file, why, whylen);
	if (r == -ENOENT)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		out->state = MG_CENTRAL_UNAVAILABLE;
		return 0;
	}
	/* The one record read (at most MG_STAFF_DB_MAX_RECORD), freed before the return. */
	if (!(rec = malloc(MG_STAFF_DB_MAX_RECORD))) {
		mg_staffdb_file_close(&file);
		return -ENOMEM;
	}
	memset(&info, 0, sizeof(info));
	info.expires_us = INT64_MIN;
	r = mg_staffdb_file_find(&file, user, &info, &e, rec, MG_STAFF_DB_MAX_RECORD);
	if (r == -ENOMEM)
		goto out_err;
	if (info.expires_us == INT64_MIN) { /* the header itself is damaged */
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
	free(rec); /* public data (staff.db is 0644): nothing to wipe */
	mg_staffdb_file_close(&file);
	return 0;
out_err:
	free(rec);
	mg_staffdb_file_close(&file);
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

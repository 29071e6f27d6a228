/* Central policy on the terminal: check and keep the signed bundle (central.h). */
#include "central.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "ed25519_verify.h"
#include "mg/policy_bundle.h"
#include "mg/safe_open.h"
#include "mg/staff_db.h"
#include "mg/time.h"

#define MAX_ANSWER (MG_POLICY_MAX_BUNDLE + 1024u)

void mg_central_bundle_free(struct mg_central_bundle *b)
{
	free(b->host_rules);
	free(b->all_rules);
	json_decref(b->staff);
	memset(b, 0, sizeof(*b));
}

int mg_central_check(const char *answer, size_t len, const char *pubkey_b64,
                     uint64_t current_version, int64_t now_us, int64_t host_id,
                     struct mg_central_bundle *out, uint64_t *version, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	*version = 0;
	if (len > MAX_ANSWER) {
		snprintf(why, whylen, "answer larger than %u bytes", MAX_ANSWER);
		return -EFBIG;
	}
	json_error_t jerr;
	json_t *root = json_loadb(answer, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(why, whylen, "answer is not JSON: %s", jerr.text);
		return -EINVAL;
	}
	int r = -EINVAL;
	json_t *jv = json_object_get(root, "version"), *jb = json_object_get(root, "bundle"),
	       *js = json_object_get(root, "signature");
	if (!json_is_object(root) || json_object_size(root) != 3 || !json_is_integer(jv) ||
	    !json_is_string(jb) || !json_is_string(js)) {
		snprintf(why, whylen, "answer: expected exactly version, bundle and signature");
		goto out;
	}
	if (json_integer_value(jv) > 0)
		*version = (uint64_t)json_integer_value(jv);
	struct mg_policy_bundle *b = NULL;
	char err[256] = "";
	const char *bundle = json_string_value(jb);
	size_t blen = json_string_length(jb);
	r = mg_policy_accept(mg_ed25519_verify_b64, pubkey_b64, bundle, blen, json_string_value(js),
	                     current_version, now_us, host_id, &b, err, sizeof(err));
	if (r < 0) {
		switch (r) {
		case -EBADMSG:
			snprintf(why, whylen,
			         "signature does not verify with the pinned policy key (%s)", err);
			break;
		case -ESTALE:
			snprintf(why, whylen,
			         "rollback: not newer than the applied version %llu (%s)",
			         (unsigned long long)current_version, err);
			break;
		case -ETIME:
			snprintf(why, whylen, "expired (%s)", err);
			break;
		case -EPERM:
			snprintf(why, whylen, "scoped to other hosts, not host %lld (%s)",
			         (long long)host_id, err);
			break;
		default:
			snprintf(why, whylen, "malformed: %s", err);
		}
		goto out;
	}
	*version = b->version;
	if ((uint64_t)json_integer_value(jv) != b->version) {
		snprintf(why, whylen, "answer version %lld differs from the signed version %llu",
		         (long long)json_integer_value(jv), (unsigned long long)b->version);
		r = -EINVAL;
		mg_policy_bundle_free(&b);
		goto out;
	}
	const char *host = mg_policy_bundle_host_rules(b, host_id);
	out->version = b->version;
	out->issued_us = b->issued_us;
	out->expires_us = b->expires_us;
	out->staff = b->staff ? json_incref(b->staff) : NULL;
	out->all_rules = strdup(b->rules ? b->rules : "");
	out->host_rules = host ? strdup(host) : NULL;
	mg_policy_bundle_free(&b);
	if (!out->all_rules || (host && !out->host_rules)) {
		mg_central_bundle_free(out);
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, blen, (const uint8_t *)bundle);
	sha256_digest(&ctx, sizeof(md), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
	r = 0;
out:
	json_decref(root);
	return r;
}

int mg_central_save(const char *state_dir, const char *answer, size_t len)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/policy.json", state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return mg_write_file_atomic(path, answer, len, 0600);
}

int mg_central_load(const char *state_dir, char **answer, size_t *len)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/policy.json", state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	struct mg_file_rules own = {.owner = geteuid(), .secret = true, .max_size = MAX_ANSWER};
	return mg_safe_read_file(path, &own, answer, len, NULL);
}

int mg_central_write_staff(const char *path, const struct mg_central_bundle *b, char *why,
                           size_t whylen)
{
	unsigned char *db = NULL;
	size_t len = 0;
	int r;

	if (!b->staff) {
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(why, whylen, "cannot remove %s: %s", path, strerror(-r));
			return r;
		}
		return 0;
	}
	r = mg_staff_db_build(b->staff, b->version, b->issued_us, b->expires_us, &db, &len);
	if (r < 0)
		snprintf(why, whylen, "cannot build the staff credentials of version %llu: %s",
		         (unsigned long long)b->version, strerror(-r));
	else if ((r = mg_write_file_atomic(path, db, len, 0644)) < 0)
		snprintf(why, whylen, "cannot write %s: %s", path, strerror(-r));
	free(db);
	if (r < 0)
		(void)unlink(path); /* fail closed: no stale credentials for the PAM module */
	return r;
}

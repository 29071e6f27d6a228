/*
 * Issue 15 at scale (docs/PERFORMANCE.md, "Staff credentials (issue 15)"): a bundle with
 * STAFF users of two credentials each (default 5,000 / 10,000): its size, mg_staff_db_build's
 * time and the file's size, the agent's apply (mg_central_check: Ed25519 check + strict parse
 * of the whole bundle; then mg_central_write_staff: build + atomic write with fsync) and a
 * lookup. Run: mynaguard-bench-staffdb [STAFF [ROUNDS]]; prints a Markdown table.
 */
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "central.h"
#include "mg/policy_bundle.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "policy_sign.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A realistic credential: 64-byte id (88 base64), 77-byte ES256 key (104 base64). */
static json_t *staff_json(size_t users)
{
	json_t *staff = json_object();
	char name[64], id[96], pk[112];
	for (size_t i = 0; staff && i < users; i++) {
		snprintf(name, sizeof(name), i % 3 ? "staff%05zu" : "Staff%05zu@city.local", i);
		json_t *creds = json_array();
		for (int k = 0; k < 2; k++) {
			memset(id, 'A', 88);
			snprintf(id, sizeof(id), "%c%08zu", 'A' + k, i);
			id[9] = 'A';
			memset(id + 9, 'Q', 79);
			id[88] = '\0';
			memset(pk, 'B', 104);
			snprintf(pk, sizeof(pk), "%c%08zu", 'P' + k, i);
			memset(pk + 9, 'B', 95);
			pk[104] = '\0';
			json_array_append_new(
			    creds, json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid",
			                     "ee882879721c491397753dfcce97072a", "cose_alg", -7,
			                     "id", id, "label", k ? "予備" : "main", "public_key",
			                     pk, "rp_id", "mynaguard", "uv", 1));
		}
		json_object_set_new(staff, name,
		                    json_pack("{s:o,s:s,s:s}", "credentials", creds, "state",
		                              "active", "unlocked_at", "2026-12-01T09:00:00Z"));
	}
	return staff;
}

int main(int argc, char **argv)
{
	size_t users = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 5000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (users == 0 || users > MG_POLICY_MAX_STAFF || rounds < 1 || rounds > 100) {
		fprintf(stderr,
		        "usage: mynaguard-bench-staffdb [STAFF 1..100000 [ROUNDS 1..100]]\n");
		return 2;
	}
	char dir[] = "/var/tmp/mg-bench-staff-XXXXXX", path[128];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	struct mg_policy_key *key = NULL;
	char pub[MG_POLICY_PUBKEY_B64_SIZE], sig[MG_POLICY_SIG_B64_SIZE];
	int rc = 1;
	json_t *staff = staff_json(users);
	static char rules[] = "allow id 1d6b:0002\n";
	int64_t now = mg_now_us();
	struct mg_policy_bundle b = {.version = 7,
	                             .issued_us = now - 60000000LL,
	                             .expires_us = now + 7 * 86400000000LL,
	                             .all_hosts = true,
	                             .rules = rules,
	                             .staff = staff};
	char *json = NULL, *answer = NULL;
	size_t jlen = 0;
	if (!staff || mg_policy_key_generate(path, &key) < 0 ||
	    mg_policy_key_public_b64(key, pub) < 0 ||
	    mg_policy_bundle_to_json(&b, &json, &jlen) < 0 ||
	    mg_policy_sign(key, json, jlen, sig) < 0) {
		fprintf(stderr, "setup failed\n");
		goto out;
	}
	json_t *ans =
	    json_pack("{s:I,s:s,s:s}", "version", (json_int_t)7, "bundle", json, "signature", sig);
	answer = json_dumps(ans, JSON_COMPACT);
	json_decref(ans);
	double *t_build = calloc((size_t)rounds, sizeof(double)),
	       *t_check = calloc((size_t)rounds, sizeof(double)),
	       *t_write = calloc((size_t)rounds, sizeof(double));
	unsigned char *db = NULL;
	size_t dblen = 0;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ms();
		free(db);
		if (mg_staff_db_build(staff, 7, b.issued_us, b.expires_us, &db, &dblen) < 0)
			goto out;
		t_build[r] = now_ms() - t0;

		struct mg_central_bundle cb;
		uint64_t v = 0;
		char why[320];
		t0 = now_ms();
		if (mg_central_check(answer, strlen(answer), pub, 6, mg_now_us(), 1, &cb, &v, why,
		                     sizeof(why)) < 0) {
			fprintf(stderr, "check: %s\n", why);
			goto out;
		}
		double t1 = now_ms();
		if (mg_central_write_staff(dir, &cb, why, sizeof(why)) < 0) {
			fprintf(stderr, "write: %s\n", why);
			mg_central_bundle_free(&cb);
			goto out;
		}
		t_write[r] = now_ms() - t1;
		t_check[r] = t1 - t0;
		mg_central_bundle_free(&cb);
	}
	/* Lookups: every user once, average. */
	struct mg_staff_entry e;
	const char *name;
	json_t *u;
	double t0 = now_ms();
	json_object_foreach(staff, name, u)
	{
		if (mg_staff_db_find(db, dblen, name, &e) != 0)
			goto out;
	}
	double per_find_us = (now_ms() - t0) * 1e3 / (double)users;
	double build = median(t_build, (size_t)rounds), check = median(t_check, (size_t)rounds),
	       write = median(t_write, (size_t)rounds);
	printf("| staff / credentials | bundle (JSON) | staff.db | mg_staff_db_build | agent: "
	       "check (signature + parse) | agent: write staff.db (build + fsync + rename) | "
	       "agent apply total | lookup |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	printf(
	    "| %zu / %zu | %.2f MiB | %.2f MiB | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2f µs "
	    "|\n",
	    users, 2 * users, (double)jlen / 1048576.0, (double)dblen / 1048576.0, build, check,
	    write, check + write, per_find_us);
	printf("(median of %d rounds; lookup: average over every user)\n", rounds);
	free(db);
	free(t_build);
	free(t_check);
	free(t_write);
	rc = 0;
out:
	free(answer);
	free(json);
	json_decref(staff);
	mg_policy_key_free(&key);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}

/*
 * soft-fido2-ctl: creates and edits the soft authenticators' state file for test scripts.
 *
 *   soft-fido2-ctl init STATE [--keys N] [--pin PIN]
 *   soft-fido2-ctl set STATE --key N [--touch yes|no|timeout] [--touch-delay MS]
 *                                    [--counter C] [--pin PIN | --no-pin] [--retries R]
 *                                    [--present yes|no]
 *   soft-fido2-ctl show STATE
 *
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soft_state.h"

static int usage(void)
{
	fputs(
	    "usage: soft-fido2-ctl init STATE [--keys N] [--pin PIN]\n"
	    "       soft-fido2-ctl set STATE --key N [--touch yes|no|timeout] [--touch-delay MS]\n"
	    "                      [--counter C] [--pin PIN | --no-pin] [--retries R]\n"
	    "                      [--present yes|no]\n"
	    "       soft-fido2-ctl show STATE\n",
	    stderr);
	return 2;
}

/* A decimal number in [lo, hi]; strtonum-style. */
static int parse_num(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*v = n;
	return 0;
}

static int parse_yes_no(const char *s)
{
	if (s != NULL && strcmp(s, "yes") == 0)
		return 1;
	if (s != NULL && strcmp(s, "no") == 0)
		return 0;
	return -1;
}

static int cmd_init(int argc, char **argv)
{
	uint64_t keys = 2;
	const char *pin = NULL;

	if (argc < 1)
		return usage();
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--keys") == 0 &&
		    parse_num(v, 1, SOFT_STATE_MAX_KEYS, &keys) == 0)
			i++;
		else if (strcmp(argv[i], "--pin") == 0 && v != NULL)
			pin = argv[++i];
		else
			return usage();
	}
	struct soft_state *st = soft_state_new((size_t)keys);
	if (st == NULL) {
		fprintf(stderr, "soft-fido2-ctl: out of memory\n");
		return 1;
	}
	for (size_t i = 0; pin != NULL && i < st->n; i++)
		if (soft_ctap_set_pin(st->key[i].sc, pin) < 0) {
			fprintf(stderr, "soft-fido2-ctl: a PIN has %d..%d bytes\n",
			        SOFT_CTAP_PIN_MIN, SOFT_CTAP_PIN_MAX);
			soft_state_free(&st);
			return 1;
		}
	int r = soft_state_write(argv[0], st);
	soft_state_free(&st);
	if (r < 0) {
		fprintf(stderr, "soft-fido2-ctl: %s: %s\n", argv[0], strerror(-r));
		return 1;
	}
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;
	char path[16] = "", err[512] = "";
	uint64_t n;
	bool any = false;

	if (argc < 1)
		return usage();
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(opt, "--no-pin") == 0) {
			k.clear_pin = true;
			any = true;
			continue;
		}
		if (v == NULL)
			return usage();
		i++;
		if (strcmp(opt, "--key") == 0 && parse_num(v, 0, 99, &n) == 0)
			snprintf(path, sizeof(path), "soft:%" PRIu64, n);
		else if (strcmp(opt, "--touch") == 0 && soft_state_touch_from_string(v) >= 0)
			k.touch = soft_state_touch_from_string(v);
		else if (strcmp(opt, "--touch-delay") == 0 && parse_num(v, 0, 3600000, &n) == 0)
			k.touch_delay_ms = (long)n;
		else if (strcmp(opt, "--counter") == 0 && parse_num(v, 0, UINT32_MAX, &n) == 0)
			k.counter = (int64_t)n;
		else if (strcmp(opt, "--pin") == 0)
			k.pin = v;
		else if (strcmp(opt, "--retries") == 0 &&
		         parse_num(v, 0, SOFT_CTAP_PIN_RETRIES, &n) == 0)
			k.pin_retries = (int)n;
		else if (strcmp(opt, "--present") == 0 && parse_yes_no(v) >= 0)
			k.present = parse_yes_no(v);
		else
			return usage();
		any = any || strcmp(opt, "--key") != 0;
	}
	if (path[0] == '\0' || !any || (k.pin != NULL && k.clear_pin))
		return usage();
	if (soft_state_set_knobs(argv[0], path, &k, err, sizeof(err)) < 0) {
		fprintf(stderr, "soft-fido2-ctl: %s\n", err);
		return 1;
	}
	return 0;
}

static void show_key(const struct soft_state_key *k)
{
	const struct soft_ctap *sc = k->sc;
	const uint8_t *a = soft_ctap_aaguid(sc);
	printf("%s present=%s aaguid=", k->path, k->present ? "yes" : "no");
	for (size_t i = 0; i < SOFT_CTAP_AAGUID_LEN; i++)
		printf("%02x", a[i]);
	printf(" pin=%s retries=%u counter=%" PRIu32
	       " touch=%s touch_delay_ms=%u credentials=%zu\n",
	       soft_ctap_pin(sc) != NULL ? "set" : "unset", soft_ctap_pin_retries(sc),
	       soft_ctap_counter(sc), soft_state_touch_to_string(soft_ctap_touch(sc)),
	       soft_ctap_touch_delay_ms(sc), soft_ctap_cred_count(sc));
	for (size_t i = 0; i < soft_ctap_cred_count(sc); i++) {
		const struct soft_ctap_cred *c = soft_ctap_cred_at(sc, i);
		char *id = soft_b64url_encode(c->id, c->id_len);
		char *uid = soft_b64url_encode(c->user_id, c->user_id_len);
		printf("%s credential rp_id=%s alg=%s discoverable=%s id=%s user_id=%s%s%s\n",
		       k->path, c->rp_id, c->alg == SOFT_CTAP_COSE_EDDSA ? "eddsa" : "es256",
		       c->discoverable ? "yes" : "no", id != NULL ? id : "?",
		       uid != NULL ? uid : "?", c->user_name != NULL ? " user_name=" : "",
		       c->user_name != NULL ? c->user_name : "");
		free(id);
		free(uid);
	}
}

static int cmd_show(int argc, char **argv)
{
	struct soft_state *st = NULL;
	char err[512] = "";

	if (argc != 1)
		return usage();
	if (soft_state_read(argv[0], &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "soft-fido2-ctl: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < st->n; i++)
		show_key(&st->key[i]);
	soft_state_free(&st);
	return fflush(stdout) == 0 ? 0 : 1;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} subcommands[] = {
    {"init", cmd_init},
    {"set", cmd_set},
    {"show", cmd_show},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].fn(argc - 2, argv + 2);
	return usage();
}

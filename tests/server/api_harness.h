/*
 * Harness for the collector's HTTPS API tests (api_harness.c). Tests in one program run in
 * order on one collector and one database; api_main() sets both up (init with the first admin
 * ADMIN_NAME / ADMIN_PASSWORD, serve) and tears them down.
 */
#ifndef MG_TEST_API_HARNESS_H
#define MG_TEST_API_HARNESS_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "store.h"

#define WAIT_MS        30000
#define ADMIN_NAME     "root-admin"
#define ADMIN_PASSWORD "correct horse battery staple"

extern const char *g_bin;                      /* mynaguard-collector (MG_COLLECTOR) */
extern char g_dir[512];                        /* --data-dir */
extern pid_t g_pid;                            /* the running `serve`, -1: none */
extern unsigned g_port;                        /* its port */
extern char g_db[1024];                        /* --db URL */
extern const char *g_extra_header;             /* one more request header; NULL: none */
extern const char *const *g_serve_args;        /* more `serve` arguments; NULL-terminated or NULL */
extern const char *g_listen;                   /* `serve --listen`; NULL: 127.0.0.1:0 */
extern char g_key[PATH_MAX], g_cert[PATH_MAX]; /* the current host's key and certificate */

/* ---- processes ---- */
/* Starts `serve` (waits for its port on --ready-fd). */
void start_server(void);
/* Stops it with sig; its wait status. */
int stop_server(int sig);
/* Reaps pid within WAIT_MS (else kills it and fails the test); its wait status. */
int reap(pid_t pid);
/* Runs the collector with args (NULL-terminated, without the program name); all of its stdout
 * into out (truncated to size - 1). Returns the exit status. */
int runv(char *out, size_t size, const char *const *args);
/* The same with up to 6 arguments (trailing NULLs); only the first line of stdout. */
int run(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4,
        const char *a5, const char *a6);
/* `token create` into tok. */
void token_create(char *tok, size_t size);
/* A second handle on the collector's database. */
struct mg_store *store(void);
/* Number of agent.started events stored for host_id. */
uint64_t event_count(int64_t host_id);

/* ---- HTTPS ---- */
struct api_reply {
	long status;   /* 0: transport error */
	char *body;    /* NUL-terminated or NULL */
	char *headers; /* raw response header lines */
	json_t *json;  /* body parsed as JSON, or NULL */
};
/*
 * One request: method, path (with query), extra header lines (NULL-terminated or NULL), body
 * (NULL: none), client certificate and key (NULL: none). Fills out (optional; free with
 * api_reply_free). Returns the status.
 */
long api_call(const char *method, const char *path, const char *const *headers, const char *body,
              size_t len, const char *cert, const char *key, struct api_reply *out);
void api_reply_free(struct api_reply *r);
/* Value of response header name (case-insensitive) into buf; NULL when absent. */
const char *api_reply_header(const struct api_reply *r, const char *name, char *buf, size_t size);
/* POST body; the status and the parsed JSON answer (optional). */
long post(const char *path, const char *body, size_t len, const char *cert, const char *key,
          json_t **answer);
/* POST the JSON o (consumed), with g_cert/g_key when with_cert. */
long post_json(const char *path, json_t *o, bool with_cert, json_t **answer);
/* The "error" member of an answer, "" when none. */
const char *err_of(json_t *a);

/* ---- keys and certificates ---- */
EVP_PKEY *new_key(void);
char *make_csr(EVP_PKEY *key);
void write_key(EVP_PKEY *key, const char *path);
void write_text(const char *path, const char *text);
json_t *enroll_body(const char *token, const char *csr, const char *hostname);
/* Enrols a host; its key and certificate go to DIR/<name>.key and DIR/<name>.pem. */
int64_t enroll(const char *name, char *keypath, char *certpath);

/* ---- events ---- */
/*
 * The wire form of an agent.started event (host, boot, seq, pid) as POST /v1/events takes
 * it: canonical JSON plus "prev_hash" (prev, "" for none) and "hash" (written to hash).
 */
json_t *wire_event(const char *host, const char *boot, uint64_t seq, uint64_t pid, const char *prev,
                   char hash[65]);
/* A batch {boot_id, events} of seq from..to (pid pid_base + seq) chained through hashes
 * (hashes[seq] receives each hash; hashes[from - 1] is the link of the first when from > 1). */
json_t *wire_batch(const char *host, const char *boot, uint64_t from, uint64_t to,
                   uint64_t pid_base, char (*hashes)[65]);

/* Enrols a host as enroll() does and copies the answer's policy_public_key to pub. */
int64_t enroll_pub(const char *name, char *keypath, char *certpath, char pub[45]);

/* Runs the cmocka group tests with the collector set up around it (and the PostgreSQL
 * database when MG_TEST_STORE_URL_FILE is set). Returns the process exit status. */
int api_main(const char *name, const struct CMUnitTest *tests, size_t n);

#endif

/*
 * The CTAP exchange with the keys, away from root (issue 13, finding 13). When the module runs
 * as root, the keys are opened by root (device nodes are root's), then a forked child drops
 * to an unprivileged user (setgroups(0), setresgid, setresuid to "nobody", no new privileges,
 * every inherited descriptor closed but the keys' and its pipe) and does the whole exchange:
 * HID framing, the PIN protocol, the CBOR answers of the keys. It hands back only bounded raw
 * fields over a pipe; the root parent checks them (this parser), takes the UV rule from its
 * own view of the keys, and verifies the assertion itself with the stored public key.
 *
 * The child's answer (all integers little-endian):
 *   "MGFA" | version (1) | status (1) | key index (1) | allow index (2) |
 *   authdata length (2) | signature length (2) | authdata | signature
 * status is an enum mg_fido2_status; for any status but MG_FIDO2_OK both lengths and both
 * indexes are 0. Nothing may follow. MG_FIDO2_ANSWER_MAX bounds the whole record.
 */
#ifndef MG_PAM_FIDO2_CHILD_H
#define MG_PAM_FIDO2_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "fido2_auth.h"

#define MG_FIDO2_ANSWER_VERSION 1
#define MG_FIDO2_ANSWER_HEAD    13
#define MG_FIDO2_ANSWER_MAX     (MG_FIDO2_ANSWER_HEAD + MG_FIDO2_MAX_AUTHDATA + MG_FIDO2_MAX_SIG)

/*
 * mg_fido2_get_assertion() in an unprivileged child when running as root (in this process
 * otherwise). Same results; a child that dies, answers late or answers anything malformed
 * gives MG_FIDO2_ERROR (fail closed). out->uv_expected comes from this process's view of the
 * key that answered, never from the child. -ENOENT when there is no user "nobody".
 */
int mg_fido2_get_assertion_isolated(struct mg_fido2_devs *d, const struct mg_fido2_request *req,
                                    enum mg_fido2_status *status, struct mg_fido2_assertion *out);

/* The child's record into buf (at least MG_FIDO2_ANSWER_MAX bytes). Its length. */
size_t mg_fido2_answer_format(enum mg_fido2_status st, size_t key,
                              const struct mg_fido2_assertion *a, unsigned char *buf);

/*
 * Pure parser of a child's record, for nkeys keys and nallow allowed credentials. 0 with
 * *st, *key and (for MG_FIDO2_OK) *out filled; -EBADMSG for anything malformed (then nothing
 * is written).
 */
int mg_fido2_answer_parse(const unsigned char *buf, size_t len, size_t nkeys, size_t nallow,
                          enum mg_fido2_status *st, size_t *key, struct mg_fido2_assertion *out);

/*
 * What the child does first: no supplementary groups, real/effective/saved gid and uid set
 * to gid/uid, PR_SET_NO_NEW_PRIVS, not dumpable; then checks that root cannot be regained.
 * 0 or negative errno (the child then exits without touching a key).
 */
int mg_fido2_child_drop(uid_t uid, gid_t gid);

#endif

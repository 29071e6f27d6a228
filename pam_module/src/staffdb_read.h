/*
 * Central staff credentials on a terminal (issue 15): the agent's staff.db (mg/staff_db.h),
 * opened with the rules of local credential files (every parent root or the trusted owner,
 * the file owned by it, regular, not group/world writable, no symlink, opened relative to
 * the checked directory), searched by name with bounded pread()s (mg_staff_db_find_read:
 * binary search reading only the index entries and names it visits, then the one record; no
 * scan, no mapping and no copy of the file per login).
 */
#ifndef MG_PAM_STAFFDB_READ_H
#define MG_PAM_STAFFDB_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "credfile.h"
#include "mg/staff_db.h"
#include "pam_conf.h"

enum mg_central_state {
	MG_CENTRAL_OFF,         /* credentials = local: staff.db is not read */
	MG_CENTRAL_NONE,        /* no staff.db (terminal without central staff) or user not in it */
	MG_CENTRAL_ACTIVE,      /* an active staff member */
	MG_CENTRAL_DISABLED,    /* disabled centrally: refused on every factor */
	MG_CENTRAL_EXPIRED,     /* staff.db older than its bundle's validity: ignored */
	MG_CENTRAL_UNAVAILABLE, /* staff.db unreadable, unsafe or damaged: ignored */
};

struct mg_central {
	enum mg_central_state state;
	int64_t unlocked_us;             /* latest central unlock (µs), 0: none */
	struct mg_fido2_credfile *creds; /* ACTIVE: credentials for conf->rp_id (may be empty) */
};

/*
 * Looks user up in conf->staff_db at time now_us (µs). Always fills *out (the state says
 * what can be used); creds only when want_creds. why (optional) names a refused or damaged
 * file. Returns 0, or -ENOMEM.
 */
int mg_central_lookup(const struct mg_pam_conf *conf, const char *user, int64_t now_us,
                      bool want_creds, struct mg_central *out, char *why, size_t whylen);
void mg_central_free(struct mg_central *c);

/* The event's "central" value: "expired", "unavailable", or NULL. */
const char *mg_central_note(const struct mg_central *c);

/*
 * Pure: a staff.db record {"credentials":[{"aaguid","cose_alg","id","label","public_key",
 * "rp_id","uv"}]} (at most MG_FIDO2_MAX_CREDS credentials, strict keys and types) into a new
 * credential list of user holding the credentials whose rp_id equals rp_id. 0, -EINVAL (err
 * filled), -ENOMEM. *out only on success.
 */
int mg_central_record_parse(const char *buf, size_t len, const char *user, const char *rp_id,
                            struct mg_fido2_credfile **out, char *err, size_t errlen);

/*
 * An open staff.db, read with bounded pread()s (never mapped: a mapping made the kernel map
 * a whole page-cache folio at the first touch, more than issue 15's RSS budget).
 */
struct mg_staffdb_file {
	int fd;
	size_t len;
};
/*
 * Opens path safely (the rules above) and checks its magic. 0, -ENOENT (no file),
 * -EPERM/-ELOOP/-EINVAL (fails the checks), -EBADMSG (damaged), -EFBIG, other negative errno.
 * why (optional) says why.
 */
int mg_staffdb_file_open(const char *path, uid_t owner, struct mg_staffdb_file *f, char *why,
                         size_t whylen);
void mg_staffdb_file_close(struct mg_staffdb_file *f);
/* mg_staff_db_find_read on the open file: the header, the index entries and names the binary
 * search visits, the one record into rec (reclen >= MG_STAFF_DB_MAX_RECORD). */
int mg_staffdb_file_find(const struct mg_staffdb_file *f, const char *user,
                         struct mg_staff_db_info *info, struct mg_staff_entry *out, char *rec,
                         size_t reclen);

#endif

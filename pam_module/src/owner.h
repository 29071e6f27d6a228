/*
 * The trusted owner of pam.conf, credentials and state: the owner of the file holding the
 * running mynaguard code (pam_mynaguard.so, mynaguard-enroll, mynaguard-auth-helper). Installed
 * from a package that is root. Whoever owns that code already decides every login, so
 * trusting the files they own adds nothing an attacker can use; it lets an unprivileged
 * build run its own tests. See docs/PAM.md.
 */
#ifndef MG_PAM_OWNER_H
#define MG_PAM_OWNER_H

#include <sys/types.h>

/* Owner of the file that contains this function's code: the shared object (dladdr1 link map)
 * or, in an executable, /proc/self/exe (never argv[0]). 0 or negative errno. */
int mg_pam_owner_of_code(uid_t *out);
/* Owner of path (stat, following no symlink at the end). 0 or negative errno. */
int mg_pam_owner_of(const char *path, uid_t *out);

#endif

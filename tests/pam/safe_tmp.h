/*
 * Private temporary directories for state_dir and credential_dir in tests. The module checks
 * those directories from / down (pam_module/src/safe_dir.h): every parent owned by root or
 * the trusted owner and not group/world writable, so nothing under /tmp (sticky, world
 * writable) passes. The base is $MG_PAM_TEST_DIR when set, else /run for root, else $HOME.
 */
#ifndef MG_TEST_SAFE_TMP_H
#define MG_TEST_SAFE_TMP_H

#include <stddef.h>

/* mkdtemp of <base>/<prefix>XXXXXX (mode 0755) into buf. 0, or -1 with a message on stderr. */
int t_safe_mkdtemp(char *buf, size_t len, const char *prefix);

#endif

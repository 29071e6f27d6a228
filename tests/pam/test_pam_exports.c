/* pam_mynaguard.so loads with RTLD_NOW (no unresolved symbol) and exports pam_sm_* only. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void exports_only_pam_sm(void **state)
{
	(void)state;
	const char *path = getenv("MG_PAM_MODULE");
	assert_non_null(path);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fail_msg("dlopen: %s", dlerror());
	assert_non_null(dlsym(h, "pam_sm_authenticate"));
	assert_non_null(dlsym(h, "pam_sm_setcred"));
	assert_non_null(dlsym(h, "pam_sm_acct_mgmt"));
	/* Internal functions of the core and of mg_common stay hidden. */
	static const char *const hidden[] = {
	    "mg_authflow_run", "mg_pam_conf_load", "mg_totp_verify", "mg_fido2_verify",
	    "mg_safe_open",    "mg_event_to_json", "mg_auth_totp",   "mg_b64_decode"};
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (dlsym(h, hidden[i]))
			fail_msg("%s is exported", hidden[i]);
	dlclose(h);
}

static void nm_lists_only_pam_sm(void **state)
{
	(void)state;
	char cmd[4200], line[512];
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", getenv("MG_PAM_MODULE"));
	FILE *p = popen(cmd, "r");
	if (!p)
		skip();
	int n = 0;
	while (fgets(line, sizeof(line), p)) {
		char *sym = strrchr(line, ' ');
		if (!sym)
			continue;
		sym++;
		sym[strcspn(sym, "\n")] = '\0';
		if (strncmp(sym, "pam_sm_", 7) != 0)
			fail_msg("unexpected exported symbol %s", sym);
		n++;
	}
	int st = pclose(p);
	if (st != 0 && n == 0)
		skip(); /* no nm (binutils) */
	assert_int_equal(n, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exports_only_pam_sm),
	    cmocka_unit_test(nm_lists_only_pam_sm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

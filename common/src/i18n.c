/* Message language selection. */
#include "mg/i18n.h"

#include <stdlib.h>
#include <string.h>

static int g_english = -1; /* -1: not decided yet */

static bool decide(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return strncmp(v, "en", 2) == 0;
	}
	return false;
}

bool mg_i18n_english(void)
{
	if (g_english < 0)
		g_english = decide() ? 1 : 0;
	return g_english == 1;
}

void mg_i18n_force(bool english)
{
	g_english = english ? 1 : 0;
}

void mg_i18n_reset(void)
{
	g_english = -1;
}

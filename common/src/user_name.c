/* Login names (mg/user_name.h). */
#include "mg/user_name.h"

#include <string.h>

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '@' || c == '.' || c == '-' || c == '_';
}

bool mg_user_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > MG_USER_NAME_MAX || name[0] == '-' || name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (name_char(name[i]))
			continue;
		if (name[i] == '$' && i == len - 1 && i > 0)
			continue;
		return false;
	}
	return true;
}

bool mg_user_name_valid_str(const char *name)
{
	return name && mg_user_name_valid(name, strnlen(name, MG_USER_NAME_MAX + 1));
}

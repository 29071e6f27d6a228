/*
 * libFuzzer target: the admin API's account, session and token body parsers
 * (server/admin/api_admin_body.c). The first byte picks the parser (login, password, new admin,
 * admin update, token), the rest is the body. What a parser accepts must respect the limits of
 * api_admin_body.h, and every error message must be terminated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_admin_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed string: terminated within its buffer, non-empty. */
static void check_str(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == 0 || n >= size)
		abort();
}

static void check_role(enum mg_admin_role role)
{
	if (!mg_admin_role_name(role))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const char *body = (const char *)data + 1;
	if (size < 1)
		return 0;
	size--;
	memset(err, 'x', sizeof(err));
	err[0] = '\0';
	switch (data[0] % 5) {
	case 0: {
		struct mg_admin_login_req r;
		if (mg_admin_parse_login(body, size, &r, err, sizeof(err)) == 0) {
			check_str(r.name, sizeof(r.name));
			check_str(r.password, sizeof(r.password));
		}
		break;
	}
	case 1: {
		struct mg_admin_password_req r;
		if (mg_admin_parse_password(body, size, &r, err, sizeof(err)) == 0) {
			check_str(r.old_password, sizeof(r.old_password));
			check_str(r.new_password, sizeof(r.new_password));
		}
		break;
	}
	case 2: {
		struct mg_admin_new_req r;
		if (mg_admin_parse_admin_new(body, size, &r, err, sizeof(err)) == 0) {
			if (!mg_admin_name_ok(r.name))
				abort();
			check_str(r.password, sizeof(r.password));
			check_role(r.role);
		}
		break;
	}
	case 3: {
		struct mg_admin_update_req r;
		if (mg_admin_parse_admin_update(body, size, &r, err, sizeof(err)) == 0) {
			if (!r.has_role && !r.has_disabled && !r.has_password)
				abort();
			if (r.has_role)
				check_role(r.role);
			if (r.has_password)
				check_str(r.password, sizeof(r.password));
		}
		break;
	}
	default: {
		struct mg_admin_token_req r;
		if (mg_admin_parse_token(body, size, &r, err, sizeof(err)) == 0 &&
		    (r.expires_in_s < MG_ADMIN_TOKEN_EXPIRES_MIN ||
		     r.expires_in_s > MG_ADMIN_TOKEN_EXPIRES_MAX || r.uses < 1 ||
		     r.uses > MG_ADMIN_TOKEN_USES_MAX))
			abort();
		break;
	}
	}
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	return 0;
}

/*
 * Login names as PAM, useradd and SSSD see them (issue 15): the one rule every component
 * applies to a user name it stores, sends or looks up (PAM module, collector staff registry,
 * policy bundles, events).
 */
#ifndef MG_USER_NAME_H
#define MG_USER_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define MG_USER_NAME_MAX 255 /* bytes */

/*
 * True when name[0..len) is 1..255 bytes of printable ASCII letters, digits and '@', '.',
 * '-', '_' (and a trailing '$', as useradd allows for machine accounts), and does not start
 * with '-' or '.': "tanaka", "Tanaka", "suzuki@city.local", "j.smith", "svc_scan$". No '/',
 * no white space, no control characters, no other bytes (UTF-8 names are refused).
 */
bool mg_user_name_valid(const char *name, size_t len);
/* The same for a NUL-terminated string (NULL: false). */
bool mg_user_name_valid_str(const char *name);

#endif

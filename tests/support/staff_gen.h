/*
 * A synthetic staff set for the staff.db benchmark and the PAM RSS test (issue 15): the
 * bundle's "staff" member with staff members holding creds credentials in all, spread evenly,
 * random 64-byte ids and keys, directory-style mixed-case names (the sort is by bytes).
 */
#ifndef MG_TEST_STAFF_GEN_H
#define MG_TEST_STAFF_GEN_H

#include <stddef.h>

#include <jansson.h>

/* The name of staff member i: "Staff00000", "staff00001@city.local", "s.00002-kanri", ... */
void mg_test_staff_name(char *buf, size_t len, unsigned i);

/* The "staff" object (NULL on ENOMEM or no randomness). */
json_t *mg_test_staff_json(unsigned staff, unsigned creds);

#endif

# Policy signing, bundles and publishing (test_policy: mg_collector_policy, server/policy/)
# and admin authentication (test_admin_auth: mg_collector_admin, server/admin/), on throwaway
# SQLite stores. test_policy cross-checks signatures with the openssl command line.
mg_add_test(test_policy SOURCES server/test_policy.c LIBS mg_collector_policy)
mg_add_test(test_admin_auth SOURCES server/test_admin_auth.c LIBS mg_collector_admin)

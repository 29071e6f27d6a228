# Policy signing, bundles and publishing (test_policy: mg_collector_policy, server/policy/)
# and admin authentication (test_admin_auth: mg_collector_admin, server/admin/), on throwaway
# SQLite stores. test_policy cross-checks signatures with the openssl command line.
mg_add_test(test_policy SOURCES server/test_policy.c LIBS mg_collector_policy)
mg_add_test(test_admin_auth SOURCES server/test_admin_auth.c LIBS mg_collector_admin)
# The CSV export's formula guard (issue 14, finding 7).
mg_add_test(test_csv_guard SOURCES server/test_csv_guard.c LIBS mg_collector_admin)
# The agent's Nettle Ed25519 check against the collector's OpenSSL one (issue 12).
if(TARGET mg_agent_policy)
  mg_add_test(test_policy_cross SOURCES server/test_policy_cross.c
    LIBS mg_agent_policy mg_policy_verify)
endif()

# The collector's terminal API over HTTPS (tests/server/test_api.c): spawns
# mynaguard-collector (init, serve) and talks to it with libcurl. test_api: SQLite;
# test_api_pg: PostgreSQL (needs tests-server.cmake, included before this file).
mg_require_pkg(LIBCURL libcurl libcurl4-openssl-dev)
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_require_pkg(LIBPQ libpq libpq-dev)

# The body parsers alone.
mg_add_test(test_api_body SOURCES server/test_api_body.c LIBS mg_collector_core)
mg_add_test(test_staff_body SOURCES server/test_staff_body.c LIBS mg_collector_core)

add_executable(test_api server/test_api.c server/api_harness.c)
target_link_libraries(test_api PRIVATE mg_collector_core PkgConfig::LIBCURL PkgConfig::LIBCRYPTO
  PkgConfig::CMOCKA)
mg_target_defaults(test_api)
add_dependencies(test_api mynaguard-collector)
add_test(NAME test_api COMMAND test_api)
set_tests_properties(test_api PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)

# The same on PostgreSQL, with the store tests' throwaway server (fixture store_pg).
target_link_libraries(test_api PRIVATE PkgConfig::LIBPQ)
add_test(NAME test_api_pg COMMAND test_api)
set_tests_properties(test_api_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# Issue 14, finding 7 over HTTPS (tests/server/test_api_limits.c): heartbeat policy_version
# above every published one (409), pending device requests per terminal (429), "%00" in a
# query (400), tamper rows' host_id.
add_executable(test_api_limits server/test_api_limits.c server/api_harness.c)
target_link_libraries(test_api_limits PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_api_limits)
add_dependencies(test_api_limits mynaguard-collector)
add_test(NAME test_api_limits COMMAND test_api_limits)
set_tests_properties(test_api_limits PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_api_limits_pg COMMAND test_api_limits)
set_tests_properties(test_api_limits_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# Slow and unauthenticated clients (tests/server/test_api_slow.c, issue 14: 1, 2 and the log
# bullet of 7): bounded-time attacks over loopback (127.0.0.x as distinct sources) while an
# enrolled terminal uploads and polls; deadlines, the body budget's bounded wait, the overload
# limit before the body, the attack log and its rate limit. SQLite only (the HTTP layer).
mg_require_pkg(LIBSSL libssl libssl-dev)
add_executable(test_api_slow server/test_api_slow.c server/api_harness.c)
target_link_libraries(test_api_slow PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBSSL PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA Threads::Threads)
mg_target_defaults(test_api_slow)
add_dependencies(test_api_slow mynaguard-collector)
add_test(NAME api_slow COMMAND test_api_slow)
set_tests_properties(api_slow PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 180)

# Issue 14, finding 3 (tests/server/test_admin_lockout.c): a login flood from one address
# against the real administrators' logins from another (bounded-time load test on loopback),
# lockout, unknown names answered alike, unlock by API and CLI. The login guard alone:
# test_login_guard.
add_executable(test_admin_lockout server/test_admin_lockout.c server/api_harness.c)
target_link_libraries(test_admin_lockout PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA Threads::Threads)
mg_target_defaults(test_admin_lockout)
add_dependencies(test_admin_lockout mynaguard-collector)
add_test(NAME test_admin_lockout COMMAND test_admin_lockout)
set_tests_properties(test_admin_lockout PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_admin_lockout_pg COMMAND test_admin_lockout)
set_tests_properties(test_admin_lockout_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)
mg_add_test(test_login_guard SOURCES server/test_login_guard.c
  LIBS mg_collector_core Threads::Threads)

# The shared rule service (server/policy/rule_ops.c) on throwaway SQLite stores, with the
# agents' rules engine (mg_rules) to match the rules it generates.
mg_add_test(test_rule_ops SOURCES server/test_rule_ops.c LIBS mg_collector_core mg_rules)
mg_add_test(test_api_admin_body_rules SOURCES server/test_api_admin_body_rules.c
  LIBS mg_collector_core)

# The admin API core over HTTPS (tests/server/test_api_admin.c): sessions, roles, accounts,
# enrolment tokens, hosts, device ledger, alerts, audit log. test_api_admin: SQLite;
# test_api_admin_pg: PostgreSQL (fixture store_pg). Its body parsers alone: test_api_admin_body.
mg_add_test(test_api_admin_body SOURCES server/test_api_admin_body.c LIBS mg_collector_core)

add_executable(test_api_admin server/test_api_admin.c server/api_harness.c
  server/store_testgen.c)
target_link_libraries(test_api_admin PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_api_admin)
add_dependencies(test_api_admin mynaguard-collector)
add_test(NAME test_api_admin COMMAND test_api_admin)
set_tests_properties(test_api_admin PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_api_admin_pg COMMAND test_api_admin)
set_tests_properties(test_api_admin_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# The admin API's rules, policy, requests and events over HTTPS (tests/server/
# test_api_admin_rules.c), on SQLite and on PostgreSQL (fixture store_pg).
add_executable(test_api_admin_rules server/test_api_admin_rules.c server/api_harness.c)
target_link_libraries(test_api_admin_rules PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_api_admin_rules)
add_dependencies(test_api_admin_rules mynaguard-collector)
add_test(NAME test_api_admin_rules COMMAND test_api_admin_rules)
set_tests_properties(test_api_admin_rules PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_api_admin_rules_pg COMMAND test_api_admin_rules)
set_tests_properties(test_api_admin_rules_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# ---- Policies and device requests over HTTPS (tests/server/test_api_policy.c), and kill -9
# of the collector around the commit of an event batch. test_api_policy: SQLite;
# test_api_policy_pg: PostgreSQL (fixture store_pg). mynaguard-collector-faults is the
# collector built from the same sources with the fault points of server/collector_faults.c
# (-Wl,--wrap; MG_FAULT_POINT arms them); it is built for the tests only, never installed.
get_target_property(mg_collector_srcs mynaguard-collector SOURCES)
get_target_property(mg_collector_dir mynaguard-collector SOURCE_DIR)
get_target_property(mg_collector_libs mynaguard-collector LINK_LIBRARIES)
set(mg_faults_srcs "")
foreach(src IN LISTS mg_collector_srcs)
  if(IS_ABSOLUTE "${src}")
    list(APPEND mg_faults_srcs "${src}")
  else()
    list(APPEND mg_faults_srcs "${mg_collector_dir}/${src}")
  endif()
endforeach()
add_executable(mynaguard-collector-faults ${mg_faults_srcs} server/collector_faults.c)
target_link_libraries(mynaguard-collector-faults PRIVATE ${mg_collector_libs}
  PkgConfig::SQLITE3 PkgConfig::LIBPQ)
target_link_options(mynaguard-collector-faults PRIVATE
  "LINKER:--wrap=mg_store_ingest,--wrap=sqlite3_step,--wrap=PQexec")
mg_target_defaults(mynaguard-collector-faults)

# When the collector publishes on its own (server/policy/policy_refresh.c), on SQLite stores.
mg_add_test(test_policy_refresh SOURCES server/test_policy_refresh.c LIBS mg_collector_core)

add_executable(test_api_policy server/test_api_policy.c server/api_harness.c)
target_link_libraries(test_api_policy PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_api_policy)
add_dependencies(test_api_policy mynaguard-collector mynaguard-collector-faults)
set(mg_api_policy_env "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_COLLECTOR_FAULTS=$<TARGET_FILE:mynaguard-collector-faults>")
add_test(NAME test_api_policy COMMAND test_api_policy)
set_tests_properties(test_api_policy PROPERTIES ENVIRONMENT "${mg_api_policy_env}" TIMEOUT 300)
add_test(NAME test_api_policy_pg COMMAND test_api_policy)
set_tests_properties(test_api_policy_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "${mg_api_policy_env};MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# mynaguard-collector's command line (tests/server/test_collector_cli.c): events, hosts, rules,
# serve limits and collector.conf, on SQLite and on PostgreSQL (fixture store_pg).
add_executable(test_collector_cli server/test_collector_cli.c server/api_harness.c)
target_link_libraries(test_collector_cli PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_collector_cli)
add_dependencies(test_collector_cli mynaguard-collector)
add_test(NAME test_collector_cli COMMAND test_collector_cli)
set_tests_properties(test_collector_cli PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  TIMEOUT 300)
add_test(NAME test_collector_cli_pg COMMAND test_collector_cli)
set_tests_properties(test_collector_cli_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_SOURCE_DIR=${PROJECT_SOURCE_DIR};MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# Issue 12 end to end (tests/server/test_pipeline_storm.c): 200 simulated terminals reconnect at
# once after a collector outage; the collector paces them (503 + Retry-After) and every event
# is stored exactly once. pipeline_storm: SQLite; pipeline_storm_pg: PostgreSQL (store_pg).
add_executable(test_pipeline_storm server/test_pipeline_storm.c server/api_harness.c)
target_link_libraries(test_pipeline_storm PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_pipeline_storm)
add_dependencies(test_pipeline_storm mynaguard-collector)
add_test(NAME pipeline_storm COMMAND test_pipeline_storm)
set_tests_properties(pipeline_storm PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 180)
add_test(NAME pipeline_storm_pg COMMAND test_pipeline_storm)
set_tests_properties(pipeline_storm_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 180)

# Issue 14, finding 5 (tests/server/test_host_claims.c): events naming another terminal are
# stored as sent, alerted once, and every output names the sender. SQLite and PostgreSQL.
add_executable(test_host_claims server/test_host_claims.c server/api_harness.c)
target_link_libraries(test_host_claims PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_host_claims)
add_dependencies(test_host_claims mynaguard-collector)
add_test(NAME test_host_claims COMMAND test_host_claims)
set_tests_properties(test_host_claims PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_host_claims_pg COMMAND test_host_claims)
set_tests_properties(test_host_claims_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# The staff registry over HTTPS (issue 15, tests/server/test_staff_api.c): registrations with a
# real attestation, roles, approve / revoke / disable / unlock in terminal B's next bundle.
add_executable(test_staff_api server/test_staff_api.c server/api_harness.c)
target_link_libraries(test_staff_api PRIVATE mg_collector_core PkgConfig::LIBCURL
  PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
mg_target_defaults(test_staff_api)
add_dependencies(test_staff_api mynaguard-collector)
add_test(NAME test_staff_api COMMAND test_staff_api)
set_tests_properties(test_staff_api PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
  TIMEOUT 300)
add_test(NAME test_staff_api_pg COMMAND test_staff_api)
set_tests_properties(test_staff_api_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

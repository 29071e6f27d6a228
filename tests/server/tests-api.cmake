# The collector's terminal API over HTTPS (tests/server/test_api.c): spawns
# mynaguard-collector (init, serve) and talks to it with libcurl. test_api: SQLite;
# test_api_pg: PostgreSQL (needs tests-server.cmake, included before this file).
mg_require_pkg(LIBCURL libcurl libcurl4-openssl-dev)
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_require_pkg(LIBPQ libpq libpq-dev)

# The body parsers alone.
mg_add_test(test_api_body SOURCES server/test_api_body.c LIBS mg_collector_core)

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

# mynaguard-uplink (agent/uplink/, mg_uplink) against a real mynaguard-collector on SQLite over
# loopback (tests/agent/test_uplink.c on the harness of tests/server/api_harness.c): enrolment,
# every request type, errors in words, files in its directory, exit statuses.
if(TARGET mynaguard-uplink)
  mg_require_pkg(LIBCURL libcurl libcurl4-openssl-dev)
  mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
  mg_require_pkg(LIBPQ libpq libpq-dev)
  add_executable(test_uplink agent/test_uplink.c server/api_harness.c)
  target_include_directories(test_uplink PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_uplink PRIVATE mg_uplink mg_collector_core PkgConfig::LIBCURL
    PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
  mg_target_defaults(test_uplink)
  add_dependencies(test_uplink mynaguard-collector mynaguard-uplink)
  add_test(NAME test_uplink COMMAND test_uplink)
  set_tests_properties(test_uplink PROPERTIES
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>;MG_UPLINK=$<TARGET_FILE:mynaguard-uplink>"
    TIMEOUT 300)
endif()

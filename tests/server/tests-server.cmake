# The collector's store (server/store/store.h), run twice: on SQLite and on a throwaway
# PostgreSQL that the fixture starts on 127.0.0.1 (tests/server/pg-test-server.sh).
# Without PostgreSQL binaries the PostgreSQL run fails under CI and is skipped elsewhere.
mg_require_pkg(LIBPQ libpq libpq-dev)
mg_require_pkg(SQLITE3 sqlite3 libsqlite3-dev)
find_package(Threads REQUIRED)

add_executable(test_store server/test_store.c server/store_testgen.c)
target_link_libraries(test_store PRIVATE mg_collector_store PkgConfig::CMOCKA PkgConfig::LIBPQ
  PkgConfig::SQLITE3 Threads::Threads)
mg_target_defaults(test_store)

set(mg_store_sqlite_dir ${CMAKE_CURRENT_BINARY_DIR}/store-sqlite)
set(mg_store_pg_state ${CMAKE_CURRENT_BINARY_DIR}/store-pg.state)

add_test(NAME test_store_sqlite COMMAND test_store)
set_tests_properties(test_store_sqlite PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_TEST_STORE_URL=sqlite:${mg_store_sqlite_dir}"
  TIMEOUT 300)

add_test(NAME store_pg_server_start
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/server/pg-test-server.sh start ${mg_store_pg_state})
set_tests_properties(store_pg_server_start PROPERTIES FIXTURES_SETUP store_pg TIMEOUT 120)
add_test(NAME store_pg_server_stop
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/server/pg-test-server.sh stop ${mg_store_pg_state})
set_tests_properties(store_pg_server_stop PROPERTIES FIXTURES_CLEANUP store_pg TIMEOUT 120)

add_test(NAME test_store_pg COMMAND test_store)
set_tests_properties(test_store_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# The staff registry (issue 15): store and bundle "staff" member, on SQLite and PostgreSQL.
add_executable(test_staff_store server/test_staff_store.c)
target_link_libraries(test_staff_store PRIVATE mg_collector_policy mg_collector_store
  PkgConfig::CMOCKA PkgConfig::LIBPQ)
mg_target_defaults(test_staff_store)
add_test(NAME test_staff_store COMMAND test_staff_store)
set_tests_properties(test_staff_store PROPERTIES
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout" TIMEOUT 300)
add_test(NAME test_staff_store_pg COMMAND test_staff_store)
set_tests_properties(test_staff_store_pg PROPERTIES
  FIXTURES_REQUIRED store_pg
  ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

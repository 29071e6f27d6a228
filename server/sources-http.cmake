# mg_collector_core: the collector's HTTPS server (libmicrohttpd + GnuTLS), its CA (OpenSSL
# libcrypto), the terminal API and the request-body parsers. mynaguard-collector: the CLI
# (init, serve, token create). Tests: tests/server/tests-api.cmake; fuzz: fuzz/fuzz_api_body.c.
mg_require_pkg(MICROHTTPD libmicrohttpd libmicrohttpd-dev)
mg_require_pkg(GNUTLS gnutls libgnutls28-dev)
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)

add_library(mg_collector_core STATIC
  src/api.c
  src/api_body.c
  src/json_arena.c
  src/json_body.c
  src/api_enroll.c
  src/api_events.c
  src/api_admin.c
  src/api_admin_accounts.c
  src/api_admin_body.c
  src/api_admin_body_rules.c
  src/api_admin_events.c
  src/api_admin_hosts.c
  src/api_admin_rules.c
  src/api_heartbeat.c
  src/api_policy.c
  src/api_requests.c
  src/policy_refresh.c
  src/ca.c
  src/enroll_token.c
  src/rule_ops.c
  src/http.c
  src/workq.c)
target_include_directories(mg_collector_core PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(mg_collector_core
  PUBLIC mg_collector_policy mg_collector_store mg_policy_verify mg_rules mg_common
         PkgConfig::LIBCRYPTO
  PRIVATE PkgConfig::MICROHTTPD PkgConfig::GNUTLS Threads::Threads)
mg_target_defaults(mg_collector_core)

# The CLI: collector_main.c (serve, the command table) and one file per subcommand.
add_executable(mynaguard-collector
  src/collector_main.c
  src/collector_cli_admin.c
  src/collector_cli_events.c
  src/collector_cli_hosts.c
  src/collector_cli_init.c
  src/collector_cli_rules.c
  src/collector_cli_token.c
  src/collector_conf.c
  src/collector_opts.c
  src/collector_table.c)
target_link_libraries(mynaguard-collector PRIVATE mg_collector_core)
mg_target_defaults(mynaguard-collector)
install(TARGETS mynaguard-collector RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

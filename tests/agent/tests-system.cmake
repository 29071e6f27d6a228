# System tests: the real mynaguard-agent and mynaguardctl against a umockdev testbed.
# The test binary runs under umockdev's preload (umockdev-wrapper); the agent it spawns
# inherits the preload and UMOCKDEV_DIR. Under ASan the preload comes before the ASan
# runtime (verify_asan_link_order=0); GLib's and umockdev's one-time allocations in the
# harness are not ours to report (detect_leaks=0 for it; the agent gets leak checking).
mg_find_program(UMOCKDEV_WRAPPER umockdev-wrapper umockdev)
if(UMOCKDEV_WRAPPER)
  add_executable(test_agent_umockdev agent/test_agent_umockdev.c)
  target_link_libraries(test_agent_umockdev PRIVATE mg_test_support mg_agent_core
                        PkgConfig::CMOCKA)
  mg_target_defaults(test_agent_umockdev)
  add_dependencies(test_agent_umockdev mynaguard-agent mynaguardctl)
  add_test(NAME agent_umockdev
           COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_agent_umockdev>)
  set_tests_properties(agent_umockdev PROPERTIES
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;MG_AGENT_BIN=$<TARGET_FILE:mynaguard-agent>;MG_CTL_BIN=$<TARGET_FILE:mynaguardctl>;ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"
    TIMEOUT 60)
endif()

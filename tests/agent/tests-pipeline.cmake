# The event pipeline on the terminal (issue 12): the agent's policy check against bundles the
# collector's code signs (test_central).
mg_add_test(test_central SOURCES agent/test_central.c
  LIBS mg_agent_core mg_policy_verify)

# End to end (test_pipeline): the collector (api_harness: SQLite, and PostgreSQL with the
# store tests' throwaway server), the agent on a umockdev testbed (system_harness), the uplink
# it starts, mynaguardctl. Under the umockdev preload like agent_umockdev.
if(UMOCKDEV_WRAPPER AND TARGET mynaguard-uplink)
  add_executable(test_pipeline agent/test_pipeline.c agent/pipeline_support.c
    agent/system_harness.c server/api_harness.c)
  target_include_directories(test_pipeline PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/agent
    ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_pipeline PRIVATE mg_test_support mg_agent_core mg_spool
    mg_collector_core PkgConfig::LIBCURL PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
  mg_target_defaults(test_pipeline)
  add_dependencies(test_pipeline mynaguard-agent mynaguardctl mynaguard-uplink mynaguard-collector
    mynaguard-collector-faults)
  set(mg_pipeline_env ${mg_system_env}
    "MG_UPLINK_BIN=$<TARGET_FILE:mynaguard-uplink>"
    "MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
    "MG_COLLECTOR_FAULTS=$<TARGET_FILE:mynaguard-collector-faults>")
  add_test(NAME pipeline COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_pipeline>)
  set_tests_properties(pipeline PROPERTIES ENVIRONMENT "${mg_pipeline_env}" TIMEOUT 300)
  add_test(NAME pipeline_pg COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_pipeline>)
  set_tests_properties(pipeline_pg PROPERTIES
    FIXTURES_REQUIRED store_pg
    ENVIRONMENT "${mg_pipeline_env};MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
  # Issue 15 on the terminal: staff.db from the kept bundle, staff-register through the uplink.
  add_executable(test_pipeline_staff agent/test_pipeline_staff.c agent/pipeline_support.c
    agent/system_harness.c server/api_harness.c)
  target_include_directories(test_pipeline_staff PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/agent
    ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_pipeline_staff PRIVATE mg_test_support mg_agent_core mg_spool
    mg_collector_core PkgConfig::LIBCURL PkgConfig::LIBCRYPTO PkgConfig::LIBPQ PkgConfig::CMOCKA)
  mg_target_defaults(test_pipeline_staff)
  add_dependencies(test_pipeline_staff mynaguard-agent mynaguardctl mynaguard-uplink
    mynaguard-collector)
  add_test(NAME pipeline_staff COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_pipeline_staff>)
  set_tests_properties(pipeline_staff PROPERTIES ENVIRONMENT "${mg_pipeline_env}" TIMEOUT 300)
endif()

# PAM events end to end (test_pipeline_pam): TOTP logins through pam_mynaguard.so under
# pam_wrapper (each in a child of the test, with MG_PAM_PRELOAD instead of the umockdev
# preload) reach the collector as auth.* events, through the agent's event socket and, while
# the agent is stopped, through the module's pending file. Skipped (77) when the test does not
# run as the owner of pam_mynaguard.so (the module would go through the setuid helper); as a
# user other than root (enrolment is root-only) it checks everything up to the agent's spool,
# then exits 77.
if(UMOCKDEV_WRAPPER AND TARGET mynaguard-uplink AND TARGET pam_mynaguard
   AND TARGET mg_pam_harness AND DEFINED MG_PAM_PRELOAD)
  add_executable(test_pipeline_pam agent/test_pipeline_pam.c agent/pipeline_support.c
    agent/system_harness.c server/api_harness.c)
  target_include_directories(test_pipeline_pam PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/agent
    ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_pipeline_pam PRIVATE mg_test_support mg_agent_core mg_spool
    mg_collector_core mg_pam_harness PkgConfig::LIBCURL PkgConfig::LIBCRYPTO PkgConfig::LIBPQ
    PkgConfig::CMOCKA)
  mg_target_defaults(test_pipeline_pam)
  add_dependencies(test_pipeline_pam mynaguard-agent mynaguardctl mynaguard-uplink
    mynaguard-collector pam_mynaguard)
  set(mg_pipeline_pam_env ${mg_system_env}
    "MG_UPLINK_BIN=$<TARGET_FILE:mynaguard-uplink>"
    "MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
    "MG_PAM_MODULE=$<TARGET_FILE:pam_mynaguard>"
    "MG_PAM_PRELOAD=${MG_PAM_PRELOAD}")
  add_test(NAME pipeline_pam COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_pipeline_pam>)
  set_tests_properties(pipeline_pam PROPERTIES ENVIRONMENT "${mg_pipeline_pam_env}"
    SKIP_RETURN_CODE 77 TIMEOUT 300 RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
  add_test(NAME pipeline_pam_pg COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_pipeline_pam>)
  set_tests_properties(pipeline_pam_pg PROPERTIES
    FIXTURES_REQUIRED store_pg
    ENVIRONMENT "${mg_pipeline_pam_env};MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
    SKIP_RETURN_CODE 77 TIMEOUT 300 RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
endif()

# Issue 15 end to end with two terminals (test_staff_e2e): one collector, two agents (each its
# own state_dir, uplink and enrolment), pam_mynaguard.so under pam_wrapper on each terminal's
# staff.db, keys of the software CTAP2 authenticator registered with mynaguard-enroll --central.
# Root only (enrolment, staff-register): skipped (77) otherwise.
if(UMOCKDEV_WRAPPER AND TARGET mynaguard-uplink AND TARGET pam_mynaguard
   AND TARGET mg_pam_harness AND DEFINED MG_PAM_PRELOAD AND TARGET mg_soft_fido2)
  add_executable(test_staff_e2e agent/test_staff_e2e.c agent/pipeline_support.c
    agent/system_harness.c server/api_harness.c)
  target_include_directories(test_staff_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/agent
    ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_staff_e2e PRIVATE mg_test_support mg_agent_core mg_spool
    mg_collector_core mg_pam_harness PkgConfig::LIBCURL PkgConfig::LIBCRYPTO PkgConfig::LIBPQ
    PkgConfig::CMOCKA)
  mg_target_defaults(test_staff_e2e)
  add_dependencies(test_staff_e2e mynaguard-agent mynaguardctl mynaguard-uplink
    mynaguard-collector pam_mynaguard mynaguard-enroll mg_soft_fido2 soft-fido2-ctl)
  set(mg_staff_e2e_env ${mg_system_env}
    "MG_UPLINK_BIN=$<TARGET_FILE:mynaguard-uplink>"
    "MG_COLLECTOR=$<TARGET_FILE:mynaguard-collector>"
    "MG_PAM_MODULE=$<TARGET_FILE:pam_mynaguard>"
    "MG_PAM_ENROLL=$<TARGET_FILE:mynaguard-enroll>"
    "MG_PAM_PRELOAD=${MG_PAM_PRELOAD}"
    "MG_SOFT_FIDO2_LIB=$<TARGET_FILE:mg_soft_fido2>"
    "MG_SOFT_FIDO2_CTL=$<TARGET_FILE:soft-fido2-ctl>")
  add_test(NAME staff_e2e COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_staff_e2e>)
  set_tests_properties(staff_e2e PROPERTIES ENVIRONMENT "${mg_staff_e2e_env}"
    SKIP_RETURN_CODE 77 TIMEOUT 600 RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
  add_test(NAME staff_e2e_pg COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_staff_e2e>)
  set_tests_properties(staff_e2e_pg PROPERTIES
    FIXTURES_REQUIRED store_pg
    ENVIRONMENT "${mg_staff_e2e_env};MG_TEST_STORE_URL_FILE=${mg_store_pg_state}"
    SKIP_RETURN_CODE 77 TIMEOUT 600 RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
endif()

# PAM module tests (included from tests/CMakeLists.txt when mg_pam_core exists).
# Whole-stack tests run the test binary under pam_wrapper + nss_wrapper (LD_PRELOAD), with
# libasan first when the sanitizers are on (../shared/TESTING.md section 2).
mg_require_pkg(PAMTEST libpamtest libpamtest0-dev)
mg_require_pkg(PAM pam libpam0g-dev)

find_library(MG_PAM_WRAPPER_LIB NAMES libpam_wrapper.so pam_wrapper)
find_library(MG_NSS_WRAPPER_LIB NAMES libnss_wrapper.so nss_wrapper)
if(NOT MG_PAM_WRAPPER_LIB OR NOT MG_NSS_WRAPPER_LIB)
  message(FATAL_ERROR "libpam_wrapper.so / libnss_wrapper.so not found: install the Debian "
                      "packages 'libpam-wrapper' and 'libnss-wrapper'")
endif()

set(MG_PAM_PRELOAD "${MG_PAM_WRAPPER_LIB}:${MG_NSS_WRAPPER_LIB}")
if(MYNAGUARD_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE MG_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(MG_PAM_PRELOAD "${MG_LIBASAN}:${MG_PAM_PRELOAD}")
endif()

# pam_wrapper (1.1.4 in Debian 12) gives every process it is preloaded into its own
# /tmp/pam.<letter> directory, picked with lstat() and then mkdir(): two tests that start
# processes at the same moment can pick the same letter, and the loser fails ("Failed to create
# pam_wrapper config dir: /tmp/pam.A - File exists"). Tests that preload it take this lock.
set(MG_PAM_WRAPPER_LOCK pam_wrapper_tmp_dir)

set(MG_PAM_TEST_ENV
    "LD_PRELOAD=${MG_PAM_PRELOAD}"
    "PAM_WRAPPER=1"
    "PAM_WRAPPER_DISABLE_DEEPBIND=1"
    "NSS_WRAPPER_DISABLE_DEEPBIND=1"
    "ASAN_OPTIONS=detect_leaks=0"
    "MG_PAM_MODULE=$<TARGET_FILE:pam_mynaguard>"
    "MG_PAM_ENROLL=$<TARGET_FILE:mynaguard-enroll>")

add_library(mg_pam_harness STATIC ${CMAKE_CURRENT_SOURCE_DIR}/pam/pam_harness.c
            ${CMAKE_CURRENT_SOURCE_DIR}/pam/safe_tmp.c)
target_include_directories(mg_pam_harness PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/pam)
target_link_libraries(mg_pam_harness PUBLIC mg_pam_core PkgConfig::PAMTEST PkgConfig::PAM
                      PkgConfig::CMOCKA)
mg_target_defaults(mg_pam_harness)

# Unit tests of the core (no PAM stack).
mg_add_test(test_pam_core SOURCES pam/test_pam_core.c LIBS mg_pam_core)
# State writes all or nothing under a tiny RLIMIT_FSIZE, in the module and through the setuid
# helper, which resets the limits it inherits (issue 13, finding 1; the helper part as root).
mg_add_test(test_pam_state SOURCES pam/test_pam_state.c pam/safe_tmp.c LIBS mg_pam_core
            ENV "MG_PAM_HELPER=$<TARGET_FILE:mynaguard-auth-helper-test>")
add_dependencies(test_pam_state mynaguard-auth-helper-test)
# The trusted owner comes from /proc/self/exe, not argv[0] (issue 13, finding 10).
mg_add_test(test_pam_owner SOURCES pam/test_pam_owner.c LIBS mg_pam_core)
# The versioned assertion line to the helper, with the "uv" fact (issue 13, uv = preferred).
mg_add_test(test_pam_proto SOURCES pam/test_pam_proto.c LIBS mg_pam_core)
# Issue 15: the central staff lookup at 5,000 staff / 10,000 credentials: < 1 ms, RSS growth
# and peak < 2 MiB (bounded reads of staff.db, no mapping).
# ASan's quarantine keeps freed blocks resident: off, so that the module's own memory is measured.
mg_add_test(test_pam_staffdb_rss SOURCES pam/test_pam_staffdb_rss.c pam/safe_tmp.c
            support/staff_gen.c
            LIBS mg_pam_core
            ENV "ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
target_include_directories(test_pam_staffdb_rss PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
# A sanitizer build never installs the helper setuid (issue 13, finding 2).
add_test(NAME test_pam_helper_install
         COMMAND ${CMAKE_COMMAND} -DINSTALL_SCRIPT=${PROJECT_BINARY_DIR}/pam_module/cmake_install.cmake
                 -DSANITIZE=${MYNAGUARD_SANITIZE}
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/pam/check_helper_install.cmake)

# The module exports pam_sm_* only.
mg_add_test(test_pam_exports SOURCES pam/test_pam_exports.c LIBS ${CMAKE_DL_LIBS}
            ENV "MG_PAM_MODULE=$<TARGET_FILE:pam_mynaguard>")

# Whole stack through libpam.
function(mg_add_pam_test name)
  mg_add_test(${name} SOURCES pam/${name}.c LIBS mg_pam_harness)
  add_dependencies(${name} pam_mynaguard mynaguard-enroll)
  set_tests_properties(${name} PROPERTIES ENVIRONMENT
    "CMOCKA_MESSAGE_OUTPUT=stdout;${MG_PAM_TEST_ENV}" RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
endfunction()
mg_add_pam_test(test_pam_totp)
# mynaguard-enroll totp: secrets off argv, directories, --replace, QR codes (decoded here).
mg_add_pam_test(test_pam_enroll)
target_link_libraries(test_pam_enroll PRIVATE PkgConfig::LIBQRENCODE PkgConfig::LIBPNG)
# Known and unknown user names alike: lockout without a prompt, timing (issue 13, finding 6).
mg_add_pam_test(test_pam_enum)

# Events to the agent's socket (a test listener thread) or the pending file.
find_package(Threads REQUIRED)
add_library(mg_pam_event_listener STATIC ${CMAKE_CURRENT_SOURCE_DIR}/pam/event_listener.c)
target_include_directories(mg_pam_event_listener PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/pam)
target_link_libraries(mg_pam_event_listener PUBLIC Threads::Threads)
mg_target_defaults(mg_pam_event_listener)
mg_add_test(test_pam_event_send SOURCES pam/test_pam_event_send.c pam/safe_tmp.c
            LIBS mg_pam_core mg_pam_event_listener)
mg_add_test(test_pam_events SOURCES pam/test_pam_events.c
            LIBS mg_pam_harness mg_pam_event_listener)
add_dependencies(test_pam_events pam_mynaguard mynaguard-enroll)
set_tests_properties(test_pam_events PROPERTIES ENVIRONMENT
  "CMOCKA_MESSAGE_OUTPUT=stdout;${MG_PAM_TEST_ENV}" RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})

# FIDO2 through the software authenticator of tests/support/fido2 (its LD_PRELOAD shim after
# pam_wrapper and nss_wrapper).
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/fido2/CMakeLists.txt)
  mg_add_test(test_pam_fido2 SOURCES pam/test_pam_fido2.c LIBS mg_pam_harness)
  add_dependencies(test_pam_fido2 pam_mynaguard mynaguard-enroll)
  set_tests_properties(test_pam_fido2 PROPERTIES ENVIRONMENT
    "CMOCKA_MESSAGE_OUTPUT=stdout;${MG_PAM_TEST_ENV};LD_PRELOAD=${MG_PAM_PRELOAD}:$<TARGET_FILE:mg_soft_fido2>;MG_SOFT_FIDO2_CTL=$<TARGET_FILE:soft-fido2-ctl>"
    RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
endif()

# Issue 15: directory-style user names (Tanaka, suzuki@city.local, 255 bytes) and central
# staff credentials (staff.db), FIDO2 through the software authenticator.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/fido2/CMakeLists.txt)
  foreach(t test_pam_users test_pam_central test_pam_enroll_central)
    set(extra_src "")
    if(t STREQUAL "test_pam_enroll_central") # the agent's parser checks what enroll sends
      set(extra_src ${PROJECT_SOURCE_DIR}/agent/daemon/ctl_proto.c)
    endif()
    mg_add_test(${t} SOURCES pam/${t}.c ${extra_src} LIBS mg_pam_harness)
    add_dependencies(${t} pam_mynaguard mynaguard-enroll)
    set_tests_properties(${t} PROPERTIES ENVIRONMENT
      "CMOCKA_MESSAGE_OUTPUT=stdout;${MG_PAM_TEST_ENV};LD_PRELOAD=${MG_PAM_PRELOAD}:$<TARGET_FILE:mg_soft_fido2>;MG_SOFT_FIDO2_CTL=$<TARGET_FILE:soft-fido2-ctl>"
      RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
  endforeach()
  target_include_directories(test_pam_enroll_central PRIVATE ${PROJECT_SOURCE_DIR}/agent/daemon)
endif()

# The screen-locker path: the module runs as an unprivileged user and goes through a setuid
# copy of the helper. The test build of the helper reads its configuration from pam.conf
# beside its own executable instead of /etc/mynaguard/pam.conf (the only difference,
# MG_PAM_HELPER_CONF_BESIDE_EXE): the copy and its pam.conf live in a private mkdtemp
# directory, never a fixed path in /tmp. Needs root to make the setuid copy; skipped otherwise.
add_executable(mynaguard-auth-helper-test ${PROJECT_SOURCE_DIR}/pam_module/src/auth_helper_main.c)
target_link_libraries(mynaguard-auth-helper-test PRIVATE mg_pam_core)
target_compile_definitions(mynaguard-auth-helper-test PRIVATE MG_PAM_HELPER_CONF_BESIDE_EXE)
mg_target_defaults(mynaguard-auth-helper-test)
mg_add_test(test_pam_helper SOURCES pam/test_pam_helper.c
            LIBS mg_pam_harness mg_pam_event_listener)
add_dependencies(test_pam_helper pam_mynaguard mynaguard-enroll mynaguard-auth-helper-test)
set(helper_env "CMOCKA_MESSAGE_OUTPUT=stdout;${MG_PAM_TEST_ENV};MG_PAM_HELPER=$<TARGET_FILE:mynaguard-auth-helper-test>")
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/fido2/CMakeLists.txt)
  string(APPEND helper_env ";LD_PRELOAD=${MG_PAM_PRELOAD}:$<TARGET_FILE:mg_soft_fido2>;MG_SOFT_FIDO2_CTL=$<TARGET_FILE:soft-fido2-ctl>")
endif()
set_tests_properties(test_pam_helper PROPERTIES ENVIRONMENT "${helper_env}" RUN_SERIAL TRUE
                     RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})
# Issue 13, finding 2: the setuid copy lives in a private mkdtemp directory that is gone after
# the run, also when the test process is killed (SIGKILL right after the copy is made).
add_test(NAME test_pam_helper_cleanup
         COMMAND ${CMAKE_COMMAND} -DTEST_BIN=$<TARGET_FILE:test_pam_helper>
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/pam/check_helper_leftover.cmake)
set_tests_properties(test_pam_helper_cleanup PROPERTIES ENVIRONMENT "${helper_env}"
                     RUN_SERIAL TRUE RESOURCE_LOCK ${MG_PAM_WRAPPER_LOCK})

# System tests: the real mynaguard-agent and mynaguardctl against a umockdev testbed
# (tests/support). ctest runs the harness under umockdev's preload (umockdev-wrapper); the
# programs it spawns inherit the preload and the testbed (UMOCKDEV_DIR).
# Sanitizers: the preload comes before the ASan runtime, so ASan must not insist on being
# first (verify_asan_link_order=0). GLib's and umockdev's one-time allocations in the harness
# are not ours, so the harness runs without leak checking; the agent and mynaguardctl keep
# it (MG_CHILD_ASAN_OPTIONS; exitcode 23 so a leak is not mistaken for an exit status 1).
mg_find_program(UMOCKDEV_WRAPPER umockdev-wrapper umockdev)
if(UMOCKDEV_WRAPPER)
  add_executable(test_agent_umockdev agent/test_agent_umockdev.c agent/system_harness.c)
  target_link_libraries(test_agent_umockdev PRIVATE mg_test_support mg_agent_core mg_spool
                        PkgConfig::CMOCKA)
  mg_target_defaults(test_agent_umockdev)
  add_dependencies(test_agent_umockdev mynaguard-agent mynaguardctl)
  add_test(NAME agent_umockdev
           COMMAND ${UMOCKDEV_WRAPPER} $<TARGET_FILE:test_agent_umockdev>)
  set(mg_system_env
    "CMOCKA_MESSAGE_OUTPUT=stdout"
    "MG_AGENT_BIN=$<TARGET_FILE:mynaguard-agent>"
    "MG_CTL_BIN=$<TARGET_FILE:mynaguardctl>")
  if(MYNAGUARD_SANITIZE)
    list(APPEND mg_system_env
      "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"
      "MG_CHILD_ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:exitcode=23")
  endif()
  set_tests_properties(agent_umockdev PROPERTIES ENVIRONMENT "${mg_system_env}" TIMEOUT 180)
endif()

# Real-kernel system test (docs/AGENT.md, "Tested on a real kernel"): Debian's kernel under QEMU (TCG) with xHCI, a
# keyboard, sticks, a hub and a HID + storage composite gadget, booted with and without
# usbcore.authorized_default=0. Skipped (77) when qemu-system-x86_64 is not installed; CI
# installs it (deploy/debian-build-deps.txt). The kernel package is fetched into the build
# directory once with apt-get download (or MG_QEMU_KERNEL_DEB names one).
add_test(NAME agent_qemu_usb
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/agent/qemu/test-qemu-usb.sh
          $<TARGET_FILE:mynaguard-agent> ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}/qemu-usb)
set_tests_properties(agent_qemu_usb PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

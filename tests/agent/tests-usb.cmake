# USB descriptor parser, USBGuard-compatible hashes (agent/usb/, mg_usb).
mg_add_test(test_usb_desc SOURCES agent/test_usb_desc.c LIBS mg_usb)
# The expected hashes are computed with OpenSSL: an implementation independent of the
# agent's (Nettle).
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_add_test(test_usb_hash SOURCES agent/test_usb_hash.c LIBS mg_usb PkgConfig::LIBCRYPTO)
# The uevent parser (agent/usb/uevent.c).
mg_add_test(test_uevent SOURCES agent/test_uevent.c LIBS mg_usb)

# Differential test against the installed usbguard-daemon under umockdev: the probe prints
# mynaguard's hash, parent-hash and with-interface per device; exit 77 (skip) without
# usbguard-daemon or umockdev-wrapper.
add_executable(usbguard_hash_probe agent/usbguard_hash_probe.c)
target_link_libraries(usbguard_hash_probe PRIVATE mg_usb)
mg_target_defaults(usbguard_hash_probe)
add_test(NAME test_usbguard_hash
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_usbguard_hash.sh
          $<TARGET_FILE:usbguard_hash_probe>)
set_tests_properties(test_usbguard_hash PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
# The list of USB devices present (agent/usb/usb_scan.c).
mg_add_test(test_usb_scan SOURCES agent/test_usb_scan.c LIBS mg_usb)

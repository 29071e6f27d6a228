# agent fuzz targets, each linked with the layer it exercises (agent/CMakeLists.txt).
# fuzz_usb_desc also checks the agent's hash (Nettle) against OpenSSL.
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_add_fuzzer(fuzz_usb_desc SOURCES fuzz_usb_desc.c LIBS mg_usb PkgConfig::LIBCRYPTO)
mg_add_fuzzer(fuzz_uevent SOURCES fuzz_uevent.c LIBS mg_usb)
mg_add_fuzzer(fuzz_rules SOURCES fuzz_rules.c LIBS mg_rules)
mg_add_fuzzer(fuzz_ctl_request SOURCES fuzz_ctl_request.c LIBS mg_agent_core)
mg_add_fuzzer(fuzz_spool_record SOURCES fuzz_spool_record.c LIBS mg_spool)
mg_add_fuzzer(fuzz_uplink_proto SOURCES fuzz_uplink_proto.c LIBS mg_uplink_proto)
# issue 12: the uplink's header reader, and the answers the root agent takes from the network
mg_add_fuzzer(fuzz_uplink_header SOURCES fuzz_uplink_header.c LIBS mg_uplink)
mg_add_fuzzer(fuzz_central_answer SOURCES fuzz_central_answer.c LIBS mg_agent_core)

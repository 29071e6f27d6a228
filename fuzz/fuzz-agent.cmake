# agent fuzz targets. fuzz_usb_desc also checks the agent's hash (Nettle) against OpenSSL.
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_add_fuzzer(fuzz_usb_desc SOURCES fuzz_usb_desc.c LIBS mg_agent_core PkgConfig::LIBCRYPTO)
mg_add_fuzzer(fuzz_rules SOURCES fuzz_rules.c LIBS mg_agent_core)

# agent fuzz targets
mg_add_fuzzer(fuzz_usb_desc SOURCES fuzz_usb_desc.c LIBS mg_agent_core)
mg_add_fuzzer(fuzz_rules SOURCES fuzz_rules.c LIBS mg_agent_core)

# The rule engine (agent/rules/, mg_rules).
mg_add_test(test_rules_parse SOURCES agent/test_rules_parse.c LIBS mg_rules)
mg_add_test(test_rules_match SOURCES agent/test_rules_match.c LIBS mg_rules)
mg_add_test(test_rules_load SOURCES agent/test_rules_load.c LIBS mg_rules)
mg_add_test(test_rules_index SOURCES agent/test_rules_index.c LIBS mg_rules)
# Heap per rule at 10,000 rules (issue 12; skipped under ASan) and the packed rule layout.
mg_add_test(test_rules_memory SOURCES agent/test_rules_memory.c LIBS mg_rules)
# The shipped profiles (deploy/rules/) decide the catalog's devices as their comments say.
mg_add_test(test_rules_profiles SOURCES agent/test_rules_profiles.c
  LIBS mg_rules mg_usb mg_test_support)
target_compile_definitions(test_rules_profiles PRIVATE
  MG_PROFILE_DIR="${PROJECT_SOURCE_DIR}/deploy/rules")

# Differential test of the rule parser and printer against Debian's usbguard-rule-parser:
# every rule of tests/data/rules/usbguard-diff.rules is parsed by both; both must accept or
# both refuse it, and print the same canonical text (known differences are marked in the
# file). Exit 77 (skip) without usbguard-rule-parser.
add_executable(rules_print_probe agent/rules_print_probe.c)
target_link_libraries(rules_print_probe PRIVATE mg_rules)
mg_target_defaults(rules_print_probe)
add_test(NAME test_usbguard_rules
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/agent/test_usbguard_rules.sh
          $<TARGET_FILE:rules_print_probe> ${CMAKE_CURRENT_SOURCE_DIR}/data/rules/usbguard-diff.rules)
set_tests_properties(test_usbguard_rules PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

# The rule engine (agent/rules/, mg_rules).
mg_add_test(test_rules_parse SOURCES agent/test_rules_parse.c LIBS mg_rules)
mg_add_test(test_rules_match SOURCES agent/test_rules_match.c LIBS mg_rules)
mg_add_test(test_rules_load SOURCES agent/test_rules_load.c LIBS mg_rules)
mg_add_test(test_rules_index SOURCES agent/test_rules_index.c LIBS mg_rules)
# The shipped profiles (deploy/rules/) decide the catalog's devices as their comments say.
mg_add_test(test_rules_profiles SOURCES agent/test_rules_profiles.c
  LIBS mg_rules mg_usb mg_test_support)
target_compile_definitions(test_rules_profiles PRIVATE
  MG_PROFILE_DIR="${PROJECT_SOURCE_DIR}/deploy/rules")

# The rule engine (agent/rules/, mg_rules).
mg_add_test(test_rules_parse SOURCES agent/test_rules_parse.c LIBS mg_rules)
mg_add_test(test_rules_match SOURCES agent/test_rules_match.c LIBS mg_rules)
mg_add_test(test_rules_load SOURCES agent/test_rules_load.c LIBS mg_rules)
mg_add_test(test_rules_index SOURCES agent/test_rules_index.c LIBS mg_rules)

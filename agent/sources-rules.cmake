set(MG_AGENT_RULES_SOURCES
  src/rule_lex.c
  src/rule_names.c
  src/rule_parse.c
  src/rule_print.c
  src/rule_match.c
  src/rule_index.c
  src/ruleset.c)

# The daemon's parts (agent/daemon/, mg_agent_core).
mg_add_test(test_ctl_proto SOURCES agent/test_ctl_proto.c LIBS mg_agent_core)
mg_add_test(test_agent_conf SOURCES agent/test_agent_conf.c LIBS mg_agent_core)
mg_add_test(test_eventlog SOURCES agent/test_eventlog.c LIBS mg_agent_core)

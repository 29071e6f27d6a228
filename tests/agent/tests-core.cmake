# The daemon's parts (agent/daemon/, mg_agent_core).
mg_add_test(test_ctl_proto SOURCES agent/test_ctl_proto.c LIBS mg_agent_core)
mg_add_test(test_agent_conf SOURCES agent/test_agent_conf.c LIBS mg_agent_core)
mg_add_test(test_backoff SOURCES agent/test_backoff.c LIBS mg_agent_core)
mg_add_test(test_eventlog SOURCES agent/test_eventlog.c LIBS mg_agent_core mg_spool)
# The uplink supervisor: a request is answered exactly once, after send() accepted it.
if(TARGET mynaguard-uplink)
  mg_add_test(test_uplink_sup SOURCES agent/test_uplink_sup.c LIBS mg_agent_core
    ENV "MG_UPLINK_BIN=$<TARGET_FILE:mynaguard-uplink>")
  add_dependencies(test_uplink_sup mynaguard-uplink)
endif()

# The event spool (agent/spool/): records, chain, recovery, bound, segments and acks.
mg_require_pkg(NETTLE nettle nettle-dev)
mg_add_test(test_spool SOURCES agent/test_spool.c LIBS mg_spool PkgConfig::NETTLE)
# The frames between the agent and mynaguard-uplink (agent/uplink/uplink_proto.c).
mg_add_test(test_uplink_proto SOURCES agent/test_uplink_proto.c LIBS mg_uplink_proto)

/* Agent configuration: keys, defaults, interface-class patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_conf.h"
#include "rules.h"

static void test_patterns(void **state)
{
	(void)state;
	uint8_t v[3];
	bool w[3];
	assert_int_equal(mg_iface_pattern_parse("08:06:50", v, w), 0);
	assert_int_equal(v[0], 0x08);
	assert_int_equal(v[1], 0x06);
	assert_int_equal(v[2], 0x50);
	assert_false(w[0] || w[1] || w[2]);
	assert_int_equal(mg_iface_pattern_parse("e0:*:*", v, w), 0);
	assert_int_equal(v[0], 0xe0);
	assert_true(w[1] && w[2]);
	assert_int_equal(mg_iface_pattern_parse("FF:01:*", v, w), 0);
	assert_int_equal(v[0], 0xff);
	assert_true(!w[1] && w[2]);
	static const char *const bad[] = {"",          "08",      "08:06",      "*:*:*",
	                                  "08:*:50",   "08:6:50", "08:06:50:1", "0g:00:00",
	                                  "08:06:50 ", "08-06-50"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mg_iface_pattern_parse(bad[i], v, w), -EINVAL);
}

static void write_conf(const char *path, const char *text)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/mg-aconf-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	struct mg_file_rules own = {.owner = geteuid()};
	struct mg_agent_conf c;
	struct mg_config_error err;

	write_conf(path, "mode = audit\nblock_interfaces = 08:*:*, 06:*:* e0:01:01\n"
	                 "implicit_target = reject\nallowed_groups = wheel, mynaguard-admins\n");
	assert_int_equal(mg_agent_conf_load(path, &own, &c, &err), 0);
	assert_int_equal(c.mode, MG_MODE_AUDIT);
	assert_int_equal(c.implicit_target, MG_TARGET_REJECT);
	assert_int_equal(c.present_device_policy, MG_PRESENT_APPLY_POLICY);
	assert_int_equal(c.authorized_default, MG_AUTHDEF_NONE);
	assert_string_equal(c.rules_file, "/etc/mynaguard/rules.conf");
	assert_string_equal(c.socket, "/run/mynaguard/agent.sock");
	assert_int_equal(c.block_interfaces.n, 3);
	assert_int_equal(c.allowed_groups.n, 2);
	assert_true(mg_agent_conf_blocks_iface(&c, 0x08, 0x06, 0x50));
	assert_true(mg_agent_conf_blocks_iface(&c, 0x06, 0x01, 0x01));
	assert_true(mg_agent_conf_blocks_iface(&c, 0xe0, 0x01, 0x01));
	assert_false(mg_agent_conf_blocks_iface(&c, 0xe0, 0x01, 0x03)); /* RNDIS not listed */
	assert_false(mg_agent_conf_blocks_iface(&c, 0x03, 0x01, 0x01));
	mg_agent_conf_free(&c);

	/* Without block_interfaces: everything but HID, hub and smart card is kept off. */
	write_conf(path, "mode = enforce\n");
	assert_int_equal(mg_agent_conf_load(path, &own, &c, &err), 0);
	assert_int_equal(c.block_interfaces.n, 18);
	assert_false(mg_agent_conf_blocks_iface(&c, 0x03, 0x01, 0x01));
	assert_false(mg_agent_conf_blocks_iface(&c, 0x09, 0x00, 0x00));
	assert_false(mg_agent_conf_blocks_iface(&c, 0x0b, 0x00, 0x00));
	assert_true(mg_agent_conf_blocks_iface(&c, 0x08, 0x06, 0x50));
	assert_true(mg_agent_conf_blocks_iface(&c, 0xe0, 0x01, 0x01));
	assert_true(mg_agent_conf_blocks_iface(&c, 0xff, 0x42, 0x01));
	mg_agent_conf_free(&c);

	write_conf(path, "mode = audit\nblock_interfaces = 08:*:*, *:*:*\n");
	assert_int_equal(mg_agent_conf_load(path, &own, &c, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "bad item '*:*:*'"));

	write_conf(path, "present_device_policy = apply\n");
	assert_int_equal(mg_agent_conf_load(path, &own, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "apply-policy, keep, allow, block"));

	write_conf(path, "rules_file = rules.conf\n");
	assert_int_equal(mg_agent_conf_load(path, &own, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "absolute path"));

	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patterns),
	    cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

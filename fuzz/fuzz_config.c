/* libFuzzer target: the strict config reader on arbitrary bytes, with every value type. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mg/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_conf {
	char *s;
	char *p;
	uint64_t u;
	uint64_t d;
	bool b;
	int e;
	struct mg_strv l;
};

static const char *const choices[] = {"none", "keep", NULL};

static const struct mg_config_key keys[] = {
    {.name = "string", .type = MG_CFG_STRING, .offset = offsetof(struct fuzz_conf, s)},
    {.name = "path", .type = MG_CFG_PATH, .offset = offsetof(struct fuzz_conf, p), .def = "/x"},
    {.name = "uint",
     .type = MG_CFG_UINT,
     .offset = offsetof(struct fuzz_conf, u),
     .def = "3",
     .min = 1,
     .max = 1000},
    {.name = "duration",
     .type = MG_CFG_DURATION,
     .offset = offsetof(struct fuzz_conf, d),
     .def = "1h",
     .min = 0,
     .max = UINT64_MAX},
    {.name = "bool", .type = MG_CFG_BOOL, .offset = offsetof(struct fuzz_conf, b)},
    {.name = "enum",
     .type = MG_CFG_ENUM,
     .offset = offsetof(struct fuzz_conf, e),
     .choices = choices},
    {.name = "list", .type = MG_CFG_LIST, .offset = offsetof(struct fuzz_conf, l), .def = "a b"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_conf c;
	struct mg_config_error err;
	memset(&c, 0, sizeof(c));
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	if (mg_config_init(keys, n, &c, &err) == 0)
		(void)mg_config_parse("fuzz.conf", (const char *)data, size, keys, n, &c, &err);
	mg_config_free(keys, n, &c);
	return 0;
}

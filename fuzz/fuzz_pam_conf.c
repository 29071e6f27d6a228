/* libFuzzer target: pam.conf through the PAM module's key table (pam_module/src/pam_conf.c). */
#include <stddef.h>
#include <stdint.h>

#include "pam_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_pam_conf conf;
	struct mg_config_error err;
	if (mg_pam_conf_parse("fuzz", (const char *)data, size, 0, &conf, &err) == 0)
		mg_pam_conf_free(&conf);
	return 0;
}

/*
 * rules_print_probe: parses each line of FILE alone, as mynaguard does, and prints
 * "OK <canonical text>" or "ERR <column>: <message>" per line (blank and comment lines are
 * skipped). test_usbguard_rules.sh compares it with usbguard-rule-parser.
 *
 *   rules_print_probe FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: rules_print_probe FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		size_t i = strspn(line, " \t");
		if (line[i] == '\0' || line[i] == '#')
			continue;
		struct mg_ruleset *rs = NULL;
		struct mg_rule_error err;
		memset(&err, 0, sizeof(err));
		if (mg_ruleset_parse("probe", line, (size_t)n, &rs, &err) == 0 &&
		    mg_ruleset_count(rs) == 1)
			printf("OK %s\n", mg_rule_text(mg_ruleset_rule(rs, 0)));
		else
			printf("ERR %u: %s\n", err.column, err.msg);
		mg_ruleset_free(&rs);
	}
	free(line);
	fclose(f);
	return 0;
}

/*
 * An ordered, indexed, immutable list of rules: parsed from text, or loaded from the rules
 * file and then every "*.conf" of the rules directory in name order (strcmp), all or nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mg/safe_open.h"
#include "rule_internal.h"

struct mg_ruleset {
	struct mg_rule **rules;
	size_t n;
	size_t cap;
	size_t n_values;
	struct rule_index *index;
	char **files; /* the file names the rules point to */
	size_t n_files;
	/* Only when some rule has conditions: per rule, the last time (CLOCK_MONOTONIC) it was
	 * evaluated and applied, -1 for never (rule-evaluated, rule-applied). */
	int64_t *meta;
	bool has_localtime;
	struct rule_arena arena; /* the rules' blocks */
};

void mg_ruleset_free(struct mg_ruleset **rsp)
{
	if (!rsp || !*rsp)
		return;
	struct mg_ruleset *rs = *rsp;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	rule_arena_fini(&rs->arena);
	rule_index_free(&rs->index);
	free(rs->meta);
	for (size_t i = 0; i < rs->n_files; i++)
		free(rs->files[i]);
	free(rs->files);
	free(rs);
	*rsp = NULL;
}

size_t mg_ruleset_count(const struct mg_ruleset *rs)
{
	return rs ? rs->n : 0;
}

const struct mg_rule *mg_ruleset_rule(const struct mg_ruleset *rs, size_t i)
{
	return rs && i < rs->n ? rs->rules[i] : NULL;
}

void mg_rule_env_now(struct mg_rule_env *env, int64_t now_us)
{
	memset(env, 0, sizeof(*env));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	env->mono_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	time_t t = (time_t)(now_us / 1000000);
	struct tm tm;
	if (localtime_r(&t, &tm))
		env->daytime = (int32_t)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec);
}

struct cond_ctx {
	struct mg_ruleset *rs;
	const struct mg_rule_env *env;
	bool record;
};

static bool accept_rule(void *ctx, uint32_t i)
{
	struct cond_ctx *c = ctx;
	const struct rule_conds *conds = rule_conds_of(c->rs->rules[i]);
	if (!conds)
		return true;
	int64_t *m = c->rs->meta + 2 * (size_t)i;
	struct rule_cond_state st = {
	    .env = c->env, .last_evaluated_us = m[0], .last_applied_us = m[1]};
	bool ok = rule_conds_eval(conds, &st);
	if (c->record) {
		m[0] = c->env->mono_us;
		if (ok)
			m[1] = c->env->mono_us;
	}
	return ok;
}

static const struct mg_rule *match(struct mg_ruleset *rs, const struct mg_device *dev,
                                   int64_t now_us, const struct mg_rule_env *env, bool record)
{
	if (!rs || !dev || !rs->index)
		return NULL;
	struct rule_devview v;
	rule_devview_init(&v, dev);
	if (!rs->meta)
		return rule_index_match(rs->index, rs->rules, &v, now_us, NULL, NULL);
	struct mg_rule_env own;
	if (!env) {
		mg_rule_env_now(&own, now_us);
		env = &own;
	}
	struct cond_ctx c = {.rs = rs, .env = env, .record = record};
	return rule_index_match(rs->index, rs->rules, &v, now_us, accept_rule, &c);
}

const struct mg_rule *mg_ruleset_match_env(const struct mg_ruleset *rs, const struct mg_device *dev,
                                           int64_t now_us, const struct mg_rule_env *env)
{
	/* record = false: the set is not written, whatever the cast says. */
	return match((struct mg_ruleset *)(uintptr_t)rs, dev, now_us, env, false);
}

const struct mg_rule *mg_ruleset_match(const struct mg_ruleset *rs, const struct mg_device *dev,
                                       int64_t now_us)
{
	return mg_ruleset_match_env(rs, dev, now_us, NULL);
}

const struct mg_rule *mg_ruleset_decide(struct mg_ruleset *rs, const struct mg_device *dev,
                                        int64_t now_us, const struct mg_rule_env *env)
{
	return match(rs, dev, now_us, env, true);
}

bool mg_ruleset_has_conditions(const struct mg_ruleset *rs, bool *localtime)
{
	if (localtime)
		*localtime = rs && rs->has_localtime;
	return rs && rs->meta;
}

int32_t mg_ruleset_next_daytime_change(const struct mg_ruleset *rs, int32_t daytime)
{
	int32_t best = -1;
	if (!rs || !rs->has_localtime)
		return -1;
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule_conds *c = rule_conds_of(rs->rules[i]);
		int32_t d = c && c->has_localtime ? rule_conds_next_change(c, daytime) : -1;
		if (d > 0 && (best < 0 || d < best))
			best = d;
	}
	return best;
}

static int append_rule(struct mg_ruleset *rs, struct mg_rule **r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct mg_rule **v = realloc(rs->rules, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->rules = v;
		rs->cap = cap;
	}
	rs->rules[rs->n++] = *r;
	*r = NULL;
	return 0;
}

/* A copy of file kept by rs for its rules' sources; NULL on ENOMEM. */
static const char *intern_file(struct mg_ruleset *rs, const char *file)
{
	char **v = realloc(rs->files, (rs->n_files + 1) * sizeof(*v));
	if (!v)
		return NULL;
	rs->files = v;
	if (!(v[rs->n_files] = strdup(file)))
		return NULL;
	return v[rs->n_files++];
}

/* Appends the rules of text[0..len) to rs; errors name file:line:column. */
static int parse_into(struct mg_ruleset *rs, const char *file, const char *text, size_t len,
                      struct mg_rule_error *err)
{
	const char *source_file = intern_file(rs, file);
	if (!source_file)
		return rule_fail(err, -ENOMEM, file, 0, 0, "out of memory");
	struct rule_scratch sc;
	struct mg_rule *r = NULL;
	unsigned lineno = 0;
	size_t pos = 0;
	int ret = 0;
	memset(&sc, 0, sizeof(sc));
	sc.arena = &rs->arena;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		const size_t end = nl ? (size_t)(nl - text) : len;
		const char *line = text + pos;
		size_t linelen = end - pos;
		pos = nl ? end + 1 : len;
		if (lineno == UINT32_MAX) {
			ret = rule_fail(err, -E2BIG, file, lineno, 0, "too many lines");
			goto out;
		}
		lineno++;
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--; /* CRLF line ends */
		if (linelen > MG_RULES_MAX_LINE) {
			ret = rule_fail(err, -E2BIG, file, lineno, MG_RULES_MAX_LINE + 1,
			                "line longer than %u bytes", MG_RULES_MAX_LINE);
			goto out;
		}
		const char *nul = memchr(line, '\0', linelen);
		if (nul) {
			ret = rule_fail(err, -EINVAL, file, lineno, (unsigned)(nul - line) + 1,
			                "NUL byte");
			goto out;
		}
		size_t nv = 0;
		if ((ret = rule_parse_line(&sc, source_file, lineno, line, linelen, &r, &nv, err)) <
		    0)
			goto out;
		if (!r)
			continue;
		if (rs->n >= MG_RULES_MAX_RULES) {
			ret = rule_fail(err, -E2BIG, file, lineno, 1, "more than %u rules",
			                MG_RULES_MAX_RULES);
			goto out;
		}
		if (rs->n_values + nv > MG_RULES_MAX_VALUES) {
			ret = rule_fail(err, -E2BIG, file, lineno, 1,
			                "more than %u attribute values in the ruleset",
			                MG_RULES_MAX_VALUES);
			goto out;
		}
		rs->n_values += nv;
		if ((ret = append_rule(rs, &r)) < 0)
			goto out;
	}
out:
	rule_free(&r);
	rule_scratch_fini(&sc);
	return ret;
}

static int finish(struct mg_ruleset **rsp, struct mg_ruleset **out, struct mg_rule_error *err)
{
	struct mg_ruleset *rs = *rsp;
	if (rs->n < rs->cap) { /* trim to size: the set lives until the next load */
		struct mg_rule **v = realloc(rs->rules, (rs->n ? rs->n : 1) * sizeof(*v));
		if (v) {
			rs->rules = v;
			rs->cap = rs->n ? rs->n : 1;
		}
	}
	int r = rule_index_build(rs->rules, rs->n, &rs->index);
	if (r < 0)
		return rule_fail(err, r, "(rules)", 0, 0, "out of memory while indexing");
	bool conds = false;
	for (size_t i = 0; i < rs->n; i++) {
		const struct rule_conds *c = rule_conds_of(rs->rules[i]);
		conds |= c != NULL;
		rs->has_localtime |= c && c->has_localtime;
	}
	if (conds) {
		if (!(rs->meta = malloc(2 * rs->n * sizeof(*rs->meta))))
			return rule_fail(err, -ENOMEM, "(rules)", 0, 0, "out of memory");
		for (size_t i = 0; i < 2 * rs->n; i++)
			rs->meta[i] = -1;
	}
	*out = rs;
	*rsp = NULL;
	return 0;
}

int mg_ruleset_parse(const char *name, const char *text, size_t len, struct mg_ruleset **out,
                     struct mg_rule_error *err)
{
	struct mg_ruleset *rs = NULL;
	int r = -EINVAL;
	if (!out || (!text && len)) {
		rule_fail(err, r, name, 0, 0, "invalid arguments");
		goto out;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = parse_into(rs, name ? name : "(rules)", text, len, err)) < 0)
		goto out;
	r = finish(&rs, out, err);
out:
	mg_ruleset_free(&rs);
	return r;
}

static int load_file(struct mg_ruleset *rs, const char *path, const struct mg_file_rules *rules,
                     struct mg_rule_error *err)
{
	char *data = NULL;
	size_t len = 0;
	const char *why = NULL;
	int r = mg_safe_read_file(path, rules, &data, &len, &why);
	if (r < 0) {
		rule_fail(err, r, path, 0, 0, "cannot read: %s", why ? why : strerror(-r));
		goto out;
	}
	r = parse_into(rs, path, data, len, err);
out:
	free(data);
	return r;
}

static bool is_conf_name(const char *name)
{
	const size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory itself: not a symlink, a directory, owned and writable as rules say. */
static int open_dir(const char *dir, const struct mg_file_rules *rules, DIR **out,
                    struct mg_rule_error *err)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 ? -errno : 0;
	if (r == -ENOENT) {
		*out = NULL; /* a missing rules_dir holds no rules */
		return 0;
	}
	if (fd < 0)
		return rule_fail(err, r, dir, 0, 0, "cannot open directory: %s", strerror(-r));
	if (fstat(fd, &st) < 0)
		r = -errno;
	if (r < 0)
		r = rule_fail(err, r, dir, 0, 0, "cannot stat: %s", strerror(-r));
	else if (rules->owner != MG_ANY_OWNER && st.st_uid != rules->owner)
		r = rule_fail(err, -EPERM, dir, 0, 0, "directory has the wrong owner");
	else if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !rules->allow_group_write))
		r = rule_fail(err, -EPERM, dir, 0, 0, "directory is group or world writable");
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fdopendir(fd);
	if (!*out) {
		r = -errno;
		close(fd);
		return rule_fail(err, r, dir, 0, 0, "cannot read directory: %s", strerror(-r));
	}
	return 0;
}

static int load_dir(struct mg_ruleset *rs, const char *dir, const struct mg_file_rules *rules,
                    struct mg_rule_error *err)
{
	DIR *d = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	char *path = NULL;
	int r = open_dir(dir, rules, &d, err);
	if (r < 0 || !d)
		goto out;
	for (;;) {
		errno = 0;
		const struct dirent *e = readdir(d);
		if (!e && errno) {
			r = -errno;
			rule_fail(err, r, dir, 0, 0, "cannot read directory: %s", strerror(-r));
			goto out;
		}
		if (!e)
			break;
		if (!is_conf_name(e->d_name))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **v = realloc(names, ncap * sizeof(*v));
			if (!v) {
				r = -ENOMEM;
				goto out;
			}
			names = v;
			cap = ncap;
		}
		if (!(names[n] = strdup(e->d_name))) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		free(path);
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			path = NULL;
			r = -ENOMEM;
			goto out;
		}
		if ((r = load_file(rs, path, rules, err)) < 0)
			goto out;
	}
	r = 0;
out:
	free(path);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (d)
		closedir(d);
	return r;
}

int mg_ruleset_load(const char *rules_file, const char *rules_dir,
                    const struct mg_file_rules *rules, struct mg_ruleset **out,
                    struct mg_rule_error *err)
{
	return mg_ruleset_load_after(NULL, 0, rules_file, rules_dir, rules, out, err);
}

int mg_ruleset_load_after(const struct mg_rules_text *texts, size_t n, const char *rules_file,
                          const char *rules_dir, const struct mg_file_rules *rules,
                          struct mg_ruleset **out, struct mg_rule_error *err)
{
	struct mg_ruleset *rs = NULL;
	int r = -EINVAL;
	if (!out) {
		rule_fail(err, r, "(rules)", 0, 0, "invalid arguments");
		goto out;
	}
	/* A rules file of 100,000 rules exceeds safe_open's 1 MiB default: raise it. */
	struct mg_file_rules fr = rules ? *rules : mg_root_config_rules;
	if (fr.max_size == 0)
		fr.max_size = MG_RULES_MAX_FILE;
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (texts[i].text && (r = parse_into(rs, texts[i].name, texts[i].text,
		                                     strlen(texts[i].text), err)) < 0)
			goto out;
	if (rules_file && (r = load_file(rs, rules_file, &fr, err)) < 0)
		goto out;
	if (rules_dir && (r = load_dir(rs, rules_dir, &fr, err)) < 0)
		goto out;
	r = finish(&rs, out, err);
out:
	mg_ruleset_free(&rs);
	return r;
}

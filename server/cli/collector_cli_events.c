/*
 * `mynaguard-collector events`: the stored events, oldest first, as a table for people or
 * (--json) one event JSON per line, both naming the sender as enrolled (host_id, host) and a
 * differing name the event claimed only as claimed_host (mg_store_event_view). The store is read a
 * page at a time (after_id), so any number of rows takes bounded memory.
 */
#include "collector_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/i18n.h"
#include "mg/time.h"
#include "mg/utf8.h"

#define PAGE        1000u
#define W_TIME      25u
#define W_HOST      16u
#define W_TYPE      17u
#define W_USER      12u
#define W_DEVICE    36u
#define SUMMARY_MAX 1024u

/* Host names by id, for the host column (read before the query: callbacks cannot call the
 * store). Ordered by id, as mg_store_host_foreach() gives them. */
struct host_names {
	int64_t *ids;
	char **names;
	size_t n;
};

static void host_names_free(struct host_names *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	free(h->ids);
	memset(h, 0, sizeof(*h));
}

static int add_host(void *ctx, const struct mg_store_host *host)
{
	struct host_names *h = ctx;
	int64_t *ids = realloc(h->ids, (h->n + 1) * sizeof(*ids));
	char **names;
	if (!ids)
		return -ENOMEM;
	h->ids = ids;
	names = realloc(h->names, (h->n + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	h->names = names;
	if (!(names[h->n] = strdup(host->hostname)))
		return -ENOMEM;
	ids[h->n++] = host->id;
	return 0;
}

static const char *host_name(const struct host_names *h, int64_t id)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->ids[mid] == id)
			return h->names[mid];
		if (h->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --host: a host id, or a host name that exactly one host has. 0 or CLI_* exit status. */
static int resolve_host(struct mg_store *s, const struct host_names *h, const char *arg,
                        int64_t *id)
{
	uint64_t n;
	size_t found = 0;
	struct mg_store_host host;
	if (mg_parse_u64(arg, 1, INT64_MAX, &n) == 0) {
		if (mg_store_host_get(s, (int64_t)n, &host) < 0) {
			cli_error(MG_TR("--host %s: その ID の端末はありません",
			                "--host %s: no host has this id"),
			          arg);
			return CLI_RUNTIME;
		}
		*id = (int64_t)n;
		return 0;
	}
	for (size_t i = 0; i < h->n; i++) {
		if (strcmp(h->names[i], arg) == 0) {
			*id = h->ids[i];
			found++;
		}
	}
	if (found == 1)
		return 0;
	if (found == 0)
		cli_error(MG_TR("--host %s: その名前の端末はありません",
		                "--host %s: no host has this name"),
		          arg);
	else
		cli_error(MG_TR("--host %s: この名前の端末が %zu 台あります。ID で指定してください "
		                "(hosts で確認できます)",
		                "--host %s: %zu hosts have this name; give the id (see `hosts`)"),
		          arg, found);
	return CLI_RUNTIME;
}

/* ---- the summary column ---- */

struct text {
	char buf[SUMMARY_MAX];
	size_t len;
};

static void add(struct text *t, const char *label, const char *value)
{
	int n;
	if (!value || !*value || t->len >= sizeof(t->buf) - 1)
		return;
	n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len, "%s%s%s%s", t->len ? " " : "",
	             label ? label : "", label ? "=" : "", value);
	if (n > 0)
		t->len +=
		    (size_t)n < sizeof(t->buf) - t->len ? (size_t)n : sizeof(t->buf) - 1 - t->len;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static void add_int(struct text *t, const char *label, json_t *o, const char *key)
{
	char num[32];
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return;
	snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	add(t, label, num);
}

static void summarize(json_t *ev, const char *type, struct text *t)
{
	json_t *d = json_object_get(ev, "decision"), *o;
	if (strncmp(type, "device.", 7) == 0) {
		add(t, NULL, str(d, "target"));
		if (str(d, "mode") && strcmp(str(d, "mode"), "audit") == 0)
			add(t, NULL, "(audit)");
		o = json_object_get(d, "blocked_interfaces");
		if (json_array_size(o) > 0) {
			char list[256] = "";
			size_t i, used = 0;
			json_t *v;
			json_array_foreach(o, i, v)
			{
				int n = snprintf(list + used, sizeof(list) - used, "%s%s",
				                 used ? "," : "", nz(json_string_value(v)));
				if (n < 0 || (size_t)n >= sizeof(list) - used)
					break;
				used += (size_t)n;
			}
			add(t, "blocked", list);
		}
		add(t, "rule", str(json_object_get(ev, "rule"), "text"));
		add(t, "reason", str(d, "reason"));
		add(t, "error", str(d, "error"));
		add(t, "by", str(d, "operator"));
		add(t, "port", str(json_object_get(ev, "device"), "port"));
	} else if (strncmp(type, "auth.", 5) == 0) {
		o = json_object_get(ev, "auth");
		add(t, "factor", str(o, "factor"));
		add(t, "reason", str(o, "reason"));
		add_int(t, "failures", o, "failures");
		o = json_object_get(ev, "user");
		add(t, "service", str(o, "service"));
		add(t, "tty", str(o, "tty"));
		add(t, "rhost", str(o, "rhost"));
	} else if (strncmp(type, "policy.", 7) == 0) {
		o = json_object_get(ev, "policy");
		add_int(t, "version", o, "version");
		add(t, "reason", str(o, "reason"));
	} else if (strncmp(type, "agent.", 6) == 0) {
		o = json_object_get(ev, "agent");
		add(t, "version", str(o, "version"));
		add_int(t, "pid", o, "pid");
		add(t, "reason", str(o, "reason"));
	} else if (strncmp(type, "admin.", 6) == 0) {
		o = json_object_get(ev, "detail");
		add(t, NULL, str(ev, "target"));
		add(t, "rule", str(o, "text"));
		add(t, "comment", str(o, "comment"));
		add(t, "from", str(ev, "remote"));
	} else if (strcmp(type, "collector.tamper") == 0) {
		add(t, NULL, str(ev, "kind"));
		add_int(t, "seq", ev, "seq");
		add(t, "boot", str(ev, "boot_id"));
	}
}

/* ---- the walk ---- */

struct walk {
	const struct host_names *hosts;
	bool json;
	uint32_t rows; /* in this page */
	int64_t last_id;
};

/* One table row of the event view (mg_store_event_view: host as enrolled, claimed_host). */
static void print_row(const struct walk *w, int64_t host_id, const char *js)
{
	json_t *ev = js ? json_loads(js, 0, NULL) : NULL;
	const char *type = str(ev, "type"), *host, *user;
	json_t *dev = json_object_get(ev, "device");
	char when[64], hostbuf[32], device[MG_STORE_DEVSTR_SIZE * 2 + 16];
	struct text sum = {.len = 0};
	int64_t us = 0;

	if (!str(ev, "time") || mg_time_parse(str(ev, "time"), &us) < 0)
		us = 0;
	cli_time_text(us, when, sizeof(when));
	/* host_id 0: the collector's own admin rows (tamper rows carry their host). */
	host = host_id == 0 ? MG_TR("(コレクター)", "(collector)") : host_name(w->hosts, host_id);
	if (!host) {
		snprintf(hostbuf, sizeof(hostbuf), "#%" PRId64, host_id);
		host = hostbuf;
	}
	user = str(json_object_get(ev, "user"), "name");
	if (!user)
		user = str(ev, "admin");
	device[0] = '\0';
	if (dev) {
		snprintf(device, sizeof(device), "%s%s%s%s%s%s", nz(str(dev, "vendor_id")),
		         str(dev, "vendor_id") ? ":" : "", nz(str(dev, "product_id")),
		         str(dev, "name") ? " " : "", nz(str(dev, "name")),
		         str(dev, "serial") ? " #" : "");
		if (str(dev, "serial")) {
			size_t n = strlen(device);
			snprintf(device + n, sizeof(device) - n, "%s", str(dev, "serial"));
		}
	}
	/* A name the event claimed that is not the sender's enrolled one. */
	add(&sum, "claimed_host", str(ev, "claimed_host"));
	if (type)
		summarize(ev, type, &sum);
	else
		add(&sum, NULL, MG_TR("(読めない行)", "(unreadable row)"));
	cli_cell(stdout, when, W_TIME);
	cli_cell(stdout, host, W_HOST);
	cli_cell(stdout, type ? type : "?", W_TYPE);
	cli_cell(stdout, user, W_USER);
	cli_cell(stdout, device, W_DEVICE);
	cli_cell(stdout, sum.buf, 0);
	json_decref(ev);
}

static int on_event(void *ctx, const struct mg_store_event_row *row)
{
	struct walk *w = ctx;
	char *view = NULL;
	/* The sender as the collector knows it (host_id, enrolled name), never a claimed name. */
	int r = mg_store_event_view(row, &view);
	if (r == -ENOMEM)
		return r;
	w->rows++;
	w->last_id = row->id;
	if (w->json)
		printf("%s\n", view ? view : "null");
	else
		print_row(w, row->host_id, view);
	free(view);
	return ferror(stdout) ? -EIO : 0;
}

static int walk_events(struct mg_store *s, struct mg_store_event_filter *f, uint64_t limit,
                       struct walk *w)
{
	uint64_t left = limit ? limit : UINT64_MAX;
	while (left > 0) {
		int r;
		f->limit = left < PAGE ? (uint32_t)left : PAGE;
		w->rows = 0;
		r = mg_store_events_rows(s, f, on_event, w);
		if (r < 0)
			return r;
		left -= w->rows;
		if (w->rows < f->limit)
			break;
		f->after_id = w->last_id;
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static void heading(void)
{
	cli_cell(stdout, MG_TR("時刻", "TIME"), W_TIME);
	cli_cell(stdout, MG_TR("端末", "HOST"), W_HOST);
	cli_cell(stdout, MG_TR("種別", "TYPE"), W_TYPE);
	cli_cell(stdout, MG_TR("利用者", "USER"), W_USER);
	cli_cell(stdout, MG_TR("デバイス", "DEVICE"), W_DEVICE);
	cli_cell(stdout, MG_TR("内容", "SUMMARY"), 0);
}

/* The filter options into f. 0 or CLI_USAGE (reported). */
static int filter_from_opts(const struct cli_opts *o, struct mg_store_event_filter *f)
{
	const char *const names[] = {"--type", "--user", "--serial"};
	const char *texts[] = {o->type, o->user, o->serial};
	const size_t sizes[] = {128, 256, MG_STORE_DEVSTR_SIZE}; /* the store's bounds */
	for (size_t i = 0; i < 3; i++) {
		size_t n = texts[i] ? strnlen(texts[i], sizes[i]) : 0;
		if (texts[i] && (n >= sizes[i] || !mg_utf8_valid(texts[i], n))) {
			cli_error(MG_TR("%s: 長すぎるか UTF-8 ではありません",
			                "%s: too long or not UTF-8"),
			          names[i]);
			return CLI_USAGE;
		}
	}
	f->type = o->type;
	f->user = o->user;
	f->device_serial = o->serial;
	if (o->from && mg_time_parse(o->from, &f->from_us) < 0) {
		cli_error(MG_TR("--from %s: RFC 3339 の時刻 (例 2026-11-26T09:00:00+09:00) で"
		                "指定してください",
		                "--from %s: expected an RFC 3339 time such as "
		                "2026-11-26T09:00:00+09:00"),
		          o->from);
		return CLI_USAGE;
	}
	if (o->to && mg_time_parse(o->to, &f->to_us) < 0) {
		cli_error(MG_TR("--to %s: RFC 3339 の時刻 (例 2026-11-26T18:00:00+09:00) で"
		                "指定してください",
		                "--to %s: expected an RFC 3339 time such as "
		                "2026-11-26T18:00:00+09:00"),
		          o->to);
		return CLI_USAGE;
	}
	if (f->from_us && f->to_us && f->from_us >= f->to_us) {
		cli_error(
		    MG_TR("--from は --to より前にしてください", "--from must be before --to"));
		return CLI_USAGE;
	}
	return 0;
}

int cli_events(int argc, char **argv)
{
	static const char *const allowed[] = {"--config", "--data-dir", "--db",     "--host",
	                                      "--type",   "--user",     "--serial", "--from",
	                                      "--to",     "--limit",    "--json",   NULL};
	struct cli_opts o = {.ready_fd = -1};
	struct mg_store_event_filter f = {0};
	struct host_names hosts = {0};
	struct walk w = {.hosts = &hosts};
	struct mg_store *s = NULL;
	int r, ret = CLI_USAGE;

	if (cli_parse(argc, argv, allowed, 0, &o) < 0 || (ret = filter_from_opts(&o, &f)) != 0)
		goto done;
	ret = CLI_RUNTIME;
	if (cli_open_store(&o, &s) < 0)
		goto done;
	if (!o.json || o.host) {
		r = mg_store_host_foreach(s, add_host, &hosts);
		if (r < 0) {
			cli_error(MG_TR("端末の一覧を読めません: %s", "cannot read the hosts: %s"),
			          strerror(-r));
			goto done;
		}
	}
	if (o.host && (ret = resolve_host(s, &hosts, o.host, &f.host_id)) != 0)
		goto done;
	ret = CLI_RUNTIME;
	w.json = o.json;
	if (!o.json)
		heading();
	r = walk_events(s, &f, o.limit, &w);
	if (r == -EINVAL) {
		/* the store's bounds on filter text */
		cli_error(
		    MG_TR("--type, --user または --serial の値が長すぎるか UTF-8 ではありません",
		          "a value of --type, --user or --serial is too long or not UTF-8"));
		ret = CLI_USAGE;
		goto done;
	}
	if (r < 0) {
		cli_error(MG_TR("イベントを読めません: %s", "cannot read the events: %s"),
		          strerror(-r));
		goto done;
	}
	ret = CLI_OK;
done:
	mg_store_close(&s);
	host_names_free(&hosts);
	cli_opts_free(&o);
	return ret;
}

/*
 * GET /v1/admin/events (docs/API.md, "Events"): the stored events filtered by host, type,
 * user, device serial and time, in id order, a page at a time (after = the last id seen), as
 * JSON, JSON lines or CSV (RFC 4180). Exports (JSON lines, CSV) are recorded in the admin
 * action log ("events.export") before they are handed out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_admin.h"
#include "mg/time.h"
#include "mg/utf8.h"

#define U53_MAX ((INT64_C(1) << 53) - 1)
/* Bytes of one answer: the page ends early (with a cursor) past this. */
#define EXPORT_MAX_BYTES (8u * 1024u * 1024u) /* keeps the collector's RSS bounded */

enum format { FMT_JSON, FMT_JSONL, FMT_CSV };

/* Growable answer body. */
struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/*
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF, quotes doubled. A
 * text cell that a spreadsheet would take as a formula (mg_admin_csv_is_formula: = + - @ tab CR
 * first, full-width ＝ ＋ － ＠, or spaces and line feeds before one of them) gets a leading '
 * (OWASP "CSV injection").
 */
bool mg_admin_csv_is_formula(const char *s)
{
	/* A leading tab or CR is itself a trigger; spaces and line feeds are skipped (a
	 * spreadsheet may trim them), then = + - @ or their full-width forms ＝ ＋ － ＠ (U+FF1D,
	 * U+FF0B, U+FF0D, U+FF20, which Japanese Excel may take as a formula) start a formula. */
	const unsigned char *p = (const unsigned char *)s;
	if (*p == '\t' || *p == '\r')
		return true;
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	if (*p == '=' || *p == '+' || *p == '-' || *p == '@')
		return true;
	return p[0] == 0xEF && p[1] == 0xBC &&
	       (p[2] == 0x9D || p[2] == 0x8B || p[2] == 0x8D || p[2] == 0xA0);
}

static void put_cell(struct out *o, const char *s)
{
	const bool formula = mg_admin_csv_is_formula(s);
	const bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		puts_(o, "\"");
	if (formula)
		puts_(o, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			puts_(o, "\"\"");
		else
			put(o, p, 1);
	}
	if (quote)
		puts_(o, "\"");
}

static const char *member(json_t *o, const char *obj, const char *key)
{
	json_t *v = obj ? json_object_get(o, obj) : o;
	const char *s = json_string_value(json_object_get(v, key));
	return s ? s : "";
}

struct walk {
	enum format fmt;
	struct out out;
	uint32_t limit, n;
	int64_t last_id;
	bool more;
};

static int add_event(void *ctx, const struct mg_store_event_row *row)
{
	struct walk *w = ctx;
	char num[96], *view = NULL;
	int r;
	if (w->n == w->limit || w->out.len > EXPORT_MAX_BYTES) {
		w->more = true;
		return 1;
	}
	/* Every format shows the sender as enrolled, a differing name only as claimed_host. */
	r = mg_store_event_view(row, &view);
	if (r == -ENOMEM)
		return r;
	switch (w->fmt) {
	case FMT_JSON:
		snprintf(num, sizeof(num),
		         "%s{\"id\":%" PRId64 ",\"host_id\":%" PRId64 ",\"event\":",
		         w->n ? "," : "", row->id, row->host_id);
		puts_(&w->out, num);
		puts_(&w->out, view ? view : "null");
		puts_(&w->out, "}");
		break;
	case FMT_JSONL:
		puts_(&w->out, view ? view : "null");
		puts_(&w->out, "\n");
		break;
	case FMT_CSV: {
		json_t *ev = view ? json_loads(view, 0, NULL) : NULL;
		const char *user = member(ev, "user", "name");
		snprintf(num, sizeof(num), "%" PRId64 ",%" PRId64 ",", row->id, row->host_id);
		puts_(&w->out, num);
		put_cell(&w->out, row->host_id ? row->host : "");
		puts_(&w->out, ",");
		put_cell(&w->out, member(ev, NULL, "claimed_host"));
		puts_(&w->out, ",");
		put_cell(&w->out, member(ev, NULL, "time"));
		puts_(&w->out, ",");
		put_cell(&w->out, member(ev, NULL, "type"));
		puts_(&w->out, ",");
		/* The collector's own rows name the admin. */
		put_cell(&w->out, *user ? user : member(ev, NULL, "admin"));
		puts_(&w->out, ",");
		put_cell(&w->out, member(ev, "device", "serial"));
		puts_(&w->out, ",");
		put_cell(&w->out, view ? view : "");
		puts_(&w->out, "\r\n");
		json_decref(ev);
		break;
	}
	}
	free(view);
	if (w->out.oom)
		return -ENOMEM;
	w->n++;
	w->last_id = row->id;
	return 0;
}

/* A text filter argument: NULL when absent, else 1..size-1 bytes of UTF-8. */
static int text_arg(const struct mg_http_request *req, const char *key, size_t size,
                    const char **out, struct mg_http_response *resp)
{
	const char *v = mg_http_arg(req, key);
	char msg[96];
	size_t n;
	*out = NULL;
	if (!v)
		return 0;
	n = strnlen(v, size);
	if (n == 0 || n >= size || !mg_utf8_valid(v, n)) {
		snprintf(msg, sizeof(msg), "%s: expected 1 to %zu bytes of UTF-8", key, size - 1);
		mg_admin_error(resp, 400, msg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static bool type_ok(const char *t)
{
	size_t n = strlen(t);
	return n < MG_STORE_NAME_SIZE && strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The filter as JSON for the export record. */
static char *filter_json(const struct mg_store_event_filter *f, const char *format, uint32_t rows)
{
	json_t *o = json_pack("{s:s,s:I,s:I}", "format", format, "limit", (json_int_t)f->limit,
	                      "rows", (json_int_t)rows);
	char *s;
	if (!o)
		return NULL;
	if (f->host_id)
		json_object_set_new(o, "host", json_integer((json_int_t)f->host_id));
	if (f->type)
		json_object_set_new(o, "type", json_string(f->type));
	if (f->user)
		json_object_set_new(o, "user", json_string(f->user));
	if (f->device_serial)
		json_object_set_new(o, "serial", json_string(f->device_serial));
	if (f->from_us)
		json_object_set_new(o, "from", mg_admin_time_json(f->from_us));
	if (f->to_us)
		json_object_set_new(o, "to", mg_admin_time_json(f->to_us));
	if (f->after_id)
		json_object_set_new(o, "after", json_integer((json_int_t)f->after_id));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

int mg_admin_events_list(struct mg_api *api, const struct mg_admin_ctx *who,
                         const struct mg_http_request *req, const int64_t *params,
                         struct mg_http_response *resp)
{
	static const char *const known[] = {"host", "type",  "user",  "serial", "from",
	                                    "to",   "after", "limit", "format", NULL};
	struct mg_store_event_filter f = {0};
	struct walk w = {0};
	const char *fmt = mg_http_arg(req, "format");
	char *detail = NULL;
	char next[24];
	int64_t host = 0, after = 0, limit = 0;
	int r;
	(void)params;

	for (size_t i = 0; i < req->n_args; i++) {
		const char *key = req->args[i].key;
		bool ok = false;
		for (size_t k = 0; known[k]; k++)
			ok = ok || strcmp(key, known[k]) == 0;
		if (!ok) {
			char msg[96];
			/* The name is untrusted: shown only when short and [a-z_]. */
			size_t n = strlen(key);
			bool plain = n <= 32 && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == n;
			snprintf(msg, sizeof(msg), "%s: unknown query argument",
			         plain ? key : "(an argument)");
			return mg_admin_error(resp, 400, msg);
		}
	}
	if (!fmt || strcmp(fmt, "json") == 0)
		w.fmt = FMT_JSON;
	else if (strcmp(fmt, "jsonl") == 0)
		w.fmt = FMT_JSONL;
	else if (strcmp(fmt, "csv") == 0)
		w.fmt = FMT_CSV;
	else
		return mg_admin_error(resp, 400, "format: expected json, jsonl or csv");
	if (mg_admin_arg_i64(req, "host", 1, U53_MAX, 0, &host, resp) < 0 ||
	    mg_admin_arg_i64(req, "after", 0, U53_MAX, 0, &after, resp) < 0 ||
	    mg_admin_arg_i64(req, "limit", 1,
	                     w.fmt == FMT_JSON ? MG_ADMIN_PAGE_MAX : MG_STORE_MAX_ROWS,
	                     MG_ADMIN_PAGE_MAX, &limit, resp) < 0 ||
	    mg_admin_arg_time(req, "from", &f.from_us, resp) < 0 ||
	    mg_admin_arg_time(req, "to", &f.to_us, resp) < 0 ||
	    text_arg(req, "type", MG_STORE_NAME_SIZE, &f.type, resp) < 0 ||
	    text_arg(req, "user", 256, &f.user, resp) < 0 ||
	    text_arg(req, "serial", MG_STORE_DEVSTR_SIZE, &f.device_serial, resp) < 0)
		return 0;
	if (f.type && !type_ok(f.type))
		return mg_admin_error(resp, 400, "type: expected [a-z0-9._-]");
	if (f.from_us && f.to_us && f.from_us >= f.to_us)
		return mg_admin_error(resp, 400, "from: must be before to");
	f.host_id = host;
	f.after_id = after;
	w.limit = (uint32_t)limit;
	/* One row more than the page tells whether another page exists. */
	f.limit = w.limit < MG_STORE_MAX_ROWS ? w.limit + 1 : w.limit;

	if (w.fmt == FMT_JSON)
		puts_(&w.out, "{\"events\":[");
	else if (w.fmt == FMT_CSV)
		puts_(&w.out, "id,host_id,host,claimed_host,time,type,user,device_serial,json\r\n");
	r = mg_store_events_rows(api->store, &f, add_event, &w);
	if (r < 0)
		goto fail;
	if (w.n == w.limit && f.limit == w.limit)
		w.more = true; /* the largest page: assume more; the next page may be empty */
	snprintf(next, sizeof(next), "%" PRId64, w.last_id);
	if (w.fmt == FMT_JSON) {
		puts_(&w.out, "],\"next_after\":");
		puts_(&w.out, w.more ? next : "null");
		puts_(&w.out, "}");
	}
	if (w.out.oom) {
		r = -ENOMEM;
		goto fail;
	}
	if (w.fmt != FMT_JSON) {
		/* An export: on record before it leaves. */
		f.limit = w.limit;
		detail = filter_json(&f, w.fmt == FMT_CSV ? "csv" : "jsonl", w.n);
		if (!detail) {
			r = -ENOMEM;
			goto fail;
		}
		r = mg_store_admin_log(api->store, &who->actor, "events.export", "events", detail,
		                       mg_now_us());
		if (r < 0)
			goto fail;
		if ((w.more && mg_http_header(resp, "X-Mynaguard-Next-After", next) < 0) ||
		    mg_http_header(resp, "Content-Disposition",
		                   w.fmt == FMT_CSV
		                       ? "attachment; filename=\"mynaguard-events.csv\""
		                       : "attachment; filename=\"mynaguard-events.jsonl\"") < 0) {
			r = -E2BIG;
			goto fail;
		}
		resp->content_type =
		    w.fmt == FMT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
	}
	free(detail);
	resp->status = 200;
	resp->body = w.out.p;
	if (!resp->body)
		resp->body = calloc(1, 1);
	return resp->body ? 0 : -ENOMEM;
fail:
	free(detail);
	free(w.out.p);
	resp->n_headers = 0;
	if (r == -ENOMEM || r == -E2BIG)
		return r;
	return mg_admin_store_error(resp, r, "events");
}

/*
 * Tables that mynaguard-collector prints for people: cells measured in terminal columns (a
 * Japanese character takes two), and text from terminals and devices shown without its
 * control characters, so a crafted USB serial cannot drive the operator's terminal. Also the
 * --json form: one JSON object per line.
 */
#include "collector_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The next code point of s (advancing *i), or -1 for a byte that is not valid UTF-8. */
static long next_cp(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t n = c < 0x80             ? 1
	           : (c & 0xe0) == 0xc0 ? 2
	           : (c & 0xf0) == 0xe0 ? 3
	           : (c & 0xf8) == 0xf0 ? 4
	                                : 0;
	long cp;
	if (n == 0 || *i + n > len) {
		(*i)++;
		return -1;
	}
	cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
	for (size_t k = 1; k < n; k++) {
		if ((s[*i + k] & 0xc0) != 0x80) {
			(*i)++;
			return -1;
		}
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	}
	*i += n;
	return cp;
}

/* Characters shown as '?': C0 and C1 controls, DEL, and bidirectional controls. */
static bool hidden(long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static size_t cp_width(long cp)
{
	if (cp >= 0x300 && cp <= 0x36f)
		return 0; /* combining marks */
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
	    (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
	    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

size_t cli_text_width(const char *s)
{
	size_t len = strlen(s), i = 0, w = 0;
	while (i < len) {
		long cp = next_cp((const unsigned char *)s, len, &i);
		w += cp < 0 || hidden(cp) ? 1 : cp_width(cp);
	}
	return w;
}

void cli_cell(FILE *f, const char *s, size_t width)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t len = strlen((const char *)u), i = 0, used = 0;
	size_t total = cli_text_width((const char *)u);
	/* When the text does not fit, one column is kept for the '~' that says so. */
	size_t room = width == 0 || total <= width ? (size_t)-1 : width - 1;
	while (i < len) {
		size_t start = i;
		long cp = next_cp(u, len, &i);
		size_t w = cp < 0 || hidden(cp) ? 1 : cp_width(cp);
		if (used + w > room)
			break;
		used += w;
		if (cp < 0 || hidden(cp))
			fputc('?', f);
		else
			fwrite(u + start, 1, i - start, f);
	}
	if (width == 0) {
		fputc('\n', f);
		return;
	}
	if (room != (size_t)-1) {
		fputc('~', f);
		used++;
	}
	for (; used < width + 2; used++)
		fputc(' ', f);
}

void cli_time_text(int64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	if (us <= 0 || !localtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, size, "-");
}

int cli_json_line(json_t *o)
{
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!line)
		return -ENOMEM;
	printf("%s\n", line);
	free(line);
	return ferror(stdout) ? -EIO : 0;
}

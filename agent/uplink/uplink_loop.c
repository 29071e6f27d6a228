/* The frame loop of mynaguard-uplink (uplink_loop.h). */
#include "uplink_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mg/log.h"
#include "uplink_http.h"
#include "uplink_proto.h"
#include "uplink_request.h"

#define IN_MAX (MG_UPLINK_HEADER + MG_UPLINK_MAX_PAYLOAD)

/* Sends all of buf. 0, or a negative errno (-EPIPE: the agent is gone). */
static int send_all(int sock, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Encodes res as the ANSWER to id and sends it. 0 or a negative errno. */
static int answer(int sock, uint32_t id, struct mg_uplink_result *res)
{
	struct mg_uplink_answer a = {
	    .status = res->status,
	    .retry_after = res->retry_after,
	    .etag = res->etag,
	    .etag_len = (uint16_t)res->etag_len,
	    .error = res->error,
	    .error_len = (uint16_t)strnlen(res->error, MG_UPLINK_MAX_ERROR),
	    .body = res->body,
	    .body_len = (uint32_t)res->body_len,
	};
	if (res->body_len > MG_UPLINK_MAX_PAYLOAD ||
	    mg_uplink_answer_size(&a) > MG_UPLINK_MAX_PAYLOAD) {
		mg_uplink_result_fail(res, "answer too large");
		return answer(sock, id, res);
	}
	size_t plen = mg_uplink_answer_size(&a), flen = mg_uplink_frame_size(plen);
	uint8_t *p = malloc(plen ? plen : 1), *frame = malloc(flen);
	int r = p && frame ? 0 : -ENOMEM;
	if (r == 0)
		r = mg_uplink_answer_encode(&a, p, plen);
	if (r == 0)
		r = mg_uplink_frame_encode(MG_UPLINK_ANSWER, id, p, plen, frame, flen);
	free(p);
	if (r == 0)
		r = send_all(sock, frame, flen);
	free(frame);
	return r;
}

/* One request frame: the HTTP call and its answer. 0, or the send error. */
static int serve(int sock, int dirfd, struct mg_uplink_http *h, const struct mg_uplink_frame *f)
{
	struct mg_uplink_result res = {0};
	const char *name = mg_uplink_type_name(f->type);
	mg_uplink_request(h, dirfd, f->type, f->payload, f->len, &res);
	if (res.status)
		mg_log(MG_LOG_DEBUG, "%s (id %u): HTTP %u, %zu bytes", name, f->id,
		       (unsigned)res.status, res.body_len);
	else
		mg_log(MG_LOG_INFO, "%s (id %u): %s", name, f->id, res.error);
	int r = answer(sock, f->id, &res);
	mg_uplink_result_clear(&res);
	return r;
}

int mg_uplink_loop(int sock, int dirfd)
{
	struct mg_uplink_http *h = NULL;
	uint8_t *in = NULL;
	size_t len = 0, cap = 0;
	int code = 1, r;
	if ((r = mg_uplink_http_new(&h)) < 0) {
		mg_log_errno(MG_LOG_ERR, r, "cannot set up libcurl");
		return 1;
	}
	for (;;) {
		struct mg_uplink_frame f;
		size_t used = 0;
		char why[128] = "";
		r = len ? mg_uplink_frame_decode(in, len, &f, &used, why, sizeof(why)) : -EAGAIN;
		if (r == 0) {
			if (f.type == MG_UPLINK_ANSWER) {
				mg_log(MG_LOG_ERR,
				       "protocol error: the agent sent an answer frame");
				goto out;
			}
			r = serve(sock, dirfd, h, &f);
			if (r == -EPIPE || r == -ECONNRESET) {
				mg_log(MG_LOG_NOTICE, "the agent closed the connection: exiting");
				code = 0;
				goto out;
			}
			if (r < 0) {
				mg_log_errno(MG_LOG_ERR, r, "cannot answer the agent");
				goto out;
			}
			memmove(in, in + used, len - used);
			len -= used;
			continue;
		}
		if (r != -EAGAIN) {
			mg_log(MG_LOG_ERR, "protocol error: %s", why);
			goto out;
		}
		if (len == 0 && cap > 65536) { /* a large frame's buffer is not kept */
			free(in);
			in = NULL;
			cap = 0;
		}
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > IN_MAX)
				ncap = IN_MAX;
			uint8_t *n = ncap > cap ? realloc(in, ncap) : NULL;
			if (!n) {
				mg_log(MG_LOG_ERR, "out of memory for a frame");
				goto out;
			}
			in = n;
			cap = ncap;
		}
		ssize_t n = read(sock, in + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == ECONNRESET) {
				code = 0;
				mg_log(MG_LOG_NOTICE, "the agent closed the connection: exiting");
			} else {
				mg_log_errno(MG_LOG_ERR, -errno, "cannot read from the agent");
			}
			goto out;
		}
		if (n == 0) {
			if (len)
				mg_log(MG_LOG_NOTICE, "end of input inside a frame (%zu bytes)",
				       len);
			code = 0;
			goto out;
		}
		len += (size_t)n;
	}
out:
	free(in);
	mg_uplink_http_free(&h);
	return code;
}

/* The staff-register request of mynaguard-enroll and its call over the agent's socket. */
#include "staff_register.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"

static int set_b64(json_t *o, const char *key, const unsigned char *p, size_t n)
{
	char *s = NULL;
	if (n == 0)
		return json_object_set_new(o, key, json_string("")) == 0 ? 0 : -ENOMEM;
	if (mg_b64_encode(p, n, &s) < 0)
		return -ENOMEM;
	int r = json_object_set_new(o, key, json_string(s)) == 0 ? 0 : -ENOMEM;
	free(s);
	return r;
}

int mg_staff_registration_json(const char *registration_id, const char *user,
                               const struct mg_fido2_cred *c, const char *rp_id,
                               const struct mg_fido2_attestation *att, json_t **out)
{
	if (!mg_pam_user_valid(user) || !mg_cred_label_valid(c->label) || !att->authdata)
		return -EINVAL;
	json_t *reg = json_object(), *cred = json_object(), *a = json_object();
	int r = -ENOMEM;
	if (!reg || !cred || !a)
		goto out;
	if (json_object_set_new(reg, "registration_id", json_string(registration_id)) < 0 ||
	    json_object_set_new(reg, "user", json_string(user)) < 0 ||
	    json_object_set_new(reg, "label", json_string(c->label)) < 0 ||
	    json_object_set_new(cred, "aaguid", json_string(c->aaguid)) < 0 ||
	    json_object_set_new(cred, "cose_alg", json_integer(c->cose_alg)) < 0 ||
	    json_object_set_new(cred, "rp_id", json_string(rp_id)) < 0 ||
	    json_object_set_new(cred, "uv", json_boolean(c->uv)) < 0 ||
	    json_object_set_new(a, "fmt", json_string(att->fmt)) < 0)
		goto out;
	if ((r = set_b64(cred, "id", c->id, c->id_len)) < 0 ||
	    (r = set_b64(cred, "public_key", c->pk, c->pk_len)) < 0 ||
	    (r = set_b64(a, "authdata", att->authdata, att->authdata_len)) < 0 ||
	    (r = set_b64(a, "clientdata_hash", att->cdh, sizeof(att->cdh))) < 0 ||
	    (r = set_b64(a, "sig", att->sig, att->sig_len)) < 0 ||
	    (att->x5c_len && (r = set_b64(a, "x5c", att->x5c, att->x5c_len)) < 0))
		goto out;
	r = -ENOMEM;
	if (json_object_set(cred, "attestation", a) < 0 ||
	    json_object_set(reg, "credential", cred) < 0)
		goto out;
	*out = reg;
	reg = NULL;
	r = 0;
out:
	json_decref(a);
	json_decref(cred);
	json_decref(reg);
	return r;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mg_staff_register_call(const char *socket_path, const json_t *registration, unsigned timeout_s,
                           json_t **answer, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *line = NULL, *buf = NULL;
	size_t used = 0;
	int r, fd = -1;
	json_t *req = NULL;
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	req = json_pack("{s:s,s:O}", "cmd", "staff-register", "registration", registration);
	line = req ? json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	buf = malloc(MG_AGENT_ANSWER_MAX + 1);
	if (!line || !buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot connect to the agent at %s: %s", socket_path,
		         strerror(errno));
		goto out;
	}
	/* One line: the request and its newline. A failed send is not final: the agent may
	 * have answered and closed (a refusal), which is read below. */
	size_t len = strlen(line);
	if (send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len)
		(void)send(fd, "\n", 1, MSG_NOSIGNAL);
	long long deadline = mono_ms() + (long long)timeout_s * 1000;
	for (;;) {
		long long left = deadline - mono_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			snprintf(err, errlen, "no answer from the agent within %u s", timeout_s);
			goto out;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, left > 1000 ? 1000 : (int)left);
		if (pr < 0 && errno != EINTR) {
			r = -errno;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			goto out;
		}
		if (pr <= 0)
			continue;
		ssize_t n = recv(fd, buf + used, MG_AGENT_ANSWER_MAX - used, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "reading the answer: %s", strerror(errno));
			goto out;
		}
		used += (size_t)n;
		if (n == 0 || memchr(buf, '\n', used) || used == MG_AGENT_ANSWER_MAX)
			break;
	}
	char *nl = memchr(buf, '\n', used);
	size_t alen = nl ? (size_t)(nl - buf) : used;
	json_error_t je;
	json_t *a = alen ? json_loadb(buf, alen, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (!json_is_object(a) || !json_is_boolean(json_object_get(a, "ok")) ||
	    (!nl && used == MG_AGENT_ANSWER_MAX)) {
		json_decref(a);
		r = -EBADMSG;
		snprintf(err, errlen, "no valid answer from the agent");
		goto out;
	}
	*answer = a;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(line);
	json_decref(req);
	return r;
}

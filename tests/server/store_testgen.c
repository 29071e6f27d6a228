/* Deterministic event batches for the store tests and benchmarks (store_testgen.h). */
#include "store_testgen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/time.h"

#define JSON_SIZE 768
#define SLOT      (JSON_SIZE + 65 + 65)

static const char *const users[] = {"tanaka", "suzuki", "sato", "takahashi", "ito"};
static const struct {
	const char *vid, *pid, *serial, *name, *hash;
} devices[] = {
    {"0781", "5581", "4C530001230517115103", "Ultra",
     "Kq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"0781", "5583", "4C530001090517115104", "Ultra Fit",
     "Aq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"0951", "1666", "E0D55EA573DCF450E9A8", "DataTraveler 3.0",
     "Bq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"04e8", "6860", "R58M12ABCDE", "SAMSUNG_Android",
     "Cq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"05ac", "12a8", "00008030001A2B3C", "iPhone", "Dq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"0bda", "8153", "000001", "USB 10/100/1000 LAN",
     "Eq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"0a12", "0001", NULL, NULL, "Fq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
    {"1050", "0407", NULL, "YubiKey OTP+FIDO+CCID", "Gq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o="},
};

void tg_hash(const char *s, char out[65])
{
	static const uint64_t seeds[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull,
	                                  0x9e3779b97f4a7c15ull, 0x0123456789abcdefull};
	for (size_t k = 0; k < 4; k++) {
		uint64_t h = seeds[k];
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			h ^= *p;
			h *= 0x100000001b3ull;
		}
		h ^= h >> 29;
		h *= 0xbf58476d1ce4e5b9ull;
		h ^= h >> 32;
		snprintf(out + 16 * k, 17, "%016" PRIx64, h);
	}
}

static void make_json(char *json, const char *host, const char *boot_id, uint64_t seq, int tampered,
                      enum tg_mix mix)
{
	char t[MG_RFC3339_LEN];
	mg_time_format(TG_TIME0 + (int64_t)seq * 1000, t);
	const char *extra = tampered ? ",\"x\":\"tampered\"" : "";
	if (mix == TG_MIXED && seq % 4 == 0) {
		size_t d = (seq / 4) % (sizeof(devices) / sizeof(devices[0]));
		snprintf(
		    json, JSON_SIZE,
		    "{\"boot_id\":\"%s\",\"decision\":{\"applied\":true,\"blocked_interfaces\":"
		    "[],\"mode\":\"enforce\",\"target\":\"block\"},\"device\":{\"hash\":\"%s\","
		    "\"interfaces\":[\"08:06:50\"],\"name\":\"%s\",\"parent_hash\":"
		    "\"jEP/6WzviqdJ5VSeTUY8PatCNBKeaREvo2OqdplND/o=\",\"port\":\"1-2\","
		    "\"product_id\":\"%s\",\"serial\":\"%s\",\"syspath\":\"/devices/"
		    "pci0000:00/0000:00:14.0/usb1/1-2\",\"vendor_id\":\"%s\"},\"host\":\"%s\","
		    "\"seq\":%" PRIu64 ",\"time\":\"%s\",\"type\":\"device.blocked\"%s}",
		    boot_id, devices[d].hash, devices[d].name ? devices[d].name : "",
		    devices[d].pid, devices[d].serial ? devices[d].serial : "", devices[d].vid,
		    host, seq, t, extra);
	} else if (mix == TG_MIXED) {
		snprintf(
		    json, JSON_SIZE,
		    "{\"auth\":{\"credential\":\"key-1\",\"factor\":\"fido2\",\"failures\":0},"
		    "\"boot_id\":\"%s\",\"host\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\","
		    "\"type\":\"auth.success\",\"user\":{\"name\":\"%s\",\"service\":\"login\","
		    "\"tty\":\"tty1\"}%s}",
		    boot_id, host, seq, t, users[seq % 5], extra);
	} else {
		snprintf(json, JSON_SIZE,
		         "{\"agent\":{\"pid\":%" PRIu64
		         ",\"version\":\"0.1.0\"},\"boot_id\":\"%s\","
		         "\"host\":\"%s\",\"seq\":%" PRIu64 ",\"time\":\"%s\","
		         "\"type\":\"agent.started\"%s}",
		         seq % 32768, boot_id, host, seq, t, extra);
	}
}

int tg_batch_make(struct tg_batch *b, const char *host, const char *boot_id, uint64_t from,
                  uint64_t to, uint64_t tamper_seq, enum tg_mix mix)
{
	memset(b, 0, sizeof(*b));
	if (from < 1 || to < from)
		return -EINVAL;
	size_t n = (size_t)(to - from + 1);
	b->evs = calloc(n, sizeof(*b->evs));
	b->buf = malloc(n * SLOT);
	if (!b->evs || !b->buf) {
		tg_batch_free(b);
		return -ENOMEM;
	}
	b->n = n;
	char prev[65] = "";
	if (from > 1) {
		char json[JSON_SIZE];
		make_json(json, host, boot_id, from - 1, from - 1 == tamper_seq, mix);
		tg_hash(json, prev);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = from + i;
		char *json = b->buf + i * SLOT, *hash = json + JSON_SIZE, *ph = hash + 65;
		make_json(json, host, boot_id, seq, seq == tamper_seq, mix);
		tg_hash(json, hash);
		memcpy(ph, prev, 65);
		memcpy(prev, hash, 65);
		struct mg_store_event *e = &b->evs[i];
		e->seq = seq;
		e->time_us = TG_TIME0 + (int64_t)seq * 1000;
		e->json = json;
		e->hash = hash;
		e->prev_hash = ph;
		e->type = "agent.started";
		if (mix == TG_MIXED && seq % 4 == 0) {
			size_t d = (seq / 4) % (sizeof(devices) / sizeof(devices[0]));
			e->type = "device.blocked";
			e->device_vendor_id = devices[d].vid;
			e->device_product_id = devices[d].pid;
			e->device_serial = devices[d].serial;
			e->device_name = devices[d].name;
			e->device_hash = devices[d].hash;
		} else if (mix == TG_MIXED) {
			e->type = "auth.success";
			e->user = users[seq % 5];
		}
	}
	return 0;
}

void tg_batch_free(struct tg_batch *b)
{
	if (!b)
		return;
	free(b->evs);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* SHA-256 as hex (digest.h). */
#include "digest.h"

#include <errno.h>
#include <pthread.h>

#include <openssl/evp.h>

/* SHA-256 fetched once: EVP_sha256() makes every EVP_Digest() look the algorithm up again
 * (a lock and reference counts per call, for each of a batch's thousand events). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int mg_sha256_hex(const void *data, size_t len, char hex[MG_SHA256_HEX_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	static const char digits[] = "0123456789abcdef";
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md || EVP_Digest(data, len, md, &mdlen, sha256_md, NULL) != 1 || mdlen != 32)
		return -EIO;
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	return 0;
}

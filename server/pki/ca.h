/*
 * The collector's own certificate authority (OpenSSL libcrypto, EC P-256, X.509 v3).
 *
 * Files in the data directory: ca.key (0600) and ca.pem, the CA; server.key (0600) and
 * server.pem, the TLS server certificate signed by the CA. Client certificates are issued
 * to enrolled hosts from a CSR: subject CN "mynaguard-host-<id>", a random positive 128-bit
 * serial, clientAuth extended key usage. All functions return 0 or a negative errno.
 */
#ifndef MG_CA_H
#define MG_CA_H

#include <stddef.h>
#include <stdint.h>

#define MG_CA_SERIAL_HEX 33 /* 32 lower-case hex digits and the NUL */

struct mg_ca;

/* Creates DIR/ca.key and DIR/ca.pem (valid for days). -EEXIST when ca.key exists. */
int mg_ca_create(const char *dir, uint32_t days);
/*
 * Creates DIR/server.key and DIR/server.pem for the DNS names and IP addresses in names
 * (n >= 1; an entry that parses as an IP address becomes an IP SAN), signed by the CA in dir.
 */
int mg_ca_create_server(const char *dir, const char *const *names, size_t n, uint32_t days);

/* Loads the CA (DIR/ca.key, DIR/ca.pem). */
int mg_ca_load(const char *dir, struct mg_ca **out);
void mg_ca_free(struct mg_ca **ca);
/* The CA certificate in PEM (owned by ca). */
const char *mg_ca_pem(const struct mg_ca *ca);

/*
 * Checks a PEM CSR: parses, its self-signature verifies, the key is EC P-256. -EINVAL
 * otherwise, with err naming why.
 */
int mg_ca_check_csr(const char *pem, size_t len, char *err, size_t errlen);
/* A fresh serial: 16 random bytes, positive, no leading zero byte, as lower-case hex. */
int mg_ca_new_serial(char hex[MG_CA_SERIAL_HEX]);
/*
 * Issues a client certificate for host_id with the key of the CSR (checked as above), the
 * given serial (from mg_ca_new_serial()) and validity. *pem_out: malloc'd PEM.
 */
int mg_ca_sign_csr(struct mg_ca *ca, const char *csr_pem, size_t len, int64_t host_id,
                   const char *serial_hex, uint32_t days, char **pem_out);

#endif

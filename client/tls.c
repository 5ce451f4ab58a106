/*
 * tls.c - the client's TLS: a TLS 1.3-only context with the organisation's
 * certificate and key and the federation CA, the handshake with the relay
 * (certificate chain, host name or IP address, ALPN "vigil/1") and reading
 * an identity out of a certificate subject.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "client/internal.h"
#include "proto/record.h"

static const unsigned char alpn_wire[] = "\x07" VIGIL_ALPN;

/* Encrypted keys are not supported: a library must never prompt on the
 * terminal for a pass phrase, so decryption simply fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A file we cannot open gets the system's reason rather than OpenSSL's. */
static int readable(const char *what, const char *path, struct vigil_error *err)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return vigil__error_set(err, VIGIL_E_IO, "cannot read %s %s: %s", what, path,
					strerror(errno));
	fclose(f);
	return VIGIL_OK;
}

int vigil__tls_ctx_new(const struct vigil_options *o, SSL_CTX **out, struct vigil_error *err)
{
	int rc;
	if ((rc = readable("certificate", o->cert_file, err)) != VIGIL_OK ||
	    (rc = readable("key", o->key_file, err)) != VIGIL_OK ||
	    (rc = readable("CA file", o->ca_file, err)) != VIGIL_OK)
		return rc;

	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot create a TLS context");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		rc = vigil__error_ssl(err, VIGIL_E_TLS, "cannot restrict TLS to version 1.3");
		goto fail;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
		rc = vigil__error_ssl(err, VIGIL_E_IO, "cannot load certificate %s", o->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
		rc = vigil__error_ssl(err, VIGIL_E_IO,
				      "cannot load private key %s", o->key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		rc = vigil__error_ssl(err, VIGIL_E_IO, "key %s does not belong to certificate %s",
				      o->key_file, o->cert_file);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
		rc = vigil__error_ssl(err, VIGIL_E_IO, "cannot load CA certificates from %s",
				      o->ca_file);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Unlike most OpenSSL calls, this one returns 0 on success. */
	if (SSL_CTX_set_alpn_protos(ctx, alpn_wire, sizeof(alpn_wire) - 1) != 0) {
		rc = vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot set ALPN");
		goto fail;
	}
	*out = ctx;
	return VIGIL_OK;
fail:
	SSL_CTX_free(ctx);
	return rc;
}

static void subject_field(const X509_NAME *name, int nid, char *out, size_t n)
{
	out[0] = '\0';
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	if (i < 0)
		return;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8, s);
	if (len < 0)
		return;
	/* A NUL inside the field would hide the rest; keep what is before it. */
	vigil__error_copy_text(out, n, (const char *)utf8);
	OPENSSL_free(utf8);
}

int vigil__tls_identity(X509 *cert, struct vigil_identity *id)
{
	memset(id, 0, sizeof(*id));
	if (!cert)
		return VIGIL_E_TLS;
	const X509_NAME *name = X509_get_subject_name(cert);
	subject_field(name, NID_organizationName, id->organisation, sizeof(id->organisation));
	subject_field(name, NID_organizationalUnitName, id->role, sizeof(id->role));
	subject_field(name, NID_countryName, id->country, sizeof(id->country));
	subject_field(name, NID_commonName, id->common_name, sizeof(id->common_name));
	unsigned int len = 0;
	if (X509_digest(cert, EVP_sha256(), id->cert_sha256, &len) != 1 || len != SHA256_LEN)
		return VIGIL_E_NOMEM;
	return VIGIL_OK;
}

static int is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int handshake_failure(struct vigil_client *c, int ret, int errno_saved,
			     struct vigil_error *err)
{
	long vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		ERR_clear_error();
		return vigil__error_set(err, VIGIL_E_TLS,
					"TLS handshake with relay %s failed: its certificate does "
					"not verify: %s", c->where, X509_verify_cert_error_string(vr));
	}
	int e = SSL_get_error(c->ssl, ret);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ||
	    (e == SSL_ERROR_SYSCALL && (errno_saved == EAGAIN || errno_saved == EWOULDBLOCK))) {
		ERR_clear_error();
		return vigil__error_set(err, VIGIL_E_CONNECT,
					"TLS handshake with relay %s timed out after %d ms", c->where,
					c->timeout_ms);
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno_saved == 0 || ret == 0)
			return vigil__error_set(err, VIGIL_E_TLS,
						"TLS handshake with relay %s failed: it closed the "
						"connection", c->where);
		return vigil__error_set(err, VIGIL_E_TLS, "TLS handshake with relay %s failed: %s",
					c->where, strerror(errno_saved));
	}
	return vigil__error_ssl(err, VIGIL_E_TLS, "TLS handshake with relay %s failed", c->where);
}

int vigil__tls_handshake(struct vigil_client *c, const char *host, struct vigil_error *err)
{
	ERR_clear_error();
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl)
		return vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot create a TLS session");
	if (SSL_set_fd(c->ssl, c->fd) != 1)
		return vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot attach the socket to TLS");
	if (is_ip_literal(host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1)
			return vigil__error_ssl(err, VIGIL_E_USAGE, "bad IP address %s", host);
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(c->ssl, host) != 1 || SSL_set1_host(c->ssl, host) != 1)
			return vigil__error_ssl(err, VIGIL_E_USAGE, "bad host name %s", host);
	}

	struct vigil__sigpipe g;
	vigil__sigpipe_block(&g);
	int ret = SSL_connect(c->ssl);
	int errno_saved = errno;
	vigil__sigpipe_restore(&g);
	if (ret != 1)
		return handshake_failure(c, ret, errno_saved, err);

	const unsigned char *proto = NULL;
	unsigned int proto_len = 0;
	SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
	if (proto_len != sizeof(VIGIL_ALPN) - 1 || memcmp(proto, VIGIL_ALPN, proto_len) != 0)
		return vigil__error_set(err, VIGIL_E_TLS,
					"TLS handshake with relay %s failed: it did not select "
					"ALPN protocol \"%s\"", c->where, VIGIL_ALPN);
	X509 *peer = SSL_get0_peer_certificate(c->ssl);
	if (vigil__tls_identity(peer, &c->relay) != VIGIL_OK)
		return vigil__error_set(err, VIGIL_E_TLS, "cannot read the relay's certificate");
	/* Alerts are signed with the key of this certificate. */
	c->relay_key = X509_get_pubkey(peer);
	if (!c->relay_key)
		return vigil__error_ssl(err, VIGIL_E_TLS, "cannot read the relay's public key");
	return VIGIL_OK;
}

/*
 * tls.c - the client's TLS: a TLS 1.3-only context with the organisation's
 * certificate and key and the federation CA, the handshake with the relay
 * (certificate chain, host name or IP address, ALPN "vigil/1"), the
 * sessions kept for resumption (internal.h) and reading an identity out of
 * a certificate subject.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "client/internal.h"
#include "proto/record.h"

static const unsigned char alpn_wire[] = "\x07" VIGIL_ALPN;

/* ---- saved sessions ----------------------------------------------------------------- */

/* A few relays per process at most; the oldest entry makes room. */
#define SESSIONS_MAX 8

static struct {
	uint8_t key[SHA256_LEN];
	SSL_SESSION *sess;
	uint64_t stamp;   /* when saved, in saves: the oldest goes first */
} sessions[SESSIONS_MAX];
static uint64_t sessions_stamp;
static pthread_mutex_t sessions_mu = PTHREAD_MUTEX_INITIALIZER;

/* The SSL's vigil_client, for the new-session callback. */
static int client_idx = -1;
static pthread_once_t client_idx_once = PTHREAD_ONCE_INIT;

static void client_idx_make(void)
{
	client_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void vigil__tls_session_key(struct vigil_client *c, const char *ca_file)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, c->where, strlen(c->where) + 1) != 1 ||
	    EVP_DigestUpdate(md, c->self.cert_sha256, SHA256_LEN) != 1 ||
	    EVP_DigestUpdate(md, ca_file, strlen(ca_file) + 1) != 1 ||
	    EVP_DigestFinal_ex(md, c->session_key, &n) != 1)
		memset(c->session_key, 0, sizeof(c->session_key)); /* all zero: never saved */
	EVP_MD_CTX_free(md);
	ERR_clear_error();
}

static int key_set(const uint8_t key[SHA256_LEN])
{
	static const uint8_t zero[SHA256_LEN];
	return memcmp(key, zero, SHA256_LEN) != 0;
}

/* Takes the session saved for key (NULL: none, or it has expired). */
static SSL_SESSION *session_take(const uint8_t key[SHA256_LEN])
{
	SSL_SESSION *s = NULL;
	pthread_mutex_lock(&sessions_mu);
	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		if (!sessions[i].sess || memcmp(sessions[i].key, key, SHA256_LEN) != 0)
			continue;
		s = sessions[i].sess;
		sessions[i].sess = NULL;
		break;
	}
	pthread_mutex_unlock(&sessions_mu);
	/* OpenSSL would not offer an expired ticket either. */
	if (s && (!SSL_SESSION_is_resumable(s) ||
		  (uint64_t)time(NULL) >= (uint64_t)SSL_SESSION_get_time(s) +
						  (uint64_t)SSL_SESSION_get_timeout(s))) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

/* OpenSSL's new-session callback: a ticket from the relay (in TLS 1.3
 * after the handshake, while we read) replaces the one saved before. */
static int session_new(SSL *ssl, SSL_SESSION *sess)
{
	const struct vigil_client *c = client_idx >= 0 ? SSL_get_ex_data(ssl, client_idx) : NULL;
	if (!c || !key_set(c->session_key))
		return 0;
	/* A copy: OpenSSL marks the session of a connection that ends without
	 * close_notify (the relay went away) as not resumable, which TLS 1.3
	 * no longer asks for (RFC 8446, section 6), and a lost connection is
	 * exactly when `vigil alerts --follow` reconnects. */
	SSL_SESSION *copy = SSL_SESSION_dup(sess);
	if (!copy) {
		ERR_clear_error();
		return 0;
	}
	SSL_SESSION *old = NULL;
	pthread_mutex_lock(&sessions_mu);
	size_t at = 0;
	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		if (sessions[i].sess && memcmp(sessions[i].key, c->session_key, SHA256_LEN) == 0) {
			at = i;
			break;
		}
		if (!sessions[i].sess ||
		    (sessions[at].sess && sessions[i].stamp < sessions[at].stamp))
			at = i;
	}
	old = sessions[at].sess;
	memcpy(sessions[at].key, c->session_key, SHA256_LEN);
	sessions[at].sess = copy;
	sessions[at].stamp = ++sessions_stamp;
	pthread_mutex_unlock(&sessions_mu);
	SSL_SESSION_free(old);
	return 0; /* OpenSSL keeps its reference to sess */
}

void vigil__tls_sessions_clear(void)
{
	pthread_mutex_lock(&sessions_mu);
	for (size_t i = 0; i < SESSIONS_MAX; i++) {
		SSL_SESSION_free(sessions[i].sess);
		sessions[i].sess = NULL;
	}
	pthread_mutex_unlock(&sessions_mu);
}

int vigil__tls_resumed(const struct vigil_client *c)
{
	return c ? c->resumed : 0;
}

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
	/* Tickets reach session_new(); OpenSSL's own client cache would live
	 * and die with this context, which lasts one connection. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, session_new);
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

	pthread_once(&client_idx_once, client_idx_make);
	if (client_idx < 0 || SSL_set_ex_data(c->ssl, client_idx, c) != 1)
		return vigil__error_ssl(err, VIGIL_E_NOMEM, "cannot create a TLS session");
	if (key_set(c->session_key)) {
		SSL_SESSION *sess = session_take(c->session_key);
		/* A session that cannot be set is simply not offered. */
		if (sess && SSL_set_session(c->ssl, sess) != 1)
			ERR_clear_error();
		SSL_SESSION_free(sess);
	}

	struct vigil__sigpipe g;
	vigil__sigpipe_block(&g);
	int ret = SSL_connect(c->ssl);
	int errno_saved = errno;
	vigil__sigpipe_restore(&g);
	if (ret != 1)
		return handshake_failure(c, ret, errno_saved, err);
	c->resumed = SSL_session_reused(c->ssl) == 1;

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

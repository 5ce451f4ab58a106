#include "daemon/tickets.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "daemon/identity.h"
#include "daemon/log.h"
#include "daemon/ticketkeys.h"
#include "daemon/tls.h"

/* The session id context of every vigild session: OpenSSL refuses to
 * resume a session with client authentication without one, and it must
 * stay the same across reloads for tickets to survive them. */
static const unsigned char sid_ctx[] = "vigild/1";

/* Bytes of application data before the chain: the time of issue. */
#define ISSUED_LEN 8
/* At most this many bytes of chain in a ticket (verify depth 4 allows
 * three certificates above the leaf). */
#define CHAIN_MAX 16384

struct tickets {
	atomic_int refs;
	struct ticketkeys keys;
	struct tickets_stats stats;
};

/* What a context carries in its ex_data slot. */
struct binding {
	struct tickets *t;
	uint64_t lifetime_ms;
};

static int binding_idx = -1;

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct tickets *tickets_new(char *err, size_t err_len)
{
	uint8_t material[TICKETKEYS_MATERIAL];
	if (RAND_priv_bytes(material, sizeof(material)) != 1) {
		snprintf(err, err_len, "cannot make a session ticket key: no random bytes");
		ERR_clear_error();
		return NULL;
	}
	struct tickets *t = calloc(1, sizeof(*t));
	if (!t) {
		OPENSSL_cleanse(material, sizeof(material));
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	atomic_init(&t->refs, 1);
	ticketkeys_init(&t->keys, wall_ms(), material);
	OPENSSL_cleanse(material, sizeof(material));
	return t;
}

struct tickets *tickets_ref(struct tickets *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

void tickets_release(struct tickets **tp)
{
	struct tickets *t = *tp;
	*tp = NULL;
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	ticketkeys_wipe(&t->keys);
	free(t);
}

uint64_t tickets_rotate(struct tickets *t, int64_t now_ms, uint64_t lifetime_ms)
{
	if (ticketkeys_due(&t->keys, now_ms, lifetime_ms)) {
		uint8_t material[TICKETKEYS_MATERIAL];
		int ok = RAND_priv_bytes(material, sizeof(material)) == 1;
		if (!ok) {
			ERR_clear_error();
			log_err("cannot make a new session ticket key (no random bytes); the "
				"current one seals tickets a while longer");
		}
		size_t before = t->keys.n;
		int fresh = ticketkeys_rotate(&t->keys, now_ms, lifetime_ms, ok ? material : NULL);
		OPENSSL_cleanse(material, sizeof(material));
		if (fresh)
			log_debug("session ticket keys: a new key seals tickets; %zu held",
				  t->keys.n);
		else if (t->keys.n < before)
			log_debug("session ticket keys: %zu dropped; %zu held", before - t->keys.n,
				  t->keys.n);
		if (!ok)
			return 60 * 1000; /* try again in a minute */
	}
	return ticketkeys_next_ms(&t->keys, now_ms, lifetime_ms);
}

size_t tickets_keys(const struct tickets *t)
{
	return t->keys.n;
}

const struct tickets_stats *tickets_stats(const struct tickets *t)
{
	return &t->stats;
}

static void binding_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			 void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct binding *b = ptr;
	if (!b)
		return;
	tickets_release(&b->t);
	free(b);
}

static struct binding *binding_of(SSL *s)
{
	return binding_idx < 0 ? NULL : SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), binding_idx);
}

uint64_t tickets_lifetime_ms(SSL_CTX *ctx)
{
	struct binding *b = binding_idx < 0 ? NULL : SSL_CTX_get_ex_data(ctx, binding_idx);
	return b ? b->lifetime_ms : 0;
}

/* Cipher and MAC keys of one ticket. */
static int key_setup(const struct ticketkey *key, unsigned char *iv, EVP_CIPHER_CTX *ectx,
		     EVP_MAC_CTX *hctx, int enc)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac,
						  sizeof(key->hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 ? 0 : -1;
}

/*
 * OpenSSL's ticket key callback.  Sealing: the current key, a random IV;
 * 0 (no ticket) if that fails.  Opening: 0 when the key is not held any
 * more (the ticket is ignored), 2 ("use, and issue a new ticket") when it
 * is a retired one.
 */
static int key_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
		  EVP_MAC_CTX *hctx, int enc)
{
	_Static_assert(TICKETKEYS_NAME_LEN == 16, "OpenSSL's key name is 16 bytes");
	struct binding *b = binding_of(s);
	if (!b || b->t->keys.n == 0)
		return 0;
	struct tickets *t = b->t;
	if (enc) {
		const struct ticketkey *key = &t->keys.keys[0];
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1 ||
		    key_setup(key, iv, ectx, hctx, 1) != 0) {
			ERR_clear_error();
			return 0;
		}
		memcpy(key_name, key->name, TICKETKEYS_NAME_LEN);
		t->stats.issued++;
		return 1;
	}
	const struct ticketkey *key = ticketkeys_find(&t->keys, key_name, wall_ms(), b->lifetime_ms);
	if (!key) {
		t->stats.refused_key++;
		return 0;
	}
	if (key_setup(key, iv, ectx, hctx, 0) != 0) {
		ERR_clear_error();
		return 0;
	}
	return key == &t->keys.keys[0] ? 1 : 2;
}

/* The server's view of the peer's chain may hold the leaf itself, which
 * the session keeps anyway: a ticket carries only what is above it. */
static int above_leaf(X509 *x, X509 *leaf)
{
	return !leaf || X509_cmp(x, leaf) != 0;
}

/*
 * Before a ticket is sealed: its application data, the time of issue and
 * the certificates the peer sent above its leaf.  After a resumption the
 * peer sent none; the chain of the ticket it resumed with is carried on.
 */
static int gen_cb(SSL *s, void *arg)
{
	(void)arg;
	SSL_SESSION *sess = SSL_get_session(s);
	if (!sess)
		return 0;
	uint8_t *buf = NULL;
	size_t len = ISSUED_LEN;
	const uint8_t *old = NULL;
	size_t old_len = 0;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	if (SSL_session_reused(s)) {
		void *p = NULL;
		if (SSL_SESSION_get0_ticket_appdata(sess, &p, &old_len) == 1 && p &&
		    old_len >= ISSUED_LEN) {
			old = (const uint8_t *)p + ISSUED_LEN;
			old_len -= ISSUED_LEN;
		} else {
			old_len = 0;
		}
		len += old_len;
	} else {
		chain = SSL_get_peer_cert_chain(s);
		leaf = SSL_get0_peer_certificate(s);
		for (int i = 0; i < sk_X509_num(chain); i++) {
			if (above_leaf(sk_X509_value(chain, i), leaf)) {
				int n = i2d_X509(sk_X509_value(chain, i), NULL);
				if (n <= 0)
					return 0;
				len += (size_t)n;
			}
		}
	}
	if (len - ISSUED_LEN > CHAIN_MAX) {
		/* Sealed without its chain, the ticket will fail the check
		 * and cost its holder a full handshake: nothing worse. */
		len = ISSUED_LEN;
		chain = NULL;
		old_len = 0;
	}
	buf = malloc(len);
	if (!buf)
		return 0;
	uint64_t now = (uint64_t)wall_ms();
	for (int i = 0; i < ISSUED_LEN; i++)
		buf[i] = (uint8_t)(now >> (56 - 8 * i));
	uint8_t *p = buf + ISSUED_LEN;
	if (old_len)
		memcpy(p, old, old_len);
	for (int i = 0; chain && i < sk_X509_num(chain); i++)
		if (above_leaf(sk_X509_value(chain, i), leaf))
			i2d_X509(sk_X509_value(chain, i), &p);
	int ok = SSL_SESSION_set1_ticket_appdata(sess, buf, len) == 1;
	free(buf);
	return ok;
}

/* The certificates after the time of issue; NULL when there are none
 * (or they do not parse: the check then fails without them). */
static STACK_OF(X509) *chain_parse(const uint8_t *p, size_t len)
{
	if (len == 0)
		return NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	const uint8_t *end = p + len;
	while (chain && p < end) {
		X509 *x = d2i_X509(NULL, &p, (long)(end - p));
		if (!x || !sk_X509_push(chain, x)) {
			X509_free(x);
			sk_X509_pop_free(chain, X509_free);
			chain = NULL;
		}
	}
	ERR_clear_error();
	return chain;
}

static SSL_TICKET_RETURN refuse(SSL_TICKET_STATUS status)
{
	(void)status;
	/* No resumption; in TLS 1.3 the full handshake that follows issues
	 * a new ticket anyway. */
	return SSL_TICKET_RETURN_IGNORE_RENEW;
}

/*
 * After a ticket was opened: steps 2 and 3 of tickets.h.  Runs on the loop
 * thread inside the ClientHello; the chain check costs about one
 * signature verification per certificate.
 */
static SSL_TICKET_RETURN dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
				size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	(void)keyname;
	(void)keyname_len;
	(void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		break;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER:
		return SSL_TICKET_RETURN_ABORT;
	default: /* no ticket, an empty one, or one we cannot open */
		return refuse(status);
	}
	struct binding *b = binding_of(s);
	if (!b || !ss)
		return refuse(status);
	struct tickets *t = b->t;
	void *data = NULL;
	size_t len = 0;
	if (SSL_SESSION_get0_ticket_appdata(ss, &data, &len) != 1 || !data || len < ISSUED_LEN) {
		t->stats.refused_check++;
		return refuse(status);
	}
	const uint8_t *d = data;
	uint64_t issued = 0;
	for (int i = 0; i < ISSUED_LEN; i++)
		issued = issued << 8 | d[i];
	X509 *leaf = SSL_SESSION_get0_peer(ss);
	struct identity id;
	char why[TLS_WHY_LEN];
	const char *org = leaf && identity_from_cert(leaf, &id, why, sizeof(why)) == 0
				  ? id.org
				  : "an unknown peer";
	int64_t now = wall_ms();
	if (!ticketkeys_age_ok((int64_t)issued, now, b->lifetime_ms)) {
		t->stats.refused_expired++;
		log_info("session ticket of %s refused: issued %lld s ago, its lifetime is %llu s; "
			 "a full handshake follows", org,
			 (long long)((now - (int64_t)issued) / 1000),
			 (unsigned long long)(b->lifetime_ms / 1000));
		return refuse(status);
	}
	if (!leaf) {
		t->stats.refused_check++;
		return refuse(status);
	}
	STACK_OF(X509) *chain = chain_parse(d + ISSUED_LEN, len - ISSUED_LEN);
	int bad = tls_peer_recheck(SSL_get_SSL_CTX(s), leaf, chain, why, sizeof(why)) != 0;
	sk_X509_pop_free(chain, X509_free);
	if (bad) {
		t->stats.refused_check++;
		log_info("session ticket of %s refused: %s; a full handshake follows", org, why);
		return refuse(status);
	}
	/* A fresh ticket after every resumption (RFC 8446 asks clients to use
	 * a ticket once; libvigil does). */
	return SSL_TICKET_RETURN_USE_RENEW;
}

int tickets_attach(SSL_CTX *ctx, struct tickets *t, uint64_t lifetime_ms, char *err,
		   size_t err_len)
{
	char ebuf[256];
	/* First called at start-up, before any other thread exists. */
	if (binding_idx < 0)
		binding_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, binding_free);
	struct binding *b = calloc(1, sizeof(*b));
	if (binding_idx < 0 || !b) {
		free(b);
		snprintf(err, err_len, "session tickets: %s", tls_last_error(ebuf, sizeof(ebuf)));
		return -1;
	}
	b->t = tickets_ref(t);
	b->lifetime_ms = lifetime_ms;
	if (SSL_CTX_set_ex_data(ctx, binding_idx, b) != 1) {
		tickets_release(&b->t);
		free(b);
		snprintf(err, err_len, "session tickets: %s", tls_last_error(ebuf, sizeof(ebuf)));
		return -1;
	}
	long secs = (long)(lifetime_ms / 1000);
	SSL_CTX_set_timeout(ctx, secs > 0 ? secs : 1);
	if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, key_cb) != 1 ||
	    SSL_CTX_set_session_ticket_cb(ctx, gen_cb, dec_cb, NULL) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 1) != 1) {
		snprintf(err, err_len, "session tickets: %s", tls_last_error(ebuf, sizeof(ebuf)));
		return -1;
	}
	/* Stateless tickets need no session cache on the relay. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	return 0;
}

/*
 * conn.c - the life of a vigil_client: connect (checkpoint key, TCP, TLS,
 * Hello/Welcome), the accessors for who is at either end, and close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "client/internal.h"
#include "proto/record.h"

const char *vigil__conn_role_name(int role)
{
	switch (role) {
	case VIGIL__V1__ROLE__ROLE_COORDINATOR: return "coordinator";
	case VIGIL__V1__ROLE__ROLE_POLICE: return "police";
	case VIGIL__V1__ROLE__ROLE_IOM: return "iom";
	case VIGIL__V1__ROLE__ROLE_SHELTER: return "shelter";
	case VIGIL__V1__ROLE__ROLE_RELAY: return "relay";
	default: return "";
	}
}

static int welcome_take(struct vigil_client *c, const Vigil__V1__Welcome *w,
			struct vigil_error *err)
{
	struct vigil_welcome *out = &c->welcome;
	if (w->protocol_version != VIGIL_PROTOCOL_VERSION)
		return vigil__error_set(err, VIGIL_E_PROTOCOL,
					"the relay speaks protocol version %u; we speak %u",
					w->protocol_version, VIGIL_PROTOCOL_VERSION);
	out->protocol_version = w->protocol_version;
	out->max_frame = w->max_frame;
	vigil__error_copy_text(out->software, sizeof(out->software), w->software);
	if (w->peer) {
		const Vigil__V1__Identity *p = w->peer;
		struct vigil_identity *id = &out->peer;
		vigil__error_copy_text(id->organisation, sizeof(id->organisation), p->organisation);
		vigil__error_copy_text(id->role, sizeof(id->role), vigil__conn_role_name(p->role));
		vigil__error_copy_text(id->country, sizeof(id->country), p->country);
		vigil__error_copy_text(id->common_name, sizeof(id->common_name), p->common_name);
		if (p->cert_sha256.len == SHA256_LEN)
			memcpy(id->cert_sha256, p->cert_sha256.data, SHA256_LEN);
		/* Every receipt's leaf hash covers the hash of the certificate the
		 * relay saw; if that is not ours, no receipt would verify. */
		if (p->cert_sha256.len == SHA256_LEN &&
		    memcmp(p->cert_sha256.data, c->self.cert_sha256, SHA256_LEN) != 0)
			return vigil__error_set(err, VIGIL_E_PROTOCOL,
						"the relay reports a certificate hash that is not "
						"the hash of our certificate");
		if (p->organisation[0] && strcmp(p->organisation, c->self.organisation) != 0)
			return vigil__error_set(err, VIGIL_E_PROTOCOL,
						"the relay sees organisation \"%s\"; our certificate "
						"says \"%s\"", id->organisation,
						c->self.organisation);
	}
	c->send_max = w->max_frame ? w->max_frame : FRAME_DEFAULT_MAX;
	return VIGIL_OK;
}

static int hello(struct vigil_client *c, struct vigil_error *err)
{
	Vigil__V1__Hello h = VIGIL__V1__HELLO__INIT;
	h.protocol_version = VIGIL_PROTOCOL_VERSION;
	h.software = (char *)"libvigil/" VIGIL_VERSION;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.request_id = c->next_request_id++;
	f.msg_case = VIGIL__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	int rc = vigil__wire_send(c, &f, err);
	if (rc != VIGIL_OK)
		return rc;

	Vigil__V1__Frame *a = NULL;
	rc = vigil__wire_recv(c, &a, "waiting for the welcome", err);
	if (rc == VIGIL_E_PROTOCOL && c->peer_closed && err) {
		/* With TLS 1.3 the relay checks our certificate after our side of
		 * the handshake is done, so a refusal can look like this. */
		size_t n = strlen(err->message);
		snprintf(err->message + n, sizeof(err->message) - n,
			 " (did it refuse our certificate?)");
	}
	if (rc != VIGIL_OK)
		return rc;
	if (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
		rc = vigil__error_refused(err, a->error->code, a->error->message);
	} else if (a->msg_case != VIGIL__V1__FRAME__MSG_WELCOME || a->request_id != f.request_id) {
		rc = vigil__error_set(err, VIGIL_E_PROTOCOL,
				      "the relay answered our hello (request %llu) with a frame of "
				      "type %d for request %llu",
				      (unsigned long long)f.request_id, (int)a->msg_case,
				      (unsigned long long)a->request_id);
	} else {
		rc = welcome_take(c, a->welcome, err);
	}
	frame_free(a);
	if (rc != VIGIL_OK && rc != VIGIL_E_REFUSED)
		vigil__wire_kill(c, err, rc);
	return rc;
}

#define OPTION_MISSING(field, name)                                                    \
	do {                                                                           \
		if (!o->field || !o->field[0])                                         \
			return vigil__error_set(err, VIGIL_E_USAGE, "no %s given", name); \
	} while (0)

/* The options every connection needs, whatever the relay. */
static int options_check(const struct vigil_options *o, struct vigil_error *err)
{
	OPTION_MISSING(cert_file, "certificate file");
	OPTION_MISSING(key_file, "key file");
	OPTION_MISSING(ca_file, "CA file");
	if (o->timeout_ms < 0)
		return vigil__error_set(err, VIGIL_E_USAGE, "timeout %d ms is negative",
					o->timeout_ms);
	return VIGIL_OK;
}

/* A client that is not connected yet: the checkpoint key (loaded), the
 * TLS context with our certificate, and our encryption keys, all checked
 * before the network. */
static int client_new(const struct vigil_options *o, const struct vigil_checkpoint_key *ckey,
		      struct vigil_client **out, struct vigil_error *err)
{
	int rc;
	struct vigil_client *c = calloc(1, sizeof(*c));
	if (!c)
		return vigil__error_set(err, VIGIL_E_NOMEM, "out of memory");
	c->fd = -1;
	c->ckey = *ckey;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : VIGIL_DEFAULT_TIMEOUT_MS;
	c->next_request_id = 1;
	c->send_max = FRAME_DEFAULT_MAX;
	frame_reader_init(&c->reader, VIGIL_RECV_MAX);
	rc = vigil__tls_ctx_new(o, &c->ctx, err);
	if (rc != VIGIL_OK)
		goto fail;
	c->key = SSL_CTX_get0_privatekey(c->ctx);
	if (vigil__tls_identity(SSL_CTX_get0_certificate(c->ctx), &c->self) != VIGIL_OK) {
		rc = vigil__error_set(err, VIGIL_E_IO, "cannot read certificate %s", o->cert_file);
		goto fail;
	}
	/* Our encryption certificate and key, checked before the network. */
	rc = vigil__seal_keys_load(c, o, err);
	if (rc != VIGIL_OK)
		goto fail;
	*out = c;
	return VIGIL_OK;
fail:
	vigil_close(&c);
	return rc;
}

/* Ends c's connection, if any (close_notify only on a healthy one: one
 * that failed has nothing to say, and a dead peer must not make us wait),
 * and forgets what belonged to it, so that c can connect again. */
static void client_hangup(struct vigil_client *c)
{
	if (c->ssl) {
		if (!c->dead && SSL_is_init_finished(c->ssl)) {
			struct vigil__sigpipe g;
			vigil__sigpipe_block(&g);
			SSL_shutdown(c->ssl);
			vigil__sigpipe_restore(&g);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	EVP_PKEY_free(c->relay_key);
	c->relay_key = NULL;
	frame_reader_free(&c->reader);
	frame_reader_init(&c->reader, VIGIL_RECV_MAX);
	c->dead = 0;
	c->peer_closed = 0;
	c->dead_why[0] = '\0';
	c->next_request_id = 1;
	c->send_max = FRAME_DEFAULT_MAX;
	c->resumed = 0;
	memset(&c->relay, 0, sizeof(c->relay));
	memset(&c->welcome, 0, sizeof(c->welcome));
	ERR_clear_error();
}

/* TCP, TLS and Hello / Welcome with relay r; the saved session offered is
 * the one r's address issued. */
static int client_dial(struct vigil_client *c, const struct vigil__relay *r, const char *ca_file,
		       struct vigil_error *err)
{
	snprintf(c->where, sizeof(c->where), strchr(r->host, ':') ? "[%s]:%s" : "%s:%s",
		 r->host, r->port);
	vigil__tls_session_key(c, ca_file);
	int rc = vigil__net_connect(r->host, r->port, c->timeout_ms, &c->fd, err);
	if (rc != VIGIL_OK)
		return rc;
	rc = vigil__tls_handshake(c, r->host, err);
	if (rc != VIGIL_OK) {
		vigil__wire_kill(c, err, rc);
		return rc;
	}
	return hello(c, err);
}

/* "R1: why; R2: why": every relay named, the reasons cut short (ending
 * with "...") when the whole would not fit in a message. */
static void failures_join(char *out, size_t n, char (*where)[VIGIL__WHERE_MAX],
			  const struct vigil_error *why, size_t tried)
{
	size_t fixed = 0, reasons = 0;
	for (size_t k = 0; k < tried; k++) {
		fixed += strlen(where[k]) + 2 + (k ? 2 : 0);
		reasons += strlen(why[k].message);
	}
	size_t room = n - 1 > fixed ? n - 1 - fixed : 0;
	size_t each = fixed + reasons <= n - 1 ? SIZE_MAX : room / tried;
	size_t len = 0;
	out[0] = '\0';
	for (size_t k = 0; k < tried && len + 1 < n; k++) {
		const char *m = why[k].message;
		size_t ml = strlen(m);
		int cut = ml > each;
		if (cut)
			ml = each > 3 ? each - 3 : 0;
		int w = snprintf(out + len, n - len, "%s%s: %.*s%s", k ? "; " : "", where[k],
				 (int)ml, m, cut && each > 3 ? "..." : "");
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/*
 * Tries the n relays of rs from first on; *out on the first that answers.
 * With one relay its own error; with more, every relay and why.
 */
static int connect_list(const struct vigil_options *o, const struct vigil__relay *rs, size_t n,
			size_t first, vigil_client **out, struct vigil_error *err)
{
	/* Without the checkpoint key no receipt could be verified: fail
	 * before touching the network. */
	struct vigil_checkpoint_key ckey;
	int rc = vigil_checkpoint_key_load(o->checkpoint_key, &ckey, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil_client *c = NULL;
	rc = client_new(o, &ckey, &c, err);
	if (rc != VIGIL_OK)
		return rc;
	struct vigil_error why[VIGIL_RELAYS_MAX];
	char where[VIGIL_RELAYS_MAX][VIGIL__WHERE_MAX];
	int status = VIGIL_OK;
	for (size_t k = 0; k < n; k++) {
		size_t i = (first + k) % n;
		rc = client_dial(c, &rs[i], o->ca_file, n == 1 ? err : &why[k]);
		if (rc == VIGIL_OK) {
			c->relay_index = i;
			*out = c;
			return VIGIL_OK;
		}
		memcpy(where[k], c->where, sizeof(c->where));
		status = k == 0 || rc == status ? rc : VIGIL_E_CONNECT;
		client_hangup(c);
	}
	vigil_close(&c);
	if (n == 1)
		return status;
	char msg[sizeof(err->message)];
	failures_join(msg, sizeof(msg), where, why, n);
	vigil__error_set(err, status, "%s", msg);
	if (err && status == VIGIL_E_REFUSED) {
		err->relay_code = why[n - 1].relay_code;
		memcpy(err->relay_code_name, why[n - 1].relay_code_name,
		       sizeof(err->relay_code_name));
	}
	return status;
}

int vigil_connect(const struct vigil_options *o, vigil_client **out, struct vigil_error *err)
{
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_connect: out is NULL");
	*out = NULL;
	if (!o)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_connect: options are NULL");
	OPTION_MISSING(host, "relay host");
	OPTION_MISSING(port, "relay port");
	int rc = options_check(o, err);
	if (rc != VIGIL_OK)
		return rc;

	/* "[::1]" is accepted as well as "::1", and the port may be a
	 * service name. */
	struct vigil__relay r;
	size_t hl = strlen(o->host);
	if (hl >= sizeof(r.host))
		return vigil__error_set(err, VIGIL_E_USAGE, "relay host name is too long");
	if (strlen(o->port) >= sizeof(r.port))
		return vigil__error_set(err, VIGIL_E_USAGE, "relay port is too long");
	if (hl >= 2 && o->host[0] == '[' && o->host[hl - 1] == ']') {
		memcpy(r.host, o->host + 1, hl - 2);
		r.host[hl - 2] = '\0';
	} else {
		memcpy(r.host, o->host, hl + 1);
	}
	snprintf(r.port, sizeof(r.port), "%s", o->port);
	return connect_list(o, &r, 1, 0, out, err);
}

int vigil_connect_relays(const struct vigil_options *o, const char *relays, size_t first,
			 vigil_client **out, struct vigil_error *err)
{
	if (!out)
		return vigil__error_set(err, VIGIL_E_USAGE, "vigil_connect_relays: out is NULL");
	*out = NULL;
	if (!o)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_connect_relays: options are NULL");
	struct vigil__relay rs[VIGIL_RELAYS_MAX];
	size_t n = 0;
	int rc = vigil__relays_parse(relays, o->port, rs, VIGIL_RELAYS_MAX, &n, err);
	if (rc != VIGIL_OK)
		return rc;
	if (first >= n)
		return vigil__error_set(err, VIGIL_E_USAGE,
					"vigil_connect_relays: first relay %zu of a list of %zu",
					first, n);
	rc = options_check(o, err);
	if (rc != VIGIL_OK)
		return rc;
	return connect_list(o, rs, n, first, out, err);
}

void vigil_close(vigil_client **cp)
{
	if (!cp || !*cp)
		return;
	struct vigil_client *c = *cp;
	*cp = NULL;
	client_hangup(c);
	frame_reader_free(&c->reader);
	SSL_CTX_free(c->ctx);
	vigil__submit_free_all(c);
	vigil__alert_free(c);
	vigil__seal_free(c);
	ERR_clear_error();
	free(c);
}

size_t vigil_client_relay_index(const vigil_client *c)
{
	return c ? c->relay_index : 0;
}

const char *vigil_client_relay_address(const vigil_client *c)
{
	return c ? c->where : "";
}

const char *vigil_client_org(const vigil_client *c)
{
	return c ? c->self.organisation : "";
}

const struct vigil_identity *vigil_client_identity(const vigil_client *c)
{
	return c ? &c->self : NULL;
}

const struct vigil_identity *vigil_relay_identity(const vigil_client *c)
{
	return c ? &c->relay : NULL;
}

const struct vigil_welcome *vigil_client_welcome(const vigil_client *c)
{
	return c ? &c->welcome : NULL;
}

const struct vigil_checkpoint_key *vigil_client_checkpoint_key(const vigil_client *c)
{
	return c ? &c->ckey : NULL;
}

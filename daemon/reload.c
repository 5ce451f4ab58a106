#include "daemon/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon/conn.h"
#include "daemon/directory.h"
#include "daemon/log.h"
#include "daemon/notify.h"
#include "daemon/relay.h"
#include "daemon/tls.h"
#include "daemon/writer.h"
#include "proto/status.h"

/* What a reload replaced: kept until the relay stops. */
struct relay_retired {
	struct relay_retired *next;
	struct config *cfg;
	EVP_PKEY *key;
	uint8_t *der;
};

struct reload {
	uv_work_t work;
	struct relay *r;
	const struct config *running;
	struct identity running_id;
	struct config *cfg;            /* loaded */
	struct directory *dir;
	SSL_CTX *ctx;
	struct relay_identity ident;
	char changed[512];             /* keys that need a restart */
	int n_changed;
	char err[1024];
	int ok;
};

static void reload_free(struct reload *rl)
{
	SSL_CTX_free(rl->ctx);
	const struct directory *d = rl->dir;
	directory_release(&d);
	relay_identity_free(&rl->ident);
	if (rl->cfg) {
		config_free(rl->cfg);
		free(rl->cfg);
	}
	free(rl);
}

/* Thread pool: everything loaded and checked as at start-up. */
static void load_work(uv_work_t *w)
{
	struct reload *rl = w->data;
	rl->cfg = calloc(1, sizeof(*rl->cfg));
	if (!rl->cfg) {
		snprintf(rl->err, sizeof(rl->err), "out of memory");
		return;
	}
	if (config_load(rl->running->path, rl->cfg, rl->err, sizeof(rl->err)) != 0) {
		free(rl->cfg);
		rl->cfg = NULL;
		return;
	}
	if (directory_load(rl->cfg->directory_path, &rl->dir, rl->err, sizeof(rl->err)) != 0)
		return;
	rl->ctx = tls_ctx_new(rl->cfg, rl->dir, rl->err, sizeof(rl->err));
	/* The ticket keys stay: tickets issued before the reload are checked
	 * against the new CA, CRL and directory when they are offered. */
	if (!rl->ctx ||
	    (rl->cfg->tls_ticket_lifetime_ms &&
	     tickets_attach(rl->ctx, rl->r->tickets, rl->cfg->tls_ticket_lifetime_ms, rl->err,
			    sizeof(rl->err)) != 0) ||
	    directory_verify_keys(rl->dir, SSL_CTX_get_cert_store(rl->ctx), rl->err,
				  sizeof(rl->err)) != 0 ||
	    relay_identity_load(rl->cfg, rl->dir, &rl->ident, rl->err, sizeof(rl->err)) != 0)
		return;
	if (strcmp(rl->ident.id.org, rl->running_id.org) != 0 ||
	    strcmp(rl->ident.id.country, rl->running_id.country) != 0) {
		config_key_error(rl->cfg, "tls", "cert", rl->err, sizeof(rl->err),
				 "the relay's certificate names %s (%s); the running relay is %s "
				 "(%s), which only a restart changes", rl->ident.id.org,
				 rl->ident.id.country, rl->running_id.org, rl->running_id.country);
		return;
	}
	rl->n_changed = config_keep_restart(rl->cfg, rl->running, rl->changed,
					    sizeof(rl->changed));
	if (rl->n_changed < 0) {
		snprintf(rl->err, sizeof(rl->err), "out of memory");
		return;
	}
	ERR_clear_error();
	rl->ok = 1;
}

/* ---- the writer's part -------------------------------------------------------------- */

struct reconfig_job {
	struct writer_job job;
	struct relay *r;
	struct writer_reconfig rc;
	struct writer_member_key *keys;
	const struct directory *dir;   /* held until the writer has its own */
};

static void on_reconfigured(struct writer_job *job)
{
	struct reconfig_job *j = (struct reconfig_job *)job;
	if (job->status != VG_OK)
		log_err("reload: the writer could not log the members' encryption certificates "
			"(%s); they are logged at the next start", job->why);
	else if (job->index)
		log_notice("reload: %llu member encryption certificate change%s logged",
			   (unsigned long long)job->index, job->index == 1 ? "" : "s");
	writer_job_clear(job);
	directory_release(&j->dir);
	free(j->keys);
	struct relay *r = j->r;
	free(j);
	/* A drain that began meanwhile waits for this job too. */
	relay_check_drained(r);
}

static void writer_reconfigure(struct relay *r)
{
	struct reconfig_job *j = calloc(1, sizeof(*j));
	size_t n = directory_count(r->directory);
	struct writer_member_key *keys = calloc(n + 1, sizeof(*keys));
	if (!j || !keys) {
		free(j);
		free(keys);
		log_err("reload: out of memory; the writer keeps the previous directory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct member *m = directory_at(r->directory, i);
		keys[i].org = m->org;
		keys[i].der = m->enc_cert ? m->enc_der : NULL;
		keys[i].der_len = m->enc_der_len;
		keys[i].sha256 = m->enc_sha256;
	}
	j->keys = keys;
	j->r = r;
	j->dir = directory_ref(r->directory);
	j->rc.members = (struct case_members){ directory_role_of, directory_enc_of, j->dir };
	j->rc.directory = j->dir;
	j->rc.relay_key = r->identity_key;
	j->rc.relay_cert_der = r->identity_der;
	j->rc.relay_cert_der_len = r->identity_der_len;
	j->rc.member_keys = keys;
	j->rc.n_member_keys = n;
	j->job.kind = WRITER_RECONFIGURE;
	j->job.reconfig = &j->rc;
	j->job.done = on_reconfigured;
	writer_submit(r->writer, &j->job);
}

/* ---- the sessions, checked again ------------------------------------------------------ */

struct recheck_item {
	uint64_t serial;
	char org[RECORD_ORG_MAX + 1];
	X509 *leaf;
	STACK_OF(X509) *chain;
	int bad;
	char why[TLS_WHY_LEN];
};

struct recheck {
	uv_work_t work;
	struct relay *r;
	SSL_CTX *ctx;
	size_t n;
	struct recheck_item items[];
};

static void recheck_work(uv_work_t *w)
{
	struct recheck *rc = w->data;
	for (size_t i = 0; i < rc->n; i++)
		rc->items[i].bad = tls_peer_check(rc->ctx, rc->items[i].leaf, rc->items[i].chain,
						  rc->items[i].why, sizeof(rc->items[i].why)) != 0;
}

static int by_serial(const void *a, const void *b)
{
	const struct recheck_item *x = a, *y = b;
	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

static void recheck_done(uv_work_t *w, int status)
{
	struct recheck *rc = w->data;
	struct relay *r = rc->r;
	size_t closed = 0;
	if (status == 0) {
		for (struct conn *c = r->conns; c; c = c->next) {
			struct recheck_item key = { .serial = c->serial };
			struct recheck_item *it =
				bsearch(&key, rc->items, rc->n, sizeof(key), by_serial);
			if (!it || !it->bad || !conn_is_open(c))
				continue;
			log_notice("%s %s: session closed after the reload: %s", c->peer_addr,
				   c->id.org, it->why);
			conn_close(c, it->why);
			closed++;
		}
	}
	r->reloads.sessions_closed += closed;
	log_info("reload: %zu session%s checked again, %zu closed", rc->n, rc->n == 1 ? "" : "s",
		 closed);
	for (size_t i = 0; i < rc->n; i++) {
		X509_free(rc->items[i].leaf);
		sk_X509_pop_free(rc->items[i].chain, X509_free);
	}
	SSL_CTX_free(rc->ctx);
	free(rc);
}

static void recheck_sessions(struct relay *r)
{
	size_t n = 0;
	for (struct conn *c = r->conns; c; c = c->next)
		n += c->authenticated && conn_is_open(c);
	struct recheck *rc = calloc(1, sizeof(*rc) + n * sizeof(rc->items[0]));
	if (!rc) {
		log_err("reload: out of memory; live sessions are not checked again");
		return;
	}
	rc->r = r;
	for (struct conn *c = r->conns; c && rc->n < n; c = c->next) {
		if (!c->authenticated || !conn_is_open(c))
			continue;
		struct recheck_item *it = &rc->items[rc->n];
		it->leaf = SSL_get1_peer_certificate(c->ssl);
		if (!it->leaf)
			continue;
		it->chain = X509_chain_up_ref(SSL_get_peer_cert_chain(c->ssl));
		it->serial = c->serial;
		snprintf(it->org, sizeof(it->org), "%s", c->id.org);
		rc->n++;
	}
	/* The list is in connection order, newest first: sorted for lookup. */
	qsort(rc->items, rc->n, sizeof(rc->items[0]), by_serial);
	SSL_CTX_up_ref(r->ssl_ctx);
	rc->ctx = r->ssl_ctx;
	rc->work.data = rc;
	if (uv_queue_work(r->loop, &rc->work, recheck_work, recheck_done) != 0) {
		log_err("reload: cannot queue the check of live sessions");
		recheck_done(&rc->work, UV_ECANCELED);
	}
}

/* ---- the swap ------------------------------------------------------------------------- */

static int retire(struct relay *r, struct config *cfg, EVP_PKEY *key, uint8_t *der)
{
	struct relay_retired *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->cfg = cfg;
	t->key = key;
	t->der = der;
	t->next = r->retired;
	r->retired = t;
	return 0;
}

static void load_done(uv_work_t *w, int status)
{
	struct reload *rl = w->data;
	struct relay *r = rl->r;
	r->reloading = NULL;
	if (status != 0 && !rl->err[0])
		snprintf(rl->err, sizeof(rl->err), "%s", uv_strerror(status));
	if (r->draining) {
		reload_free(rl);
		return;
	}
	if (!rl->ok || status != 0) {
		r->reloads.failed++;
		log_err("reload failed: %s; the relay goes on with the configuration, "
			"certificates and directory it had", rl->err);
		reload_free(rl);
	} else {
		/* Everything at once, on the loop: the next handshake uses it. */
		if (retire(r, r->cfg_owned, r->identity_key, r->identity_der) != 0) {
			r->reloads.failed++;
			log_err("reload failed: out of memory");
			reload_free(rl);
			goto again;
		}
		SSL_CTX_free(r->ssl_ctx);
		r->ssl_ctx = rl->ctx;
		rl->ctx = NULL;
		directory_release(&r->directory);
		r->directory = rl->dir;
		rl->dir = NULL;
		r->cfg = r->cfg_owned = rl->cfg;
		rl->cfg = NULL;
		relay_fd_limit(r->cfg);
		r->identity_key = rl->ident.key;
		r->identity_der = rl->ident.der;
		r->identity_der_len = rl->ident.der_len;
		rl->ident.key = NULL;
		rl->ident.der = NULL;
		r->reloads.ok++;
		log_notice("reloaded %s: %zu members in %s%s%s", r->cfg->path,
			   directory_count(r->directory), r->cfg->directory_path,
			   rl->n_changed ? "; ignored until restart: " : "",
			   rl->n_changed ? rl->changed : "");
		reload_free(rl);
		writer_reconfigure(r);
		recheck_sessions(r);
		relay_tickets_schedule(r);
	}
again:
	notify_reloaded(r);
	if (r->reload_again && !r->draining) {
		r->reload_again = 0;
		reload_start(r);
	}
}

void reload_start(struct relay *r)
{
	if (r->draining)
		return;
	if (!r->serving) {
		log_notice("SIGHUP before the relay serves: ignored");
		return;
	}
	if (r->reloading) {
		r->reload_again = 1;
		return;
	}
	struct reload *rl = calloc(1, sizeof(*rl));
	if (!rl) {
		log_err("SIGHUP: out of memory; not reloaded");
		return;
	}
	rl->r = r;
	rl->running = r->cfg;
	rl->running_id = r->identity;
	rl->work.data = rl;
	log_notice("SIGHUP: reloading %s", r->cfg->path);
	notify_reloading();
	if (uv_queue_work(r->loop, &rl->work, load_work, load_done) != 0) {
		log_err("SIGHUP: cannot queue the reload");
		free(rl);
		return;
	}
	r->reloading = rl;
}

void reload_free_retired(struct relay *r)
{
	while (r->retired) {
		struct relay_retired *t = r->retired;
		r->retired = t->next;
		if (t->cfg) {
			config_free(t->cfg);
			free(t->cfg);
		}
		EVP_PKEY_free(t->key);
		OPENSSL_free(t->der);
		free(t);
	}
	if (r->cfg_owned) {
		config_free(r->cfg_owned);
		free(r->cfg_owned);
		r->cfg_owned = NULL;
	}
}

/*
 * vigil-bench-mixed - the mixed, realistic load of tests/bench/run.sh mixed:
 * many organisations connected at once, some of them subscribed to
 * alerts, a steady stream of contact attempts on many cases, status, case
 * log and proof queries beside it, and watchdog deadlines expiring while
 * it runs.
 *
 *   vigil-bench-mixed orgs --pki DIR --orgs N
 *       makes N member organisations in the PKI directory DIR (borgs.h):
 *       keys, certificates, directory sections; before the relay starts.
 *   vigil-bench-mixed run --port P --pki DIR --origin O --orgs N
 *       [--subscribers S] [--cases C] [--high H] [--seconds T] [--rate R]
 *       [--query-rate Q] [--metrics-port M] [--relay-pid PID]
 *       connects once per organisation, subscribes S coordinators (then
 *       shelters) to alerts, opens C cases (the last H of them high risk, so
 *       that their silence deadlines, [watchdog] high after the opening or
 *       the last successful contact, expire during the run), then for T
 *       seconds sends R contact attempts and Q queries a second on a fixed
 *       schedule, and prints the figures.
 *
 * One thread, every connection non-blocking under one epoll set.  Every
 * answer is checked as a client must check it (bverify.h, and below for
 * case logs and deliveries); a wrong answer or an error ends the run with
 * exit status 1.  Output on stdout: "name: value" lines and "# " comments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "proto/frame.h"
#include "proto/merkle.h"
#include "proto/status.h"
#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"
#include "tests/bench/borgs.h"
#include "tests/bench/bproc.h"
#include "tests/bench/brecord.h"
#include "tests/bench/bscrape.h"
#include "tests/bench/bstats.h"
#include "tests/bench/bverify.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define DRAIN_NS (30 * NS_PER_S)      /* longest wait for answers after the run */
#define ALERT_GRACE_NS (2 * NS_PER_S) /* wait for the alerts of the last deadlines */
#define OPEN_WINDOW 256               /* case opens outstanding at once */
#define SCRAPE_EVERY_NS (10 * NS_PER_S) /* the relay's recent-max window */

struct opts {
	const char *mode, *pki, *origin;
	int port, metrics_port;
	size_t orgs, subscribers, cases, high;
	double seconds, rate, query_rate;
	long relay_pid;
};

enum kind { K_OPEN, K_CONTACT, K_STATUS, K_LOG, K_PROOF, K_SUBSCRIBE, K_KINDS };
static const char *const kind_names[K_KINDS] = { "open", "submit", "status", "log", "proof",
						 "subscribe" };

/* One request in flight on a connection. */
struct req {
	uint64_t id;
	enum kind kind;
	int64_t t_send;
	uint32_t case_k;
	uint64_t index;              /* K_PROOF: the entry asked for */
	uint8_t leaf[SHA256_LEN];    /* K_PROOF: its leaf hash, from its receipt */
	struct checkpoint cp;        /* K_PROOF: the checkpoint the proof must lead to */
	struct brecord rec;          /* K_OPEN, K_CONTACT: what the receipt must match */
};

struct mconn {
	size_t org;                  /* organisation number (borgs.h) */
	struct bident id;
	struct bconn c;
	struct bverify v;
	int open;                    /* c is connected */
	int out_armed;               /* EPOLLOUT is in the epoll set */
	int subscribed;
	struct req *reqs;
	size_t n_reqs, cap_reqs;
};

struct mcase {
	uint32_t owner, party[3];    /* organisation numbers: coordinator; iom, shelter, police */
	int high;
};

struct receipt_seen {
	uint64_t index;
	uint8_t leaf[SHA256_LEN];
};

struct mixed {
	const struct opts *o;
	struct mconn *m;
	size_t n;
	int ep;
	struct mcase *cases;
	size_t *by_role[4], n_role[4];
	/* The relay, from its TLS certificate. */
	uint8_t relay_sha256[SHA256_LEN];
	EVP_PKEY *relay_key;
	char relay_org[RECORD_ORG_MAX + 1];
	EVP_PKEY *ca_key;            /* the federation CA's public key */
	/* What the run has seen. */
	struct receipt_seen *receipts;
	size_t n_receipts, cap_receipts;
	struct checkpoint latest;    /* the largest verified checkpoint */
	int in_phase;
	size_t inflight;
	size_t done[K_KINDS];
	struct bstats lat[K_KINDS];
	struct bstats alert_delay;
	size_t deliveries, alerts_timed, alerts_early, resolutions, alerts_before;
	int64_t busy_max_ns;         /* the client's longest stretch between two waits */
	int64_t scrape_max_ns;       /* its longest metrics scrape */
	uint64_t rnd;
	int failed;
};

static void usage(FILE *f)
{
	fputs("usage: vigil-bench-mixed orgs --pki DIR --orgs N\n"
	      "       vigil-bench-mixed run --port P --pki DIR --origin O --orgs N\n"
	      "                             [--subscribers S] [--cases C] [--high H]\n"
	      "                             [--seconds T] [--rate R] [--query-rate Q]\n"
	      "                             [--metrics-port M] [--relay-pid PID]\n", f);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_PORT = 256, O_PKI, O_ORIGIN, O_ORGS, O_SUBS, O_CASES, O_HIGH, O_SECONDS,
	       O_RATE, O_QRATE, O_MPORT, O_RELAY };
	static const struct option lo[] = {
		{ "port", required_argument, NULL, O_PORT },
		{ "pki", required_argument, NULL, O_PKI },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "orgs", required_argument, NULL, O_ORGS },
		{ "subscribers", required_argument, NULL, O_SUBS },
		{ "cases", required_argument, NULL, O_CASES },
		{ "high", required_argument, NULL, O_HIGH },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "query-rate", required_argument, NULL, O_QRATE },
		{ "metrics-port", required_argument, NULL, O_MPORT },
		{ "relay-pid", required_argument, NULL, O_RELAY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const double lim[][2] = {
		[O_PORT - O_PORT] = { 1, 65535 },   [O_PKI - O_PORT] = { 0, 0 },
		[O_ORIGIN - O_PORT] = { 0, 0 },     [O_ORGS - O_PORT] = { 10, 9000 },
		[O_SUBS - O_PORT] = { 0, 9000 },    [O_CASES - O_PORT] = { 1, 1000000 },
		[O_HIGH - O_PORT] = { 0, 1000000 }, [O_SECONDS - O_PORT] = { 0.5, 3600 },
		[O_RATE - O_PORT] = { 1, 100000 },  [O_QRATE - O_PORT] = { 0, 100000 },
		[O_MPORT - O_PORT] = { 1, 65535 },  [O_RELAY - O_PORT] = { 1, 1e9 },
	};
	memset(o, 0, sizeof(*o));
	o->subscribers = 100;
	o->cases = 2000;
	o->high = 200;
	o->seconds = 30;
	o->rate = 200;
	o->query_rate = 50;
	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	o->mode = argv[1];
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c < O_PORT || c > O_RELAY) {
			usage(stderr);
			return -1;
		}
		if (c == O_PKI || c == O_ORIGIN) {
			*(c == O_PKI ? &o->pki : &o->origin) = optarg;
			continue;
		}
		char *end;
		errno = 0;
		double v = strtod(optarg, &end);
		if (errno || end == optarg || *end || v < lim[c - O_PORT][0] ||
		    v > lim[c - O_PORT][1]) {
			fprintf(stderr, "vigil-bench-mixed: --%s: \"%s\" is not a number in "
				"[%g, %g]\n", lo[c - O_PORT].name, optarg, lim[c - O_PORT][0],
				lim[c - O_PORT][1]);
			return -1;
		}
		switch (c) {
		case O_PORT: o->port = (int)v; break;
		case O_ORGS: o->orgs = (size_t)v; break;
		case O_SUBS: o->subscribers = (size_t)v; break;
		case O_CASES: o->cases = (size_t)v; break;
		case O_HIGH: o->high = (size_t)v; break;
		case O_SECONDS: o->seconds = v; break;
		case O_RATE: o->rate = v; break;
		case O_QRATE: o->query_rate = v; break;
		case O_MPORT: o->metrics_port = (int)v; break;
		case O_RELAY: o->relay_pid = (long)v; break;
		default: break;
		}
	}
	if (optind != argc || !o->pki || !o->orgs ||
	    (strcmp(o->mode, "run") == 0 && (!o->origin || !o->port))) {
		usage(stderr);
		return -1;
	}
	if (o->high > o->cases)
		o->high = o->cases;
	return 0;
}

/* ---- small tools -------------------------------------------------------- */

static uint64_t rnd(struct mixed *mx)
{
	uint64_t *s = &mx->rnd;
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int fail(struct mixed *mx, const struct mconn *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct mixed *mx, const struct mconn *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "vigil-bench-mixed: %s: ", m ? m->id.org : "run");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	mx->failed = 1;
	return -1;
}

static void case_id(const struct mixed *mx, size_t k, char out[RECORD_CASE_ID_MAX + 1])
{
	char owner[BORGS_ID_MAX];
	borgs_id(mx->cases[k].owner, owner);
	snprintf(out, RECORD_CASE_ID_MAX + 1, "%s/MX-%06zu", owner, k);
}

/* ---- connections ---------------------------------------------------------- */

/* EPOLLOUT only while output waits for the socket. */
static int arm(struct mixed *mx, struct mconn *m)
{
	int want = bconn_unsent(&m->c) > 0 || m->c.want_write;
	if (want == m->out_armed)
		return 0;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0) };
	ev.data.u64 = m->org;
	if (epoll_ctl(mx->ep, EPOLL_CTL_MOD, m->c.fd, &ev) != 0)
		return fail(mx, m, "epoll_ctl: %s", strerror(errno));
	m->out_armed = want;
	return 0;
}

static struct req *req_add(struct mixed *mx, struct mconn *m, enum kind kind)
{
	if (m->n_reqs == m->cap_reqs) {
		size_t cap = m->cap_reqs ? 2 * m->cap_reqs : 8;
		struct req *nr = realloc(m->reqs, cap * sizeof(*nr));
		if (!nr) {
			fail(mx, m, "out of memory");
			return NULL;
		}
		m->reqs = nr;
		m->cap_reqs = cap;
	}
	struct req *q = &m->reqs[m->n_reqs++];
	memset(q, 0, sizeof(*q));
	q->id = m->c.next_id++;
	q->kind = kind;
	mx->inflight++;
	return q;
}

static void req_drop(struct mixed *mx, struct mconn *m, struct req *q)
{
	brecords_free(&q->rec, 1);
	*q = m->reqs[--m->n_reqs];
	mx->inflight--;
}

/* Queues f as request q, writes what the socket takes and stamps the time
 * just before the write. */
static int send_req(struct mixed *mx, struct mconn *m, struct req *q, Vigil__V1__Frame *f)
{
	if (bconn_queue_msg(&m->c, f, q->id) != 0)
		return fail(mx, m, "%s", m->c.err);
	q->t_send = bench_now_ns();
	if (bconn_flush(&m->c) != 0)
		return fail(mx, m, "%s", m->c.err);
	return arm(mx, m);
}

/* ---- records -------------------------------------------------------------- */

/* Signs r (its record_id is filled in here) and submits it from m. */
static int submit(struct mixed *mx, struct mconn *m, Vigil__V1__Record *r, enum kind kind,
		  size_t k)
{
	struct req *q = req_add(mx, m, kind);
	if (!q)
		return -1;
	q->case_k = (uint32_t)k;
	struct brecord *b = &q->rec;
	if (RAND_bytes(b->record_id, RECORD_ID_LEN) != 1)
		return fail(mx, m, "RAND_bytes failed");
	r->record_id.data = b->record_id;
	r->record_id.len = RECORD_ID_LEN;
	r->author = m->id.org;
	b->rec_len = vigil__v1__record__get_packed_size(r);
	if (!(b->rec = malloc(b->rec_len)))
		return fail(mx, m, "out of memory");
	vigil__v1__record__pack(r, b->rec);
	if (record_sign(m->id.key, b->rec, b->rec_len, &b->sig, &b->sig_len) != VG_OK)
		return fail(mx, m, "cannot sign a record");
	Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
	sr.record.data = b->rec;
	sr.record.len = b->rec_len;
	sr.signature.data = b->sig;
	sr.signature.len = b->sig_len;
	Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
	sub.record = &sr;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
	f.submit = &sub;
	return send_req(mx, m, q, &f);
}

/* Case k, opened by its owner with its three other parties. */
static int open_case(struct mixed *mx, size_t k)
{
	const struct mcase *mc = &mx->cases[k];
	char id[RECORD_CASE_ID_MAX + 1], parties[3][BORGS_ID_MAX];
	char *pp[3];
	case_id(mx, k, id);
	for (size_t i = 0; i < 3; i++) {
		borgs_id(mc->party[i], parties[i]);
		pp[i] = parties[i];
	}
	int64_t now_ms = realtime_ns() / NS_PER_MS;
	Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
	consent.scope = "share-with-parties";
	consent.given_at_ms = now_ms - 86400000;
	Vigil__V1__CaseOpen co = VIGIL__V1__CASE_OPEN__INIT;
	co.risk = mc->high ? VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH :
			     VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM;
	co.return_country = "RU";
	co.return_date = "2026-10-01";
	co.parties = pp;
	co.n_parties = 3;
	co.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
	co.consent = &consent;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.case_id = id;
	r.client_time_ms = now_ms;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &co;
	return submit(mx, &mx->m[mc->owner], &r, K_OPEN, k);
}

/* A contact attempt on a random case by a random party of it: mostly
 * successful (four in five), on a random channel, dated now. */
static int send_contact(struct mixed *mx)
{
	size_t k = rnd(mx) % mx->o->cases;
	const struct mcase *mc = &mx->cases[k];
	uint64_t x = rnd(mx);
	uint32_t who = x % 4 == 0 ? mc->owner : mc->party[x % 4 - 1];
	static const Vigil__V1__Outcome good[] = { VIGIL__V1__OUTCOME__OUTCOME_REACHED_SAFE,
						   VIGIL__V1__OUTCOME__OUTCOME_REACHED_CONCERN };
	static const Vigil__V1__Outcome bad[] = { VIGIL__V1__OUTCOME__OUTCOME_NO_ANSWER,
						  VIGIL__V1__OUTCOME__OUTCOME_UNREACHABLE,
						  VIGIL__V1__OUTCOME__OUTCOME_UNDELIVERED };
	char id[RECORD_CASE_ID_MAX + 1];
	case_id(mx, k, id);
	int64_t now_ms = realtime_ns() / NS_PER_MS;
	Vigil__V1__ContactAttempt ca = VIGIL__V1__CONTACT_ATTEMPT__INIT;
	ca.channel = (Vigil__V1__Channel)(1 + (x >> 8) % 8);
	ca.outcome = (x >> 16) % 5 != 0 ? good[(x >> 24) % 2] : bad[(x >> 24) % 3];
	ca.attempted_at_ms = now_ms;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.case_id = id;
	r.client_time_ms = now_ms;
	r.body_case = VIGIL__V1__RECORD__BODY_CONTACT_ATTEMPT;
	r.contact_attempt = &ca;
	return submit(mx, &mx->m[who], &r, K_CONTACT, k);
}

/* ---- queries -------------------------------------------------------------- */

static int send_query(struct mixed *mx, enum kind kind)
{
	size_t k = rnd(mx) % mx->o->cases;
	const struct mcase *mc = &mx->cases[k];
	uint64_t x = rnd(mx);
	/* Status: any party, police too (their view); log: the parties that
	 * read the case's records (not police); proof: whoever asks. */
	uint32_t who = x % 4 == 0 ? mc->owner : mc->party[x % 4 - 1];
	if (kind == K_LOG && who == mc->party[2])
		who = mc->owner;
	if (kind == K_PROOF && mx->n_receipts == 0)
		kind = K_STATUS;
	struct mconn *m = &mx->m[who];
	struct req *q = req_add(mx, m, kind);
	if (!q)
		return -1;
	q->case_k = (uint32_t)k;
	char id[RECORD_CASE_ID_MAX + 1];
	case_id(mx, k, id);
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	Vigil__V1__GetCaseStatus gs = VIGIL__V1__GET_CASE_STATUS__INIT;
	Vigil__V1__GetCaseLog gl = VIGIL__V1__GET_CASE_LOG__INIT;
	Vigil__V1__GetInclusionProof gp = VIGIL__V1__GET_INCLUSION_PROOF__INIT;
	switch (kind) {
	case K_STATUS:
		gs.case_id = id;
		f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_STATUS;
		f.get_case_status = &gs;
		break;
	case K_LOG:
		gl.case_id = id;
		f.msg_case = VIGIL__V1__FRAME__MSG_GET_CASE_LOG;
		f.get_case_log = &gl;
		break;
	default: {
		/* An entry the run was receipted for, in the latest checkpoint it
		 * verified. */
		const struct receipt_seen *s = &mx->receipts[(x >> 8) % mx->n_receipts];
		q->index = s->index;
		memcpy(q->leaf, s->leaf, SHA256_LEN);
		q->cp = mx->latest;
		gp.index = s->index;
		gp.tree_size = mx->latest.size;
		f.msg_case = VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF;
		f.get_inclusion_proof = &gp;
		break;
	}
	}
	return send_req(mx, m, q, &f);
}

/* ---- checking answers ----------------------------------------------------- */

static int proof_ok(const ProtobufCBinaryData *p, size_t n, uint64_t index,
		    const uint8_t leaf[SHA256_LEN], const struct checkpoint *cp)
{
	merkle_hash proof[MERKLE_MAX_PROOF];
	if (n > MERKLE_MAX_PROOF)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i].len != SHA256_LEN)
			return 0;
		memcpy(proof[i], p[i].data, SHA256_LEN);
	}
	return merkle_verify_inclusion(index, cp->size, leaf, (const merkle_hash *)proof, n,
				       cp->root) == VG_OK;
}

/* An entry as a reader checks it: its leaf hash recomputed from its parts,
 * the proof to the checkpoint, the signature with the signer's key.  The
 * record, unpacked, in *rec (the caller frees it). */
static int entry_ok(const Vigil__V1__Entry *e, const ProtobufCBinaryData *proof, size_t n,
		    const struct checkpoint *cp, EVP_PKEY *signer, Vigil__V1__Record **rec,
		    const char **why)
{
	uint8_t *leaf, hash[SHA256_LEN];
	size_t leaf_len;
	*rec = NULL;
	if (e->cert_sha256.len != SHA256_LEN || e->record_erased) {
		*why = "an entry without its record or certificate hash";
		return 0;
	}
	if (entry_leaf_encode(e->received_at_ms, e->cert_sha256.data, e->record.data,
			      e->record.len, e->signature.data, e->signature.len, &leaf,
			      &leaf_len) != VG_OK) {
		*why = "cannot encode a leaf";
		return 0;
	}
	merkle_leaf_hash(leaf, leaf_len, hash);
	free(leaf);
	if (e->leaf_hash.len != SHA256_LEN || memcmp(e->leaf_hash.data, hash, SHA256_LEN) != 0) {
		*why = "an entry's leaf hash is not the one recomputed from it";
		return 0;
	}
	if (!proof_ok(proof, n, e->index, hash, cp)) {
		*why = "an entry's inclusion proof does not lead to the checkpoint";
		return 0;
	}
	if (record_verify(signer, e->record.data, e->record.len, e->signature.data,
			  e->signature.len) != VG_OK) {
		*why = "an entry's signature does not verify";
		return 0;
	}
	*rec = vigil__v1__record__unpack(NULL, e->record.len, e->record.data);
	if (!*rec) {
		*why = "an entry's record does not decode";
		return 0;
	}
	return 1;
}

static int take_receipt(struct mixed *mx, struct mconn *m, struct req *q,
			const Vigil__V1__Receipt *rc)
{
	char err[512];
	struct checkpoint cp;
	if (bverify_receipt(&m->v, rc, &q->rec, err, sizeof(err)) != 0 ||
	    bverify_note(&m->v, rc->checkpoint, &cp, err, sizeof(err)) != 0)
		return fail(mx, m, "%s receipt: %s", kind_names[q->kind], err);
	if (cp.size > mx->latest.size)
		mx->latest = cp;
	if (mx->n_receipts == mx->cap_receipts) {
		size_t cap = mx->cap_receipts ? 2 * mx->cap_receipts : 4096;
		struct receipt_seen *nr = realloc(mx->receipts, cap * sizeof(*nr));
		if (!nr)
			return fail(mx, m, "out of memory");
		mx->receipts = nr;
		mx->cap_receipts = cap;
	}
	struct receipt_seen *s = &mx->receipts[mx->n_receipts++];
	s->index = rc->index;
	memcpy(s->leaf, rc->leaf_hash.data, SHA256_LEN);
	return 0;
}

static int take_status(struct mixed *mx, struct mconn *m, struct req *q,
		       const Vigil__V1__CaseStatus *cs)
{
	char id[RECORD_CASE_ID_MAX + 1], owner[BORGS_ID_MAX];
	case_id(mx, q->case_k, id);
	borgs_id(mx->cases[q->case_k].owner, owner);
	Vigil__V1__CaseView want = borgs_role(m->org) == BORGS_POLICE ?
					   VIGIL__V1__CASE_VIEW__CASE_VIEW_POLICE :
					   VIGIL__V1__CASE_VIEW__CASE_VIEW_FULL;
	if (strcmp(cs->case_id, id) != 0 || cs->view != want || strcmp(cs->owner, owner) != 0 ||
	    cs->state != VIGIL__V1__CASE_STATE__CASE_STATE_ACTIVE ||
	    strcmp(cs->responsible, owner) != 0)
		return fail(mx, m, "status of %s: case %s, view %d, owner %s, state %d, "
			    "responsible %s", id, cs->case_id, (int)cs->view, cs->owner,
			    (int)cs->state, cs->responsible);
	return 0;
}

/* A case log page: the checkpoint, every signer's certificate issued by
 * the CA, every entry of the case, whole, proven and signed. */
static int take_log(struct mixed *mx, struct mconn *m, struct req *q, const Vigil__V1__CaseLog *cl)
{
	char id[RECORD_CASE_ID_MAX + 1], err[512];
	case_id(mx, q->case_k, id);
	struct checkpoint cp;
	if (bverify_note(&m->v, cl->checkpoint, &cp, err, sizeof(err)) != 0)
		return fail(mx, m, "log of %s: %s", id, err);
	if (cl->n_entries == 0 || cl->n_certificates == 0 || cl->n_certificates > 64)
		return fail(mx, m, "log of %s: %zu entries, %zu certificates", id,
			    cl->n_entries, cl->n_certificates);
	X509 *certs[64] = { 0 };
	uint8_t hashes[64][SHA256_LEN];
	int rc = 0;
	for (size_t i = 0; i < cl->n_certificates && rc == 0; i++) {
		const unsigned char *p = cl->certificates[i].data;
		certs[i] = d2i_X509(NULL, &p, (long)cl->certificates[i].len);
		SHA256(cl->certificates[i].data, cl->certificates[i].len, hashes[i]);
		if (!certs[i] || X509_verify(certs[i], mx->ca_key) != 1)
			rc = fail(mx, m, "log of %s: certificate %zu is not the CA's", id, i);
	}
	for (size_t i = 0; i < cl->n_entries && rc == 0; i++) {
		const Vigil__V1__CaseLogEntry *ce = cl->entries[i];
		const Vigil__V1__Entry *e = ce->entry;
		size_t c = 0;
		while (e && c < cl->n_certificates &&
		       (e->cert_sha256.len != SHA256_LEN ||
			memcmp(hashes[c], e->cert_sha256.data, SHA256_LEN) != 0))
			c++;
		const char *why = "an entry whose certificate is not in the answer";
		Vigil__V1__Record *r = NULL;
		if (!e || c == cl->n_certificates ||
		    !entry_ok(e, ce->inclusion_proof, ce->n_inclusion_proof, &cp,
			      X509_get0_pubkey(certs[c]), &r, &why))
			rc = fail(mx, m, "log of %s, entry %zu: %s", id, i, why);
		else if (strcmp(r->case_id, id) != 0)
			rc = fail(mx, m, "log of %s: an entry of case %s", id, r->case_id);
		if (r)
			vigil__v1__record__free_unpacked(r, NULL);
	}
	for (size_t i = 0; i < cl->n_certificates; i++)
		X509_free(certs[i]);
	ERR_clear_error();
	return rc;
}

static int take_proof(struct mixed *mx, struct mconn *m, struct req *q,
		      const Vigil__V1__InclusionProof *p)
{
	char err[512];
	if (bverify_inclusion(p, q->index, &q->cp, err, sizeof(err)) != 0)
		return fail(mx, m, "proof: %s", err);
	if (memcmp(p->leaf_hash.data, q->leaf, SHA256_LEN) != 0)
		return fail(mx, m, "proof of entry %" PRIu64 ": not the leaf of its receipt",
			    q->index);
	return 0;
}

/*
 * A delivery, as a subscriber checks it (proto/README.md 3.5): signed by
 * the relay's certificate, leaf hash, proof to a signed checkpoint, an
 * Alert by the relay's organisation naming ours.  Then acknowledged, and a
 * raised alert's delay measured: its arrival minus the deadline it names.
 */
static int take_delivery(struct mixed *mx, struct mconn *m, const Vigil__V1__Delivery *d)
{
	int64_t arrived = realtime_ns();
	char err[512];
	struct checkpoint cp;
	const Vigil__V1__Entry *e = d->entry;
	Vigil__V1__Record *r = NULL;
	const char *why = "no entry";
	if (!e || e->index != d->position)
		return fail(mx, m, "delivery at %" PRIu64 ": no entry, or another position",
			    d->position);
	if (bverify_note(&m->v, d->checkpoint, &cp, err, sizeof(err)) != 0)
		return fail(mx, m, "delivery: %s", err);
	if (e->cert_sha256.len != SHA256_LEN ||
	    memcmp(e->cert_sha256.data, mx->relay_sha256, SHA256_LEN) != 0)
		return fail(mx, m, "delivery at %" PRIu64 ": not signed by the relay's certificate",
			    d->position);
	if (!entry_ok(e, d->inclusion_proof, d->n_inclusion_proof, &cp, mx->relay_key, &r, &why))
		return fail(mx, m, "delivery at %" PRIu64 ": %s", d->position, why);
	int ours = 0;
	if (r->body_case == VIGIL__V1__RECORD__BODY_ALERT)
		for (size_t i = 0; i < r->alert->n_recipients; i++)
			ours |= strcmp(r->alert->recipients[i], m->id.org) == 0;
	if (!ours || strcmp(r->author, mx->relay_org) != 0) {
		vigil__v1__record__free_unpacked(r, NULL);
		return fail(mx, m, "delivery at %" PRIu64 ": not an alert by the relay to us",
			    d->position);
	}
	mx->deliveries++;
	const Vigil__V1__Alert *a = r->alert;
	int rc = 0;
	if (a->stage == 0) {
		mx->resolutions++;
	} else if (a->deadline_ms <= 0) {
		mx->alerts_early++;
	} else if (!mx->in_phase) {
		mx->alerts_before++;
	} else {
		mx->alerts_timed++;
		if (bstats_add(&mx->alert_delay, arrived - a->deadline_ms * NS_PER_MS) != 0)
			rc = fail(mx, m, "out of memory");
	}
	vigil__v1__record__free_unpacked(r, NULL);
	Vigil__V1__DeliveryAck ack = VIGIL__V1__DELIVERY_ACK__INIT;
	ack.position = d->position;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_DELIVERY_ACK;
	f.delivery_ack = &ack;
	if (rc == 0 && (bconn_queue_msg(&m->c, &f, m->c.next_id++) != 0 ||
			bconn_flush(&m->c) != 0))
		rc = fail(mx, m, "%s", m->c.err);
	return rc == 0 ? arm(mx, m) : rc;
}

static int take_frame(struct mixed *mx, struct mconn *m, Vigil__V1__Frame *f)
{
	if (f->msg_case == VIGIL__V1__FRAME__MSG_DELIVERY)
		return take_delivery(mx, m, f->delivery);
	if (f->msg_case == VIGIL__V1__FRAME__MSG_LAGGING)
		return fail(mx, m, "the relay says this subscriber lags");
	struct req *q = NULL;
	for (size_t i = 0; i < m->n_reqs && !q; i++)
		if (m->reqs[i].id == f->request_id)
			q = &m->reqs[i];
	if (!q)
		return fail(mx, m, "answer (message %d%s%s) to request %" PRIu64
			    ", which is not outstanding", (int)f->msg_case,
			    f->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? ": " : "",
			    f->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? f->error->message : "",
			    f->request_id);
	static const int expect[K_KINDS] = {
		[K_OPEN] = VIGIL__V1__FRAME__MSG_RECEIPT,
		[K_CONTACT] = VIGIL__V1__FRAME__MSG_RECEIPT,
		[K_STATUS] = VIGIL__V1__FRAME__MSG_CASE_STATUS,
		[K_LOG] = VIGIL__V1__FRAME__MSG_CASE_LOG,
		[K_PROOF] = VIGIL__V1__FRAME__MSG_INCLUSION_PROOF,
		[K_SUBSCRIBE] = VIGIL__V1__FRAME__MSG_SUBSCRIBED,
	};
	int rc;
	if ((int)f->msg_case != expect[q->kind]) {
		rc = fail(mx, m, "%s answered with message %d%s%s", kind_names[q->kind],
			  (int)f->msg_case, f->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? ": " : "",
			  f->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? f->error->message : "");
	} else {
		switch (q->kind) {
		case K_OPEN:
		case K_CONTACT: rc = take_receipt(mx, m, q, f->receipt); break;
		case K_STATUS: rc = take_status(mx, m, q, f->case_status); break;
		case K_LOG: rc = take_log(mx, m, q, f->case_log); break;
		case K_PROOF: rc = take_proof(mx, m, q, f->inclusion_proof); break;
		default: m->subscribed = 1; rc = 0; break;
		}
	}
	/* Measured after the checks: the figures are of verified answers. */
	int64_t t = bench_now_ns();
	if (rc == 0) {
		mx->done[q->kind]++;
		if (mx->in_phase && bstats_add(&mx->lat[q->kind], t - q->t_send) != 0)
			rc = fail(mx, m, "out of memory");
	}
	req_drop(mx, m, q);
	return rc;
}

/* Waits up to timeout_ms for sockets and takes what they have. */
static int pump(struct mixed *mx, int timeout_ms)
{
	struct epoll_event ev[64];
	int n = epoll_wait(mx->ep, ev, 64, timeout_ms);
	if (n < 0 && errno != EINTR)
		return fail(mx, NULL, "epoll_wait: %s", strerror(errno));
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < n && !mx->failed; i++) {
		struct mconn *m = &mx->m[ev[i].data.u64];
		if (bconn_flush(&m->c) != 0 || bconn_fill(&m->c) != 0)
			return fail(mx, m, "%s", m->c.err);
		Vigil__V1__Frame *f;
		int rc;
		while ((rc = bconn_next(&m->c, &f)) == 1) {
			int t = take_frame(mx, m, f);
			frame_free(f);
			if (t != 0)
				return -1;
		}
		if (rc < 0)
			return fail(mx, m, "%s", m->c.err);
		if (bconn_flush(&m->c) != 0)
			return fail(mx, m, "%s", m->c.err);
		if (arm(mx, m) != 0)
			return -1;
	}
	int64_t busy = bench_now_ns() - t0;
	if (mx->in_phase && busy > mx->busy_max_ns)
		mx->busy_max_ns = busy;
	return mx->failed ? -1 : 0;
}

/* Pumps until nothing is in flight; -1 after deadline_ns. */
static int settle(struct mixed *mx, int64_t deadline_ns, const char *what)
{
	while (mx->inflight > 0) {
		if (bench_now_ns() > deadline_ns)
			return fail(mx, NULL, "%zu answers still missing while %s", mx->inflight,
				    what);
		if (pump(mx, 100) != 0)
			return -1;
	}
	return 0;
}

/* ---- set-up ----------------------------------------------------------------- */

static int connect_all(struct mixed *mx)
{
	char err[1024];
	int64_t t0 = bench_now_ns();
	double cpu0 = cpu_seconds();
	for (size_t i = 0; i < mx->n; i++) {
		struct mconn *m = &mx->m[i];
		char id[BORGS_ID_MAX];
		borgs_id(i, id);
		m->org = i;
		if (bident_load(&m->id, mx->o->pki, id, mx->o->origin, err, sizeof(err)) != 0)
			return fail(mx, NULL, "%s", err);
		bverify_init(&m->v, &m->id);
		if (bconn_open(&m->c, &m->id, mx->o->port, 10000) != 0) {
			fail(mx, m, "cannot connect (connection %zu): %s", i, m->c.err);
			bconn_close(&m->c);
			return -1;
		}
		m->open = 1;
		struct epoll_event ev = { .events = EPOLLIN };
		ev.data.u64 = i;
		if (epoll_ctl(mx->ep, EPOLL_CTL_ADD, m->c.fd, &ev) != 0)
			return fail(mx, m, "epoll_ctl: %s", strerror(errno));
	}
	double s = (double)(bench_now_ns() - t0) / 1e9;
	printf("# %zu organisations connected one after another (mutual TLS 1.3, Hello) in "
	       "%.2f s, %.0f/s; client CPU %.2f s\n", mx->n, s, (double)mx->n / s,
	       cpu_seconds() - cpu0);

	/* The relay, as its certificate shows it in every handshake. */
	X509 *rc = SSL_get1_peer_certificate(mx->m[0].c.ssl);
	unsigned int hl = 0;
	int ok = rc && X509_digest(rc, EVP_sha256(), mx->relay_sha256, &hl) == 1 &&
		 hl == SHA256_LEN &&
		 X509_NAME_get_text_by_NID(X509_get_subject_name(rc), NID_organizationName,
					   mx->relay_org, sizeof(mx->relay_org)) > 0 &&
		 (mx->relay_key = X509_get_pubkey(rc)) != NULL;
	X509_free(rc);
	if (!ok)
		return fail(mx, NULL, "cannot read the relay's certificate");
	return 0;
}

/* Roles and parties: case k's owner is a coordinator, its parties an iom
 * office, a shelter and a police unit, spread evenly. */
static int plan(struct mixed *mx)
{
	for (int r = 0; r < 4; r++) {
		mx->by_role[r] = calloc(mx->n, sizeof(size_t));
		if (!mx->by_role[r])
			return fail(mx, NULL, "out of memory");
	}
	for (size_t i = 0; i < mx->n; i++) {
		enum borgs_role r = borgs_role(i);
		mx->by_role[r][mx->n_role[r]++] = i;
	}
	size_t c = mx->o->cases;
	if (!(mx->cases = calloc(c, sizeof(*mx->cases))))
		return fail(mx, NULL, "out of memory");
	for (size_t k = 0; k < c; k++) {
		struct mcase *mc = &mx->cases[k];
		mc->owner = (uint32_t)mx->by_role[BORGS_COORDINATOR][k % mx->n_role[BORGS_COORDINATOR]];
		mc->party[0] = (uint32_t)mx->by_role[BORGS_IOM][(k * 7 + 1) % mx->n_role[BORGS_IOM]];
		mc->party[1] =
			(uint32_t)mx->by_role[BORGS_SHELTER][(k * 11 + 2) % mx->n_role[BORGS_SHELTER]];
		mc->party[2] =
			(uint32_t)mx->by_role[BORGS_POLICE][(k * 13 + 3) % mx->n_role[BORGS_POLICE]];
		mc->high = k >= c - mx->o->high;
	}
	return 0;
}

/* The first S coordinators subscribe, then shelters (both receive a
 * silence alert at stage 1). */
static int subscribe_all(struct mixed *mx)
{
	size_t s = mx->o->subscribers, done = 0;
	for (int r = 0; r < 4 && done < s; r++) {
		if (r != BORGS_COORDINATOR && r != BORGS_SHELTER)
			continue;
		for (size_t j = 0; j < mx->n_role[r] && done < s; j++, done++) {
			struct mconn *m = &mx->m[mx->by_role[r][j]];
			struct req *q = req_add(mx, m, K_SUBSCRIBE);
			if (!q)
				return -1;
			Vigil__V1__Subscribe sb = VIGIL__V1__SUBSCRIBE__INIT;
			Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
			f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBE;
			f.subscribe = &sb;
			if (send_req(mx, m, q, &f) != 0)
				return -1;
		}
	}
	if (settle(mx, bench_now_ns() + DRAIN_NS, "subscribing") != 0)
		return -1;
	printf("# %zu organisations subscribed to alerts\n", done);
	return 0;
}

static int open_all(struct mixed *mx)
{
	int64_t t0 = bench_now_ns();
	size_t k = 0, c = mx->o->cases;
	while (k < c || mx->inflight > 0) {
		while (k < c && mx->inflight < OPEN_WINDOW)
			if (open_case(mx, k++) != 0)
				return -1;
		if (bench_now_ns() - t0 > 10 * DRAIN_NS)
			return fail(mx, NULL, "opening the cases takes too long");
		if (pump(mx, 100) != 0)
			return -1;
	}
	double s = (double)(bench_now_ns() - t0) / 1e9;
	printf("# %zu cases opened (%zu of them high risk, opened last) by %zu coordinators in "
	       "%.2f s\n", c, mx->o->high, mx->n_role[BORGS_COORDINATOR], s);
	/* The set-up's lines are out before the timed phase begins, so that
	 * whoever watches the output knows when it does. */
	fflush(stdout);
	return 0;
}

/* ---- the timed phase -------------------------------------------------------- */

struct lagscrape {
	int ok;
	double max, recent, count, le5ms;
	double commits, commits_le10ms;   /* the writer's COMMITs (fsync included) */
};

static void scrape(struct mixed *mx, struct lagscrape *l)
{
	memset(l, 0, sizeof(*l));
	if (!mx->o->metrics_port)
		return;
	char err[256];
	int64_t t0 = bench_now_ns();
	char *page = bscrape_get(mx->o->metrics_port, 2000, err, sizeof(err));
	if (bench_now_ns() - t0 > mx->scrape_max_ns)
		mx->scrape_max_ns = bench_now_ns() - t0;
	if (!page) {
		fprintf(stderr, "vigil-bench-mixed: %s\n", err);
		return;
	}
	l->max = bscrape_value(page, "vigil_event_loop_lag_max_seconds");
	l->recent = bscrape_value(page, "vigil_event_loop_lag_recent_max_seconds");
	l->count = bscrape_value(page, "vigil_event_loop_lag_seconds_count");
	l->le5ms = bscrape_value(page, "vigil_event_loop_lag_seconds_bucket{le=\"0.005\"}");
	l->commits = bscrape_value(page, "vigil_writer_commit_seconds_count");
	l->commits_le10ms = bscrape_value(page, "vigil_writer_commit_seconds_bucket{le=\"0.01\"}");
	l->ok = !isnan(l->max) && !isnan(l->recent) && !isnan(l->count) && !isnan(l->le5ms) &&
		!isnan(l->commits) && !isnan(l->commits_le10ms);
	if (!l->ok)
		fprintf(stderr, "vigil-bench-mixed: the relay's metrics lack the loop lag\n");
	free(page);
}

/*
 * Scheduler figures of one thread (/proc/PID/task/TID/schedstat): time on
 * a CPU, time runnable but waiting for one, and how many times it ran.
 * On a shared machine the wait is what a thread that needs little CPU
 * (the relay's event loop) loses to everything else.
 */
struct sched {
	double run_s, wait_s;
	unsigned long long slices;
};

static void sched_read(long pid, long tid, struct sched *s)
{
	char path[96];
	unsigned long long run = 0, wait = 0, n = 0;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/schedstat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/self/schedstat");
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu %llu %llu", &run, &wait, &n) != 3)
			run = wait = n = 0;
		fclose(f);
	}
	s->run_s = (double)run / 1e9;
	s->wait_s = (double)wait / 1e9;
	s->slices = n;
}

static void sched_report(const char *who, const struct sched *a, const struct sched *b)
{
	unsigned long long n = b->slices - a->slices;
	printf("# %s: %.2f s on a CPU, %.2f s runnable but waiting for one, in %llu runs "
	       "(mean wait %.3f ms)\n", who, b->run_s - a->run_s, b->wait_s - a->wait_s, n,
	       n ? (b->wait_s - a->wait_s) * 1e3 / (double)n : 0.0);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int run_phase(struct mixed *mx)
{
	const struct opts *o = mx->o;
	size_t n_sub = (size_t)(o->seconds * o->rate), n_q = (size_t)(o->seconds * o->query_rate);
	double period = (double)NS_PER_S / o->rate;
	double qperiod = o->query_rate > 0 ? (double)NS_PER_S / o->query_rate : 0;
	static const enum kind mix[5] = { K_STATUS, K_LOG, K_STATUS, K_LOG, K_PROOF };
	struct lagscrape l0, l;
	scrape(mx, &l0);
	double lag_recent = 0;
	struct bproc_snap pa, pb;
	struct sched loop_a, loop_b, self_a, self_b;
	if (o->relay_pid)
		bproc_snap(o->relay_pid, &pa);
	sched_read(o->relay_pid, o->relay_pid, &loop_a);
	sched_read(0, 0, &self_a);
	double cpu0 = cpu_seconds();
	int64_t start = bench_now_ns() + 20 * NS_PER_MS;
	int64_t end = start + (int64_t)(o->seconds * NS_PER_S);
	int64_t next_scrape = start + SCRAPE_EVERY_NS + NS_PER_S / 2;
	int64_t final_scrape = end + NS_PER_S + NS_PER_S / 5;
	size_t si = 0, qi = 0, scrapes = 0;
	int64_t late_max = 0;
	mx->in_phase = 1;
	for (;;) {
		int64_t now = bench_now_ns();
		while (si < n_sub && start + (int64_t)(period * (double)si) <= now) {
			int64_t late = now - (start + (int64_t)(period * (double)si));
			late_max = late > late_max ? late : late_max;
			if (send_contact(mx) != 0)
				return -1;
			si++;
		}
		while (qi < n_q && start + (int64_t)(qperiod * (double)qi) <= now) {
			if (send_query(mx, mix[qi % 5]) != 0)
				return -1;
			qi++;
		}
		if (now >= next_scrape && next_scrape < end) {
			scrape(mx, &l);
			if (l.ok && l.recent > lag_recent)
				lag_recent = l.recent;
			scrapes++;
			next_scrape += SCRAPE_EVERY_NS;
		}
		int sending = si < n_sub || qi < n_q;
		if (!sending && mx->inflight == 0 && now >= end + ALERT_GRACE_NS &&
		    (!o->metrics_port || now >= final_scrape))
			break;
		if (now > end + DRAIN_NS)
			return fail(mx, NULL, "%zu answers still missing %d s after the run",
				    mx->inflight, (int)(DRAIN_NS / NS_PER_S));
		int64_t wake = end + ALERT_GRACE_NS;
		if (si < n_sub)
			wake = min64(wake, start + (int64_t)(period * (double)si));
		if (qi < n_q)
			wake = min64(wake, start + (int64_t)(qperiod * (double)qi));
		if (o->metrics_port)
			wake = min64(wake, next_scrape < end ? next_scrape : final_scrape);
		if (!sending && mx->inflight > 0)
			wake = min64(wake, now + 100 * NS_PER_MS);
		int64_t wait = wake - now;
		if (pump(mx, wait > 0 ? (int)((wait + NS_PER_MS - 1) / NS_PER_MS) : 0) != 0)
			return -1;
	}
	mx->in_phase = 0;
	double cpu = cpu_seconds() - cpu0;
	double wall = (double)(bench_now_ns() - start) / 1e9;
	scrape(mx, &l);
	if (l.ok && l.recent > lag_recent)
		lag_recent = l.recent;
	scrapes++;
	sched_read(0, 0, &self_b);
	if (o->relay_pid) {
		bproc_snap(o->relay_pid, &pb);
		bproc_report(stdout, &pa, &pb, wall);
		sched_read(o->relay_pid, o->relay_pid, &loop_b);
		sched_report("relay event loop thread", &loop_a, &loop_b);
	}
	sched_report("client thread", &self_a, &self_b);
	printf("# client: CPU %.2f s over %.2f s (%.0f %% of a core), one thread; sends were "
	       "at most %.2f ms behind their schedule; its longest stretch of work between two "
	       "waits %.2f ms, its longest metrics scrape %.2f ms\n", cpu, wall,
	       100.0 * cpu / wall, (double)late_max / 1e6, (double)mx->busy_max_ns / 1e6,
	       (double)mx->scrape_max_ns / 1e6);
	printf("# alerts: delay = arrival at a subscriber (wall clock) - the deadline the alert "
	       "names, for each alert raised at a missed deadline during the run and "
	       "delivered to a subscribed recipient; %zu early (failed attempts) and %zu "
	       "resolutions delivered besides, %zu raised before the run\n", mx->alerts_early,
	       mx->resolutions, mx->alerts_before);
	printf("records: %zu\n", mx->lat[K_CONTACT].n);
	printf("queries: %zu\n", mx->lat[K_STATUS].n + mx->lat[K_LOG].n + mx->lat[K_PROOF].n);
	printf("status_queries: %zu\n", mx->lat[K_STATUS].n);
	printf("log_queries: %zu\n", mx->lat[K_LOG].n);
	printf("proof_queries: %zu\n", mx->lat[K_PROOF].n);
	printf("alerts_delivered: %zu\n", mx->alerts_timed);
	printf("deliveries: %zu\n", mx->deliveries);
	static const struct { enum kind k; const char *name; } figs[] = {
		{ K_CONTACT, "submit" }, { K_STATUS, "status" }, { K_LOG, "log" },
		{ K_PROOF, "proof" },
	};
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		struct bstats *s = &mx->lat[figs[i].k];
		printf("%s_p50_ms: %.3f\n", figs[i].name, bstats_ms(s, 50));
		printf("%s_p99_ms: %.3f\n", figs[i].name, bstats_ms(s, 99));
		printf("%s_max_ms: %.3f\n", figs[i].name, bstats_ms(s, 100));
	}
	printf("alert_delivery_p50_ms: %.3f\n", bstats_ms(&mx->alert_delay, 50));
	printf("alert_delivery_p99_ms: %.3f\n", bstats_ms(&mx->alert_delay, 99));
	printf("alert_delivery_max_ms: %.3f\n", bstats_ms(&mx->alert_delay, 100));
	if (l0.ok && l.ok) {
		printf("# loop lag: the relay's vigil_event_loop_lag_recent_max_seconds (the longest "
		       "of the 10 s before each scrape), %zu scrapes covering the run%s; since the "
		       "relay started (set-up included): %.3f ms\n", scrapes,
		       o->seconds < 10 ? " and up to 10 s of set-up before it" : "",
		       l.max * 1e3);
		printf("# writer: %.0f commits during the run, %.0f of them over 10 ms (the WAL's "
		       "fsync on this disk; submissions, case queries and alerts wait for them)\n",
		       l.commits - l0.commits,
		       (l.commits - l.commits_le10ms) - (l0.commits - l0.commits_le10ms));
		printf("loop_lag_max_ms: %.3f\n", lag_recent * 1e3);
		printf("loop_lag_ticks: %.0f\n", l.count - l0.count);
		printf("loop_lag_ticks_over_5ms: %.0f\n",
		       (l.count - l.le5ms) - (l0.count - l0.le5ms));
	}
	printf("client_cpu_percent: %.0f\n", 100.0 * cpu / wall);
	return 0;
}

/* ---- main ------------------------------------------------------------------- */

static int run(const struct opts *o)
{
	struct mixed mx;
	memset(&mx, 0, sizeof(mx));
	mx.o = o;
	mx.n = o->orgs;
	mx.rnd = 0x9E3779B97F4A7C15ULL;
	mx.ep = epoll_create1(EPOLL_CLOEXEC);
	mx.m = calloc(mx.n, sizeof(*mx.m));
	int code = 1;
	char path[1024];
	snprintf(path, sizeof(path), "%s/ca.crt", o->pki);
	FILE *f = fopen(path, "r");
	X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (ca)
		mx.ca_key = X509_get_pubkey(ca);
	X509_free(ca);
	if (mx.ep < 0 || !mx.m || !mx.ca_key) {
		fprintf(stderr, "vigil-bench-mixed: cannot start (epoll, memory or %s)\n", path);
		goto out;
	}
	if (plan(&mx) != 0 || connect_all(&mx) != 0 || subscribe_all(&mx) != 0 ||
	    open_all(&mx) != 0 || run_phase(&mx) != 0)
		goto out;
	code = 0;
out:
	for (size_t i = 0; mx.m && i < mx.n; i++) {
		struct mconn *m = &mx.m[i];
		while (m->n_reqs)
			req_drop(&mx, m, &m->reqs[0]);
		free(m->reqs);
		if (m->open)
			bconn_close(&m->c);
		bverify_free(&m->v);
		bident_free(&m->id);
	}
	free(mx.m);
	for (int r = 0; r < 4; r++)
		free(mx.by_role[r]);
	free(mx.cases);
	free(mx.receipts);
	for (int k = 0; k < K_KINDS; k++)
		bstats_free(&mx.lat[k]);
	bstats_free(&mx.alert_delay);
	EVP_PKEY_free(mx.relay_key);
	EVP_PKEY_free(mx.ca_key);
	if (mx.ep >= 0)
		close(mx.ep);
	return code;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(o.mode, "orgs") == 0) {
		char err[512];
		int64_t t0 = bench_now_ns();
		if (borgs_make(o.pki, o.orgs, err, sizeof(err)) != 0) {
			fprintf(stderr, "vigil-bench-mixed: %s\n", err);
			return 1;
		}
		printf("# %zu member organisations made (P-256 key, certificate, directory "
		       "section) in %.2f s\n", o.orgs, (double)(bench_now_ns() - t0) / 1e9);
		return 0;
	}
	if (strcmp(o.mode, "run") == 0) {
		int code = run(&o);
		fflush(stdout);
		return code;
	}
	usage(stderr);
	return 2;
}

/*
 * vigil-bench - the client side of vigil's benchmarks (tests/bench/run.sh
 * starts the relay and drives this program).
 *
 *   vigil-bench ingest  --port P --pki DIR --origin O [--seconds S]
 *                       [--window W] [--records N] [--threads T] [--receipts FILE]
 *   vigil-bench latency --port P --pki DIR --origin O [--seconds S] [--rate R]
 *   vigil-bench startup --ready-file F --t0 EPOCH --pki DIR --origin O
 *                       [--pid PID] [--label NAME] [--timeout S] [--expect-size N]
 *   vigil-bench proofs  --port P --pki DIR --origin O [--seconds S] [--max N]
 *
 * It speaks the wire protocol directly (proto/ and OpenSSL, not libvigil)
 * and checks every answer as a client must (see bverify.h): a receipt that
 * does not verify ends the run with exit status 1.  In ingest mode a lost
 * connection (the relay killed under load: tests/reliability/killcycles) is
 * exit status 3, and --receipts FILE appends one line per verified receipt,
 * "INDEX LEAF_HASH_HEX", written out as each batch of receipts is taken.
 *
 * Output on stdout: one "name: value" line per figure and "# " comment
 * lines; diagnostics go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "proto/frame.h"
#include "proto/sealed.h"
#include "proto/status.h"
#include "tests/bench/bconn.h"
#include "tests/bench/bident.h"
#include "tests/bench/bproc.h"
#include "tests/bench/brecord.h"
#include "tests/bench/bstats.h"
#include "tests/bench/bverify.h"

#define NS_PER_S 1000000000LL
#define DRAIN_NS (30 * NS_PER_S)   /* longest wait for answers after the timed phase */

struct opts {
	const char *mode;
	const char *pki;
	const char *origin;
	const char *cert;
	const char *ready_file;
	const char *label;
	const char *receipts;
	int port;
	double seconds;
	unsigned window;
	size_t records;
	unsigned threads;
	double rate;
	double t0;
	long pid;
	double timeout;
	size_t max;
	double expect_size;
	long relay_pid;
};

static void usage(FILE *f)
{
	fputs("usage: vigil-bench ingest  --port P --pki DIR --origin O [--seconds S]\n"
	      "                           [--window W] [--records N] [--threads T]\n"
	      "                           [--receipts FILE]\n"
	      "       vigil-bench latency --port P --pki DIR --origin O [--seconds S] [--rate R]\n"
	      "       vigil-bench startup --ready-file F --t0 EPOCH --pki DIR --origin O\n"
	      "                           [--pid PID] [--label NAME] [--timeout S]\n"
	      "                           [--expect-size N]\n"
	      "       vigil-bench proofs  --port P --pki DIR --origin O [--seconds S] [--max N]\n"
	      "       vigil-bench alerts  --port P --pki DIR --origin O --cert se-stockholm-coord\n"
	      "                           [--max N] [--timeout S]\n"
	      "\n"
	      "  --cert NAME   client certificate PKI/NAME.crt and key (default iom-ru-moscow)\n"
	      "  --relay-pid P report the CPU time of the relay's threads in the timed phase\n"
	      "  --receipts F  ingest: append \"INDEX LEAF_HASH_HEX\" per verified receipt to F;\n"
	      "                a lost connection is then exit status 3\n"
	      "  --t0 EPOCH    when the relay was started (seconds since 1970, fractional)\n", f);
}

static int parse_num(const char *name, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "vigil-bench: --%s: \"%s\" is not a number in [%g, %g]\n", name, s,
			min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_PORT = 256, O_PKI, O_ORIGIN, O_CERT, O_READY, O_LABEL, O_SECONDS, O_WINDOW,
	       O_RECORDS, O_THREADS, O_RATE, O_T0, O_PID, O_TIMEOUT, O_MAX, O_EXPECT, O_RELAY,
	       O_RECEIPTS };
	static const struct option lo[] = {
		{ "port", required_argument, NULL, O_PORT },
		{ "pki", required_argument, NULL, O_PKI },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "cert", required_argument, NULL, O_CERT },
		{ "ready-file", required_argument, NULL, O_READY },
		{ "label", required_argument, NULL, O_LABEL },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "records", required_argument, NULL, O_RECORDS },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "t0", required_argument, NULL, O_T0 },
		{ "pid", required_argument, NULL, O_PID },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max", required_argument, NULL, O_MAX },
		{ "expect-size", required_argument, NULL, O_EXPECT },
		{ "relay-pid", required_argument, NULL, O_RELAY },
		{ "receipts", required_argument, NULL, O_RECEIPTS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->cert = "iom-ru-moscow";
	o->label = "startup_s";
	o->seconds = 10;
	o->window = 250;
	o->records = 0;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = n > 0 ? (unsigned)n : 1;
	o->rate = 1000;
	o->timeout = 60;
	o->max = 10000;
	o->t0 = -1;
	o->expect_size = -1;
	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	o->mode = argv[1];
	if (strcmp(o->mode, "-h") == 0 || strcmp(o->mode, "--help") == 0) {
		usage(stdout);
		exit(0);
	}
	optind = 2;
	int c;
	double v;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const char *name = c >= O_PORT ? lo[c - O_PORT].name : "?";
		switch (c) {
		case O_PKI: o->pki = optarg; continue;
		case O_ORIGIN: o->origin = optarg; continue;
		case O_CERT: o->cert = optarg; continue;
		case O_READY: o->ready_file = optarg; continue;
		case O_LABEL: o->label = optarg; continue;
		case O_RECEIPTS: o->receipts = optarg; continue;
		case 'h': usage(stdout); exit(0);
		case O_PORT: case O_SECONDS: case O_WINDOW: case O_RECORDS: case O_THREADS:
		case O_RATE: case O_T0: case O_PID: case O_TIMEOUT: case O_MAX: case O_EXPECT: case O_RELAY:
			break;
		default: usage(stderr); return -1;
		}
		static const double lim[][2] = {
			[O_PORT - O_PORT] = { 1, 65535 },
			[O_SECONDS - O_PORT] = { 0.1, 3600 },
			[O_WINDOW - O_PORT] = { 1, 100000 },
			[O_RECORDS - O_PORT] = { 1, 100000000 },
			[O_THREADS - O_PORT] = { 1, 64 },
			[O_RATE - O_PORT] = { 1, 1000000 },
			[O_T0 - O_PORT] = { 0, 1e11 },
			[O_PID - O_PORT] = { 1, 1e9 },
			[O_TIMEOUT - O_PORT] = { 0.1, 86400 },
			[O_MAX - O_PORT] = { 1, 1e9 },
			[O_EXPECT - O_PORT] = { 0, 1e15 },
			[O_RELAY - O_PORT] = { 1, 1e9 },
		};
		if (parse_num(name, optarg, lim[c - O_PORT][0], lim[c - O_PORT][1], &v) != 0)
			return -1;
		switch (c) {
		case O_PORT: o->port = (int)v; break;
		case O_SECONDS: o->seconds = v; break;
		case O_WINDOW: o->window = (unsigned)v; break;
		case O_RECORDS: o->records = (size_t)v; break;
		case O_THREADS: o->threads = (unsigned)v; break;
		case O_RATE: o->rate = v; break;
		case O_T0: o->t0 = v; break;
		case O_PID: o->pid = (long)v; break;
		case O_TIMEOUT: o->timeout = v; break;
		case O_MAX: o->max = (size_t)v; break;
		case O_EXPECT: o->expect_size = v; break;
		case O_RELAY: o->relay_pid = (long)v; break;
		default: break;
		}
	}
	if (optind != argc || !o->pki || !o->origin) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The relay's thread CPU over the timed phase, when --relay-pid is given. */
struct phase {
	struct bproc_snap a, b;
	int64_t t_a, t_b;
};

static void phase_begin(const struct opts *o, struct phase *p)
{
	if (o->relay_pid)
		bproc_snap(o->relay_pid, &p->a);
	p->t_a = bench_now_ns();
}

static void phase_end(const struct opts *o, struct phase *p)
{
	p->t_b = bench_now_ns();
	if (o->relay_pid) {
		bproc_snap(o->relay_pid, &p->b);
		bproc_report(stdout, &p->a, &p->b, (double)(p->t_b - p->t_a) / 1e9);
	}
}

/* The readers of the benchmark's cases (open_bench_cases), whom its notes
 * are sealed to: the coordinator that owns them and the author, if its
 * role reads narrative, each with its encryption certificate
 * (PKI_DIR/ORG.enc.crt; the OU says the role).  Sorted by the
 * certificates' SHA-256; the count. */
struct bench_readers {
	X509 *x[2];
	uint8_t h[2][SHA256_LEN];
	size_t n;
};

static void bench_readers_load(const char *pki, const char *author, struct bench_readers *r)
{
	const char *orgs[2] = { "se-stockholm-coord", author };
	r->n = 0;
	for (size_t i = 0; i < 2; i++) {
		if (i == 1 && strcmp(author, orgs[0]) == 0)
			break;
		char path[1024], ou[32] = "";
		snprintf(path, sizeof(path), "%s/%s.enc.crt", pki, orgs[i]);
		FILE *f = fopen(path, "r");
		X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
		if (f)
			fclose(f);
		if (!x)
			continue;
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationalUnitName, ou,
					  sizeof(ou));
		if (strcmp(ou, "coordinator") != 0 && strcmp(ou, "iom") != 0 &&
		    strcmp(ou, "shelter") != 0) {
			X509_free(x);
			continue;
		}
		/* Cache the extensions now: the signing threads share x. */
		X509_check_purpose(x, -1, 0);
		r->x[r->n] = x;
		sealed_cert_sha256(x, r->h[r->n]);
		r->n++;
	}
	if (r->n == 2 && memcmp(r->h[0], r->h[1], SHA256_LEN) > 0) {
		X509 *tx = r->x[0];
		uint8_t th[SHA256_LEN];
		memcpy(th, r->h[0], SHA256_LEN);
		r->x[0] = r->x[1];
		memcpy(r->h[0], r->h[1], SHA256_LEN);
		r->x[1] = tx;
		memcpy(r->h[1], th, SHA256_LEN);
	}
	ERR_clear_error();
}

static void bench_readers_free(struct bench_readers *r)
{
	for (size_t i = 0; i < r->n; i++)
		X509_free(r->x[i]);
	r->n = 0;
}

/* Builds and signs n records for the timed phase (every fourth with a note
 * sealed to the cases' readers); says how long it took. */
static struct brecord *presign(const struct opts *o, const struct bident *id, size_t n)
{
	struct brecord *r = calloc(n, sizeof(*r));
	if (!r) {
		fprintf(stderr, "vigil-bench: out of memory for %zu records\n", n);
		return NULL;
	}
	struct bench_readers br;
	bench_readers_load(o->pki, id->org, &br);
	struct brecord_spec spec = {
		.key = id->key,
		.author = id->org,
		.time_ms = (int64_t)time(NULL) * 1000,
		.time_step_ms = 0,
		.first = 0,
		.frames = 1,
		.readers = br.x,
		.reader_sha256 = (const uint8_t(*)[SHA256_LEN])br.h,
		.n_readers = br.n,
	};
	unsigned threads = o->threads;
	int64_t t = bench_now_ns();
	int made = brecords_make(r, n, &spec, threads);
	bench_readers_free(&br);
	if (made != 0) {
		brecords_free(r, n);
		free(r);
		return NULL;
	}
	/* Signing inside the timed phase would take CPU from the relay on a
	 * 2-core machine; a real client signs as records are made, spread over
	 * time, so it is done before the clock starts. */
	printf("# %zu records pre-signed in %.2f s with %u threads before the timed phase "
	       "(client-side signing would compete with the relay for the cores)\n",
	       n, (double)(bench_now_ns() - t) / 1e9, threads);
	fflush(stdout);
	return r;
}

/* One line "INDEX LEAF_HASH_HEX" for a verified receipt.  0 or -1. */
static int write_receipt(FILE *out, const Vigil__V1__Receipt *rc)
{
	char hex[2 * 32 + 1];
	size_t n = rc->leaf_hash.len < 32 ? rc->leaf_hash.len : 32;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", rc->leaf_hash.data[i]);
	hex[2 * n] = '\0';
	if (fprintf(out, "%" PRIu64 " %s\n", rc->index, hex) < 0) {
		fprintf(stderr, "vigil-bench: writing receipts: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Takes every frame the connection has buffered: each must be a verified
 * receipt for an outstanding record; with out, each is also written there
 * (write_receipt) and out is flushed.  Returns the number handled, -1 for a
 * wrong answer and -2 when the connection failed (after the receipts that
 * arrived before were handled).
 */
static long take_receipts(struct bconn *c, struct bverify *v, struct brecord *r, size_t sent,
			  const int64_t *t_send, uint8_t *done, struct bstats *lat,
			  int64_t *t_last, FILE *out)
{
	long handled = 0;
	Vigil__V1__Frame *f;
	int rc;
	char err[512];
	while ((rc = bconn_next(c, &f)) == 1) {
		uint64_t i = f->request_id - 1;
		if (f->request_id == 0 || i >= sent || done[i]) {
			fprintf(stderr, "vigil-bench: answer to request %" PRIu64
				", which is not outstanding\n", f->request_id);
			frame_free(f);
			return -1;
		}
		if (f->msg_case == VIGIL__V1__FRAME__MSG_ERROR) {
			fprintf(stderr, "vigil-bench: record %" PRIu64 " refused: %s: %s\n", i,
				vg_status_wire_name(vg_status_from_wire(f->error->code)),
				f->error->message);
			frame_free(f);
			return -1;
		}
		if (f->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT) {
			fprintf(stderr, "vigil-bench: record %" PRIu64 " answered with message %d\n",
				i, (int)f->msg_case);
			frame_free(f);
			return -1;
		}
		if (bverify_receipt(v, f->receipt, &r[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "vigil-bench: record %" PRIu64 ": %s\n", i, err);
			frame_free(f);
			return -1;
		}
		if (out && write_receipt(out, f->receipt) != 0) {
			frame_free(f);
			return -1;
		}
		frame_free(f);
		int64_t now = bench_now_ns();
		done[i] = 1;
		*t_last = now;
		if (bstats_add(lat, now - t_send[i]) != 0) {
			fprintf(stderr, "vigil-bench: out of memory\n");
			return -1;
		}
		handled++;
	}
	/* Written out before anything else can happen to the client: a receipt
	 * the client holds is a promise the relay must keep after a crash. */
	if (out && fflush(out) != 0) {
		fprintf(stderr, "vigil-bench: writing receipts: %s\n", strerror(errno));
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, "vigil-bench: %s\n", c->err);
		return -2;
	}
	return handled;
}

static int open_conn(struct bconn *c, const struct bident *id, int port)
{
	if (bconn_open(c, id, port, 10000) != 0) {
		fprintf(stderr, "vigil-bench: cannot connect to the relay on port %d: %s\n", port,
			c->err);
		bconn_close(c);
		return -1;
	}
	return 0;
}

/*
 * The benchmark's records belong to cases BENCH-0000..0999 (brecord.c):
 * the relay only takes contact attempts for open cases, by their parties,
 * so the Stockholm coordinator opens them, with the benchmark's identity as
 * a party, before anything is timed.  A case already open (a relay reused
 * between runs) is fine.
 */
static int open_bench_cases(const struct opts *o, const struct bident *id)
{
	enum { N_CASES = 1000 };
	struct bident coord;
	char err[1024];
	if (bident_load(&coord, o->pki, "se-stockholm-coord", o->origin, err, sizeof(err)) != 0) {
		fprintf(stderr, "vigil-bench: %s\n", err);
		return -1;
	}
	struct bconn c;
	int rc = -1;
	if (open_conn(&c, &coord, o->port) != 0)
		goto out;
	for (size_t i = 0; i < N_CASES; i++) {
		char case_id[64];
		uint8_t rid[RECORD_ID_LEN];
		snprintf(case_id, sizeof(case_id), "se-stockholm-coord/BENCH-%04zu", i);
		if (RAND_bytes(rid, sizeof(rid)) != 1)
			goto out_conn;
		char *parties[1] = { (char *)id->org };
		Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
		consent.scope = "share-with-parties";
		consent.given_at_ms = 1790000000000LL;
		Vigil__V1__CaseOpen co = VIGIL__V1__CASE_OPEN__INIT;
		co.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_MEDIUM;
		co.return_country = "RU";
		co.return_date = "2026-10-01";
		co.parties = parties;
		co.n_parties = 1;
		co.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
		co.consent = &consent;
		Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
		r.record_id.data = rid;
		r.record_id.len = RECORD_ID_LEN;
		r.case_id = case_id;
		r.author = coord.org;
		r.client_time_ms = 1790000000000LL;
		r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
		r.case_open = &co;
		size_t len = vigil__v1__record__get_packed_size(&r);
		uint8_t *rec = malloc(len), *sig = NULL;
		size_t sig_len = 0;
		if (!rec)
			goto out_conn;
		vigil__v1__record__pack(&r, rec);
		int signed_ok = record_sign(coord.key, rec, len, &sig, &sig_len) == VG_OK;
		Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
		sr.record.data = rec;
		sr.record.len = len;
		sr.signature.data = sig;
		sr.signature.len = sig_len;
		Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
		sub.record = &sr;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
		f.submit = &sub;
		int q = signed_ok ? bconn_queue_msg(&c, &f, i + 1) : -1;
		free(rec);
		free(sig);
		if (q != 0)
			goto out_conn;
		/* Stay under the relay's in-flight limit. */
		if ((i + 1) % 200 == 0 || i + 1 == N_CASES) {
			size_t want = (i % 200) + 1;
			for (size_t k = 0; k < want; k++) {
				Vigil__V1__Frame *a;
				if (bconn_recv(&c, &a, bench_now_ns() + 30 * NS_PER_S) != 0)
					goto out_conn;
				int ok = a->msg_case == VIGIL__V1__FRAME__MSG_RECEIPT ||
					 (a->msg_case == VIGIL__V1__FRAME__MSG_ERROR &&
					  a->error->code == VIGIL__V1__ERROR_CODE__ERROR_CONFLICT);
				if (!ok)
					fprintf(stderr, "vigil-bench: cannot open a case: %s\n",
						a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
						a->error->message : "unexpected answer");
				frame_free(a);
				if (!ok)
					goto out_conn;
			}
		}
	}
	rc = 0;
out_conn:
	if (rc != 0 && c.err[0])
		fprintf(stderr, "vigil-bench: %s\n", c.err);
	bconn_close(&c);
out:
	bident_free(&coord);
	return rc;
}

/* ingest: one connection, up to `window` submissions outstanding. */
static int run_ingest(const struct opts *o, const struct bident *id)
{
	size_t n = o->records ? o->records : 200000;
	struct brecord *r = presign(o, id, n);
	if (!r)
		return 1;
	int64_t *t_send = calloc(n, sizeof(*t_send));
	uint8_t *done = calloc(n, 1);
	struct bstats lat = { 0 };
	struct bverify v;
	bverify_init(&v, id);
	struct bconn c;
	int code = 1;
	FILE *out = NULL;
	if (!t_send || !done || open_conn(&c, id, o->port) != 0)
		goto out;
	/* Opened once the cases are open and the connection is up: its
	 * existence tells tests/reliability/killcycles the load has begun. */
	if (o->receipts && !(out = fopen(o->receipts, "a"))) {
		fprintf(stderr, "vigil-bench: %s: %s\n", o->receipts, strerror(errno));
		goto out_conn;
	}

	struct phase ph;
	phase_begin(o, &ph);
	double cpu0 = cpu_seconds();
	int64_t start = bench_now_ns(), stop = start + (int64_t)(o->seconds * NS_PER_S);
	int64_t t_last = start;
	size_t sent = 0, received = 0;
	int exhausted = 0;
	for (;;) {
		int64_t now = bench_now_ns();
		if (now < stop && sent < n && sent - received < o->window) {
			size_t first = sent;
			while (sent < n && sent - received < o->window) {
				if (bconn_queue(&c, r[sent].frame, r[sent].frame_len) != 0)
					goto conn_fail;
				sent++;
			}
			/* The clock starts just before the frames are written. */
			now = bench_now_ns();
			for (size_t i = first; i < sent; i++)
				t_send[i] = now;
		}
		if (bconn_flush(&c) != 0)
			goto conn_fail;
		if (sent == n && received == n && now < stop) {
			exhausted = 1;
			break;
		}
		if (now >= stop && received == sent)
			break;
		if (now >= stop + DRAIN_NS) {
			fprintf(stderr, "vigil-bench: %zu receipts still missing %d s after the end\n",
				sent - received, (int)(DRAIN_NS / NS_PER_S));
			goto out_conn;
		}
		int64_t wait = now < stop ? stop - now : stop + DRAIN_NS - now;
		int failed = bconn_poll(&c, wait) != 0 || bconn_fill(&c) != 0;
		/* Receipts that arrived before a failure still count. */
		long got = take_receipts(&c, &v, r, sent, t_send, done, &lat, &t_last, out);
		if (got == -1)
			goto out_conn;
		if (failed || got == -2)
			goto conn_fail;
		received += (size_t)got;
	}
	double elapsed = (double)(t_last - start) / 1e9;
	double cpu = cpu_seconds() - cpu0;
	phase_end(o, &ph);
	if (exhausted)
		printf("# all %zu pre-signed records were receipted before %.0f s: the rate is over "
		       "%.2f s (raise --records)\n", n, o->seconds, elapsed);
	printf("# %zu receipts verified in %.2f s, window %u; checkpoint notes: %" PRIu64
	       " verified, %" PRIu64 " from cache; client CPU %.2f s (%.0f %% of one core)\n",
	       received, elapsed, o->window, v.notes_verified, v.notes_cached, cpu,
	       100.0 * cpu / elapsed);
	printf("records_per_s: %.0f\n", (double)received / elapsed);
	printf("p50_ms: %.3f\n", bstats_ms(&lat, 50));
	printf("p99_ms: %.3f\n", bstats_ms(&lat, 99));
	code = 0;
	goto out_conn;
conn_fail:
	fprintf(stderr, "vigil-bench: %s\n", c.err);
	if (out)
		fprintf(stderr, "vigil-bench: connection lost after %zu receipts\n", received);
	code = 3;
out_conn:
	bconn_close(&c);
out:
	if (out && fclose(out) != 0) {
		fprintf(stderr, "vigil-bench: %s: %s\n", o->receipts, strerror(errno));
		code = 1;
	}
	bverify_free(&v);
	bstats_free(&lat);
	free(done);
	free(t_send);
	brecords_free(r, n);
	free(r);
	return code;
}

/* latency: one record every 1/rate s on a fixed schedule. */
static int run_latency(const struct opts *o, const struct bident *id)
{
	size_t n = (size_t)(o->rate * o->seconds);
	if (n < 2)
		n = 2;
	struct brecord *r = presign(o, id, n);
	if (!r)
		return 1;
	int64_t *t_send = calloc(n, sizeof(*t_send));
	uint8_t *done = calloc(n, 1);
	struct bstats lat = { 0 }, lag = { 0 };
	struct bverify v;
	bverify_init(&v, id);
	struct bconn c;
	int code = 1;
	if (!t_send || !done || open_conn(&c, id, o->port) != 0)
		goto out;

	struct phase ph;
	phase_begin(o, &ph);
	double cpu0 = cpu_seconds();
	double period = (double)NS_PER_S / o->rate;
	int64_t start = bench_now_ns() + 10000000; /* first send 10 ms from now */
	int64_t t_last = start;
	size_t sent = 0, received = 0;
	for (;;) {
		int64_t now = bench_now_ns();
		/* Everything due is sent now; a late send is measured from when
		 * it is written, and its lateness is reported separately. */
		while (sent < n && start + (int64_t)(period * (double)sent) <= now) {
			if (bconn_queue(&c, r[sent].frame, r[sent].frame_len) != 0)
				goto conn_fail;
			now = bench_now_ns();
			t_send[sent] = now;
			if (bstats_add(&lag, now - (start + (int64_t)(period * (double)sent))) != 0)
				goto conn_fail;
			sent++;
			if (bconn_flush(&c) != 0)
				goto conn_fail;
		}
		if (bconn_flush(&c) != 0)
			goto conn_fail;
		if (received == n)
			break;
		int64_t end = start + (int64_t)(period * (double)n);
		if (sent == n && now >= end + DRAIN_NS) {
			fprintf(stderr, "vigil-bench: %zu receipts still missing %d s after the end\n",
				sent - received, (int)(DRAIN_NS / NS_PER_S));
			goto out_conn;
		}
		int64_t wait = sent < n ? start + (int64_t)(period * (double)sent) - now
					: end + DRAIN_NS - now;
		if (bconn_poll(&c, wait > 0 ? wait : 0) != 0 || bconn_fill(&c) != 0)
			goto conn_fail;
		long got = take_receipts(&c, &v, r, sent, t_send, done, &lat, &t_last, NULL);
		if (got < 0)
			goto out_conn;
		received += (size_t)got;
	}
	double send_s = (double)(t_send[n - 1] - t_send[0]) / 1e9;
	double cpu = cpu_seconds() - cpu0;
	phase_end(o, &ph);
	printf("# %zu receipts verified; send schedule lag p99 %.3f ms, max %.3f ms; "
	       "mean latency %.3f ms; checkpoint notes: %" PRIu64 " verified, %" PRIu64
	       " from cache; client CPU %.2f s\n", received, bstats_ms(&lag, 99),
	       bstats_ms(&lag, 100), bstats_mean_ms(&lat), v.notes_verified, v.notes_cached, cpu);
	printf("rate: %.0f\n", send_s > 0 ? (double)(n - 1) / send_s : 0);
	printf("p50_ms: %.3f\n", bstats_ms(&lat, 50));
	printf("p99_ms: %.3f\n", bstats_ms(&lat, 99));
	printf("max_ms: %.3f\n", bstats_ms(&lat, 100));
	code = 0;
	goto out_conn;
conn_fail:
	fprintf(stderr, "vigil-bench: %s\n", c.err[0] ? c.err : "out of memory");
out_conn:
	bconn_close(&c);
out:
	bverify_free(&v);
	bstats_free(&lat);
	bstats_free(&lag);
	free(done);
	free(t_send);
	brecords_free(r, n);
	free(r);
	return code;
}

/* GetCheckpoint and its verification; 0 and *cp, or -1. */
static int get_checkpoint(struct bconn *c, struct bverify *v, struct checkpoint *cp)
{
	Vigil__V1__GetCheckpoint g = VIGIL__V1__GET_CHECKPOINT__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_GET_CHECKPOINT;
	f.get_checkpoint = &g;
	Vigil__V1__Frame *a = NULL;
	uint64_t rid = c->next_id++;
	if (bconn_queue_msg(c, &f, rid) != 0 ||
	    bconn_recv(c, &a, bench_now_ns() + 10 * NS_PER_S) != 0) {
		fprintf(stderr, "vigil-bench: GetCheckpoint: %s\n", c->err);
		return -1;
	}
	char err[512];
	int rc = -1;
	if (a->request_id != rid || a->msg_case != VIGIL__V1__FRAME__MSG_CHECKPOINT)
		fprintf(stderr, "vigil-bench: GetCheckpoint answered with message %d\n",
			(int)a->msg_case);
	else if (bverify_note(v, a->checkpoint->note, cp, err, sizeof(err)) != 0)
		fprintf(stderr, "vigil-bench: %s\n", err);
	else
		rc = 0;
	frame_free(a);
	return rc;
}

static double realtime_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 while the process runs (a zombie has ended). */
static int process_alive(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* startup: from t0 (when the relay was exec'd) to the first verified
 * answer to GetCheckpoint over TLS. */
static int run_startup(const struct opts *o, const struct bident *id)
{
	if (!o->ready_file || o->t0 < 0) {
		usage(stderr);
		return 2;
	}
	double deadline = o->t0 + o->timeout;
	int port = 0;
	for (;;) {
		FILE *f = fopen(o->ready_file, "r");
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;
			fclose(f);
			if (ok)
				break;
		}
		if (o->pid && !process_alive(o->pid)) {
			fprintf(stderr, "vigil-bench: the relay (pid %ld) exited before it was "
				"ready\n", o->pid);
			return 1;
		}
		if (realtime_s() > deadline) {
			fprintf(stderr, "vigil-bench: the relay was not ready within %.0f s\n",
				o->timeout);
			return 1;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	double ready = realtime_s();
	struct bconn c;
	struct bverify v;
	bverify_init(&v, id);
	struct checkpoint cp;
	int code = 1;
	if (open_conn(&c, id, port) != 0)
		goto out;
	if (get_checkpoint(&c, &v, &cp) == 0) {
		double t = realtime_s();
		if (o->expect_size >= 0 && (double)cp.size != o->expect_size) {
			fprintf(stderr, "vigil-bench: the relay's checkpoint has size %" PRIu64
				", expected %.0f\n", cp.size, o->expect_size);
			goto out_conn;
		}
		printf("# %s: ready file after %.3f s, first verified checkpoint (size %" PRIu64
		       ") after %.3f s\n", o->label, ready - o->t0, cp.size, t - o->t0);
		printf("%s: %.3f\n", o->label, t - o->t0);
		code = 0;
	}
out_conn:
	bconn_close(&c);
out:
	bverify_free(&v);
	return code;
}

/* xorshift64*: reproducible, uniform enough for choosing leaves. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* proofs: inclusion proofs of random leaves in the latest tree, one at a
 * time, each verified against the checkpoint. */
/* Opens case BENCH-ALERT-<i> (high risk) as the coordinator; no parties
 * but itself, so its silence alert goes to the coordinator alone. */
static int queue_alert_case(struct bconn *c, const struct bident *id, size_t i)
{
	char case_id[64];
	uint8_t rid[RECORD_ID_LEN];
	snprintf(case_id, sizeof(case_id), "se-stockholm-coord/BENCH-ALERT-%zu", i);
	if (RAND_bytes(rid, sizeof(rid)) != 1)
		return -1;
	Vigil__V1__Consent consent = VIGIL__V1__CONSENT__INIT;
	consent.scope = "share-with-parties";
	consent.given_at_ms = 1790000000000LL;
	Vigil__V1__CaseOpen co = VIGIL__V1__CASE_OPEN__INIT;
	co.risk = VIGIL__V1__RISK_LEVEL__RISK_LEVEL_HIGH;
	co.return_country = "RU";
	co.return_date = "2026-10-01";
	co.basis_case = VIGIL__V1__CASE_OPEN__BASIS_CONSENT;
	co.consent = &consent;
	Vigil__V1__Record r = VIGIL__V1__RECORD__INIT;
	r.record_id.data = rid;
	r.record_id.len = RECORD_ID_LEN;
	r.case_id = case_id;
	r.author = (char *)id->org;
	r.client_time_ms = 1790000000000LL;
	r.body_case = VIGIL__V1__RECORD__BODY_CASE_OPEN;
	r.case_open = &co;
	size_t len = vigil__v1__record__get_packed_size(&r);
	uint8_t *rec = malloc(len), *sig = NULL;
	size_t sig_len = 0;
	if (!rec)
		return -1;
	vigil__v1__record__pack(&r, rec);
	int rc = record_sign(id->key, rec, len, &sig, &sig_len) == VG_OK ? 0 : -1;
	if (rc == 0) {
		Vigil__V1__SignedRecord sr = VIGIL__V1__SIGNED_RECORD__INIT;
		sr.record.data = rec;
		sr.record.len = len;
		sr.signature.data = sig;
		sr.signature.len = sig_len;
		Vigil__V1__Submit sub = VIGIL__V1__SUBMIT__INIT;
		sub.record = &sr;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_SUBMIT;
		f.submit = &sub;
		rc = bconn_queue_msg(c, &f, i + 1);
	}
	free(rec);
	free(sig);
	return rc;
}

/*
 * alerts: the delay from a missed deadline to the alert's delivery.  The
 * coordinator subscribes on one connection and opens --max high-risk cases
 * on another; when their window (the relay's [watchdog] high) ends, the
 * relay raises one alert per case.  For each delivery: its arrival (wall
 * clock) minus the deadline it names.
 */
static int run_alerts(const struct opts *o, const struct bident *id)
{
	size_t n = o->max;
	struct bconn sub, sender;
	struct bverify v;
	bverify_init(&v, id);
	struct bstats delay = { 0 };
	int code = 1;
	if (open_conn(&sub, id, o->port) != 0)
		goto out;
	if (open_conn(&sender, id, o->port) != 0)
		goto out_sub;
	Vigil__V1__Subscribe sb = VIGIL__V1__SUBSCRIBE__INIT;
	Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
	f.msg_case = VIGIL__V1__FRAME__MSG_SUBSCRIBE;
	f.subscribe = &sb;
	Vigil__V1__Frame *a = NULL;
	if (bconn_queue_msg(&sub, &f, 1) != 0 ||
	    bconn_recv(&sub, &a, bench_now_ns() + 10 * NS_PER_S) != 0 ||
	    a->msg_case != VIGIL__V1__FRAME__MSG_SUBSCRIBED) {
		fprintf(stderr, "vigil-bench: cannot subscribe: %s\n", sub.err);
		frame_free(a);
		goto out_sender;
	}
	frame_free(a);
	/* Open the cases in windows of 200 (the relay's in-flight limit). */
	for (size_t i = 0; i < n; i += 200) {
		size_t k = n - i < 200 ? n - i : 200;
		for (size_t j = 0; j < k; j++)
			if (queue_alert_case(&sender, id, i + j) != 0)
				goto out_sender;
		for (size_t j = 0; j < k; j++) {
			a = NULL;
			if (bconn_recv(&sender, &a, bench_now_ns() + 30 * NS_PER_S) != 0 ||
			    a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT) {
				fprintf(stderr, "vigil-bench: cannot open a case: %s\n",
					a && a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
					a->error->message : sender.err);
				frame_free(a);
				goto out_sender;
			}
			frame_free(a);
		}
	}
	int64_t deadline = bench_now_ns() + (int64_t)o->timeout * NS_PER_S;
	size_t got = 0;
	while (got < n && bench_now_ns() < deadline) {
		a = NULL;
		if (bconn_recv(&sub, &a, deadline) != 0) {
			fprintf(stderr, "vigil-bench: %s\n", sub.err);
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (a->msg_case != VIGIL__V1__FRAME__MSG_DELIVERY) {
			frame_free(a);
			continue;
		}
		struct checkpoint cp;
		char err[256];
		Vigil__V1__Delivery *d = a->delivery;
		Vigil__V1__Record *r = vigil__v1__record__unpack(NULL, d->entry->record.len,
								  d->entry->record.data);
		if (!r || r->body_case != VIGIL__V1__RECORD__BODY_ALERT ||
		    bverify_note(&v, d->checkpoint, &cp, err, sizeof(err)) != 0) {
			fprintf(stderr, "vigil-bench: a delivery does not verify\n");
			if (r)
				vigil__v1__record__free_unpacked(r, NULL);
			frame_free(a);
			goto out_sender;
		}
		if (r->alert->stage >= 1 && r->alert->deadline_ms > 0) {
			if (bstats_add(&delay, (now_ms - r->alert->deadline_ms) * 1000000) != 0) {
				vigil__v1__record__free_unpacked(r, NULL);
				frame_free(a);
				goto out_sender;
			}
			got++;
		}
		vigil__v1__record__free_unpacked(r, NULL);
		frame_free(a);
	}
	printf("# %zu of %zu cases alerted; delay = arrival at the subscriber - the deadline "
	       "named in the alert (wall clock, ms resolution)\n", got, n);
	printf("alerts: %zu\n", got);
	printf("alert_delay_p50_ms: %.3f\n", bstats_ms(&delay, 50));
	printf("alert_delay_p99_ms: %.3f\n", bstats_ms(&delay, 99));
	printf("alert_delay_max_ms: %.3f\n", bstats_ms(&delay, 100));
	code = got == n ? 0 : 1;
out_sender:
	bconn_close(&sender);
out_sub:
	bconn_close(&sub);
out:
	bverify_free(&v);
	bstats_free(&delay);
	return code;
}

static int run_proofs(const struct opts *o, const struct bident *id)
{
	struct bconn c;
	struct bverify v;
	bverify_init(&v, id);
	struct bstats lat = { 0 };
	struct checkpoint cp;
	char err[512];
	int code = 1;
	if (open_conn(&c, id, o->port) != 0)
		goto out;
	if (get_checkpoint(&c, &v, &cp) != 0)
		goto out_conn;
	if (cp.size == 0) {
		fprintf(stderr, "vigil-bench: the log is empty\n");
		goto out_conn;
	}
	uint64_t seed = 0x9E3779B97F4A7C15ULL;
	size_t proof_len = 0;
	struct phase ph;
	phase_begin(o, &ph);
	int64_t start = bench_now_ns(), stop = start + (int64_t)(o->seconds * NS_PER_S);
	while (lat.n < o->max && bench_now_ns() < stop) {
		uint64_t index = rnd(&seed) % cp.size;
		Vigil__V1__GetInclusionProof g = VIGIL__V1__GET_INCLUSION_PROOF__INIT;
		g.index = index;
		g.tree_size = cp.size;
		Vigil__V1__Frame f = VIGIL__V1__FRAME__INIT;
		f.msg_case = VIGIL__V1__FRAME__MSG_GET_INCLUSION_PROOF;
		f.get_inclusion_proof = &g;
		Vigil__V1__Frame *a = NULL;
		uint64_t rid = c.next_id++;
		int64_t t = bench_now_ns();
		if (bconn_queue_msg(&c, &f, rid) != 0 || bconn_recv(&c, &a, t + 10 * NS_PER_S) != 0) {
			fprintf(stderr, "vigil-bench: GetInclusionProof: %s\n", c.err);
			goto out_conn;
		}
		if (a->request_id != rid || a->msg_case != VIGIL__V1__FRAME__MSG_INCLUSION_PROOF) {
			fprintf(stderr, "vigil-bench: GetInclusionProof(%" PRIu64 ", %" PRIu64
				") answered with message %d%s%s\n", index, cp.size, (int)a->msg_case,
				a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? ": " : "",
				a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ? a->error->message : "");
			frame_free(a);
			goto out_conn;
		}
		int ok = bverify_inclusion(a->inclusion_proof, index, &cp, err, sizeof(err)) == 0;
		proof_len += a->inclusion_proof->n_hashes;
		frame_free(a);
		if (!ok) {
			fprintf(stderr, "vigil-bench: %s\n", err);
			goto out_conn;
		}
		if (bstats_add(&lat, bench_now_ns() - t) != 0)
			goto out_conn;
	}
	double elapsed = (double)(bench_now_ns() - start) / 1e9;
	phase_end(o, &ph);
	printf("# %zu inclusion proofs verified in %.2f s against the checkpoint of size %" PRIu64
	       " (mean %.1f hashes each, one request at a time); mean %.3f ms, max %.3f ms\n",
	       lat.n, elapsed, cp.size, lat.n ? (double)proof_len / (double)lat.n : 0,
	       bstats_mean_ms(&lat), bstats_ms(&lat, 100));
	printf("proof_p50_ms: %.3f\n", bstats_ms(&lat, 50));
	printf("proof_p99_ms: %.3f\n", bstats_ms(&lat, 99));
	code = 0;
out_conn:
	bconn_close(&c);
out:
	bstats_free(&lat);
	bverify_free(&v);
	return code;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) != 0)
		return 2;
	/* A relay that dies (killed under load on purpose) is a lost
	 * connection, reported as such, not a SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	int (*run)(const struct opts *, const struct bident *) = NULL;
	if (strcmp(o.mode, "ingest") == 0)
		run = run_ingest;
	else if (strcmp(o.mode, "latency") == 0)
		run = run_latency;
	else if (strcmp(o.mode, "startup") == 0)
		run = run_startup;
	else if (strcmp(o.mode, "proofs") == 0)
		run = run_proofs;
	else if (strcmp(o.mode, "alerts") == 0)
		run = run_alerts;
	if (!run || ((run == run_ingest || run == run_latency || run == run_proofs ||
		      run == run_alerts) && !o.port)) {
		usage(stderr);
		return 2;
	}
	struct bident id;
	char err[1024];
	if (bident_load(&id, o.pki, o.cert, o.origin, err, sizeof(err)) != 0) {
		fprintf(stderr, "vigil-bench: %s\n", err);
		return 1;
	}
	if ((run == run_ingest || run == run_latency) && open_bench_cases(&o, &id) != 0) {
		bident_free(&id);
		return 1;
	}
	int code = run(&o, &id);
	bident_free(&id);
	fflush(stdout);
	return code;
}

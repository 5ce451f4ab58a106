/*
 * alerts.c - alerts on the command line:
 *
 *   vigil alerts [--follow] [--after N] [--desk NAME] [--exec CMD [--exec-timeout S]]
 *   vigil alerts --open
 *   vigil alert ack ALERT_ID --case ID --decision DECISION [--reason TEXT]
 *
 * "alerts" subscribes to our organisation's alerts and prints each one the
 * relay delivers, verified by libvigil first (the relay's signature, the
 * leaf hash, the signed checkpoint and the inclusion proof): the replay of
 * what is stored and not yet acknowledged, then, with --follow, each new
 * one as it comes.  The relay delivers its Erasure entries the same way
 * (what it erased of our cases' entries, why, on whose request); they are
 * printed as erasures, not as alerts (delivery.c writes both).  The tool
 * keeps no copy of a record or of opened text, so an erasure leaves it
 * nothing to delete.
 *
 * It acknowledges what it has handled, and only that: a delivery is
 * handled once its line reached standard output and, with --exec CMD,
 * once CMD exited 0 for it (hook.c runs it; a failure is tried again, and
 * what comes after waits).  The position of the last one handled is sent
 * as a DeliveryAck whenever the stream pauses, and once more before it
 * exits, followed by a query whose answer shows the relay has read it.  A
 * delivery that was not handled (a failure, a signal in between) is
 * replayed the next time.
 *
 * With --follow a lost connection is no end: the tool connects again,
 * waiting longer after each failed attempt (retry.c), and subscribes after
 * the last position it handled, so that a delivery handled just before
 * the loss, whose acknowledgement the relay never read, is neither shown
 * again nor left unacknowledged (it is acknowledged on the new
 * connection).  Only a failure that no new attempt can mend ends it.
 *
 * "alert ack" records a decision on an open alert (an AlertAck record),
 * which stops its escalation, and prints the receipt like the other
 * records.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"

enum {
	OPT_FOLLOW = OPT_COMMAND_BASE,
	OPT_AFTER,
	OPT_CASE,
	OPT_DECISION,
	OPT_REASON,
	OPT_DESK,
	OPT_OPEN,
	OPT_EXEC,
	OPT_EXEC_TIMEOUT,
};

/* Without --follow: the stream has ended when nothing came for this long. */
#define QUIET_MS 1000
/* With --follow: how long one wait lasts before the loop looks at signals
 * and acknowledges what it printed. */
#define FOLLOW_SLICE_MS 500
/* With --follow: after this long without a frame, a query (the latest
 * checkpoint) checks that the connection still leads to the relay.  A
 * relay that vanished without closing the connection (a host that went
 * down, a NAT mapping that expired) would otherwise leave us waiting for
 * ever; the query also keeps such mappings alive. */
#define FOLLOW_PROBE_MS 60000
/* Acknowledge at the latest after this many printed alerts, even while
 * they keep coming. */
#define ACK_EVERY 64
/* Frames looked at after the final acknowledgement, for its refusal. */
#define DRAIN_MAX (VIGIL_DELIVERIES_KEPT_MAX + 64)
/* --exec-timeout: the default and the largest, in seconds. */
#define EXEC_TIMEOUT_DEFAULT_S 60
#define EXEC_TIMEOUT_MAX_S 86400
/* The longest single sleep of a wait, so that a signal that comes just
 * before it is seen soon. */
#define PAUSE_SLICE_MS 200

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* SIGINT and SIGTERM end the loop; a second one kills as usual. */
static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, less when SIGINT or SIGTERM comes: 1 then, else 0. */
static int pause_ms(int ms)
{
	int64_t end = mono_ms() + ms;
	while (!stop_signal) {
		int64_t left = end - mono_ms();
		if (left <= 0)
			return 0;
		if (left > PAUSE_SLICE_MS)
			left = PAUSE_SLICE_MS;
		struct timespec ts = { 0, (long)left * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* For the jitter of the delays: offices that lost the same relay at the
 * same moment should not all come back at the same moment. */
static uint32_t rnd32(void)
{
	return ((uint32_t)random() << 16) ^ (uint32_t)random();
}

/* ---- alerts ------------------------------------------------------------------------ */

static void alerts_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alerts [--follow] [--after N] [--desk NAME]\n"
		   "                              [--exec CMD [--exec-timeout SECONDS]]\n"
		   "       vigil [OPTIONS] alerts --open\n"
		   "\n"
		   "Prints the alerts the relay delivers to our organisation, each verified\n"
		   "first (the relay's signature with the certificate of the connection, the\n"
		   "leaf hash, the signed checkpoint and the inclusion proof): every stored\n"
		   "alert not yet acknowledged by our organisation, oldest first, then exits\n"
		   "when nothing more comes for %d s.  What it printed is acknowledged, so\n"
		   "the next run starts after it.\n"
		   "\n"
		   "  --follow             keep running and print alerts as they come, until\n"
		   "                       SIGINT or SIGTERM (exit 0 once what was printed is\n"
		   "                       acknowledged).  A lost or refused connection, a\n"
		   "                       timeout or a relay that stopped pushing is no end:\n"
		   "                       it connects again after %d s, doubling up to %d s\n"
		   "                       (+-%d %%), and goes on after the last alert it\n"
		   "                       printed; one line on stderr when it lost the relay\n"
		   "                       and one when it is back.  It ends on what no retry\n"
		   "                       mends: a certificate refused (ours by the relay, or\n"
		   "                       the relay's by us), a delivery that does not verify,\n"
		   "                       a refusal, a usage error\n"
		   "  --after N            start after log position N (default: after what\n"
		   "                       this desk acknowledged)\n"
		   "  --desk NAME          our organisation's desk (1-%d of a-z 0-9 -; default:\n"
		   "                       default): each desk has its own position, so every\n"
		   "                       desk receives every alert once\n"
		   "  --exec CMD           for each alert and erasure, run /bin/sh -c CMD with\n"
		   "                       the delivery's JSON object (as --json prints it) on\n"
		   "                       its stdin and its fields in VIGIL_* variables\n"
		   "                       (VIGIL_POSITION, VIGIL_KIND, VIGIL_CASE_ID,\n"
		   "                       VIGIL_ALERT_ID, VIGIL_STAGE, VIGIL_POLICE, ...;\n"
		   "                       VIGIL_ERASED_ENTRIES; VIGIL_DESK, VIGIL_ATTEMPT);\n"
		   "                       nothing from the relay is put in the command line.\n"
		   "                       Its stdout goes to our stderr.  A delivery is\n"
		   "                       printed and acknowledged once CMD exits 0; a\n"
		   "                       failure (exit status, signal, timeout) is tried\n"
		   "                       again with the same delays under --follow, and what\n"
		   "                       comes after waits; without --follow it ends the run\n"
		   "                       (exit 3)\n"
		   "  --exec-timeout SECONDS\n"
		   "                       longest run of CMD, 1-%d (default %d); then its\n"
		   "                       process group is killed and the run counts as failed\n"
		   "  --open               instead: the alerts open now on our cases and\n"
		   "                       addressed to us, from the relay's case state; it\n"
		   "                       consumes nothing (every colleague sees the same list).\n"
		   "                       One line each: CASE KIND stage LABEL; alert: ID;\n"
		   "                       raised: TIME; escalates: TIME|never; deadline\n"
		   "                       missed: TIME|none; police: ADVICE; acknowledged by:\n"
		   "                       ORG DECISION TIME, ...|nobody ('no open alerts' when\n"
		   "                       none); with --json one object per line\n"
		   "\n"
		   "One line per alert:\n"
		   "\n"
		   "  POSITION TIME CASE KIND stage S[ (escalated)] | resolved (HOW); alert: ID;\n"
		   "  police: ADVICE; deadline missed: TIME; last success: TIME; failed\n"
		   "  attempts: N; recipients: ORG, ...\n"
		   "\n"
		   "(times RFC 3339 or none; ADVICE none, missing-person report to be\n"
		   "considered, or missing-person report required).  With --json one object\n"
		   "per line: position, received_at, case_id, kind, stage, resolution, cause,\n"
		   "alert_id, police (none, consider, required), police_advice, deadline,\n"
		   "last_success, failed_attempts, recipients, record_id, leaf_hash,\n"
		   "checkpoint_size.  ID is what 'vigil alert ack' takes.\n"
		   "\n"
		   "The relay delivers its erasures of our cases' entries the same way (on\n"
		   "the owner's request, or by its retention rules), one line each:\n"
		   "\n"
		   "  POSITION TIME CASE erasure; what: sealed-texts|records; entries: N,...;\n"
		   "  reason: REASON; requested by: ORG|none; request: ID|none; reference:\n"
		   "  REF|none; recipients: ORG, ...\n"
		   "\n"
		   "(none: by the retention rules).  With --json: position, received_at,\n"
		   "case_id, kind (\"erasure\"), whole_record, entries, reason, requested_by,\n"
		   "request_id, reference, recipients, record_id, leaf_hash, checkpoint_size.\n"
		   "An erasure is acknowledged like an alert; it needs no 'vigil alert ack'.\n"
		   "Whoever keeps copies of those entries' records or opened text deletes\n"
		   "them (this tool keeps none).\n"
		   "Exit status: 0 done, 1 refused by the relay, 2 usage error, 3 connection,\n"
		   "TLS, protocol or verification failure (nothing after the alert that\n"
		   "failed is printed), or CMD failed without --follow.\n", QUIET_MS / 1000,
		RETRY_FIRST_MS / 1000, RETRY_CAP_MS / 1000, RETRY_JITTER_PCT, VIGIL_DESK_MAX,
		EXEC_TIMEOUT_MAX_S, EXEC_TIMEOUT_DEFAULT_S);
}

/* Reports a libvigil failure; the exit status. */
static int failed(const struct settings *s, const struct vigil_error *err)
{
	output_failure(err, s->json);
	return cli_exit_status(err->status);
}

/* After the last acknowledgement: a query answered shows the relay read
 * it (frames are read in order), and a refusal of it, which would have
 * come before that answer, is reported.  0 or an exit status. */
static int ack_confirm(const struct settings *s, vigil_client *c, struct vigil_alert *a)
{
	struct vigil_checkpoint *cp = malloc(sizeof(*cp));
	struct vigil_error err;
	if (!cp)
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	int rc = vigil_get_checkpoint(c, cp, &err);
	free(cp);
	if (rc != VIGIL_OK) {
		fprintf(stderr, "vigil: cannot confirm that the relay read our acknowledgement\n");
		return failed(s, &err);
	}
	/* What came meanwhile is neither printed nor acknowledged: it comes
	 * again next time. */
	for (int i = 0; i < DRAIN_MAX; i++) {
		rc = vigil_next_alert(c, 0, a, &err);
		if (rc != VIGIL_OK)
			return failed(s, &err);
		if (a->event == VIGIL_EVENT_NONE)
			break;
	}
	return 0;
}

/* One run of "vigil alerts" (not --open): what it was asked, its
 * connection and how far it got. */
struct run {
	struct settings *s;
	int follow;
	const char *desk;             /* NULL: the default desk */
	const char *exec;             /* --exec CMD, or NULL */
	int exec_timeout_ms;
	vigil_client *c;              /* NULL while there is no connection */
	struct vigil_alert *a;        /* the delivery at hand */
	struct vigil_checkpoint *cp;  /* the answer of a probe or a reconnection's check */
	struct vigil_checkpoint *seen; /* the largest checkpoint of a delivery (size 0:
				       * none yet) */
	uint64_t shown;               /* the last position handled, else --after */
	int handled;                  /* a delivery was handled: shown is ours to
				       * acknowledge */
	uint64_t relay_acked;         /* the desk's position at the relay, as far as we
				       * know (Subscribed, or an acknowledgement the
				       * relay has certainly read) */
	int unacked;                  /* handled since the last acknowledgement sent */
	int acked_here;               /* an acknowledgement went out on this connection */
	uint64_t ack_sent;            /* its position */
	int64_t alive_at;             /* when this connection last showed it works */
	struct vigil_error lost;      /* why the last connection ended */
	struct retry retry;
	size_t relay_at;              /* the relay of the list that worked last */
};

static int nomem(struct vigil_error *err)
{
	memset(err, 0, sizeof(*err));
	err->status = VIGIL_E_NOMEM;
	snprintf(err->message, sizeof(err->message), "out of memory");
	return err->status;
}

static int not_same_log(const struct run *r, const char *why, struct vigil_error *err)
{
	memset(err, 0, sizeof(*err));
	err->status = VIGIL_E_VERIFY;
	snprintf(err->message, sizeof(err->message), "the relay's log (%llu entries) %s the log "
		 "we followed (%llu entries): a relay restored from a backup, or another log; "
		 "run 'vigil alerts' again to go on from the desk's acknowledged position",
		 (unsigned long long)r->cp->size, why, (unsigned long long)r->seen->size);
	return err->status;
}

/*
 * After a reconnection: the relay's log must extend the one we followed.
 * Positions are log indexes, and a relay restored from a backup writes
 * new entries at positions we have passed: subscribing after the last one
 * we handled would skip them without a word.  Its latest checkpoint is
 * the one we saw, or a consistency proof leads from ours to it.
 */
static int run_same_log(struct run *r, struct vigil_error *err)
{
	int rc = vigil_get_checkpoint(r->c, r->cp, err);
	if (rc != VIGIL_OK)
		return rc;
	if (r->cp->size < r->seen->size)
		return not_same_log(r, "is shorter than", err);
	if (r->cp->size == r->seen->size) {
		if (memcmp(r->cp->root, r->seen->root, VIGIL_HASH_LEN) != 0)
			return not_same_log(r, "is not", err);
		return VIGIL_OK;
	}
	struct vigil_consistency_proof *p = malloc(sizeof(*p));
	if (!p)
		return nomem(err);
	rc = vigil_get_consistency_proof(r->c, r->seen->size, r->cp->size, p, err);
	if (rc == VIGIL_OK &&
	    vigil_verify_consistency(p, r->seen->root, r->cp->root, err) != VIGIL_OK)
		rc = not_same_log(r, "does not extend", err);
	free(p);
	if (rc == VIGIL_OK)
		*r->seen = *r->cp;
	return rc;
}

/* Connects, checks that the log is still the one we followed, subscribes
 * the desk after what was handled (or --after), and, when the relay's
 * position for the desk is behind what we handled (the acknowledgement was
 * lost with the last connection), acknowledges it on this one.  VIGIL_OK,
 * or the status with err and no connection. */
static int run_open(struct run *r, struct vigil_error *err)
{
	int rc = cli_open(r->s, r->relay_at, &r->c, err);
	if (rc != VIGIL_OK)
		return rc;
	r->relay_at = vigil_client_relay_index(r->c);
	uint64_t acked = 0;
	if (r->seen->size)
		rc = run_same_log(r, err);
	if (rc == VIGIL_OK)
		rc = vigil_subscribe_desk(r->c, r->desk, r->shown, &acked, err);
	r->acked_here = 0;
	r->unacked = 0;
	if (rc == VIGIL_OK) {
		r->relay_acked = acked;
		if (r->handled && r->shown > acked) {
			rc = vigil_ack_deliveries(r->c, r->shown, err);
			r->acked_here = 1;
			r->ack_sent = r->shown;
		}
	}
	if (rc != VIGIL_OK)
		vigil_close(&r->c);
	r->alive_at = mono_ms();
	return rc;
}

/* The connection is gone (err says why); the loop connects again. */
static void run_lose(struct run *r, const struct vigil_error *err)
{
	vigil_close(&r->c);
	r->lost = *err;
}

/*
 * --follow without a connection: connects again, waiting between attempts
 * as retry.c says, until it works, fails in a way no retry mends, or a
 * signal comes.  At the start (lost: 0) the first attempt is made at once.
 * Says on stderr that the relay was lost (with why and the delay), why an
 * attempt failed when that changed, and that it is back.  0 when
 * connected, -1 when stopped by a signal, or an exit status.
 */
static int run_reconnect(struct run *r, int lost)
{
	char last[sizeof(r->lost.message)] = "";
	int64_t since = mono_ms();
	unsigned attempts = 0;
	int delay = 0;
	struct vigil_error err;
	if (lost) {
		delay = retry_next_ms(&r->retry, since, rnd32());
		fprintf(stderr, "vigil: lost the relay: %s; reconnecting in %.1f s\n",
			r->lost.message, delay / 1000.0);
		snprintf(last, sizeof(last), "%s", r->lost.message);
	}
	for (;;) {
		if (delay && pause_ms(delay))
			return -1;
		if (stop_signal)
			return -1;
		attempts++;
		if (run_open(r, &err) == VIGIL_OK)
			break;
		if (stop_signal)
			return -1; /* a signal may have cut the attempt short */
		if (retry_permanent(&err))
			return failed(r->s, &err);
		delay = retry_next_ms(&r->retry, mono_ms(), rnd32());
		if (strcmp(err.message, last) != 0) {
			fprintf(stderr, "vigil: cannot reach the relay: %s; retrying in %.1f s\n",
				err.message, delay / 1000.0);
			snprintf(last, sizeof(last), "%s", err.message);
		}
	}
	retry_connected(&r->retry, mono_ms());
	/* With several relays, which one answered. */
	size_t relays = 0;
	char which[320] = "";
	if (vigil_relays_check(r->s->host, &relays, NULL) == VIGIL_OK && relays > 1)
		snprintf(which, sizeof(which), " (relay %s)", vigil_client_relay_address(r->c));
	if (lost || attempts > 1)
		fprintf(stderr, "vigil: %s the relay after %.1f s (attempt %u); resuming after "
				"position %llu%s\n", lost ? "reconnected to" : "connected to",
			(double)(mono_ms() - since) / 1000.0, attempts,
			(unsigned long long)(r->shown > r->relay_acked ? r->shown : r->relay_acked),
			which);
	return 0;
}

/* The delivery's environment for --exec: its fields, our desk, the attempt. */
static int hook_environment(const struct run *r, unsigned attempt, struct hook_env *env)
{
	char n[16];
	snprintf(n, sizeof(n), "%u", attempt);
	if (delivery_env(r->a, env) != 0 ||
	    hook_env_add(env, "VIGIL_DESK", r->desk && r->desk[0] ? r->desk : "default") != 0 ||
	    hook_env_add(env, "VIGIL_ATTEMPT", n) != 0)
		return -1;
	return 0;
}

/*
 * --exec CMD for the delivery at hand, until CMD exits 0: with --follow
 * again after each failure (the delays of retry.c, each failure on
 * stderr), without --follow once.  0 done, -1 stopped by a signal, or an
 * exit status.
 */
static int run_hook(struct run *r)
{
	char *json = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);
	if (!f)
		return cli_fail(r->s, VIGIL_E_NOMEM, "out of memory");
	delivery_write(f, r->a, 1);
	if (fclose(f) != 0) {
		free(json);
		return cli_fail(r->s, VIGIL_E_NOMEM, "out of memory");
	}
	unsigned long long pos = (unsigned long long)r->a->position;
	struct retry again = { 0 };
	int status = 0;
	for (unsigned attempt = 1;; attempt++) {
		struct hook_env env = { 0 };
		if (hook_environment(r, attempt, &env) != 0) {
			hook_env_free(&env);
			status = cli_fail(r->s, VIGIL_E_NOMEM, "out of memory");
			break;
		}
		struct hook_result res;
		hook_run(r->exec, json, len, &env, r->exec_timeout_ms, &stop_signal, &res);
		hook_env_free(&env);
		if (res.outcome == HOOK_DONE)
			break;
		char why[256];
		hook_describe(&res, why, sizeof(why));
		if (res.stopped || stop_signal) {
			fprintf(stderr, "vigil: --exec for position %llu: %s (we were stopping); it "
					"stays unacknowledged\n", pos, why);
			status = -1;
			break;
		}
		if (!r->follow) {
			fprintf(stderr, "vigil: --exec failed for position %llu: %s; it and what "
					"follows stay unacknowledged\n", pos, why);
			status = EXIT_FAILED;
			break;
		}
		int delay = retry_next_ms(&again, 0, rnd32());
		fprintf(stderr, "vigil: --exec failed for position %llu (attempt %u): %s; "
				"retrying in %.1f s\n", pos, attempt, why, delay / 1000.0);
		if (pause_ms(delay)) {
			status = -1;
			break;
		}
	}
	free(json);
	return status;
}

/* Acknowledges what was handled since the last acknowledgement: VIGIL_OK
 * or the status with err. */
static int run_ack(struct run *r, struct vigil_error *err)
{
	if (!r->unacked)
		return VIGIL_OK;
	int rc = vigil_ack_deliveries(r->c, r->shown, err);
	if (rc == VIGIL_OK) {
		r->unacked = 0;
		r->acked_here = 1;
		r->ack_sent = r->shown;
	}
	return rc;
}

/* A failure of the connection r->c: with --follow and a failure a retry
 * may mend, it is lost (1: go on); otherwise *status is set (0: end). */
static int run_failure(struct run *r, int rc, const struct vigil_error *err, int *status,
		       int *usable)
{
	if (r->follow && !retry_permanent(err)) {
		run_lose(r, err);
		return 1;
	}
	/* A delivery that does not verify, or a refusal, leaves the
	 * connection as it was. */
	*usable = rc == VIGIL_E_VERIFY || rc == VIGIL_E_REFUSED;
	*status = failed(r->s, err);
	return 0;
}

/* With --follow, after FOLLOW_PROBE_MS without a frame: a query.  Its
 * answer also shows that the relay read our acknowledgements. */
static int run_probe(struct run *r, struct vigil_error *err)
{
	int rc = vigil_get_checkpoint(r->c, r->cp, err);
	if (rc == VIGIL_OK) {
		r->alive_at = mono_ms();
		if (r->acked_here && r->ack_sent > r->relay_acked)
			r->relay_acked = r->ack_sent;
	}
	return rc;
}

/* Stopped by a signal while there was no connection: one attempt to
 * acknowledge what was handled and the relay may not have.  0 or an exit
 * status. */
static int run_ack_offline(struct run *r)
{
	if (!r->handled || r->shown <= r->relay_acked)
		return 0;
	struct vigil_error err;
	int rc = run_open(r, &err);
	if (rc == VIGIL_OK && r->acked_here)
		return ack_confirm(r->s, r->c, r->a);
	if (rc == VIGIL_OK)
		return 0;
	fprintf(stderr, "vigil: cannot acknowledge the deliveries up to position %llu: %s; "
			"they come again next time\n", (unsigned long long)r->shown, err.message);
	return EXIT_FAILED;
}

static int alerts_run(struct run *r)
{
	struct vigil_error err;
	int rc, status = 0, usable = 1;
	catch_signals();
	srandom((unsigned)getpid() ^ (unsigned)cli_now_ms());
	if (r->follow) {
		rc = run_reconnect(r, 0);
		if (rc != 0)
			return rc < 0 ? 0 : rc;
	} else if ((rc = run_open(r, &err)) != VIGIL_OK) {
		return failed(r->s, &err);
	}
	while (!stop_signal) {
		if (!r->c) {
			rc = run_reconnect(r, 1);
			if (rc < 0)
				break;
			if (rc > 0)
				return rc;
			continue;
		}
		rc = vigil_next_alert(r->c, r->follow ? FOLLOW_SLICE_MS : QUIET_MS, r->a, &err);
		if (rc != VIGIL_OK) {
			if (run_failure(r, rc, &err, &status, &usable))
				continue;
			break;
		}
		struct vigil_alert *a = r->a;
		if (a->event != VIGIL_EVENT_NONE)
			r->alive_at = mono_ms();
		if (a->event == VIGIL_EVENT_ALERT || a->event == VIGIL_EVENT_ERASURE) {
			if (r->exec && (rc = run_hook(r)) != 0) {
				if (rc > 0)
					status = rc;
				break;
			}
			delivery_write(stdout, a, r->s->json);
			if (fflush(stdout) != 0 || ferror(stdout)) {
				fprintf(stderr, "vigil: cannot write the alerts; the one at position "
						"%llu and later stay unacknowledged\n",
					(unsigned long long)a->position);
				status = EXIT_FAILED;
				break;
			}
			r->shown = a->position;
			r->handled = 1;
			if (a->checkpoint.size > r->seen->size)
				*r->seen = a->checkpoint;
			if (++r->unacked < ACK_EVERY)
				continue;
		}
		/* A pause (or many alerts): acknowledge what was handled. */
		if ((rc = run_ack(r, &err)) != VIGIL_OK) {
			if (run_failure(r, rc, &err, &status, &usable))
				continue;
			usable = 0;
			break;
		}
		if (a->event == VIGIL_EVENT_LAGGING) {
			/* The relay stopped pushing: catch up by replay after what
			 * was handled (and is now acknowledged). */
			uint64_t acked = 0;
			rc = vigil_subscribe_desk(r->c, r->desk, r->shown, &acked, &err);
			if (rc == VIGIL_OK) {
				r->relay_acked = acked;
				continue;
			}
			if (run_failure(r, rc, &err, &status, &usable))
				continue;
			break;
		}
		if (a->event != VIGIL_EVENT_NONE)
			continue;
		if (!r->follow)
			break;
		if (mono_ms() - r->alive_at < FOLLOW_PROBE_MS)
			continue;
		if ((rc = run_probe(r, &err)) != VIGIL_OK) {
			if (run_failure(r, rc, &err, &status, &usable))
				continue;
			break;
		}
	}
	if (!r->c) {
		/* Stopped while there was no connection. */
		return status ? status : run_ack_offline(r);
	}
	/* Whatever ended the loop, what was handled is acknowledged if the
	 * connection still allows it. */
	if (usable && r->unacked)
		run_ack(r, &err);
	if (usable && r->acked_here) {
		int st = ack_confirm(r->s, r->c, r->a);
		if (st != 0 && status == 0)
			status = st;
	}
	return status;
}

/* --open: the alerts open now, from the case state. */
static int alerts_open(const struct settings *s, vigil_client *c)
{
	struct vigil_open_alert *list = NULL;
	size_t n = 0;
	struct vigil_error err;
	int rc = vigil_open_alerts(c, &list, &n, &err);
	if (rc != VIGIL_OK)
		return failed(s, &err);
	if (!n && !s->json)
		printf("no open alerts\n");
	int nomem = 0;
	for (size_t i = 0; i < n && !nomem; i++) {
		const struct vigil_open_alert *a = &list[i];
		struct view v;
		view_init(&v);
		view_str(&v, "case_id", "", a->case_id);
		view_str(&v, "kind", "", a->kind);
		view_uint(&v, "stage", "stage", a->stage);
		view_say(&v, "%s", vigil_alert_stage_label(a->stage));
		view_str(&v, "stage_label", NULL, vigil_alert_stage_label(a->stage));
		view_hex(&v, "alert_id", "alert", a->alert_id, VIGIL_RECORD_ID_LEN);
		view_time(&v, "raised_at", "raised", a->raised_at_ms);
		view_time(&v, "escalates_at", "escalates", a->escalates_at_ms);
		if (a->escalates_at_ms <= 0)
			view_say(&v, "never");
		view_time(&v, "deadline", "deadline missed", a->deadline_ms);
		view_str(&v, "police", "police", a->police);
		json_t *acks = json_array();
		char *who = NULL;
		size_t who_len = 0;
		FILE *m = open_memstream(&who, &who_len);
		for (size_t j = 0; acks && m && j < a->n_acks; j++) {
			struct view k;
			view_init(&k);
			view_str(&k, "organisation", "", a->acks[j].organisation);
			view_str(&k, "decision", "", a->acks[j].decision);
			view_time(&k, "at", "", a->acks[j].at_ms);
			json_t *o = view_object(&k);
			if (!o || json_array_append_new(acks, o) != 0)
				v.nomem = 1;
			if (j)
				fputc(',', m);
			view_write_inline(&k, m);
			view_free(&k);
		}
		if (m)
			fclose(m);
		view_json(&v, "acks", "acknowledged by", acks);
		/* "ORG DECISION TIME, ..." (view_write_inline puts a space first) */
		if (who)
			view_say(&v, "%s", a->n_acks ? who + 1 : "nobody");
		else
			v.nomem = 1;
		free(who);
		if (s->json) {
			nomem = view_write_json(view_object(&v), stdout) != 0;
		} else if (!(nomem = !view_complete(&v))) {
			view_write_summary(&v, stdout);
		}
		view_free(&v);
	}
	if (nomem)
		fputs("vigil: out of memory\n", stderr);
	vigil_free(list);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}


/* --exec-timeout: whole seconds, 1 to EXEC_TIMEOUT_MAX_S. */
static int parse_seconds(const char *arg, int *out)
{
	uint64_t v;
	if (cli_parse_u64(arg, &v) != 0 || v < 1 || v > EXEC_TIMEOUT_MAX_S)
		return -1;
	*out = (int)v;
	return 0;
}

int cmd_alerts(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "desk", required_argument, NULL, OPT_DESK },
		{ "open", no_argument, NULL, OPT_OPEN },
		{ "exec", required_argument, NULL, OPT_EXEC },
		{ "exec-timeout", required_argument, NULL, OPT_EXEC_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	int follow = 0, open_only = 0, after_given = 0, timeout_given = 0, opt;
	int exec_timeout_s = EXEC_TIMEOUT_DEFAULT_S;
	uint64_t after = 0;
	const char *desk = NULL, *exec = NULL;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			alerts_help(stdout);
			return 0;
		case OPT_FOLLOW:
			follow = 1;
			break;
		case OPT_AFTER:
			if (cli_parse_u64(optarg, &after) != 0)
				return cli_usage_error("alerts: --after wants a log position (a "
						       "number), not '%s'", optarg);
			after_given = 1;
			break;
		case OPT_DESK:
			desk = optarg;
			break;
		case OPT_OPEN:
			open_only = 1;
			break;
		case OPT_EXEC:
			if (!optarg[0])
				return cli_usage_error("alerts: --exec wants a command");
			exec = optarg;
			break;
		case OPT_EXEC_TIMEOUT:
			if (parse_seconds(optarg, &exec_timeout_s) != 0)
				return cli_usage_error("alerts: --exec-timeout wants seconds from 1 "
						       "to %d, not '%s'", EXEC_TIMEOUT_MAX_S, optarg);
			timeout_given = 1;
			break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts: unexpected argument '%s'", argv[optind]);
	struct vigil_error derr;
	if (desk && vigil_desk_check(desk, &derr) != VIGIL_OK)
		return cli_usage_error("alerts: --desk: %s", derr.message);
	if (open_only && (follow || after_given || desk || exec))
		return cli_usage_error("alerts: --open lists what is open; it takes no --follow, "
				       "--after, --desk or --exec");
	if (timeout_given && !exec)
		return cli_usage_error("alerts: --exec-timeout goes with --exec");
	int rc;
	if (open_only) {
		vigil_client *c;
		if ((rc = cli_connect(s, &c)) != 0)
			return rc;
		rc = alerts_open(s, c);
		vigil_close(&c);
		return rc;
	}
	if ((rc = cli_settings(s)) != 0)
		return rc;
	struct run r = {
		.s = s,
		.follow = follow,
		.desk = desk,
		.exec = exec,
		.exec_timeout_ms = exec_timeout_s * 1000,
		.shown = after,
		.a = malloc(sizeof(struct vigil_alert)),
		.cp = malloc(sizeof(struct vigil_checkpoint)),
		.seen = calloc(1, sizeof(struct vigil_checkpoint)),
	};
	if (!r.a || !r.cp || !r.seen)
		rc = cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	else
		rc = alerts_run(&r);
	vigil_close(&r.c);
	free(r.a);
	free(r.cp);
	free(r.seen);
	return rc;
}

/* ---- alert ack ------------------------------------------------------------------------ */

static void ack_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alert ack ALERT_ID --case ID --decision DECISION\n"
		   "                 [--reason TEXT]\n"
		   "\n"
		   "Records our decision on the open alert of a case (a coordinator party or\n"
		   "the responsible organisation), which stops its escalation to the police.\n"
		   "\n"
		   "  ALERT_ID             the alert's id, 32 hex digits ('vigil alerts' shows it)\n"
		   "  --case ID            the case the alert is about\n"
		   "  --decision DECISION  one of: ");
	for (unsigned i = 0; vigil_ack_decision_name(i); i++)
		fprintf(f, "%s%s", i ? ", " : "", vigil_ack_decision_name(i));
	fprintf(f, "\n"
		   "  --reason TEXT        why, 1-%d bytes of UTF-8; required unless the\n"
		   "                       decision is police-report-filed; sealed to the\n"
		   "                       case's readers (police are none)\n"
		   "\n"
		   "Global options (vigil --help) may also follow the command.\n"
		   "Output: the verified receipt, as for 'vigil contact', with 'alert_id ID'\n"
		   "after leaf_hash; with --json one line {\"index\":N,...,\"alert_id\":\"ID\"}.\n"
		   "Exit status: 0 stored and verified, 1 refused by the relay (the message says\n"
		   "which rule), 2 usage error, 3 connection, TLS, protocol or verification\n"
		   "failure.\n", VIGIL_TEXT_MAX);
}

static int alert_ack(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "case", required_argument, NULL, OPT_CASE },
		{ "decision", required_argument, NULL, OPT_DECISION },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	struct vigil_alert_ack ack;
	memset(&ack, 0, sizeof(ack));
	int opt;
	/* No '+': the options may follow the alert id. */
	while ((opt = getopt_long(argc, argv, ":c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			ack_help(stdout);
			return 0;
		case OPT_CASE: ack.case_id = optarg; break;
		case OPT_DECISION: ack.decision = cli_code(optarg, vigil_ack_decision_name); break;
		case OPT_REASON: ack.reason = optarg; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind >= argc)
		return cli_usage_error("alert ack: give the alert id: vigil alert ack ALERT_ID "
				       "--case ID --decision DECISION");
	const char *id = argv[optind++];
	if (optind < argc)
		return cli_usage_error("alert ack: unexpected argument '%s'", argv[optind]);
	if (vigil_hex_decode(id, ack.alert_id, VIGIL_RECORD_ID_LEN) != VIGIL_OK)
		return cli_usage_error("alert ack: the alert id wants 32 hex digits, not '%s'", id);
	if (!ack.case_id)
		return cli_usage_error("alert ack: --case is required");
	if (!ack.decision)
		return cli_usage_error("alert ack: --decision is required");
	if (ack.reason && !ack.reason[0])
		return cli_usage_error("alert ack: --reason wants a text");
	struct vigil_error err;
	if (vigil_alert_ack_check(&ack, &err) != VIGIL_OK)
		return cli_usage_error("alert ack: %s", err.message);

	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_receipt *r = malloc(sizeof(*r));
	if (!r) {
		vigil_close(&c);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	rc = vigil_submit_alert_ack(c, &ack, r, &err);
	vigil_close(&c);
	int status = 0;
	if (rc == VIGIL_OK) {
		char hex[2 * VIGIL_RECORD_ID_LEN + 1];
		vigil_hex_encode(ack.alert_id, VIGIL_RECORD_ID_LEN, hex);
		char sum[256], w[64];
		snprintf(sum, sizeof(sum), "case %s: alert %s acknowledged: %s", ack.case_id, hex,
			 output_words(ack.decision, w, sizeof(w)));
		output_receipt(r, s->json, sum, "alert_id", hex);
	} else {
		output_failure(&err, s->json);
		status = cli_exit_status(rc);
		if (status == EXIT_FAILED)
			fprintf(stderr, "vigil: the relay may have stored the acknowledgement; "
					"'vigil log %s' shows the case's records\n", ack.case_id);
	}
	free(r);
	return status;
}

static void alert_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] alert ack ALERT_ID --case ID --decision DECISION\n"
		   "                 [--reason TEXT]\n"
		   "\n"
		   "  ack       record our decision on an open alert (stops its escalation)\n"
		   "\n"
		   "'vigil alerts' prints the alerts themselves.  vigil alert ack --help for\n"
		   "the options.\n");
}

int cmd_alert(struct settings *s, int argc, char *argv[])
{
	if (argc < 2)
		return cli_usage_error("alert: give a subcommand: ack");
	const char *sub = argv[1];
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		alert_help(stdout);
		return 0;
	}
	if (!strcmp(sub, "ack")) {
		cli_subcommand(sub);
		return alert_ack(s, argc - 1, argv + 1);
	}
	return cli_usage_error("alert: unknown subcommand '%s' (ack)", sub);
}

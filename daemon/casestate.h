/*
 * casestate.h - one case as the rules see it: plain data, no SQLite, no
 * I/O, no clock.
 *
 * cases.c loads a struct case_state from the case tables, hands it to the
 * pure modules (policy.c decides who may do what and which view a reader
 * gets; casestate.c applies an accepted record; watchdog.c decides what
 * the silence watchdog does next) and saves what they changed.  Every time
 * in here is milliseconds since the epoch on the relay's clock, or a
 * client's time already bounded by it (policy_check_times).
 *
 * Memory: a case_state is a value; it owns nothing.  Parties are a bounded
 * array, so copying a state copies everything.
 */
#ifndef VIGIL_DAEMON_CASESTATE_H
#define VIGIL_DAEMON_CASESTATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"
#include "proto/vigil.pb-c.h"

#define CASE_ORG_LEN (RECORD_ORG_MAX + 1)
#define CASE_ID_LEN (RECORD_CASE_ID_MAX + 1)
/* The opener, the parties it names, and every organisation that accepted
 * a handover since. */
#define CASE_PARTIES_MAX (2 * RECORD_PARTIES_MAX)

struct case_party {
	char org[CASE_ORG_LEN];
	int role;                          /* enum role, from the member directory;
					    * ROLE_NONE once it is no member */
	int is_new;                        /* added by the record being applied */
	int granted;                       /* the owner let it read the narrative (Grant) */
	int grant_new;                     /* granted by the record being applied */
};

/* The one alert a case may have open (silence or failed attempts). */
struct case_alert {
	int open;
	uint8_t id[RECORD_ID_LEN];
	int kind;                          /* vigil.v1.AlertKind */
	int stage;                         /* 1; 2 escalated */
	int64_t raised_ms;
	int64_t deadline_ms;               /* the missed deadline; 0 raised early */
	int acked;
	char resolve[24];                  /* a resolution to announce: "contact", "closed",
					    * "superseded", "corrected" */
	char notify[CASE_ORG_LEN];         /* a new responsible organisation to tell */
};

struct case_state {
	char case_id[CASE_ID_LEN];
	int state;                         /* vigil.v1.CaseState */
	char owner[CASE_ORG_LEN];          /* the coordinator that opened it */
	char responsible[CASE_ORG_LEN];
	int risk;                          /* vigil.v1.RiskLevel */
	int minor;
	int immediate_danger;
	uint32_t factors;                  /* bit set of vigil.v1.RiskFactor */
	char return_country[3];
	char return_date[11];
	char consent_scope[CASE_ORG_LEN];  /* '' when opened under an override */
	int override;
	int64_t opened_at_ms;
	int close_reason;
	int64_t closed_at_ms;              /* when it was closed (0: open); retention counts from it */
	int retained;                      /* how far retention erased it: 1 sealed texts, 2 records */
	uint64_t entries;

	/* A pending handover offer. */
	int has_pending;
	uint8_t pending_offer_id[RECORD_ID_LEN];
	char pending_offer_to[CASE_ORG_LEN];
	int64_t pending_offer_at_ms;
	int64_t handed_over_at_ms;         /* the last accepted handover */

	/* Contact history. */
	int64_t last_attempt_ms;
	int last_attempt_channel;
	int last_attempt_outcome;
	int64_t last_success_ms;
	uint32_t attempts;
	/* Failed attempts since the watchdog's base (last success, accepted
	 * handover, opening or acknowledgement), for the early alert. */
	uint32_t failed_attempts;
	uint32_t failed_channels;          /* bit set of channels */
	char failed_first_org[CASE_ORG_LEN];
	int failed_orgs;                   /* 0, 1, 2 = two or more */
	int64_t acked_ms;                  /* the last acknowledgement of a silence alert:
					    * the watchdog re-arms from it */

	/* The watchdog. */
	struct case_alert alert;
	int has_stall;                     /* a handover_stalled alert is open */
	uint8_t stall_id[RECORD_ID_LEN];
	uint8_t stall_offer_id[RECORD_ID_LEN];  /* the offer it is about */
	char stall_org[CASE_ORG_LEN];      /* the offering organisation it was raised to */
	char stall_resolve[24];            /* "handover-answered", "handover-withdrawn" */
	int64_t next_event_ms;             /* when the watchdog looks again; 0 never */

	struct case_party parties[CASE_PARTIES_MAX];  /* sorted by org */
	size_t n_parties;
};

/* The member directory as the rules need it: an organisation's role, or
 * ROLE_NONE when it is not a member. */
struct case_members {
	int (*role_of)(const void *ctx, const char *org);
	/* The SHA-256 of org's encryption certificate into out: 1, or 0 when
	 * it has none (or is no member).  NULL: nobody has one. */
	int (*enc_of)(const void *ctx, const char *org, uint8_t out[SHA256_LEN]);
	const void *ctx;
};

struct watch_config;

/*
 * Applies rec, which policy_record() allowed, by org at now (the relay's
 * receive time) to c; for a new case c is zeroed.  New parties are marked
 * is_new for the caller to store.  0, or VG_ETOOLARGE when the case would
 * have more than CASE_PARTIES_MAX parties.
 */
int casestate_apply(struct case_state *c, const Vigil__V1__Record *rec, const char *org,
		    const struct case_members *m, const struct watch_config *wc, int64_t now);

/*
 * One entry of a case's history as a correction's rebuild reads it:
 * cases.c takes them from the case's entries in log order, each contact
 * attempt and risk assessment with the body in force (its latest
 * correction's, the one being applied included).
 */
enum case_event_kind {
	CASE_EV_OPENED = 1,              /* a CaseOpen, or a reopening */
	CASE_EV_ACCEPTED,                /* a HandoverAnswer that accepted */
	CASE_EV_ACKED,                   /* an AlertAck of a silence or failed-attempts alert */
	CASE_EV_CONTACT,                 /* a ContactAttempt */
	CASE_EV_RISK,                    /* a RiskAssessment */
};

struct case_event {
	int kind;                        /* enum case_event_kind */
	int64_t received_ms;             /* the relay's receive time of the entry */
	char org[CASE_ORG_LEN];          /* CONTACT: its author */
	int channel, outcome;            /* CONTACT */
	int64_t at_ms;                   /* CONTACT: attempted_at */
	int risk;                        /* OPENED, RISK: the level */
	int immediate_danger;            /* RISK */
	uint32_t factors;                /* RISK: bit set of vigil.v1.RiskFactor */
};

/*
 * Recomputes from the case's history ev (n events, in log order) what the
 * history decides: the contact history (last attempt, last success,
 * attempts, and the failed attempts since the watchdog's base) and the
 * risk (level, immediate danger, factors), exactly as casestate_apply()
 * would have left them had every record been submitted with the body now
 * in force.  The open alert, the times the watchdog counts from (opening,
 * accepted handover, acknowledgement) and everything else stay as they
 * are; watchdog_on_corrected() decides about the alert.
 */
void casestate_rebuild(struct case_state *c, const struct case_event *ev, size_t n,
		       const struct watch_config *wc);

/* The party entry of org, or NULL. */
const struct case_party *casestate_party(const struct case_state *c, const char *org);

/*
 * Adds org as a party (role from the directory), kept sorted.  0, or
 * VG_ETOOLARGE when the case has CASE_PARTIES_MAX parties already.
 */
int casestate_add_party(struct case_state *c, const char *org, int role);

/* The case id's owner part ("se-stockholm-coord" of
 * "se-stockholm-coord/SE-2026-0042") into out; 0, or -1 when unqualified. */
int casestate_id_owner(const char *case_id, char out[CASE_ORG_LEN]);

#endif

/*
 * harness.h - what the integration tests need to drive a real vigild: a
 * relay process on loopback with its own configuration, database and log in
 * a fresh directory, and a raw TLS client that speaks frames byte by byte.
 *
 * Paths come from the build: VIGILD_PATH (the daemon), VIGIL_CLI_PATH (the
 * command-line tool), PKI_DIR (made by certs/mkpki.sh in a ctest fixture),
 * TEST_TMP (a directory for the tests' scratch directories).
 *
 * The relay keeps its log in SQLite (t->db) unless VIGIL_TEST_BACKEND is
 * "postgresql": then in a schema of its own on the scratch PostgreSQL
 * server of the ctest fixture (tests/pg/pg.sh; its connection string in
 * PG_DIR/dsn), made by trelay_setup and dropped by trelay_cleanup.  db_int,
 * db_text, db_blob and db_change read and change it on either engine.
 *
 * All waits are bounded; every process a test starts is ended by PID.
 */
#ifndef VIGIL_TESTS_HARNESS_H
#define VIGIL_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "proto/frame.h"
#include "proto/record.h"

struct trelay {
	char dir[512];
	char conf[600];
	char db[600];           /* the SQLite file (the name only, on PostgreSQL) */
	char pg_schema[64];     /* on PostgreSQL: the relay's schema, else "" */
	char pg_dsn[800];       /* on PostgreSQL: its connection string, with search_path */
	char log[600];
	char ready[600];
	pid_t pid;
	int port;
	long fsize_limit;       /* > 0: the relay may write no file past this many bytes
				 * (RLIMIT_FSIZE, SIGXFSZ ignored): a disk that fails */
};

/* 1 when the tests run the relay on PostgreSQL (VIGIL_TEST_BACKEND). */
int test_backend_pg(void);

/* Makes a scratch directory and a configuration with `extra` appended
 * (unless extra has a [watchdog] section, one that raises no early alert
 * is added, so that only the alert tests see alert entries)
 * (INI lines; a section repeated later overrides nothing, so pass whole
 * [section] blocks only for sections the default leaves out, or use
 * trelay_setup_conf for a full file). */
void trelay_setup(struct trelay *t, const char *listen_extra, const char *extra);
/* The same with [directory] path = directory (trelay_setup: the PKI's
 * directory.conf, which lists every valid organisation of certs/mkpki.sh). */
void trelay_setup_directory(struct trelay *t, const char *listen_extra, const char *extra,
			    const char *directory);
/* Creates the relay's new log (vigild --init-db); 0 or -1. */
int trelay_init_db(struct trelay *t);
/* Starts vigild (after --init-db when its database does not exist yet);
 * returns 0 once it is serving, -1 if it exited or timed out. */
int trelay_start(struct trelay *t);
/* trelay_start's two halves: starts vigild (no --init-db), and waits up to
 * ms for it to serve (0; -1 if it exited or has not served yet: after a
 * wait of 15 s or more it is killed). */
void trelay_spawn(struct trelay *t);
int trelay_await(struct trelay *t, int ms);
/* PostgreSQL: b, a relay of its own directory and configuration (extra as
 * trelay_setup's) on a's schema: a's active/standby peer.  Clean b up
 * before a. */
void trelay_setup_peer(struct trelay *b, const struct trelay *a, const char *extra);
/* Runs sql on the PostgreSQL server, outside any relay's schema. */
int trelay_pg_admin(const char *sql);
/* Runs vigild with args and waits (bounded); returns its exit status and
 * puts its stdout+stderr in out. */
int run_vigild(const char *const *args, char *out, size_t out_len);
/* SIGTERM, then waits up to 20 s; returns the exit status, or -1. */
int trelay_stop(struct trelay *t);
void trelay_kill9(struct trelay *t);
/* Waits up to ms for the relay to exit by itself; its status, or -1. */
int trelay_wait(struct trelay *t, int ms);
/* Stops the relay if it runs and removes the scratch directory. */
void trelay_cleanup(struct trelay *t);
/* 1 when the relay's log contains needle within wait_ms. */
int trelay_log_has(struct trelay *t, const char *needle, int wait_ms);
/* One integer from an SQL query on the relay's database (read-only). */
long long db_int(struct trelay *t, const char *sql);

struct tclient {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	EVP_PKEY *key;          /* the client's private key (NULL without cert) */
	uint8_t cert_sha256[SHA256_LEN];
	char err[512];          /* why the last call failed */
	char org[RECORD_ORG_MAX + 1];  /* O of the client's certificate */
	uint64_t next_id;
};

/* Opens TCP to the relay (no TLS). */
int tcp_connect_port(int port);
/* TCP + TLS 1.3 handshake as PKI_DIR/<cert>.crt and .key (cert beginning
 * with '/': <cert>.crt and .key; NULL: no certificate),
 * offering ALPN alpn (NULL: none).  0 or -1 with c->err. */
int tclient_connect(struct tclient *c, int port, const char *cert, const char *alpn);
/* Sends a hello and expects a welcome: 0, or -1 with c->err (a refused
 * client certificate shows up here, as TLS 1.3 reports it after the
 * client's side of the handshake). */
int tclient_hello(struct tclient *c);
int tclient_open(struct tclient *c, int port, const char *cert);   /* connect + hello */
void tclient_close(struct tclient *c);
int tclient_send_raw(struct tclient *c, const void *data, size_t len);
int tclient_send_frame(struct tclient *c, const Vigil__V1__Frame *f);
/* Receives one frame within timeout_ms: 0, or -1 with c->err ("eof", an
 * alert, "timeout"). */
int tclient_recv(struct tclient *c, Vigil__V1__Frame **out, int timeout_ms);
/* 1 when the relay closes the connection within timeout_ms. */
int tclient_wait_closed(struct tclient *c, int timeout_ms);

/* Builds a packed ContactAttempt Record. */
struct contact_spec {
	uint8_t record_id[RECORD_ID_LEN];
	const char *case_id;
	const char *author;
	int channel;
	int outcome;
	int64_t time_ms;
	const char *note;                          /* in the clear: the relay refuses it */
	const Vigil__V1__SealedText *sealed_note;  /* NULL: none */
};
void contact_spec_default(struct contact_spec *s, const char *author, uint32_t seed);
void contact_build(const struct contact_spec *s, uint8_t **rec, size_t *len);
/* Signs with PKI_DIR/<keyname>.key. */
void sign_with(const char *keyname, const uint8_t *data, size_t len, uint8_t **sig, size_t *sig_len);

/* Sends f with the next request id and waits (10 s) for its answer
 * (caller frees); NULL with c->err on failure or an answer to another
 * request. */
Vigil__V1__Frame *tclient_roundtrip(struct tclient *c, Vigil__V1__Frame *f);
/* Submits (record, sig) and waits for the answer frame (caller frees). */
Vigil__V1__Frame *tclient_submit(struct tclient *c, const uint8_t *rec, size_t rec_len,
				 const uint8_t *sig, size_t sig_len);
/* Builds, signs with the client's own key and submits a contact attempt. */
Vigil__V1__Frame *tclient_submit_contact(struct tclient *c, const struct contact_spec *s);
/* The same without waiting, with request_id, for pipelined load: 0, or -1
 * when the connection is gone (c->err says why). */
int tclient_send_contact(struct tclient *c, const struct contact_spec *s, uint64_t request_id);

/* A new relay with the PKI's directory logs each member's encryption
 * certificate at its first start (MemberKey entries): its log begins with
 * these entries, before anything a test submits. */
#define PKI_MEMBER_KEYS 6

/* Path of a PKI file: PKI_DIR/name (one of the last 8 of this thread). */
const char *pki(const char *name);

/* ---- sealed text -------------------------------------------------------------- */

#include "proto/sealed.h"

/* A SealedText for a record, with its envelope (tseal). */
struct tsealed {
	Vigil__V1__SealedText text;
	uint8_t commitment[SHA256_LEN];
	uint8_t readers[SEALED_READERS_MAX][SHA256_LEN];
	ProtobufCBinaryData rd[SEALED_READERS_MAX];
	uint8_t plain[SEALED_HEAD_LEN + RECORD_NOTE_MAX]; /* P */
	size_t plain_len;
	uint8_t *cms;            /* the envelope (malloc()ed) */
	size_t cms_len;
};

/* Seals text as field (proto/sealed.h) of the record record_id: P with a
 * random salt, the commitment, the readers (SHA-256 of PKI_DIR/<org>.enc.crt
 * of each of the n orgs, sorted) and the envelope to those certificates.
 * Fails the test (abort) when it cannot. */
void tseal(struct tsealed *s, int field, const uint8_t record_id[RECORD_ID_LEN],
	   const char *text, const char *const *orgs, size_t n);
/* The same, sealing p (plain_len bytes: any P, e.g. a tampered one) as it
 * is; the commitment is left as the caller set it. */
void tseal_plain(struct tsealed *s, const uint8_t *p, size_t plain_len, const char *const *orgs,
		 size_t n);
void tsealed_free(struct tsealed *s);
/* tclient_submit with Submit.sealed (NULL, 0: none). */
Vigil__V1__Frame *tclient_submit_sealed(struct tclient *c, const uint8_t *rec, size_t rec_len,
					const uint8_t *sig, size_t sig_len, const uint8_t *cms,
					size_t cms_len);
/* The text sealed beside entry idx (table sealed), opened with
 * PKI_DIR/<org>.enc.key and checked against the entry's record (record id,
 * field, commitment): a malloc()ed string, or NULL with the reason in why. */
char *db_sealed_text(struct trelay *t, unsigned long long idx, const char *org, char *why,
		     size_t why_len);
/* A Reseal of n texts for the offer offer_id of case_id (texts may be
 * NULL when n is 0: the relay's list of what is missing); the answer
 * frame (caller frees), NULL with c->err on a connection failure. */
Vigil__V1__Frame *tclient_reseal_send(struct tclient *c, const char *case_id,
				      const uint8_t offer_id[RECORD_ID_LEN],
				      Vigil__V1__ResealedText **texts, size_t n);
/* Re-seals as the offering organisation org does: asks which texts of the
 * offer are missing, opens each from the relay's database with
 * PKI_DIR/<org>.enc.key, seals the same P to the envelope's recipients
 * among the PKI's members and to, and sends them in one Reseal.  The
 * answer (RESEALED or an ERROR) for the caller to free. */
Vigil__V1__Frame *tclient_reseal(struct tclient *c, struct trelay *t, const char *org,
				 const char *case_id, const uint8_t offer_id[RECORD_ID_LEN],
				 const char *to);
/* The text of entry idx's sealed text re-sealed and held for a pending
 * offer (table reseals), opened as db_sealed_text does; NULL when there
 * is none or it does not open for org. */
char *db_resealed_text(struct trelay *t, unsigned long long idx, const char *org, char *why,
		       size_t why_len);
/* The readers of a case: the SHA-256 of each org's encryption certificate,
 * sorted, into out (n entries); for tests that build SealedText by hand. */
void tseal_reader_hashes(const char *const *orgs, size_t n, uint8_t (*out)[SHA256_LEN]);

#endif

/* ---- running programs, reading rows, free ports (appended) --------------- */

/*
 * Runs argv[0] (a path) with argv in cwd (NULL: ours), stdin from
 * /dev/null, and captures its stdout and stderr separately (NUL-terminated,
 * cut short at the buffer size; the rest is read and dropped).  Waits at
 * most timeout_ms, then kills the child by PID.  Returns the exit status,
 * 128 + signal for a signal, -1 on timeout.
 */
int run_capture(const char *const *argv, const char *cwd, char *out, size_t out_len,
		char *err, size_t err_len, int timeout_ms);
/* First column of the first row of an SQL query on the relay's database as
 * text (hex() for blobs): 0, or -1 when there is no row or the query fails. */
int db_text(struct trelay *t, const char *sql, char *out, size_t out_len);
/* Same, as bytes (*out malloc()ed, NULL for an empty value): 0 or -1. */
int db_blob(struct trelay *t, const char *sql, uint8_t **out, size_t *len);
/* A TCP port on 127.0.0.1 that nobody listened on a moment ago. */
int unused_port(void);

/* ---- changing a stopped relay's database (appended) ---------------------- */

/* Runs SQL on the relay's database read-write (stop the relay first) and
 * checkpoints the WAL into the file: 0, or -1 with the reason on stderr. */
int db_change(struct trelay *t, const char *sql);
/* Replaces the first "from" in the text file path (at most 8 KiB) by "to";
 * fails the test when there is none. */
void file_replace(const char *path, const char *from, const char *to);

/* Copies a file (mode 0600), removing the target's -wal and -shm files so
 * that a copied database stands alone: 0 or -1. */
int file_copy(const char *from, const char *to);


/* ==== the relay's store as a whole, on either engine (pg-suites) ============
 *
 * What the tests did to the SQLite file itself (copy it, lock it, read rows
 * with sqlite3, expect its path in messages), for both engines.  On
 * PostgreSQL a snapshot is a schema beside the relay's (dropped by
 * trelay_cleanup), the lock a table lock, and the relay's session the one
 * holding its advisory lock.
 */

struct db;

/* What the relay calls its store in messages: the SQLite file's path, or
 * "PostgreSQL HOST:PORT/DBNAME" (daemon/db.h's db_target_name). */
void store_name(const struct trelay *t, char *out, size_t out_len);
/* 1 on SQLite; on PostgreSQL prints "SQLite only: <why>" and returns 0,
 * for the parts of a test that are about the SQLite file alone. */
int sqlite_only(const char *why);
/* Saves the stopped relay's store as snapshot name ([a-z0-9_]): SQLite: a
 * copy of the database file, DIR/name.db; PostgreSQL: every table of the
 * relay's schema copied into the schema SCHEMA_name, in one transaction.
 * 0, or -1 with the reason on stderr. */
int store_snapshot(struct trelay *t, const char *name);
/* Puts snapshot name of relay from (store_restore: of t itself) in place
 * of the stopped relay t's store: SQLite: the copy over the file, its -wal
 * and -shm removed; PostgreSQL: the schema's tables emptied (those the
 * snapshot lacks dropped) and refilled from the snapshot's, identity
 * columns' sequences past their rows, in one transaction.  0 or -1. */
int store_restore(struct trelay *t, const char *name);
int store_restore_from(struct trelay *t, const struct trelay *from, const char *name);
/* Takes the store's write lock, so that the relay's writer waits: SQLite:
 * BEGIN IMMEDIATE on a connection of its own (busy timeout 5 s);
 * PostgreSQL: BEGIN; LOCK TABLE entries IN EXCLUSIVE MODE (readers go on).
 * The connection holding it, NULL (said on stderr) when it cannot. */
struct db *store_lock(struct trelay *t);
/* Rolls back and closes: 0, or -1 when either fails. */
int store_unlock(struct db *lock);
/* Calls row with the first column of each row of an SQL query on the
 * relay's store (the SQL translated as db_int's; busy timeout 5 s on
 * SQLite), in order: the number of rows, or -1 when the query fails. */
long long db_each(struct trelay *t, const char *sql,
		  void (*row)(void *ctx, const uint8_t *value, size_t len), void *ctx);
/* How many column values of the live rows of the relay's store contain the
 * n bytes needle (every column on SQLite, the bytea ones on PostgreSQL);
 * -1 when a query fails.  Unlike the bytes of the SQLite file, this does
 * not see deleted rows (free pages, dead row versions) or any WAL. */
long long db_count_bytes(struct trelay *t, const uint8_t *needle, size_t n);
/* PostgreSQL: ends the session of the relay's writer (the one holding its
 * advisory lock) from the server side, as a lost connection would: the
 * number of sessions ended, -1 on failure. */
int store_pg_end_writer(struct trelay *t);

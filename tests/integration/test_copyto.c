/*
 * test_copyto.c - vigild --copy-to DSN, black box: a real relay fills an
 * SQLite log (cases, records, an erasure-free history with checkpoints),
 * stops; the log is copied into an empty schema on the fixture's
 * PostgreSQL server and proved; a relay then serves the copy and goes on
 * with the same log (the next entry at the next index, a consistency
 * proof from the last SQLite checkpoint).  And the refusals: a schema that
 * holds tables, a running relay's file, a PostgreSQL configuration.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casekit.h"
#include "harness.h"

#define CASE_ID "se-stockholm-coord/SE-2026-0042"

static void base_dsn(char *out, size_t len)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/dsn", PG_DIR);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(out, (int)len, f))
		fail_msg("no PostgreSQL connection string in %s", path);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

static int copy_to(struct trelay *t, const char *dsn, char *out, size_t out_len)
{
	const char *args[] = { "vigild", "-c", t->conf, "--copy-to", dsn, NULL };
	return run_vigild(args, out, out_len);
}

static void submit_one(struct trelay *t, uint64_t *index)
{
	struct tclient c;
	if (tclient_open(&c, t->port, "iom-ru-moscow") != 0)
		fail_msg("%s", c.err);
	struct contact_spec s;
	contact_spec_default(&s, "iom-ru-moscow", 0);
	Vigil__V1__Frame *a = tclient_submit_contact(&c, &s);
	if (!a || a->msg_case != VIGIL__V1__FRAME__MSG_RECEIPT)
		fail_msg("no receipt: %s", !a ? c.err : a->msg_case == VIGIL__V1__FRAME__MSG_ERROR ?
			 a->error->message : "?");
	*index = a->receipt->index;
	frame_free(a);
	tclient_close(&c);
}

static void test_copy_and_serve(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	trelay_open_case(&t, CASE_ID);
	uint64_t idx = 0;
	for (int i = 0; i < 20; i++)
		submit_one(&t, &idx);
	assert_int_equal(trelay_stop(&t), 0);
	long long entries = db_int(&t, "SELECT count(*) FROM entries");
	long long checkpoints = db_int(&t, "SELECT count(*) FROM checkpoints");
	long long reads = db_int(&t, "SELECT count(*) FROM case_reads");
	char root[65];
	assert_int_equal(db_text(&t, "SELECT lower(hex(root)) FROM checkpoints ORDER BY id DESC "
				     "LIMIT 1", root, sizeof(root)), 0);
	long long size = db_int(&t, "SELECT size FROM checkpoints ORDER BY id DESC LIMIT 1");

	char dsn[700], base[600], out[4096], want[512];
	base_dsn(base, sizeof(base));
	assert_int_equal(trelay_pg_admin("DROP SCHEMA IF EXISTS copyto CASCADE; "
					 "CREATE SCHEMA copyto"), 0);
	snprintf(dsn, sizeof(dsn), "%s options='-c search_path=copyto'", base);
	if (copy_to(&t, dsn, out, sizeof(out)) != 0)
		fail_msg("--copy-to: %s", out);
	snprintf(want, sizeof(want), ": %lld entries, %lld checkpoints, latest of size %lld, root %s\n"
		 "copy audited: log OK: %lld entries", entries, checkpoints, size, root, entries);
	if (!strstr(out, want))
		fail_msg("\"%s\" not in: %s", want, out);
	assert_null(strstr(out, "options="));  /* the connection string is not echoed */

	/* A relay on the copy: the same log, going on. */
	struct trelay p;
	trelay_setup(&p, NULL, NULL);
	char sql[200];
	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", p.pg_schema[0] ? p.pg_schema : "none");
	if (p.pg_schema[0])
		trelay_pg_admin(sql);
	char conf_dsn[800];
	snprintf(conf_dsn, sizeof(conf_dsn), "dsn = %s\n[store]\nbackend = postgresql", dsn);
	file_replace(p.conf, "path = vigil.db", conf_dsn);
	snprintf(p.pg_dsn, sizeof(p.pg_dsn), "%s", dsn);
	snprintf(p.pg_schema, sizeof(p.pg_schema), "copyto");
	assert_int_equal(trelay_start(&p), 0);
	assert_int_equal(db_int(&p, "SELECT count(*) FROM case_reads"), reads);
	uint64_t next = 0;
	submit_one(&p, &next);
	assert_int_equal(next, (uint64_t)entries);
	assert_int_equal(trelay_stop(&p), 0);
	const char *args[] = { "vigild", "-c", p.conf, "--verify-db", NULL };
	assert_int_equal(run_vigild(args, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "log OK: %lld entries", entries + 1);
	if (strncmp(out, want, strlen(want)) != 0)
		fail_msg("%s", out);

	/* The schema holds a log now: a second copy is refused, untouched. */
	assert_int_equal(copy_to(&t, dsn, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "already holds a database; --init-db never replaces one"));
	trelay_cleanup(&p);
	trelay_cleanup(&t);
}

/* A running relay's file is not copied (its lock), nor a PostgreSQL store. */
static void test_refusals(void **state)
{
	(void)state;
	struct trelay t;
	trelay_setup(&t, NULL, NULL);
	assert_int_equal(trelay_start(&t), 0);
	char dsn[700], base[600], out[4096];
	base_dsn(base, sizeof(base));
	assert_int_equal(trelay_pg_admin("DROP SCHEMA IF EXISTS copyto2 CASCADE; "
					 "CREATE SCHEMA copyto2"), 0);
	snprintf(dsn, sizeof(dsn), "%s options='-c search_path=copyto2'", base);
	assert_int_equal(copy_to(&t, dsn, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "is in use by another process"));
	assert_int_equal(trelay_stop(&t), 0);
	/* A connection string libpq refuses, and one to no server. */
	assert_int_equal(copy_to(&t, "bogus=1", out, sizeof(out)), 1);
	if (!strstr(out, "PostgreSQL: invalid connection option \"bogus\""))
		fail_msg("%s", out);
	assert_int_equal(copy_to(&t, "host=127.0.0.1 port=1 connect_timeout=5", out, sizeof(out)),
			 1);
	assert_non_null(strstr(out, "PostgreSQL: connection to server at \"127.0.0.1\", port 1 "
				    "failed"));
	/* The source is untouched by the refusals. */
	assert_int_equal(db_int(&t, "SELECT count(*) FROM log_head"), 1);
	/* Nothing was created there. */
	char sql[200];
	snprintf(sql, sizeof(sql), "DROP SCHEMA copyto2");  /* fails if not empty */
	assert_int_equal(trelay_pg_admin(sql), 0);
	trelay_cleanup(&t);

	setenv("VIGIL_TEST_BACKEND", "postgresql", 1);
	struct trelay q;
	trelay_setup(&q, NULL, NULL);
	assert_int_equal(copy_to(&q, dsn, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "this configuration's store is PostgreSQL already"));
	trelay_cleanup(&q);
	unsetenv("VIGIL_TEST_BACKEND");
}

int main(void)
{
	unsetenv("VIGIL_TEST_BACKEND"); /* the source is SQLite */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_and_serve),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

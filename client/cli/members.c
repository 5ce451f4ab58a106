/*
 * members.c - "vigil members": the relay's member directory.
 *
 *   vigil [OPTIONS] members [--json]
 *
 * The fields of a member are described once (view.h): the text table and
 * the JSON come from the same list, so the two cannot drift apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"


static void members_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] members\n"
		   "\n"
		   "Lists the relay's member directory, sorted by organisation id, as a table:\n"
		   "\n"
		   "  ORGANISATION        ROLE         COUNTRY  NAME\n"
		   "\n"
		   "Only members connect: the relay refuses a certificate whose O is not\n"
		   "listed, or whose OU (role) or C (country) disagree with its line.  Any\n"
		   "member may ask.  With --json one object {\"members\":[{\"organisation\":...,\n"
		   "\"role\":...,\"country\":...,\"name\":...},...]}.\n");
}

int cmd_members(struct settings *s, int argc, char *argv[])
{
	const char *none;
	int rc = cli_query_args(s, argc, argv, 0, "members", members_help, &none);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	vigil_client *c;
	if ((rc = cli_connect(s, &c)) != 0)
		return rc;
	struct vigil_member *list = NULL;
	size_t n = 0;
	struct vigil_error err;
	rc = vigil_members(c, &list, &n, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK) {
		output_failure(&err, s->json);
		return cli_exit_status(err.status);
	}
	struct view *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		vigil_free(list);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		view_init(&rows[i]);
		view_str(&rows[i], "organisation", "organisation", list[i].organisation);
		view_str(&rows[i], "role", "role", list[i].role);
		view_str(&rows[i], "country", "country", list[i].country);
		view_str(&rows[i], "name", "name", list[i].name);
	}
	rc = view_print_list(rows, n, "members", s->json, "no members");
	free(rows);
	vigil_free(list);
	return rc == 0 ? 0 : EXIT_FAILED;
}

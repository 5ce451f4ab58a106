/*
 * members.c - "vigil members": the relay's member directory.
 *
 *   vigil [OPTIONS] members [--json]
 *
 * The fields of a member are listed once (fields[]); the text table and
 * the JSON printer both walk that list, so the two cannot drift apart.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *f_organisation(const struct vigil_member *m) { return m->organisation; }
static const char *f_role(const struct vigil_member *m) { return m->role; }
static const char *f_country(const struct vigil_member *m) { return m->country; }
static const char *f_name(const struct vigil_member *m) { return m->name; }

static const struct {
	const char *key;      /* JSON member */
	const char *heading;  /* text column */
	const char *(*get)(const struct vigil_member *m);
} fields[] = {
	{ "organisation", "ORGANISATION", f_organisation },
	{ "role", "ROLE", f_role },
	{ "country", "COUNTRY", f_country },
	{ "name", "NAME", f_name },
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

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

static void print_json(const struct vigil_member *list, size_t n)
{
	printf("{\"members\":[");
	for (size_t i = 0; i < n; i++) {
		int k = 0;
		printf("%s{", i ? "," : "");
		for (size_t f = 0; f < N_FIELDS; f++) {
			json_key(stdout, &k, fields[f].key);
			json_write_string(stdout, fields[f].get(&list[i]));
		}
		printf("}");
	}
	printf("]}\n");
}

/* One line of the table; the last column is not padded (no trailing blanks). */
static void print_row(const char *const *cells, const int *w)
{
	for (size_t f = 0; f + 1 < N_FIELDS; f++)
		printf("%-*s  ", w[f], cells[f]);
	printf("%s\n", cells[N_FIELDS - 1]);
}

static void print_text(const struct vigil_member *list, size_t n)
{
	if (n == 0) {
		printf("no members\n");
		return;
	}
	int w[N_FIELDS];
	const char *cells[N_FIELDS];
	for (size_t f = 0; f < N_FIELDS; f++) {
		w[f] = (int)strlen(fields[f].heading);
		for (size_t i = 0; i < n; i++) {
			int l = (int)strlen(fields[f].get(&list[i]));
			w[f] = l > w[f] ? l : w[f];
		}
		cells[f] = fields[f].heading;
	}
	print_row(cells, w);
	for (size_t i = 0; i < n; i++) {
		for (size_t f = 0; f < N_FIELDS; f++)
			cells[f] = fields[f].get(&list[i]);
		print_row(cells, w);
	}
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
	if (s->json)
		print_json(list, n);
	else
		print_text(list, n);
	vigil_free(list);
	return 0;
}

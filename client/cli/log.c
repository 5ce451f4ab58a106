/*
 * log.c - "vigil checkpoint" and "vigil proof": looking at the relay's log.
 *
 * Both verify before they print: the checkpoint with the checkpoint key,
 * the proof against the latest checkpoint.  A proof for an older tree size
 * M is checked in two steps (libvigil's vigil_get_inclusion_proof): the
 * inclusion proof at M gives the root of the first M entries, and a
 * consistency proof from M to the latest checkpoint shows that root is the
 * one the signed tree extends.  So only the latest checkpoint needs a
 * signature, and no old checkpoint has to be kept or found.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"

enum {
	OPT_INDEX = OPT_COMMAND_BASE,
	OPT_SIZE,
};

static void checkpoint_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] checkpoint\n"
		   "\n"
		   "Fetches the relay's latest checkpoint, verifies its signature with the\n"
		   "checkpoint key and prints it:\n"
		   "\n"
		   "  origin vigil.example.org/log\n"
		   "  size 1234                      (entries in the log)\n"
		   "  root <hex>                     (RFC 9162 root of those entries)\n"
		   "  signed_at 2026-11-28T10:00:00.123Z\n"
		   "  age 4 s                        (seconds since it was signed, by our clock)\n"
		   "\n"
		   "With --json one line: {\"origin\":...,\"size\":N,\"root\":\"<hex>\",\"signed_at\":...,\n"
		   "\"signed_at_ms\":N,\"age_seconds\":N,\"note\":\"<the signed note>\"}.\n"
		   "The relay signs a fresh checkpoint at regular intervals even when nothing\n"
		   "arrives (its [log] checkpoint_interval); an age well beyond that means it\n"
		   "stopped signing, or serves an old checkpoint.\n");
}

static void proof_help(FILE *f)
{
	fprintf(f, "usage: vigil [OPTIONS] proof --index N [--size M]\n"
		   "\n"
		   "Proves that entry N is in the relay's log: fetches and verifies the latest\n"
		   "checkpoint, then the inclusion proof of entry N in the tree of M entries\n"
		   "(default: the checkpoint's size).  For M below the checkpoint's size the\n"
		   "root of the first M entries is what the inclusion proof leads to, and a\n"
		   "consistency proof from M to the checkpoint's size must show that the\n"
		   "signed tree extends exactly that root.\n"
		   "\n"
		   "  --index N   the entry, 0-based\n"
		   "  --size M    the tree size, 1 to the checkpoint's size\n"
		   "\n"
		   "Prints 'proof OK: entry N in tree of size M (checkpoint of size L)', the\n"
		   "leaf hash, the root of size M, and the nodes (leaf upwards), then the\n"
		   "consistency nodes; --json prints one object.  Exit status 3 when the proof\n"
		   "does not verify.\n");
}

/* Parses the options of a command that has none but the global ones. */
static int no_options(struct settings *s, int argc, char *argv[], void (*help)(FILE *))
{
	static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	int opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return cli_getopt_error(opt, argv);
		if (opt == 'h') {
			help(stdout);
			return -1;
		}
		int r = cli_global_option(s, opt, optarg);
		if (r != 0)
			return r > 0 ? r : cli_usage_error("unexpected option");
	}
	if (optind < argc)
		return cli_usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
	return 0;
}

int cmd_checkpoint(struct settings *s, int argc, char *argv[])
{
	int rc = no_options(s, argc, argv, checkpoint_help);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	vigil_client *c;
	if ((rc = cli_connect(s, &c)) != 0)
		return rc;
	struct vigil_checkpoint *cp = malloc(sizeof(*cp));
	if (!cp) {
		vigil_close(&c);
		return cli_fail(s, VIGIL_E_NOMEM, "out of memory");
	}
	struct vigil_error err;
	rc = vigil_get_checkpoint(c, cp, &err);
	vigil_close(&c);
	if (rc != VIGIL_OK) {
		free(cp);
		output_failure(&err, s->json);
		return cli_exit_status(rc);
	}
	char root[2 * VIGIL_HASH_LEN + 1], at[VIGIL_TIME_LEN] = "";
	vigil_hex_encode(cp->root, VIGIL_HASH_LEN, root);
	int have_at = cp->signed_at_ms >= 0;
	long long age = 0;
	if (have_at) {
		vigil_format_time(cp->signed_at_ms, at, sizeof(at));
		/* Whole seconds, rounded towards minus infinity. */
		int64_t d = cli_now_ms() - cp->signed_at_ms;
		age = (long long)(d >= 0 ? d / 1000 : -((-d + 999) / 1000));
	}
	struct view v;
	view_init(&v);
	view_str(&v, "origin", "origin", cp->origin);
	view_uint(&v, "size", "size", cp->size);
	view_str(&v, "root", "root", root);
	view_str(&v, "signed_at", "signed at", have_at ? at : NULL);
	if (!have_at)
		view_say(&v, "unknown (no signed-at line)");
	view_json(&v, "signed_at_ms", NULL,
		  have_at ? json_integer((json_int_t)cp->signed_at_ms) : json_null());
	view_json(&v, "age_seconds", have_at ? "age" : NULL,
		  have_at ? json_integer(age) : json_null());
	view_say(&v, "%lld s", age);
	view_str(&v, "note", NULL, cp->note);
	free(cp);
	return view_print(&v, s->json) == 0 ? 0 : EXIT_FAILED;
}

/* A proof's nodes: a JSON array of hex, in the text "N node(s)" and a line
 * "  I HEX" per node. */
static void nodes_view(struct view *v, const char *key, const char *label,
		       const uint8_t (*h)[VIGIL_HASH_LEN], size_t n, const char *more)
{
	char hex[2 * VIGIL_HASH_LEN + 1];
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		vigil_hex_encode(h[i], VIGIL_HASH_LEN, hex);
		if (json_array_append_new(a, json_string(hex)) != 0)
			v->nomem = 1;
	}
	view_json(v, key, label, a);
	view_say(v, "%zu node%s%s", n, n == 1 ? "" : "s", more);
	for (size_t i = 0; label && i < n; i++) {
		vigil_hex_encode(h[i], VIGIL_HASH_LEN, hex);
		view_line(v, "", "  %zu %s", i, hex);
	}
}

static int proof_print(const struct vigil_inclusion_proof *p, int json)
{
	const uint8_t(*inc)[VIGIL_HASH_LEN] = (const uint8_t(*)[VIGIL_HASH_LEN])p->hashes;
	const uint8_t(*cons)[VIGIL_HASH_LEN] = (const uint8_t(*)[VIGIL_HASH_LEN])p->consistency;
	struct view v;
	view_init(&v);
	view_bool(&v, "ok", NULL, 1);
	view_line(&v, "", "proof OK: entry %llu in tree of size %llu (checkpoint of size %llu)",
		  (unsigned long long)p->index, (unsigned long long)p->tree_size,
		  (unsigned long long)p->checkpoint_size);
	view_uint(&v, "index", NULL, p->index);
	view_uint(&v, "tree_size", NULL, p->tree_size);
	view_uint(&v, "checkpoint_size", NULL, p->checkpoint_size);
	view_hex(&v, "leaf_hash", "leaf_hash", p->leaf_hash, VIGIL_HASH_LEN);
	view_hex(&v, "root", "root", p->root, VIGIL_HASH_LEN);
	nodes_view(&v, "inclusion_proof", "inclusion_proof", inc, p->n, "");
	char more[80];
	snprintf(more, sizeof(more), " (size %llu to %llu)", (unsigned long long)p->tree_size,
		 (unsigned long long)p->checkpoint_size);
	nodes_view(&v, "consistency_proof",
		   p->tree_size != p->checkpoint_size ? "consistency_proof" : NULL, cons,
		   p->n_consistency, more);
	return view_print(&v, json) == 0 ? 0 : EXIT_FAILED;
}

int cmd_proof(struct settings *s, int argc, char *argv[])
{
	static const struct option options[] = {
		CLI_GLOBAL_OPTIONS,
		{ "index", required_argument, NULL, OPT_INDEX },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ NULL, 0, NULL, 0 },
	};
	const char *index_arg = NULL, *size_arg = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "+:c:h", options, NULL)) != -1) {
		switch (opt) {
		case '?':
		case ':':
			return cli_getopt_error(opt, argv);
		case 'h':
			proof_help(stdout);
			return 0;
		case OPT_INDEX: index_arg = optarg; break;
		case OPT_SIZE: size_arg = optarg; break;
		default: {
			int r = cli_global_option(s, opt, optarg);
			if (r != 0)
				return r > 0 ? r : cli_usage_error("unexpected option");
		}
		}
	}
	if (optind < argc)
		return cli_usage_error("proof: unexpected argument '%s'", argv[optind]);
	uint64_t index = 0, size = 0;
	if (!index_arg)
		return cli_usage_error("proof: --index is required");
	if (cli_parse_u64(index_arg, &index) != 0)
		return cli_usage_error("proof: --index wants an entry number, not '%s'", index_arg);
	if (size_arg && (cli_parse_u64(size_arg, &size) != 0 || size == 0))
		return cli_usage_error("proof: --size wants a tree size of at least 1, not '%s'",
				       size_arg);
	if (size_arg && index >= size)
		return cli_usage_error("proof: --index %llu is not below --size %llu",
				       (unsigned long long)index, (unsigned long long)size);

	vigil_client *c;
	int rc = cli_connect(s, &c);
	if (rc != 0)
		return rc;
	struct vigil_checkpoint *cp = malloc(sizeof(*cp));
	struct vigil_inclusion_proof *p = malloc(sizeof(*p));
	struct vigil_error err = { .status = VIGIL_E_NOMEM, .message = "out of memory" };
	if (!cp || !p)
		rc = VIGIL_E_NOMEM;
	else if ((rc = vigil_get_checkpoint(c, cp, &err)) == VIGIL_OK)
		rc = vigil_get_inclusion_proof(c, index, size, cp, p, &err);
	vigil_close(&c);
	int status = cli_exit_status(rc);
	if (rc == VIGIL_OK)
		status = proof_print(p, s->json);
	else
		output_failure(&err, s->json);
	free(cp);
	free(p);
	return status;
}

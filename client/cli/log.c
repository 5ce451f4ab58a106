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
	if (s->json) {
		fputs("{\"origin\":", stdout);
		json_write_string(stdout, cp->origin);
		printf(",\"size\":%llu,\"root\":\"%s\"", (unsigned long long)cp->size, root);
		if (have_at)
			printf(",\"signed_at\":\"%s\",\"signed_at_ms\":%lld,\"age_seconds\":%lld", at,
			       (long long)cp->signed_at_ms, age);
		else
			fputs(",\"signed_at\":null,\"signed_at_ms\":null,\"age_seconds\":null",
			      stdout);
		fputs(",\"note\":", stdout);
		json_write_string(stdout, cp->note);
		fputs("}\n", stdout);
	} else {
		printf("origin %s\nsize %llu\nroot %s\n", cp->origin, (unsigned long long)cp->size,
		       root);
		if (have_at)
			printf("signed_at %s\nage %lld s\n", at, age);
		else
			printf("signed_at unknown (no signed-at line)\n");
	}
	free(cp);
	return 0;
}

static void print_nodes(const uint8_t (*h)[VIGIL_HASH_LEN], size_t n)
{
	char hex[2 * VIGIL_HASH_LEN + 1];
	for (size_t i = 0; i < n; i++) {
		vigil_hex_encode(h[i], VIGIL_HASH_LEN, hex);
		printf("  %zu %s\n", i, hex);
	}
}

static void proof_print(const struct vigil_inclusion_proof *p, int json)
{
	char leaf[2 * VIGIL_HASH_LEN + 1], root[2 * VIGIL_HASH_LEN + 1];
	vigil_hex_encode(p->leaf_hash, VIGIL_HASH_LEN, leaf);
	vigil_hex_encode(p->root, VIGIL_HASH_LEN, root);
	const uint8_t(*inc)[VIGIL_HASH_LEN] = (const uint8_t(*)[VIGIL_HASH_LEN])p->hashes;
	const uint8_t(*cons)[VIGIL_HASH_LEN] = (const uint8_t(*)[VIGIL_HASH_LEN])p->consistency;
	if (json) {
		printf("{\"ok\":true,\"index\":%llu,\"tree_size\":%llu,\"checkpoint_size\":%llu,"
		       "\"leaf_hash\":\"%s\",\"root\":\"%s\",\"inclusion_proof\":",
		       (unsigned long long)p->index, (unsigned long long)p->tree_size,
		       (unsigned long long)p->checkpoint_size, leaf, root);
		json_write_hashes(stdout, inc, p->n);
		fputs(",\"consistency_proof\":", stdout);
		json_write_hashes(stdout, cons, p->n_consistency);
		fputs("}\n", stdout);
		return;
	}
	printf("proof OK: entry %llu in tree of size %llu (checkpoint of size %llu)\n",
	       (unsigned long long)p->index, (unsigned long long)p->tree_size,
	       (unsigned long long)p->checkpoint_size);
	printf("leaf_hash %s\nroot %s\n", leaf, root);
	printf("inclusion_proof %zu node%s\n", p->n, p->n == 1 ? "" : "s");
	print_nodes(inc, p->n);
	if (p->tree_size != p->checkpoint_size) {
		printf("consistency_proof %zu node%s (size %llu to %llu)\n", p->n_consistency,
		       p->n_consistency == 1 ? "" : "s",
		       (unsigned long long)p->tree_size, (unsigned long long)p->checkpoint_size);
		print_nodes(cons, p->n_consistency);
	}
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
	if (rc == VIGIL_OK)
		proof_print(p, s->json);
	else
		output_failure(&err, s->json);
	free(cp);
	free(p);
	return cli_exit_status(rc);
}

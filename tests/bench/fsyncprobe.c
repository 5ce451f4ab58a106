/*
 * vigil-bench-fsync - how long this disk takes to make 4 KiB durable, the
 * floor under the latency benchmark's receipts (every receipt waits for one
 * fdatasync of the WAL).
 *
 *   vigil-bench-fsync --dir DIR [--seconds S]
 *
 * Writes 4 KiB and calls fdatasync, in a loop, for S seconds (default 2) in
 * a file of its own in DIR (run.sh passes the directory where the database
 * lives, so the same filesystem), and removes the file.  Like SQLite's WAL,
 * the file is written from its beginning again once it holds 1 MiB: after
 * the first pass the writes overwrite blocks already allocated, as a WAL
 * that starts over after a checkpoint does, so most syncs flush data and
 * no file size change.
 *
 * Output: "fsync_p99_ms: X" and a "# " comment with the count, p50 and max.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bstats.h"

#define BLOCK 4096
#define WRAP (1024 * 1024)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: vigil-bench-fsync --dir DIR [--seconds S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	double seconds = 2;
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(seconds > 0 && seconds <= 600))
				usage();
			break;
		default:
			usage();
		}
	}
	if (!dir || optind != argc)
		usage();

	char path[4096];
	if (snprintf(path, sizeof(path), "%s/fsync-probe.tmp", dir) >= (int)sizeof(path)) {
		fprintf(stderr, "vigil-bench-fsync: %s: path too long\n", dir);
		return 1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "vigil-bench-fsync: %s: %s\n", path, strerror(errno));
		return 1;
	}
	static unsigned char block[BLOCK];
	struct bstats st = { 0 };
	int code = 1;
	off_t off = 0;
	int64_t stop = now_ns() + (int64_t)(seconds * 1e9);
	for (unsigned i = 0; now_ns() < stop; i++) {
		/* Different bytes each time, so no layer can skip the write. */
		memcpy(block, &i, sizeof(i));
		int64_t t0 = now_ns();
		if (pwrite(fd, block, BLOCK, off) != BLOCK || fdatasync(fd) != 0) {
			fprintf(stderr, "vigil-bench-fsync: %s: %s\n", path, strerror(errno));
			goto out;
		}
		if (bstats_add(&st, now_ns() - t0) != 0) {
			fprintf(stderr, "vigil-bench-fsync: out of memory\n");
			goto out;
		}
		off = (off + BLOCK) % WRAP;
	}
	printf("# fsync probe: %zu writes of 4 KiB + fdatasync in %.1f s; p50 %.3f ms, max %.3f ms\n",
	       st.n, seconds, bstats_ms(&st, 50), bstats_ms(&st, 100));
	printf("fsync_p99_ms: %.3f\n", bstats_ms(&st, 99));
	code = 0;
out:
	close(fd);
	unlink(path);
	bstats_free(&st);
	return code;
}

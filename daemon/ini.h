/*
 * ini.h - the strict INI reader behind the relay's configuration (config.c)
 * and the member directory (directory.c): libinih's parser, fed line by
 * line so that every error is refused with its FILE:LINE.
 *
 * (Not to be confused with <ini.h>, libinih's own header, which only ini.c
 * includes: callers see nothing of libinih.)
 *
 * What it adds to libinih:
 *   - the line number of every key and section header;
 *   - a line with a NUL byte, or longer than libinih's buffer (198
 *     characters), is an error instead of a line silently cut short;
 *   - a read error is an error instead of a shorter file;
 *   - "[section]" headers are reported on their own line, even for a
 *     section without keys (libinih reports none), with the whole name
 *     (libinih's own copy is cut at 49 characters);
 *   - an indented line right after a key, which libinih would append to that
 *     key's value, is refused: no value spans lines;
 *   - the first error wins: reading stops right after it.
 *
 * Ownership: ini_read() opens, reads and closes the file; everything it
 * hands to a callback (names, values) belongs to the reader and is valid
 * only during that call: a handler keeps a copy.  The struct ini_file is
 * the reader's, alive for the duration of ini_read(); handlers only pass it
 * back to ini_fail().  user belongs to the caller.
 *
 * When the callbacks are called, all on the caller's thread, inside
 * ini_read(), in the order of the file:
 *   section    for each "[name]" header (a UTF-8 BOM on line 1 and white
 *              space before it allowed), before any key under it;
 *   value      for each "name = value" line, with libinih's name of the
 *              section (cut at 49 characters; "" before any header) and
 *              the key and value with white space and inline comments
 *              trimmed;
 *   continued  (optional) for an indented line after a key, with that key's
 *              section and name, to say why it is refused; without it, or if
 *              it does not call ini_fail(), the reader refuses the line with
 *              "indented line continues a value; values must be on one line";
 *   end        (optional) once, after the last line, only when no error was
 *              found: the place for checks of the whole file (a required
 *              key, an empty file; line 0) and for building the result.
 * A handler reports what is wrong with ini_fail(); none is called after an
 * error has been recorded.
 */
#ifndef VIGIL_DAEMON_INI_H
#define VIGIL_DAEMON_INI_H

#include <stddef.h>

#if defined(__GNUC__)
#define INI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define INI_PRINTF(a, b)
#endif

struct ini_file; /* one file being read: the reader's state */

/* section and value are required, continued and end may be NULL. */
struct ini_handlers {
	void (*section)(struct ini_file *in, void *user, const char *name, int line);
	void (*value)(struct ini_file *in, void *user, const char *section, const char *name,
		      const char *value, int line);
	void (*continued)(struct ini_file *in, void *user, const char *section,
			  const char *name, int line);
	void (*end)(struct ini_file *in, void *user);
	/* What a line libinih cannot parse is called, e.g.
	 * "syntax error (expected [section] or key = value)". */
	const char *syntax_error;
};

/*
 * Reads path, calling h's handlers with user.  Returns VG_OK, or the
 * negative vg_status of the first error (VG_EBADREQ for what a handler or
 * the reader refused, VG_EIO when the file cannot be opened or read,
 * VG_ENOMEM) and writes "FILE:LINE: what is wrong" into err (when err and
 * err_len are nonzero), LINE 0 when no line is to blame.  A read error is
 * reported instead of any error found before it: the input was cut short.
 */
int ini_read(const char *path, const struct ini_handlers *h, void *user, char *err,
	     size_t err_len);

/*
 * Records an error on line (0: the file as a whole) with status (a negative
 * vg_status) unless one is recorded already; reading stops after the
 * handler returns.  Only from a handler of the ini_read() that passed in.
 */
void ini_fail(struct ini_file *in, int line, int status, const char *fmt, ...) INI_PRINTF(4, 5);

#endif

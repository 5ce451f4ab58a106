/*
 * utf8.h - the tool's one check of a UTF-8 sequence (json.c, exportfmt.c).
 */
#ifndef VIGIL_CLI_UTF8_H
#define VIGIL_CLI_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s, 0 when it is not one (an
 * overlong form, a surrogate, beyond U+10FFFF).  At most avail bytes (at
 * least 1) are read: a sequence cut short by the end of the text is not
 * one. */
size_t cli_utf8_len(const unsigned char *s, size_t avail);

#endif

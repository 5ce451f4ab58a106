/*
 * libFuzzer target: what "vigil verify --export" parses of a folder that
 * anyone may have edited, and what the report makes of a certificate's
 * text (client/cli/exportfmt.c, report.c).
 *
 * export_pem_certs on the input as a CA file: what it keeps is the
 * certificate blocks alone, so parsing its own output gives the same
 * blocks and hashes again.  export_clean and report_html_escape on the
 * input as a string: the clean text is valid UTF-8 without control
 * characters (cleaning it again changes nothing), and the escaped text has
 * no character that could open markup or end an attribute.  The input is
 * copied into buffers of exactly its length, so a read past the end is an
 * AddressSanitizer report.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pem(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return;
	memcpy(text, data, size);
	char *f1 = NULL, *f2 = NULL;
	uint8_t(*h1)[VIGIL_HASH_LEN] = NULL, (*h2)[VIGIL_HASH_LEN] = NULL;
	size_t n1 = 0, n2 = 0;
	if (export_pem_certs(text, size, &f1, &h1, &n1) == 0) {
		if (export_pem_certs(f1, strlen(f1), &f2, &h2, &n2) != 0 || n1 != n2 ||
		    strcmp(f1, f2) != 0 || (n1 && memcmp(h1, h2, n1 * VIGIL_HASH_LEN) != 0))
			abort();
	}
	free(f1);
	free(f2);
	free(h1);
	free(h2);
	free(text);
}

static void text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	size_t n = 4 * strlen(s) + 1;
	char *c = malloc(n), *c2 = malloc(n);
	if (c && c2) {
		export_clean(s, c, n);
		export_clean(c, c2, n);
		if (strcmp(c, c2) != 0)
			abort();
		for (const unsigned char *p = (const unsigned char *)c; *p; p++)
			if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
				abort();
		char *html = NULL;
		size_t hl = 0;
		FILE *f = open_memstream(&html, &hl);
		if (f) {
			report_html_escape(f, s);
			fclose(f);
			if (html && strpbrk(html, "<>\"'"))
				abort();
			free(html);
		}
	}
	free(c);
	free(c2);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pem(data, size);
	text(data, size);
	return 0;
}

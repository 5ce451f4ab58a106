/*
 * json.c - the little JSON the tool needs: writing strings, times, lists
 * and hex, and reading back one flat object (a saved receipt).
 *
 * The reader is strict and small on purpose: one object whose values are
 * strings, integers, true, false, null or arrays of those; no nesting
 * beyond that, no fractions or exponents, no duplicate keys, nothing after
 * the object but white space.  Strings are decoded to UTF-8; \u0000 is
 * refused, so every string is also a C string.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "utf8.h"

/* ---- writing ---------------------------------------------------------------- */

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	const unsigned char *end = s + strlen(str);
	fputc('"', f);
	while (*s) {
		unsigned c = *s;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			s++;
		} else if (c == '\n') {
			fputs("\\n", f);
			s++;
		} else if (c == '\r') {
			fputs("\\r", f);
			s++;
		} else if (c == '\t') {
			fputs("\\t", f);
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			s++;
		} else {
			size_t n = cli_utf8_len(s, (size_t)(end - s));
			if (n == 0) {
				fputs("\\ufffd", f);
				s++;
			} else {
				fwrite(s, 1, n, f);
				s += n;
			}
		}
	}
	fputc('"', f);
}

void json_write_hashes(FILE *f, const uint8_t (*h)[VIGIL_HASH_LEN], size_t n)
{
	char hex[2 * VIGIL_HASH_LEN + 1];
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		vigil_hex_encode(h[i], VIGIL_HASH_LEN, hex);
		fprintf(f, "%s\"%s\"", i ? "," : "", hex);
	}
	fputc(']', f);
}

void json_key(FILE *f, int *n, const char *key)
{
	if ((*n)++)
		fputc(',', f);
	json_write_string(f, key);
	fputc(':', f);
}

void json_write_time(FILE *f, int64_t ms)
{
	char t[VIGIL_TIME_LEN];
	if (ms <= 0) {
		fputs("null", f);
		return;
	}
	vigil_format_time(ms, t, sizeof(t));
	json_write_string(f, t);
}

void json_write_string_or_null(FILE *f, const char *s)
{
	if (s && s[0])
		json_write_string(f, s);
	else
		fputs("null", f);
}

void json_write_strings(FILE *f, const char *const *s, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_write_string(f, s[i]);
	}
	fputc(']', f);
}

void json_write_hex(FILE *f, const uint8_t *b, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

/* ---- reading ------------------------------------------------------------------ */

struct parser {
	const char *p, *end;
	char *why;
	size_t why_len;
};

__attribute__((format(printf, 2, 3)))
static int perr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->why, ps->why_len, fmt, ap);
	va_end(ap);
	return -1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = s[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* At a '"': the decoded string, malloc()ed (never longer than the source). */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
	ps->p++;
	const char *start = ps->p;
	char *buf = malloc((size_t)(ps->end - start) + 1);
	if (!buf)
		return perr(ps, "out of memory");
	size_t n = 0;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char ch = (unsigned char)*ps->p;
		if (ch < 0x20) {
			free(buf);
			return perr(ps, "a control character inside a string");
		}
		if (ch != '\\') {
			size_t l = cli_utf8_len((const unsigned char *)ps->p,
					    (size_t)(ps->end - ps->p));
			if (l == 0) {
				free(buf);
				return perr(ps, "a string that is not UTF-8");
			}
			memcpy(buf + n, ps->p, l);
			n += l;
			ps->p += l;
			continue;
		}
		if (++ps->p >= ps->end)
			break;
		char e = *ps->p++;
		const char *simple = strchr("\"\\/bfnrt", e);
		if (simple && e) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			buf[n++] = map[simple - "\"\\/bfnrt"];
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0) {
			free(buf);
			return perr(ps, "a bad escape in a string");
		}
		ps->p += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
			    hex4(ps->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
				free(buf);
				return perr(ps, "an unpaired surrogate in a string");
			}
			ps->p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		} else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
			free(buf);
			return perr(ps, "\\u%04x in a string", cp);
		}
		n += put_utf8(cp, buf + n);
	}
	if (ps->p >= ps->end) {
		free(buf);
		return perr(ps, "an unterminated string");
	}
	ps->p++;
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static void value_free(struct json_value *v)
{
	free(v->string);
	for (size_t i = 0; i < v->n_items; i++)
		value_free(&v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static int parse_scalar(struct parser *ps, struct json_value *v)
{
	memset(v, 0, sizeof(*v));
	skip_ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, "a value is missing");
	char ch = *ps->p;
	if (ch == '"') {
		v->type = JSON_STRING;
		return parse_string(ps, &v->string, &v->string_len);
	}
	static const struct {
		const char *word;
		enum json_type type;
		int b;
	} words[] = { { "true", JSON_BOOL, 1 }, { "false", JSON_BOOL, 0 }, { "null", JSON_NULL, 0 } };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t l = strlen(words[i].word);
		if ((size_t)(ps->end - ps->p) >= l && memcmp(ps->p, words[i].word, l) == 0) {
			ps->p += l;
			v->type = words[i].type;
			v->boolean = words[i].b;
			return 0;
		}
	}
	if (ch == '-' || (ch >= '0' && ch <= '9')) {
		int neg = ch == '-';
		if (neg)
			ps->p++;
		const char *d = ps->p;
		uint64_t u = 0;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
			if (u > (UINT64_MAX - 9) / 10)
				return perr(ps, "a number too large");
			u = u * 10 + (uint64_t)(*ps->p++ - '0');
		}
		size_t nd = (size_t)(ps->p - d);
		if (nd == 0 || (d[0] == '0' && nd > 1))
			return perr(ps, "a malformed number");
		if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
			return perr(ps, "a number that is not an integer");
		if (u > (uint64_t)INT64_MAX)
			return perr(ps, "a number too large");
		v->type = JSON_NUMBER;
		v->number = neg ? -(int64_t)u : (int64_t)u;
		return 0;
	}
	return perr(ps, "an unexpected character '%c'", ch);
}

static int parse_value(struct parser *ps, struct json_value *v)
{
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != '[')
		return parse_scalar(ps, v);
	memset(v, 0, sizeof(*v));
	v->type = JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return 0;
	}
	size_t cap = 0;
	for (;;) {
		if (v->n_items == cap) {
			cap = cap ? 2 * cap : 8;
			struct json_value *ni = realloc(v->items, cap * sizeof(*ni));
			if (!ni) {
				value_free(v);
				return perr(ps, "out of memory");
			}
			v->items = ni;
		}
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '[') {
			value_free(v);
			return perr(ps, "a nested array");
		}
		if (parse_scalar(ps, &v->items[v->n_items]) != 0) {
			value_free(v);
			return -1;
		}
		v->n_items++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		value_free(v);
		return perr(ps, "an array without its ']'");
	}
}

int json_parse_object(const char *text, size_t len, struct json_object *out, char *why,
		      size_t why_len)
{
	struct parser ps = { text, text + len, why, why_len };
	memset(out, 0, sizeof(*out));
	size_t cap = 0;
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return perr(&ps, "not a JSON object");
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == '}') {
		ps.p++;
		goto end;
	}
	for (;;) {
		skip_ws(&ps);
		if (ps.p >= ps.end || *ps.p != '"') {
			perr(&ps, "a member name is missing");
			goto fail;
		}
		char *key;
		size_t kl;
		if (parse_string(&ps, &key, &kl) != 0)
			goto fail;
		if (json_get(out, key)) {
			perr(&ps, "\"%s\" given twice", key);
			free(key);
			goto fail;
		}
		skip_ws(&ps);
		if (ps.p >= ps.end || *ps.p != ':') {
			free(key);
			perr(&ps, "a ':' is missing");
			goto fail;
		}
		ps.p++;
		if (out->n == cap) {
			cap = cap ? 2 * cap : 16;
			struct json_member *nm = realloc(out->members, cap * sizeof(*nm));
			if (!nm) {
				free(key);
				perr(&ps, "out of memory");
				goto fail;
			}
			out->members = nm;
		}
		struct json_member *m = &out->members[out->n];
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == '{') {
			free(key);
			perr(&ps, "a nested object");
			goto fail;
		}
		if (parse_value(&ps, &m->value) != 0) {
			free(key);
			goto fail;
		}
		m->key = key;
		out->n++;
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == ',') {
			ps.p++;
			continue;
		}
		if (ps.p < ps.end && *ps.p == '}') {
			ps.p++;
			break;
		}
		perr(&ps, "an object without its '}'");
		goto fail;
	}
end:
	skip_ws(&ps);
	if (ps.p != ps.end) {
		perr(&ps, "text after the object");
		goto fail;
	}
	return 0;
fail:
	json_object_free(out);
	return -1;
}

const struct json_value *json_get(const struct json_object *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->members[i].key, key) == 0)
			return &o->members[i].value;
	return NULL;
}

void json_object_free(struct json_object *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->members[i].key);
		value_free(&o->members[i].value);
	}
	free(o->members);
	memset(o, 0, sizeof(*o));
}

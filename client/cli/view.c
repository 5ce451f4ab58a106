/*
 * view.c - a result's fields described once, written as JSON (jansson) or
 * as text (view.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "utf8.h"
#include "vigil.h"

void view_init(struct view *v)
{
	memset(v, 0, sizeof(*v));
}

void view_free(struct view *v)
{
	for (size_t i = 0; i < v->n; i++) {
		struct view_field *f = &v->f[i];
		free(f->key);
		free(f->label);
		free(f->text);
		json_decref(f->value);
		if (f->sub) {
			view_free(f->sub);
			free(f->sub);
		}
	}
	free(v->f);
	memset(v, 0, sizeof(*v));
}

static char *dup_or_null(const char *s, int *nomem)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*nomem = 1;
	return d;
}

/* Appends a field; value's reference is taken (NULL with a key: out of
 * memory).  The new field, or NULL. */
static struct view_field *add(struct view *v, const char *key, const char *label, json_t *value)
{
	if (key && !value)
		v->nomem = 1;
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 16;
		struct view_field *f = realloc(v->f, cap * sizeof(*f));
		if (!f) {
			v->nomem = 1;
			json_decref(value);
			return NULL;
		}
		v->f = f;
		v->cap = cap;
	}
	struct view_field *f = &v->f[v->n++];
	memset(f, 0, sizeof(*f));
	f->key = dup_or_null(key, &v->nomem);
	f->label = dup_or_null(label, &v->nomem);
	f->value = value;
	return f;
}

json_t *view_jstring(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	/* Not valid UTF-8: each byte that starts no valid sequence becomes
	 * U+FFFD (3 bytes). */
	size_t len = strlen(s);
	char *out = malloc(3 * len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		size_t k = cli_utf8_len((const unsigned char *)s + i, len - i);
		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
	j = json_string(out);
	free(out);
	return j;
}

void view_str(struct view *v, const char *key, const char *label, const char *s)
{
	add(v, key, label, view_jstring(s && s[0] ? s : NULL));
}

void view_time(struct view *v, const char *key, const char *label, int64_t ms)
{
	char t[VIGIL_TIME_LEN];
	if (ms <= 0) {
		add(v, key, label, json_null());
		return;
	}
	vigil_format_time(ms, t, sizeof(t));
	add(v, key, label, json_string(t));
}

void view_uint(struct view *v, const char *key, const char *label, uint64_t n)
{
	add(v, key, label, json_integer((json_int_t)n));
}

void view_bool(struct view *v, const char *key, const char *label, int b)
{
	add(v, key, label, json_boolean(b));
}

void view_hex(struct view *v, const char *key, const char *label, const uint8_t *b, size_t n)
{
	if (!b) {
		add(v, key, label, json_null());
		return;
	}
	char *hex = malloc(2 * n + 1);
	if (!hex) {
		add(v, key, label, NULL);
		return;
	}
	vigil_hex_encode(b, n, hex);
	add(v, key, label, json_string(hex));
	free(hex);
}

void view_base64(struct view *v, const char *key, const uint8_t *b, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out) {
		add(v, key, NULL, NULL);
		return;
	}
	vigil_base64_encode(b, n, out);
	add(v, key, NULL, json_string(out));
	free(out);
}

void view_strs(struct view *v, const char *key, const char *label, const char *const *s,
	       size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, view_jstring(s[i])) != 0)
			v->nomem = 1;
	add(v, key, label, a);
}

void view_uints(struct view *v, const char *key, const char *label, const uint64_t *u, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer((json_int_t)u[i])) != 0)
			v->nomem = 1;
	add(v, key, label, a);
}

void view_json(struct view *v, const char *key, const char *label, json_t *value)
{
	add(v, key, label, value);
}

/* vsnprintf into a malloc()ed string; NULL when out of memory. */
__attribute__((format(printf, 1, 0)))
static char *vformat(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	char *s = n < 0 ? NULL : malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

void view_say(struct view *v, const char *fmt, ...)
{
	if (v->n == 0)
		return;
	struct view_field *f = &v->f[v->n - 1];
	va_list ap;
	va_start(ap, fmt);
	free(f->text);
	f->text = vformat(fmt, ap);
	va_end(ap);
	if (!f->text)
		v->nomem = 1;
}

void view_line(struct view *v, const char *label, const char *fmt, ...)
{
	struct view_field *f = add(v, NULL, label, NULL);
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	f->text = vformat(fmt, ap);
	va_end(ap);
	if (!f->text)
		v->nomem = 1;
}

struct view *view_sub(struct view *v, const char *key)
{
	struct view *sub = calloc(1, sizeof(*sub));
	if (!sub) {
		v->nomem = 1;
		return NULL;
	}
	struct view_field *f = add(v, NULL, NULL, NULL);
	if (!f) {
		free(sub);
		return NULL;
	}
	f->key = dup_or_null(key, &v->nomem);
	f->sub = sub;
	return sub;
}

static int incomplete(const struct view *v)
{
	if (v->nomem)
		return 1;
	for (size_t i = 0; i < v->n; i++)
		if (v->f[i].sub && incomplete(v->f[i].sub))
			return 1;
	return 0;
}

int view_complete(const struct view *v)
{
	return !incomplete(v);
}

json_t *view_object(const struct view *v)
{
	if (incomplete(v))
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct view_field *f = &v->f[i];
		if (!f->key)
			continue;
		json_t *val = f->sub ? view_object(f->sub) : json_incref(f->value);
		if (!val || json_object_set_new(o, f->key, val) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* Appends to a growing string; -1 when out of memory. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static int sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p)
			return -1;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
	return 0;
}

static int scalar_text(const json_t *j, struct sbuf *b)
{
	char num[32];
	switch (json_typeof(j)) {
	case JSON_STRING:
		return sb_add(b, json_string_value(j));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return sb_add(b, num);
	case JSON_REAL:
		snprintf(num, sizeof(num), "%g", json_real_value(j));
		return sb_add(b, num);
	case JSON_TRUE:
		return sb_add(b, "yes");
	case JSON_FALSE:
		return sb_add(b, "no");
	case JSON_NULL:
		return sb_add(b, "none");
	default:
		return sb_add(b, "...");
	}
}

char *view_text_of(const struct view_field *f, const char *sep)
{
	if (f->text)
		return strdup(f->text);
	struct sbuf b = { 0 };
	int rc = 0;
	if (!f->value) {
		rc = sb_add(&b, "");
	} else if (json_is_array(f->value)) {
		size_t i;
		json_t *item;
		json_array_foreach(f->value, i, item) {
			if ((i && sb_add(&b, sep) != 0) || scalar_text(item, &b) != 0)
				rc = -1;
		}
		if (json_array_size(f->value) == 0)
			rc = sb_add(&b, "none");
	} else {
		rc = scalar_text(f->value, &b);
	}
	if (rc != 0) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static size_t longest_label(const struct view *v)
{
	size_t w = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct view_field *f = &v->f[i];
		size_t l = f->sub ? longest_label(f->sub) : f->label ? strlen(f->label) : 0;
		w = l > w ? l : w;
	}
	return w;
}

static void block(const struct view *v, FILE *out, int width)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct view_field *f = &v->f[i];
		if (f->sub) {
			block(f->sub, out, width);
			continue;
		}
		if (!f->label)
			continue;
		char *t = view_text_of(f, ", ");
		int pad = width < 0 ? 1 : width - (int)strlen(f->label);
		if (f->label[0])
			fprintf(out, "%s:%*s%s\n", f->label, pad, "", t ? t : "?");
		else
			fprintf(out, "%s\n", t ? t : "?");
		free(t);
	}
}

void view_write_block(const struct view *v, FILE *f, int width)
{
	int w = (int)longest_label(v) + 1;
	block(v, f, width < 0 ? -1 : w > width ? w : width);
}

void view_write_inline(const struct view *v, FILE *out)
{
	for (size_t i = 0; i < v->n; i++) {
		const struct view_field *f = &v->f[i];
		if (f->sub) {
			view_write_inline(f->sub, out);
			continue;
		}
		/* In a line, a field without a value (null) is left out. */
		if (!f->label || (f->value && json_is_null(f->value) && !f->text))
			continue;
		char *t = view_text_of(f, ",");
		if (f->label[0])
			fprintf(out, " %s=%s", f->label, t ? t : "?");
		else
			fprintf(out, " %s", t ? t : "?");
		free(t);
	}
}

/* The labelled fields of a row, in order (a table ignores nested views). */
static char *cell(const struct view_field *f)
{
	if (f->value && json_is_null(f->value) && !f->text)
		return strdup("-");
	return view_text_of(f, ",");
}

void view_write_table(const struct view *rows, size_t n, FILE *out)
{
	if (n == 0)
		return;
	const struct view *first = &rows[0];
	size_t cols = 0;
	for (size_t i = 0; i < first->n; i++)
		cols += first->f[i].label != NULL && !first->f[i].sub;
	size_t *w = calloc(cols ? cols : 1, sizeof(*w));
	char **cells = calloc(n * (cols ? cols : 1), sizeof(*cells));
	if (!w || !cells) {
		free(w);
		free(cells);
		fputs("vigil: out of memory\n", stderr);
		return;
	}
	for (size_t r = 0; r < n; r++) {
		size_t c = 0;
		for (size_t i = 0; i < rows[r].n && c < cols; i++) {
			const struct view_field *f = &rows[r].f[i];
			if (!f->label || f->sub)
				continue;
			cells[r * cols + c] = cell(f);
			size_t l = cells[r * cols + c] ? strlen(cells[r * cols + c]) : 1;
			w[c] = l > w[c] ? l : w[c];
			c++;
		}
	}
	size_t c = 0;
	for (size_t i = 0; i < first->n; i++) {
		const struct view_field *f = &first->f[i];
		if (!f->label || f->sub)
			continue;
		size_t l = strlen(f->label);
		w[c] = l > w[c] ? l : w[c];
		for (size_t k = 0; k < l; k++)
			fputc(f->label[k] == ' ' ? '-' : toupper((unsigned char)f->label[k]), out);
		if (c + 1 < cols)
			fprintf(out, "%*s", (int)(w[c] - l + 2), "");
		c++;
	}
	fputc('\n', out);
	for (size_t r = 0; r < n; r++) {
		for (c = 0; c < cols; c++) {
			const char *t = cells[r * cols + c] ? cells[r * cols + c] : "?";
			if (c + 1 < cols)
				fprintf(out, "%-*s  ", (int)w[c], t);
			else
				fputs(t, out);
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < n * cols; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

int view_write_json(json_t *obj, FILE *f)
{
	if (!obj)
		return -1;
	char *s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return -1;
	fputs(s, f);
	fputc('\n', f);
	free(s);
	return 0;
}

int view_print(struct view *v, int json)
{
	return view_print_width(v, json, 0);
}

int view_print_width(struct view *v, int json, int width)
{
	int rc = 0;
	if (incomplete(v))
		rc = -1;
	else if (json)
		rc = view_write_json(view_object(v), stdout);
	else
		view_write_block(v, stdout, width);
	if (rc != 0)
		fputs("vigil: out of memory\n", stderr);
	view_free(v);
	return rc;
}

int view_print_list(struct view *rows, size_t n, const char *key, int json, const char *none)
{
	int rc = 0;
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++) {
			json_t *o = view_object(&rows[i]);
			if (!o || json_array_append_new(arr, o) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		rc = arr ? view_write_json(json_pack("{s:o}", key, arr), stdout) : -1;
	} else if (n == 0) {
		printf("%s\n", none);
	} else {
		for (size_t i = 0; i < n; i++)
			if (incomplete(&rows[i]))
				rc = -1;
		if (rc == 0)
			view_write_table(rows, n, stdout);
	}
	if (rc != 0)
		fputs("vigil: out of memory\n", stderr);
	for (size_t i = 0; i < n; i++)
		view_free(&rows[i]);
	return rc;
}

void view_write_summary(const struct view *v, FILE *out)
{
	int n = 0;
	for (size_t i = 0; i < v->n; i++) {
		const struct view_field *f = &v->f[i];
		if (!f->label || f->sub)
			continue;
		char *t = view_text_of(f, ", ");
		if (f->label[0])
			fprintf(out, "%s%s: %s", n ? "; " : "", f->label, t ? t : "?");
		else
			fprintf(out, "%s%s", n ? " " : "", t ? t : "?");
		free(t);
		n++;
	}
	fputc('\n', out);
}

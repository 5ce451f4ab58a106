/*
 * view.h - what a command prints, described once.
 *
 * A view is the ordered list of a result's fields.  Each field has a JSON
 * member name (key; NULL: the field is only in the text), a text label
 * (label; NULL: only in JSON), its value as a jansson value, and a text
 * form that is derived from the value unless the command says more
 * (view_say).  The same list gives every form, so they cannot drift apart:
 *
 *   - JSON (--json): one object, the keyed fields in order, on one line;
 *   - a block: one "label: text" line per labelled field, aligned;
 *   - a line: " label=text" per labelled field that has a value (null
 *     is left out), " text" for the label "" (vigil log's entries);
 *   - a summary line: "text text; label: text; label: text" (alerts);
 *   - a table: the labels in capitals as a header, a row per view.
 *
 * The text form of a value: a string as it is, null as "none", true and
 * false as "yes" and "no", a number in decimal, an array as its items
 * joined by ", " (in a line: ","), an empty array as "none".  Strings that
 * are not valid UTF-8 are stored with each bad byte replaced by U+FFFD, so
 * the JSON written is always valid.
 *
 * Out of memory while a view is built is remembered and reported once by
 * view_print (or view_object returning NULL).
 */
#ifndef VIGIL_CLI_VIEW_H
#define VIGIL_CLI_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct view;

struct view_field {
	char *key;           /* JSON member name, or NULL */
	char *label;         /* text label, or NULL */
	json_t *value;       /* NULL for a text-only field */
	char *text;          /* the text form, or NULL: derived from value */
	struct view *sub;    /* a nested view (JSON object under key), or NULL */
};

struct view {
	struct view_field *f;
	size_t n, cap;
	int nomem;
};

void view_init(struct view *v);
void view_free(struct view *v);

/* A string; NULL or "" is null. */
void view_str(struct view *v, const char *key, const char *label, const char *s);
/* A time in ms since the epoch as RFC 3339 UTC; ms <= 0 is null. */
void view_time(struct view *v, const char *key, const char *label, int64_t ms);
void view_uint(struct view *v, const char *key, const char *label, uint64_t n);
void view_bool(struct view *v, const char *key, const char *label, int b);
/* n bytes in lower-case hex; b NULL is null. */
void view_hex(struct view *v, const char *key, const char *label, const uint8_t *b, size_t n);
/* n bytes in base64 (JSON only). */
void view_base64(struct view *v, const char *key, const uint8_t *b, size_t n);
void view_strs(struct view *v, const char *key, const char *label, const char *const *s,
	       size_t n);
void view_uints(struct view *v, const char *key, const char *label, const uint64_t *u,
		size_t n);
/* Any jansson value (the reference is taken); NULL means out of memory. */
void view_json(struct view *v, const char *key, const char *label, json_t *value);
/* The text form of the field added last, instead of the derived one. */
void view_say(struct view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A field only in the text. */
void view_line(struct view *v, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A nested view: a JSON object under key; in a line its fields follow the
 * parent's, in a block they are lines of their own.  NULL when out of
 * memory (then every call on it is safe to skip: the parent remembers). */
struct view *view_sub(struct view *v, const char *key);

/* 1 when every field of the view (nested ones too) was built, 0 when
 * memory ran out on the way. */
int view_complete(const struct view *v);
/* The JSON object of the keyed fields (a new reference), NULL when out of
 * memory. */
json_t *view_object(const struct view *v);
/* A field's text form, malloc()ed; sep joins an array's items. */
char *view_text_of(const struct view_field *f, const char *sep);

/* "label: text" lines, the texts aligned after the longest label (the
 * label and its padding at least width columns); width -1: one space
 * after each label, no alignment. */
void view_write_block(const struct view *v, FILE *f, int width);
/* " label=text" for each labelled field that is not null, " text" for
 * the label "", nested views included. */
void view_write_inline(const struct view *v, FILE *f);
/* One line: the fields labelled "" first, separated by spaces, then
 * "; label: text" for each other labelled field (vigil alerts). */
void view_write_summary(const struct view *v, FILE *f);
/* A table of views with the same labelled fields: the labels in capitals
 * (spaces as '-') as the header, null as "-". */
void view_write_table(const struct view *rows, size_t n, FILE *f);

/* Writes obj (the reference is taken) as one JSON line to f; -1 when out
 * of memory or obj is NULL. */
int view_write_json(json_t *obj, FILE *f);
/* The view as JSON (one line) or a block on stdout; frees it.  0, or -1
 * after printing "vigil: out of memory" when the view is incomplete. */
int view_print(struct view *v, int json);
/* The same with the block's width (view_write_block). */
int view_print_width(struct view *v, int json, int width);

/* A list: with json one object {"KEY":[...]}, else a table of the rows, or
 * the line none when there are no rows; frees the rows (not the array).
 * 0, or -1 after printing "vigil: out of memory". */
int view_print_list(struct view *rows, size_t n, const char *key, int json, const char *none);

/* A jansson string of s (NULL: null), bad UTF-8 bytes replaced. */
json_t *view_jstring(const char *s);

#endif

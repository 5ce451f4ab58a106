/*
 * db_pg.c - db.h on PostgreSQL, over libpq.
 *
 * A statement is prepared on the server at its first step, with the
 * parameter types it was bound with (int8, text, bytea; NULL leaves the
 * type to the server), and prepared again under a new name if a later step
 * binds a different type.  Parameters travel in binary; results come back
 * as text, the whole result at once, and the steps walk its rows: so that
 * a module may step one statement while it runs others on the same
 * connection, as it does on SQLite.
 */
#include "daemon/db_pg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "proto/record.h"
#include "proto/status.h"

/* Type OIDs, from PostgreSQL's catalogue (pg_type.dat): fixed. */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_NUMERIC 1700

struct dbpg_param {
	Oid type;             /* 0 for NULL */
	const char *value;    /* NULL for NULL */
	int length;
	char *owned;          /* a copy, when bound with _copy or as text of a length */
	unsigned char int8[8];
};

struct dbpg_column {
	uint8_t *blob;        /* a bytea column's bytes, decoded once per row */
	size_t len;
	int row;              /* the row they belong to; -1: none */
};

struct dbpg_stmt {
	struct dbpg *pg;
	char *sql;                   /* with $N parameters */
	int n_params;
	struct dbpg_param *params;
	Oid *prepared_types;         /* the types it was prepared with */
	char name[32];
	int prepared;
	PGresult *res;
	int row;
	int n_rows;
	struct dbpg_column *cols;
	int n_cols;
	int last_rc;
	int deferred;                /* the server could not infer the types */
};

struct dbpg {
	PGconn *conn;
	unsigned long next_name;
	int errcode;
	char errmsg[512];
};

static int fail(struct dbpg *pg, int code, const char *what)
{
	pg->errcode = code;
	snprintf(pg->errmsg, sizeof(pg->errmsg), "%s", what);
	/* libpq's messages end with a newline. */
	size_t n = strlen(pg->errmsg);
	while (n && (pg->errmsg[n - 1] == '\n' || pg->errmsg[n - 1] == ' '))
		pg->errmsg[--n] = '\0';
	return code;
}

int dbpg_code(const char *sqlstate, int connection_ok)
{
	if (!connection_ok)
		return DB_IOERR;
	if (!sqlstate || strlen(sqlstate) != 5)
		return DB_ERROR;
	if (strncmp(sqlstate, "23", 2) == 0)
		return DB_CONSTRAINT;
	if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0 ||
	    strcmp(sqlstate, "55P03") == 0)
		return DB_BUSY;
	if (strcmp(sqlstate, "53100") == 0)
		return DB_FULL;
	if (strcmp(sqlstate, "53200") == 0)
		return DB_NOMEM;
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
	    strcmp(sqlstate, "58030") == 0)
		return DB_IOERR;
	if (strncmp(sqlstate, "XX00", 4) == 0 && sqlstate[4] != '0')
		return DB_CORRUPT;
	if (strcmp(sqlstate, "25006") == 0)
		return DB_READONLY;
	if (strcmp(sqlstate, "54000") == 0 || strcmp(sqlstate, "54001") == 0)
		return DB_TOOBIG;
	return DB_ERROR;
}

/* The code and message of a result that is not what was wanted. */
static int fail_result(struct dbpg *pg, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int code = dbpg_code(state, PQstatus(pg->conn) == CONNECTION_OK);
	const char *msg = res ? PQresultErrorMessage(res) : "";
	if (!msg || !*msg)
		msg = PQerrorMessage(pg->conn);
	return fail(pg, code, msg && *msg ? msg : "PostgreSQL gave no answer");
}

static void ok(struct dbpg *pg)
{
	pg->errcode = DB_OK;
}

int dbpg_connect(const char *dsn, struct dbpg **out, char *err, size_t err_len)
{
	*out = NULL;
	struct dbpg *pg = calloc(1, sizeof(*pg));
	if (!pg) {
		snprintf(err, err_len, "out of memory");
		return DB_NOMEM;
	}
	pg->conn = PQconnectdb(dsn);
	if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
		const char *why = pg->conn ? PQerrorMessage(pg->conn) : "out of memory";
		snprintf(err, err_len, "PostgreSQL: %s", why);
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = '\0';
		PQfinish(pg->conn);
		free(pg);
		return DB_CANTOPEN;
	}
	/* Blobs come back as hex (db_column_blob decodes it), text as UTF-8,
	 * whatever the server's defaults. */
	if (dbpg_exec(pg, "SET bytea_output = 'hex'; SET client_encoding = 'UTF8';"
			  "SET client_min_messages = 'warning'") != DB_OK) {
		snprintf(err, err_len, "PostgreSQL: %s", pg->errmsg);
		dbpg_close(pg);
		return DB_CANTOPEN;
	}
	*out = pg;
	return DB_OK;
}

void dbpg_close(struct dbpg *pg)
{
	if (!pg)
		return;
	PQfinish(pg->conn);
	free(pg);
}

/*
 * `?` and `?N` become `$N`, outside quoted text, quoted names and comments.
 * The number of parameters is the highest N.  NULL when out of memory.
 */
char *dbpg_translate(const char *sql, int *n_params)
{
	size_t len = strlen(sql);
	/* "?" becomes at most "$NNNNN": six bytes for one. */
	char *out = malloc(len * 6 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	int next = 0, max = 0;
	for (size_t i = 0; i < len;) {
		char c = sql[i];
		if (c == '\'' || c == '"') {
			size_t j = i + 1;
			while (j < len && !(sql[j] == c && (j + 1 >= len || sql[j + 1] != c)))
				j += sql[j] == c ? 2 : 1;
			j = j < len ? j + 1 : len;
			memcpy(out + o, sql + i, j - i);
			o += j - i;
			i = j;
		} else if (c == '-' && i + 1 < len && sql[i + 1] == '-') {
			while (i < len && sql[i] != '\n')
				out[o++] = sql[i++];
		} else if (c == '?') {
			int n;
			i++;
			if (i < len && isdigit((unsigned char)sql[i])) {
				n = 0;
				while (i < len && isdigit((unsigned char)sql[i]) && n < 100000)
					n = n * 10 + (sql[i++] - '0');
			} else {
				n = ++next;
			}
			if (n > next)
				next = n;
			if (n > max)
				max = n;
			o += (size_t)sprintf(out + o, "$%d", n);
		} else {
			out[o++] = sql[i++];
		}
	}
	out[o] = '\0';
	*n_params = max;
	return out;
}

static int prepare_now(struct dbpg_stmt *st);

int dbpg_prepare(struct dbpg *pg, const char *sql, struct dbpg_stmt **out)
{
	*out = NULL;
	struct dbpg_stmt *st = calloc(1, sizeof(*st));
	if (!st)
		return fail(pg, DB_NOMEM, "out of memory");
	st->pg = pg;
	st->sql = dbpg_translate(sql, &st->n_params);
	if (!st->sql || (st->n_params &&
			 (!(st->params = calloc((size_t)st->n_params, sizeof(*st->params))) ||
			  !(st->prepared_types = calloc((size_t)st->n_params, sizeof(Oid)))))) {
		dbpg_finalize(st);
		return fail(pg, DB_NOMEM, "out of memory");
	}
	st->row = -1;
	/* Prepared now with the types the server infers, so that a statement
	 * that cannot work fails here, when its module opens, as on SQLite;
	 * one whose types the server cannot tell waits for its first step. */
	int rc = prepare_now(st);
	if (rc != DB_OK && !st->deferred) {
		dbpg_finalize(st);
		return rc;
	}
	*out = st;
	ok(pg);
	return DB_OK;
}

static void unbind(struct dbpg_param *p)
{
	free(p->owned);
	memset(p, 0, sizeof(*p));
}

static void forget_result(struct dbpg_stmt *st)
{
	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	st->n_rows = 0;
	for (int i = 0; i < st->n_cols; i++) {
		free(st->cols[i].blob);
		st->cols[i].blob = NULL;
		st->cols[i].row = -1;
	}
}

void dbpg_finalize(struct dbpg_stmt *st)
{
	if (!st)
		return;
	forget_result(st);
	if (st->prepared && PQstatus(st->pg->conn) == CONNECTION_OK) {
		char sql[64];
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
		PQclear(PQexec(st->pg->conn, sql));
	}
	for (int i = 0; i < st->n_params; i++)
		unbind(&st->params[i]);
	free(st->params);
	free(st->prepared_types);
	free(st->cols);
	free(st->sql);
	free(st);
}

static struct dbpg_param *param(struct dbpg_stmt *st, int i)
{
	if (i < 1 || i > st->n_params) {
		fail(st->pg, DB_ERROR, "parameter index out of range");
		return NULL;
	}
	unbind(&st->params[i - 1]);
	return &st->params[i - 1];
}

int dbpg_bind_int64(struct dbpg_stmt *st, int i, int64_t v)
{
	struct dbpg_param *p = param(st, i);
	if (!p)
		return DB_ERROR;
	uint64_t u = (uint64_t)v;
	for (int k = 7; k >= 0; k--, u >>= 8)
		p->int8[k] = (unsigned char)(u & 0xff);
	p->type = OID_INT8;
	p->value = (const char *)p->int8;
	p->length = 8;
	return DB_OK;
}

int dbpg_bind_null(struct dbpg_stmt *st, int i)
{
	return param(st, i) ? DB_OK : DB_ERROR;
}

static int bind_bytes(struct dbpg_stmt *st, int i, Oid type, const void *v, size_t len, int copy)
{
	struct dbpg_param *p = param(st, i);
	if (!p)
		return DB_ERROR;
	if (!v)
		return DB_OK;
	if (len > 0x7fffffff)
		return fail(st->pg, DB_TOOBIG, "a parameter is too long");
	if (copy) {
		if (!(p->owned = malloc(len ? len : 1)))
			return fail(st->pg, DB_NOMEM, "out of memory");
		memcpy(p->owned, v, len);
		v = p->owned;
	}
	p->type = type;
	p->value = v;
	p->length = (int)len;
	return DB_OK;
}

int dbpg_bind_text(struct dbpg_stmt *st, int i, const char *s, int len, int copy)
{
	return bind_bytes(st, i, OID_TEXT, s, s && len < 0 ? strlen(s) : (size_t)len, copy);
}

int dbpg_bind_blob(struct dbpg_stmt *st, int i, const void *p, size_t len, int copy)
{
	return bind_bytes(st, i, OID_BYTEA, p, len, copy);
}

int dbpg_clear_bindings(struct dbpg_stmt *st)
{
	for (int i = 0; i < st->n_params; i++)
		unbind(&st->params[i]);
	return DB_OK;
}

/* Prepared with types that fit the current bindings: a NULL fits any. */
static int types_fit(const struct dbpg_stmt *st)
{
	for (int i = 0; i < st->n_params; i++)
		if (st->params[i].value && st->params[i].type != st->prepared_types[i])
			return 0;
	return 1;
}

static int prepare_now(struct dbpg_stmt *st)
{
	struct dbpg *pg = st->pg;
	if (st->prepared) {
		char sql[64];
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", st->name);
		PQclear(PQexec(pg->conn, sql));
		st->prepared = 0;
	}
	for (int i = 0; i < st->n_params; i++)
		st->prepared_types[i] = st->params[i].type;
	snprintf(st->name, sizeof(st->name), "v%lu", ++pg->next_name);
	PGresult *r = PQprepare(pg->conn, st->name, st->sql, st->n_params, st->prepared_types);
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		/* indeterminate_datatype, ambiguous_parameter: left for the first
		 * step's bindings to tell */
		st->deferred = state && (strcmp(state, "42P18") == 0 || strcmp(state, "42P08") == 0);
		int rc = fail_result(pg, r);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	st->deferred = 0;
	st->prepared = 1;
	/* The types the server settled on, where it inferred them. */
	int infer = 0;
	for (int i = 0; i < st->n_params; i++)
		infer |= st->prepared_types[i] == 0;
	if (infer) {
		r = PQdescribePrepared(pg->conn, st->name);
		if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
			int rc = fail_result(pg, r);
			PQclear(r);
			return rc;
		}
		for (int i = 0; i < st->n_params && i < PQnparams(r); i++)
			st->prepared_types[i] = PQparamtype(r, i);
		PQclear(r);
	}
	return DB_OK;
}

static int run(struct dbpg_stmt *st)
{
	struct dbpg *pg = st->pg;
	if (!st->prepared || !types_fit(st)) {
		int rc = prepare_now(st);
		if (rc != DB_OK)
			return rc;
	}
	const char **values = NULL;
	int *lengths = NULL, *formats = NULL;
	if (st->n_params) {
		values = calloc((size_t)st->n_params, sizeof(*values));
		lengths = calloc((size_t)st->n_params, sizeof(*lengths));
		formats = calloc((size_t)st->n_params, sizeof(*formats));
		if (!values || !lengths || !formats) {
			free(values);
			free(lengths);
			free(formats);
			return fail(pg, DB_NOMEM, "out of memory");
		}
		for (int i = 0; i < st->n_params; i++) {
			values[i] = st->params[i].value;
			lengths[i] = st->params[i].length;
			formats[i] = 1;
		}
	}
	st->res = PQexecPrepared(pg->conn, st->name, st->n_params, values, lengths, formats, 0);
	free(values);
	free(lengths);
	free(formats);
	ExecStatusType s = st->res ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		int rc = fail_result(pg, st->res);
		PQclear(st->res);
		st->res = NULL;
		return rc;
	}
	st->n_rows = PQntuples(st->res);
	int n_cols = PQnfields(st->res);
	if (n_cols > st->n_cols) {
		struct dbpg_column *c = realloc(st->cols, (size_t)n_cols * sizeof(*c));
		if (!c)
			return fail(pg, DB_NOMEM, "out of memory");
		for (int i = st->n_cols; i < n_cols; i++)
			c[i] = (struct dbpg_column){ .row = -1 };
		st->cols = c;
		st->n_cols = n_cols;
	}
	st->row = -1;
	return DB_OK;
}

int dbpg_step(struct dbpg_stmt *st)
{
	if (!st->res) {
		int rc = run(st);
		if (rc != DB_OK)
			return st->last_rc = rc;
	}
	ok(st->pg);
	if (st->row + 1 < st->n_rows) {
		st->row++;
		return st->last_rc = DB_ROW;
	}
	st->row = st->n_rows;
	return st->last_rc = DB_DONE;
}

int dbpg_reset(struct dbpg_stmt *st)
{
	forget_result(st);
	int rc = st->last_rc;
	st->last_rc = DB_OK;
	return rc == DB_ROW || rc == DB_DONE ? DB_OK : rc;
}

static int has_value(struct dbpg_stmt *st, int i)
{
	return st->res && st->row >= 0 && st->row < st->n_rows && i >= 0 && i < st->n_cols &&
	       !PQgetisnull(st->res, st->row, i);
}

int dbpg_column_type(struct dbpg_stmt *st, int i)
{
	if (!has_value(st, i))
		return DB_NULL;
	switch (PQftype(st->res, i)) {
	case OID_BOOL:
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_NUMERIC:
		return DB_INTEGER;
	case OID_BYTEA:
		return DB_BLOB;
	default:
		return DB_TEXT;
	}
}

int64_t dbpg_column_int64(struct dbpg_stmt *st, int i)
{
	if (!has_value(st, i))
		return 0;
	const char *v = PQgetvalue(st->res, st->row, i);
	if (PQftype(st->res, i) == OID_BOOL)
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

/* A bytea column of the current row, decoded from its hex text once. */
static struct dbpg_column *blob_column(struct dbpg_stmt *st, int i)
{
	if (!has_value(st, i) || PQftype(st->res, i) != OID_BYTEA)
		return NULL;
	struct dbpg_column *c = &st->cols[i];
	if (c->row == st->row)
		return c;
	free(c->blob);
	c->blob = NULL;
	c->len = 0;
	const char *v = PQgetvalue(st->res, st->row, i);
	size_t n = (size_t)PQgetlength(st->res, st->row, i);
	if (n < 2 || v[0] != '\\' || v[1] != 'x' || n % 2)
		return NULL;  /* bytea_output = hex is set on every connection */
	size_t len = (n - 2) / 2;
	if (!(c->blob = malloc(len ? len : 1)))
		return NULL;
	if (hex_decode(v + 2, c->blob, len) != VG_OK) {
		free(c->blob);
		c->blob = NULL;
		return NULL;
	}
	c->len = len;
	c->row = st->row;
	return c;
}

const void *dbpg_column_blob(struct dbpg_stmt *st, int i)
{
	if (has_value(st, i) && PQftype(st->res, i) != OID_BYTEA)
		return PQgetvalue(st->res, st->row, i);
	struct dbpg_column *c = blob_column(st, i);
	return c && c->len ? c->blob : NULL;
}

const char *dbpg_column_text(struct dbpg_stmt *st, int i)
{
	if (!has_value(st, i) || PQftype(st->res, i) == OID_BYTEA)
		return NULL;
	return PQgetvalue(st->res, st->row, i);
}

int dbpg_column_bytes(struct dbpg_stmt *st, int i)
{
	if (!has_value(st, i))
		return 0;
	if (PQftype(st->res, i) != OID_BYTEA)
		return PQgetlength(st->res, st->row, i);
	struct dbpg_column *c = blob_column(st, i);
	return c ? (int)c->len : 0;
}

int dbpg_exec(struct dbpg *pg, const char *sql)
{
	PGresult *r = PQexec(pg->conn, sql);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		int rc = fail_result(pg, r);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	ok(pg);
	return DB_OK;
}

const char *dbpg_errmsg(struct dbpg *pg)
{
	return pg->errcode ? pg->errmsg : "not an error";
}

int dbpg_errcode(struct dbpg *pg)
{
	return pg->errcode;
}

int dbpg_in_transaction(struct dbpg *pg)
{
	PGTransactionStatusType t = PQtransactionStatus(pg->conn);
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

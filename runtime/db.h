/*
 * db: the sqlite database in <data_dir>/kiln.db.
 *
 * Owns opening (WAL, busy_timeout, foreign keys), the numbered migrations
 * from schema/ (embedded at build time, applied in one transaction at start),
 * and one connection per thread: db_conn() opens the calling thread's
 * connection on first use and db_close() closes them all.  Callers use the
 * sqlite3 API on that connection with bound parameters only.
 */
#ifndef KILN_DB_H
#define KILN_DB_H

#include <stdint.h>

#include <sqlite3.h>

#include <cjson/cJSON.h>

#include "runtime/embed.h"
#include "runtime/kiln_err.h"

struct db;

/* Opens (creating if needed) the database file; caller frees with db_close(). */
int db_open(const char *path, struct db **out, struct kiln_err *err);

/* Applies the migrations in `migs` (paths like "schema/001_init.sql", in
 * order) that the database has not seen, in one transaction.  A database
 * whose recorded version is newer than the newest migration is refused. */
int db_migrate(struct db *db, const struct embed_file *migs, struct kiln_err *err);

/* The schema version recorded in the database (0 when empty). */
int db_version(struct db *db, int *version, struct kiln_err *err);

/* The calling thread's connection, opened on first use; NULL when it cannot
 * be opened (logged).  Owned by db; valid until db_close(). */
sqlite3 *db_conn(struct db *db);

/* A number no other db_open() of this process returns: caches keyed by
 * database use it, because a freed db's address may come back. */
unsigned long db_serial(const struct db *db);

/* The calling thread's prepared statement for sql, prepared on its first
 * use on this thread and kept until db_close(); reset, ready to bind.  sql
 * must be a string that lives as long as db (a literal): the cache is keyed
 * by its address.  Owned by db: never finalize it; end every use with
 * db_stmt_done(), which resets it so no read transaction stays open.  One
 * use of a given sql at a time per thread (no nesting of the same query).
 * NULL when it cannot be prepared: sqlite3_errmsg(db_conn(db)) says why. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);
/* Resets st and clears its bindings.  Accepts NULL. */
void db_stmt_done(sqlite3_stmt *st);

/* A count that moves with every commit that changed a row of assignments,
 * bundles or devices (any connection of this db, counted after the commit
 * is visible; one step per table the commit changed), into *count.  A
 * cache takes it before its query and keeps it with the answer; the answer
 * is current while the count is unchanged.  -1 when changes cannot be
 * counted (a connection outside WAL mode): do not cache then. */
int db_changes(struct db *db, unsigned long *count);

/* What a piece of work read, for caches of its result.  db_reads_begin()
 * takes every table's commit count and starts noting the tables the calling
 * thread's statements read (all of them: db_stmt's and those prepared
 * directly on db_conn); db_reads_end() gives the stamp: the tables read and
 * their counts as they were at the begin.  The result is current while
 * db_stamp_current() says so: no commit has changed any of those tables
 * since.  Work that read no table gets a stamp that stays current.
 * db_reads_begin returns -1 when changes cannot be counted (as db_changes),
 * or when the thread's connection is inside a transaction or has a
 * statement mid-step (its snapshot predates the counts): do not cache then.
 * One bracket at a time per thread. */
#define DB_TABLE_SLOTS 32
struct db_reads {
	unsigned long before[DB_TABLE_SLOTS];
};
struct db_stamp {
	uint32_t tables;                /* slots of the tables read */
	unsigned long changes;          /* their commit counts, summed, at the begin */
};
int db_reads_begin(struct db *db, struct db_reads *r);
void db_reads_end(struct db *db, const struct db_reads *r, struct db_stamp *out);
/* 1 while no commit changed a table s was read from; else 0. */
int db_stamp_current(struct db *db, const struct db_stamp *s);

/* Closes every thread's connection. No thread may use db afterwards.
 * Accepts NULL. */
void db_close(struct db *db);

/* A store's database failure as a kiln_err, "what: <sqlite's message>":
 * KILN_EUNAVAIL (503, "try again") when sqlite gave up waiting for another
 * writer (SQLITE_BUSY or SQLITE_LOCKED), KILN_EIO otherwise and when c is
 * NULL (no connection).  Returns the code. */
int db_err(sqlite3 *c, struct kiln_err *err, const char *what);

/* One page of a list, for the stores: steps st (first column the row id,
 * bound with LIMIT limit + 1 so one more row tells a next page exists) and
 * returns {"items": [row(ctx, st)...], "next": <last id> | null};
 * finalizes st. */
typedef cJSON *(*db_row_fn)(void *ctx, sqlite3_stmt *st);
cJSON *db_page(sqlite3_stmt *st, int limit, db_row_fn row, void *ctx);

/* A whole page of a list without filters: sql's ?1 is bound to after and
 * ?2 to limit + 1 (so: "... WHERE id > ?1 ORDER BY id LIMIT ?2"), then
 * db_page.  A database failure is db_err(what). */
int db_list(struct db *db, const char *sql, long long after, int limit, db_row_fn row,
	    void *ctx, const char *what, cJSON **json, struct kiln_err *err);

/* One record by id, for the stores: prepares sql (one parameter, bound to
 * id) and, on a row, *json = row(ctx, st).  No row is KILN_ENOTFOUND on
 * field "id", "no <noun> with id N"; a database failure db_err(what). */
int db_get(struct db *db, const char *sql, long long id, db_row_fn row, void *ctx,
	   const char *noun, const char *what, cJSON **json, struct kiln_err *err);

/* A row id given as text (a job spec's "model", "dataset"): 0 and *id, or
 * -1 when text is not a positive decimal of at most 18 digits. */
int db_parse_id(const char *text, long long *id);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (>= 32 bytes). */
void db_now(char *buf, size_t cap);

#endif

/*
 * db: opening kiln.db, applying migrations, and per-thread connections.
 *
 * sqlite connections must not be shared between threads without a mutex, and
 * a mutex around one connection would serialise every request.  So each
 * thread that touches the database gets its own connection, opened lazily
 * and registered here so db_close() can close them all at shutdown.  All
 * connections use WAL (readers never block the writer), a busy_timeout (a
 * writer waits for another instead of failing) and foreign keys.
 *
 * Each connection also keeps the statements its thread prepared with
 * db_stmt(): parsing and planning a query costs more than running it on
 * kiln.db's small indexed tables (a profile of an authenticated GET put 30 %
 * of its time in sqlite3_prepare_v2), so the hot paths prepare once per
 * thread and reuse.
 *
 * Change counting, for caches that answer without a read.  Each table gets
 * a slot (DB_TABLE_SLOTS of them, assigned by name as tables are first
 * seen) and a commit counter.  An update hook marks the slots a connection's
 * open transaction changed; the WAL hook, which sqlite calls after the
 * commit is visible to every other connection, bumps their counters; a
 * rollback clears the marks.  Because the bump follows the commit, a reader
 * that takes the counters before its query and keeps them with what it read
 * can never keep a pre-commit answer under the new count.  Every write goes
 * through some thread's connection here, so no store has to remember to
 * bump (cascaded deletes included: sqlite runs them as row deletes, and no
 * store deletes a whole table without WHERE, the one case sqlite's update
 * hook skips).  Writes by another process are not seen, which is why every
 * cache built on this also bounds its age.
 *
 * Which tables a reader depended on is recorded, not declared: an
 * authorizer, which sqlite calls while it compiles a statement, notes each
 * table the statement reads, and db_stmt() keeps that set with the
 * statements it caches.  db_reads_begin/db_reads_end bracket a piece of
 * work; the stamp they give says "these tables, at these counts".  The
 * device poll (db_changes) and the HTTP layer's answer cache use them.
 */
#include "runtime/db.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a writer waits for the lock before SQLITE_BUSY.  Long enough to
 * ride out a burst of job updates, short enough that a stuck writer shows
 * up as an error instead of a hung request. */
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_MAX_CONNS 256

/* One thread's connection and the statements it keeps (db_stmt). */
struct db_thread {
	sqlite3 *c;
	struct {
		const char *sql;        /* the caller's string: compared by address */
		sqlite3_stmt *st;
		uint32_t reads;         /* slots of the tables it reads */
	} *stmts;
	int n_stmts, cap_stmts;
	struct db *db;
	uint32_t dirty;                 /* slots changed in the open transaction */
	uint32_t reads;                 /* slots read since db_reads_begin() */
};

/* The tables the device poll's answer is read from (deploy/devices.c's
 * devices_pull): a committed change to any of them bumps db_changes(). */
static const char *const POLL_TABLES[] = {"assignments", "bundles", "devices", NULL};

/* sqlite's own default WAL hook checkpoints at 1000 frames (PRAGMA
 * wal_autocheckpoint's default); installing a hook replaces it, so
 * on_wal does the same. */
#define DB_AUTOCHECKPOINT_FRAMES 1000

struct db {
	unsigned long serial;           /* db_serial() */
	char *path;
	pthread_key_t key;
	pthread_mutex_t lock;           /* guards conns/n_conns */
	struct db_thread *conns[DB_MAX_CONNS];
	int n_conns;
	int untracked;                  /* atomic: a connection is not in WAL mode */
	/* Table slots: names[i] is set (under lock) before n_tables counts it
	 * (release), so a reader that loads n_tables may read names below it
	 * without the lock.  The last slot is shared by every table past the
	 * others: a change there stales what read any of them. */
	char *names[DB_TABLE_SLOTS];
	int n_tables;                   /* atomic */
	unsigned long changes[DB_TABLE_SLOTS]; /* atomic: commits per slot */
	uint32_t poll_slots;            /* atomic: POLL_TABLES' slots, 0 until known */
};

/* The slot of table name (made on first sight), or -1 for sqlite's own
 * tables (sqlite_schema changes only when kilnd migrates, before any
 * cache; sqlite_sequence only with the table it numbers). */
static int table_slot(struct db *db, const char *name)
{
	if (strncmp(name, "sqlite_", 7) == 0)
		return -1;
	int n = __atomic_load_n(&db->n_tables, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		if (strcmp(db->names[i], name) == 0)
			return i;
	pthread_mutex_lock(&db->lock);
	int slot = -1;
	n = db->n_tables;
	for (int i = 0; i < n && slot < 0; i++)
		if (strcmp(db->names[i], name) == 0)
			slot = i;
	if (slot < 0 && n < DB_TABLE_SLOTS - 1 && (db->names[n] = strdup(name)) != NULL) {
		slot = n;
		__atomic_store_n(&db->n_tables, n + 1, __ATOMIC_RELEASE);
	}
	if (slot < 0)
		slot = DB_TABLE_SLOTS - 1;
	pthread_mutex_unlock(&db->lock);
	return slot;
}

static uint32_t slot_bit(struct db *db, const char *name)
{
	int slot = table_slot(db, name);
	return slot < 0 ? 0 : (uint32_t)1 << slot;
}

static void on_update(void *arg, int op, const char *dbname, const char *table, sqlite3_int64 row)
{
	(void)op, (void)dbname, (void)row;
	struct db_thread *t = arg;
	t->dirty |= slot_bit(t->db, table);
}

/* sqlite's authorizer, called while a statement compiles: notes the tables
 * it reads.  It allows everything; it only watches. */
static int on_authorize(void *arg, int action, const char *a, const char *b,
			const char *dbname, const char *trigger)
{
	(void)b, (void)dbname, (void)trigger;
	struct db_thread *t = arg;
	if (action == SQLITE_READ && a != NULL)
		t->reads |= slot_bit(t->db, a);
	return SQLITE_OK;
}

static void on_rollback(void *arg)
{
	((struct db_thread *)arg)->dirty = 0;
}

static int on_wal(void *arg, sqlite3 *c, const char *dbname, int frames)
{
	struct db_thread *t = arg;
	for (uint32_t d = t->dirty; d != 0; d &= d - 1)
		__atomic_add_fetch(&t->db->changes[__builtin_ctz(d)], 1, __ATOMIC_ACQ_REL);
	t->dirty = 0;
	if (frames >= DB_AUTOCHECKPOINT_FRAMES)
		sqlite3_wal_checkpoint_v2(c, dbname, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static struct db_thread *thread_conn(struct db *db);

/* Hooks t's new connection for db_changes().  Outside WAL mode the WAL
 * hook never runs, so the counter would lie: db_changes() then says so. */
static void track(struct db *db, struct db_thread *t)
{
	t->db = db;
	sqlite3_stmt *st = NULL;
	int wal = sqlite3_prepare_v2(t->c, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
		  sqlite3_step(st) == SQLITE_ROW &&
		  strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal)
		__atomic_store_n(&db->untracked, 1, __ATOMIC_RELEASE);
	sqlite3_update_hook(t->c, on_update, t);
	sqlite3_rollback_hook(t->c, on_rollback, t);
	sqlite3_wal_hook(t->c, on_wal, t);
	sqlite3_set_authorizer(t->c, on_authorize, t);
}

static unsigned long sum_changes(struct db *db, uint32_t slots)
{
	unsigned long sum = 0;
	for (; slots != 0; slots &= slots - 1)
		sum += __atomic_load_n(&db->changes[__builtin_ctz(slots)], __ATOMIC_ACQUIRE);
	return sum;
}

int db_changes(struct db *db, unsigned long *count)
{
	uint32_t slots = __atomic_load_n(&db->poll_slots, __ATOMIC_ACQUIRE);
	if (slots == 0) {
		for (int i = 0; POLL_TABLES[i]; i++)
			slots |= slot_bit(db, POLL_TABLES[i]);
		__atomic_store_n(&db->poll_slots, slots, __ATOMIC_RELEASE);
	}
	*count = sum_changes(db, slots);
	return __atomic_load_n(&db->untracked, __ATOMIC_ACQUIRE) ? -1 : 0;
}

int db_reads_begin(struct db *db, struct db_reads *r)
{
	struct db_thread *t = thread_conn(db);
	if (t == NULL || __atomic_load_n(&db->untracked, __ATOMIC_ACQUIRE))
		return -1;
	/* An open transaction or a statement left mid-step holds a snapshot
	 * older than the counts taken here: what is read under it would be
	 * stamped too new. */
	if (!sqlite3_get_autocommit(t->c))
		return -1;
	for (sqlite3_stmt *st = sqlite3_next_stmt(t->c, NULL); st; st = sqlite3_next_stmt(t->c, st))
		if (sqlite3_stmt_busy(st))
			return -1;
	t->reads = 0;
	for (int i = 0; i < DB_TABLE_SLOTS; i++)
		r->before[i] = __atomic_load_n(&db->changes[i], __ATOMIC_ACQUIRE);
	return 0;
}

void db_reads_end(struct db *db, const struct db_reads *r, struct db_stamp *out)
{
	struct db_thread *t = pthread_getspecific(db->key);
	out->tables = t ? t->reads : 0;
	out->changes = 0;
	for (uint32_t s = out->tables; s != 0; s &= s - 1)
		out->changes += r->before[__builtin_ctz(s)];
}

int db_stamp_current(struct db *db, const struct db_stamp *s)
{
	return sum_changes(db, s->tables) == s->changes;
}

/* Before sqlite's first use: no allocation statistics.  With them on (the
 * library's default) every sqlite malloc and free takes one process-wide
 * mutex, which the request threads then queue on (a futex wait per
 * authenticated GET under load); Kiln never reads sqlite3_memory_used. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int open_conn(const char *path, sqlite3 **out, struct kiln_err *err)
{
	sqlite3 *c = NULL;
	pthread_once(&sqlite_once, sqlite_setup);
	int rc = sqlite3_open_v2(path, &c,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		kiln_errf(err, KILN_EIO, "", "cannot open database %s: %s", path,
			  c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
		sqlite3_close(c);
		return KILN_EIO;
	}
	sqlite3_busy_timeout(c, DB_BUSY_TIMEOUT_MS);
	char *emsg = NULL;
	rc = sqlite3_exec(c, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
			  " PRAGMA synchronous=NORMAL;", NULL, NULL, &emsg);
	if (rc != SQLITE_OK) {
		kiln_errf(err, KILN_EIO, "", "cannot configure database %s: %s", path,
			  emsg ? emsg : sqlite3_errstr(rc));
		sqlite3_free(emsg);
		sqlite3_close(c);
		return KILN_EIO;
	}
	*out = c;
	return 0;
}

int db_open(const char *path, struct db **out, struct kiln_err *err)
{
	struct db *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	static unsigned long serials;
	db->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	db->path = strdup(path);
	pthread_mutex_init(&db->lock, NULL);
	if (db->path == NULL || pthread_key_create(&db->key, NULL) != 0) {
		free(db->path);
		free(db);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	/* Open the first connection now so a bad path fails at start-up, not
	 * on the first request. */
	struct db_thread *t = calloc(1, sizeof(*t));
	int rc = t ? open_conn(path, &t->c, err) : kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	if (rc != 0) {
		free(t);
		pthread_key_delete(db->key);
		free(db->path);
		free(db);
		return rc;
	}
	track(db, t);
	db->conns[db->n_conns++] = t;
	pthread_setspecific(db->key, t);
	*out = db;
	return 0;
}

/* The calling thread's connection record, opened on first use. */
static struct db_thread *thread_conn(struct db *db)
{
	struct db_thread *t = pthread_getspecific(db->key);
	if (t != NULL)
		return t;
	struct kiln_err err;
	pthread_mutex_lock(&db->lock);
	if (db->n_conns == DB_MAX_CONNS) {
		pthread_mutex_unlock(&db->lock);
		fprintf(stderr, "level=error msg=\"too many database connections\" max=%d\n",
			DB_MAX_CONNS);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL || open_conn(db->path, &t->c, &err) != 0) {
		pthread_mutex_unlock(&db->lock);
		fprintf(stderr, "level=error msg=\"%s\"\n", t ? err.msg : "out of memory");
		free(t);
		return NULL;
	}
	track(db, t);
	db->conns[db->n_conns++] = t;
	pthread_mutex_unlock(&db->lock);
	pthread_setspecific(db->key, t);
	return t;
}

unsigned long db_serial(const struct db *db)
{
	return db->serial;
}

sqlite3 *db_conn(struct db *db)
{
	struct db_thread *t = thread_conn(db);
	return t ? t->c : NULL;
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
	struct db_thread *t = thread_conn(db);
	if (t == NULL)
		return NULL;
	for (int i = 0; i < t->n_stmts; i++) {
		if (t->stmts[i].sql == sql) {
			/* A caller that forgot db_stmt_done must not leave the
			 * next one mid-step. */
			sqlite3_reset(t->stmts[i].st);
			t->reads |= t->stmts[i].reads;
			return t->stmts[i].st;
		}
	}
	if (t->n_stmts == t->cap_stmts) {
		int cap = t->cap_stmts ? 2 * t->cap_stmts : 16;
		void *n = realloc(t->stmts, (size_t)cap * sizeof(*t->stmts));
		if (n == NULL)
			return NULL;
		t->stmts = n;
		t->cap_stmts = cap;
	}
	sqlite3_stmt *st = NULL;
	/* The authorizer notes what this statement reads into t->reads;
	 * kept with it, since a cached statement is never compiled again. */
	uint32_t reads_so_far = t->reads;
	t->reads = 0;
	/* PERSISTENT: kept for the connection's life, so sqlite takes its
	 * memory from the heap rather than its small lookaside slots. */
	int rc = sqlite3_prepare_v3(t->c, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	uint32_t reads = t->reads;
	t->reads = reads_so_far | reads;
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	t->stmts[t->n_stmts].sql = sql;
	t->stmts[t->n_stmts].st = st;
	t->stmts[t->n_stmts].reads = reads;
	t->n_stmts++;
	return st;
}

void db_stmt_done(sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

void db_close(struct db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < db->n_conns; i++) {
		struct db_thread *t = db->conns[i];
		for (int k = 0; k < t->n_stmts; k++)
			sqlite3_finalize(t->stmts[k].st);
		free(t->stmts);
		sqlite3_close_v2(t->c);
		free(t);
	}
	pthread_key_delete(db->key);
	pthread_mutex_destroy(&db->lock);
	for (int i = 0; i < db->n_tables; i++)
		free(db->names[i]);
	free(db->path);
	free(db);
}

void db_now(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
}

/* "schema/007_devices.sql" → 7; -1 when the name has no leading number. */
static int migration_number(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (base[0] < '0' || base[0] > '9')
		return -1;
	return atoi(base);
}

static const char *BOOTSTRAP_SQL =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" applied_at TEXT NOT NULL)";

int db_version(struct db *db, int *version, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return kiln_errf(err, KILN_EIO, "", "no database connection");
	sqlite3_stmt *st = NULL;
	*version = 0;
	int rc = sqlite3_prepare_v2(c,
		"SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'",
		-1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return kiln_errf(err, KILN_EIO, "", "cannot read schema version: %s",
				 sqlite3_errmsg(c));
	}
	int has_table = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (!has_table)
		return 0;
	rc = sqlite3_prepare_v2(c, "SELECT coalesce(max(version), 0) FROM schema_migrations",
				-1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return kiln_errf(err, KILN_EIO, "", "cannot read schema version: %s",
				 sqlite3_errmsg(c));
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int exec_sql(sqlite3 *c, const char *sql, const char *what, struct kiln_err *err)
{
	char *emsg = NULL;
	if (sqlite3_exec(c, sql, NULL, NULL, &emsg) != SQLITE_OK) {
		kiln_errf(err, KILN_EIO, "", "%s: %s", what, emsg ? emsg : sqlite3_errmsg(c));
		sqlite3_free(emsg);
		return KILN_EIO;
	}
	return 0;
}

int db_migrate(struct db *db, const struct embed_file *migs, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	if (c == NULL)
		return kiln_errf(err, KILN_EIO, "", "no database connection");
	int newest = 0;
	for (const struct embed_file *m = migs; m->path; m++) {
		int n = migration_number(m->path);
		if (n <= newest) /* the build sorts them; a gap or repeat is a bug */
			return kiln_errf(err, KILN_EINTERNAL, "",
					 "migration %s is out of order", m->path);
		newest = n;
	}
	/* IMMEDIATE: two kilnd started on one data dir must not both migrate. */
	int rc = exec_sql(c, "BEGIN IMMEDIATE", "cannot start migration", err);
	if (rc != 0)
		return rc;
	int have = 0;
	rc = exec_sql(c, BOOTSTRAP_SQL, "cannot create schema_migrations", err);
	if (rc == 0)
		rc = db_version(db, &have, err);
	if (rc == 0 && have > newest)
		rc = kiln_errf(err, KILN_EUNAVAIL, "",
			       "the database was written by a newer kilnd (schema version %d; "
			       "this kilnd knows up to %d): run the newer kilnd or restore a backup",
			       have, newest);
	for (const struct embed_file *m = migs; rc == 0 && m->path; m++) {
		int n = migration_number(m->path);
		if (n <= have)
			continue;
		char what[300];
		snprintf(what, sizeof(what), "migration %s failed", m->path);
		rc = exec_sql(c, (const char *)m->data, what, err);
		if (rc != 0)
			break;
		sqlite3_stmt *st = NULL;
		char now[32];
		db_now(now, sizeof(now));
		if (sqlite3_prepare_v2(c, "INSERT INTO schema_migrations(version, name, applied_at)"
				       " VALUES (?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
			rc = kiln_errf(err, KILN_EIO, "", "cannot record migration: %s",
				       sqlite3_errmsg(c));
			break;
		}
		sqlite3_bind_int(st, 1, n);
		sqlite3_bind_text(st, 2, m->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = kiln_errf(err, KILN_EIO, "", "cannot record migration: %s",
				       sqlite3_errmsg(c));
		sqlite3_finalize(st);
	}
	if (rc != 0) {
		sqlite3_exec(c, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return exec_sql(c, "COMMIT", "cannot commit migrations", err);
}

int db_err(sqlite3 *c, struct kiln_err *err, const char *what)
{
	if (c == NULL)
		return kiln_errf(err, KILN_EIO, "", "%s: no database connection", what);
	/* Busy after the busy timeout: another writer held the database all
	 * that time.  Nothing is wrong with the request or the data, and the
	 * same request later will likely pass, so it is a 503, not a 500. */
	int primary = sqlite3_errcode(c) & 0xff;
	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return kiln_errf(err, KILN_EUNAVAIL, "", "%s: %s (another write held the "
				 "database for over %d s); try again",
				 what, sqlite3_errmsg(c), DB_BUSY_TIMEOUT_MS / 1000);
	return kiln_errf(err, KILN_EIO, "", "%s: %s", what, sqlite3_errmsg(c));
}

cJSON *db_page(sqlite3_stmt *st, int limit, db_row_fn row, void *ctx)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	int n = 0;
	long long last = 0, next = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (n == limit) {
			next = last;
			break;
		}
		last = sqlite3_column_int64(st, 0);
		cJSON_AddItemToArray(items, row(ctx, st));
		n++;
	}
	sqlite3_finalize(st);
	if (next)
		cJSON_AddNumberToObject(o, "next", (double)next);
	else
		cJSON_AddNullToObject(o, "next");
	return o;
}

int db_parse_id(const char *text, long long *id)
{
	if (text == NULL || *text == '\0' || strlen(text) > 18)
		return -1;
	char *end;
	long long v = strtoll(text, &end, 10);
	if (*end != '\0' || v <= 0)
		return -1;
	*id = v;
	return 0;
}

int db_list(struct db *db, const char *sql, long long after, int limit, db_row_fn row,
	    void *ctx, const char *what, cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, what);
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit + 1);
	*json = db_page(st, limit, row, ctx);
	return 0;
}

int db_get(struct db *db, const char *sql, long long id, db_row_fn row, void *ctx,
	   const char *noun, const char *what, cJSON **json, struct kiln_err *err)
{
	sqlite3 *c = db_conn(db);
	sqlite3_stmt *st = NULL;
	*json = NULL;
	if (c == NULL || sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(c, err, what);
	sqlite3_bind_int64(st, 1, id);
	int rc = 0, s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		*json = row(ctx, st);
	else if (s == SQLITE_DONE)
		rc = kiln_errf(err, KILN_ENOTFOUND, "id", "no %s with id %lld", noun, id);
	else
		rc = db_err(c, err, what);
	sqlite3_finalize(st);
	return rc;
}

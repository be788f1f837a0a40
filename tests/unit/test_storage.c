/*
 * test_storage: the database migrations and the blob store, against a real
 * sqlite file and a real directory — including a writer killed mid-blob.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "runtime/blob.h"
#include "runtime/bundles.h"
#include "runtime/db.h"
#include "kt.h"

static const unsigned char m1[] = "CREATE TABLE a (x INTEGER);";
static const unsigned char m2[] = "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);";
static const unsigned char m3_bad[] = "CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1);";

static int table_exists(struct db *db, const char *name)
{
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db_conn(db), "SELECT count(*) FROM sqlite_master WHERE name = ?",
			   -1, &st, NULL);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_step(st);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void migrations_apply_from_empty_then_rerun_is_a_no_op(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", kt_tmpdir());
	struct embed_file migs[] = {
		{"schema/001_a.sql", m1, sizeof(m1) - 1},
		{"schema/002_b.sql", m2, sizeof(m2) - 1},
		{NULL, NULL, 0},
	};
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	int v = -1;
	CHECK(db_version(db, &v, &err) == 0 && v == 0);
	CHECKF(db_migrate(db, migs, &err) == 0, "%s", err.msg);
	CHECK(db_version(db, &v, &err) == 0 && v == 2);
	CHECK(table_exists(db, "a") && table_exists(db, "b"));
	/* Run again: nothing re-applied (the INSERT would add a second row). */
	CHECKF(db_migrate(db, migs, &err) == 0, "%s", err.msg);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db_conn(db), "SELECT count(*) FROM a", -1, &st, NULL);
	sqlite3_step(st);
	CHECK_INT(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	/* WAL and foreign keys are on for the connection. */
	sqlite3_prepare_v2(db_conn(db), "PRAGMA journal_mode", -1, &st, NULL);
	sqlite3_step(st);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db_conn(db), "PRAGMA foreign_keys", -1, &st, NULL);
	sqlite3_step(st);
	CHECK_INT(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	db_close(db);
}

static void a_failing_migration_leaves_the_database_as_it_was(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", kt_tmpdir());
	struct embed_file first[] = {{"schema/001_a.sql", m1, sizeof(m1) - 1}, {NULL, NULL, 0}};
	struct embed_file more[] = {
		{"schema/001_a.sql", m1, sizeof(m1) - 1},
		{"schema/002_b.sql", m2, sizeof(m2) - 1},
		{"schema/003_c.sql", m3_bad, sizeof(m3_bad) - 1},
		{NULL, NULL, 0},
	};
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	CHECK(db_migrate(db, first, &err) == 0);
	CHECK(db_migrate(db, more, &err) != 0);
	CHECKF(strstr(err.msg, "003_c.sql") != NULL, "message names the migration: %s", err.msg);
	int v = -1;
	CHECK(db_version(db, &v, &err) == 0 && v == 1);
	CHECK(!table_exists(db, "b") && !table_exists(db, "c"));
	db_close(db);
}

static void migrations_out_of_order_are_refused(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", kt_tmpdir());
	struct embed_file migs[] = {
		{"schema/002_b.sql", m2, sizeof(m2) - 1},
		{"schema/001_a.sql", m1, sizeof(m1) - 1},
		{NULL, NULL, 0},
	};
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	CHECK(db_migrate(db, migs, &err) == KILN_EINTERNAL);
	db_close(db);
}

static void blob_put_dedupes_and_hashes(void)
{
	struct blob_store *bs;
	struct kiln_err err;
	const char *dir = kt_tmpdir();
	if (!CHECK(blob_store_open(dir, &bs, &err) == 0))
		return;
	char h1[65], h2[65];
	CHECK(blob_put(bs, "abc", 3, h1, &err) == 0);
	/* sha256("abc") from FIPS 180-2's example. */
	CHECK_STR(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(blob_put(bs, "abc", 3, h2, &err) == 0);
	CHECK_STR(h1, h2);
	int fd;
	uint64_t size;
	CHECK(blob_open(bs, h1, &fd, &size, &err) == 0 && size == 3);
	char buf[8] = {0};
	CHECK(read(fd, buf, sizeof(buf)) == 3 && memcmp(buf, "abc", 3) == 0);
	close(fd);
	CHECK(blob_open(bs, "0000000000000000000000000000000000000000000000000000000000000000",
			&fd, &size, &err) == KILN_ENOTFOUND);
	CHECK(blob_open(bs, "../../etc/passwd", &fd, &size, &err) == KILN_EINVAL);
	CHECK(blob_open(bs, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
			&fd, &size, &err) == KILN_EINVAL);
	CHECK(blob_remove(bs, h1, &err) == 0);
	CHECK(blob_open(bs, h1, &fd, &size, &err) == KILN_ENOTFOUND);
	blob_store_close(bs);
}

/* Counts the regular files under dir, recursively. */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			n += count_files(p);
		else
			n++;
	}
	closedir(d);
	return n;
}

static void blob_writer_killed_before_commit_leaves_no_visible_blob(void)
{
	const char *dir = kt_tmpdir();
	char data[600], sha[700], tmp[700];
	snprintf(data, sizeof(data), "%s", dir);
	snprintf(sha, sizeof(sha), "%s/blobs/sha256", dir);
	snprintf(tmp, sizeof(tmp), "%s/blobs/tmp", dir);
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct blob_store *bs;
		struct blob_writer *w;
		struct kiln_err err;
		static char chunk[1 << 16];
		memset(chunk, 'x', sizeof(chunk));
		if (blob_store_open(data, &bs, &err) != 0 || blob_writer_new(bs, &w, &err) != 0)
			_exit(1);
		for (int i = 0; i < 16; i++)
			blob_writer_write(w, chunk, sizeof(chunk), &err);
		/* Tell the parent we are between write and commit, then wait to
		 * be killed there. */
		if (write(p[1], "w", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	close(p[1]);
	CHECK(read(p[0], &c, 1) == 1);
	close(p[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_INT(count_files(sha), 0);
	CHECK_INT(count_files(tmp), 1); /* the half-written temporary */
	/* The next open clears it. */
	struct blob_store *bs;
	struct kiln_err err;
	CHECK(blob_store_open(data, &bs, &err) == 0);
	CHECK_INT(count_files(tmp), 0);
	CHECK_INT(count_files(sha), 0);
	blob_store_close(bs);
}

static void blob_reader_never_sees_a_partial_blob(void)
{
	const char *dir = kt_tmpdir();
	struct blob_store *bs;
	struct kiln_err err;
	if (!CHECK(blob_store_open(dir, &bs, &err) == 0))
		return;
	size_t total = 8 << 20;
	char *big = malloc(total);
	for (size_t i = 0; i < total; i++)
		big[i] = (char)(i * 131 + 7);
	char want[65];
	blob_sha256_hex(big, total, want);
	/* Watch the blob's directory for every way a name can appear there;
	 * at each event the file under that name must already be whole. */
	char sub[700], final[800];
	snprintf(sub, sizeof(sub), "%s/blobs/sha256/%.2s", dir, want);
	CHECK(mkdir(sub, 0755) == 0);
	snprintf(final, sizeof(final), "%s/%s", sub, want);
	int in = inotify_init1(IN_CLOEXEC);
	CHECK(inotify_add_watch(in, sub, IN_CREATE | IN_MOVED_TO | IN_MODIFY) >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct blob_writer *w;
		if (blob_writer_new(bs, &w, &err) != 0)
			_exit(1);
		for (size_t off = 0; off < total; off += 1 << 16)
			blob_writer_write(w, big + off, 1 << 16, &err);
		char got[65];
		_exit(blob_writer_commit(w, got, &err) == 0 && strcmp(got, want) == 0 ? 0 : 1);
	}
	char evbuf[4096];
	int events = 0;
	while (events == 0) {
		ssize_t n = read(in, evbuf, sizeof(evbuf));
		if (n <= 0)
			break;
		events++;
		struct stat st;
		CHECKF(stat(final, &st) == 0 && (size_t)st.st_size == total,
		       "the name appeared before the bytes were all there");
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	size_t len = 0;
	char *back = kt_read_file(final, &len);
	CHECK(back && len == total && memcmp(back, big, total) == 0);
	free(back);
	free(big);
	close(in);
	blob_store_close(bs);
}

/* Deterministic bytes that no run of equal pieces can hide a reordering in. */
static void fill_pattern(unsigned char *b, size_t n)
{
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

/* A blob past the helper-thread threshold (blob.c: PIPE_MIN), written in
 * pieces of every awkward size across the 1 MiB buffer edges, is the same
 * bytes in the same order: in the temporary file after flush, and stored
 * under the sha256 of those bytes after commit. */
static void a_large_blob_written_in_odd_pieces_keeps_its_bytes_and_hash(void)
{
	struct blob_store *bs;
	struct kiln_err err;
	if (!CHECK(blob_store_open(kt_tmpdir(), &bs, &err) == 0))
		return;
	size_t n = (23u << 20) + 7;
	unsigned char *big = malloc(n), *back = malloc(n);
	fill_pattern(big, n);
	char want[65], got[65];
	blob_sha256_hex(big, n, want);
	struct blob_writer *w;
	CHECK(blob_writer_new(bs, &w, &err) == 0);
	static const size_t steps[] = {1, 4093, 65536, (1u << 20) + 3, 7, (1u << 20) - 1, 300000};
	size_t off = 0;
	for (int i = 0; off < n; i++) {
		size_t k = steps[i % (sizeof(steps) / sizeof(steps[0]))];
		if (k > n - off)
			k = n - off;
		if (!CHECK(blob_writer_write(w, big + off, k, &err) == 0))
			break;
		off += k;
	}
	CHECK(blob_writer_size(w) == n);
	CHECK(blob_writer_flush(w, &err) == 0);
	int fd = open(blob_writer_tmp_path(w), O_RDONLY);
	CHECK(fd >= 0 && read(fd, back, n) == (ssize_t)n && memcmp(big, back, n) == 0);
	close(fd);
	CHECK(blob_writer_commit(w, got, &err) == 0);
	CHECK_STR(got, want);
	uint64_t size = 0;
	memset(back, 0, n);
	CHECK(blob_open(bs, got, &fd, &size, &err) == 0 && size == n);
	CHECK(read(fd, back, n) == (ssize_t)n && memcmp(big, back, n) == 0);
	close(fd);
	free(big);
	free(back);
	blob_store_close(bs);
}

/* The helper thread's failed write (here: the file size limit, EFBIG) is
 * the writer's error, and nothing is stored. */
static void a_failed_write_on_the_helper_thread_fails_the_blob(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {6u << 20, 6u << 20};
		setrlimit(RLIMIT_FSIZE, &rl);
		struct blob_store *bs;
		struct kiln_err err;
		if (blob_store_open(kt_tmpdir(), &bs, &err) != 0)
			_exit(10);
		static unsigned char chunk[65536];
		struct blob_writer *w;
		if (blob_writer_new(bs, &w, &err) != 0)
			_exit(11);
		int failed = 0;
		for (int i = 0; i < 200 && !failed; i++) /* 12.5 MiB */
			failed = blob_writer_write(w, chunk, sizeof(chunk), &err) != 0;
		char hex[65];
		if (!failed)
			failed = blob_writer_commit(w, hex, &err) != 0;
		else
			blob_writer_abort(w);
		_exit(failed && err.code == KILN_EIO && strstr(err.msg, "too large") ? 0 : 12);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s/blobs/tmp", kt_tmpdir());
	CHECK_INT(count_files(tmp), 0);
}

struct stmt_probe {
	struct db *db;
	sqlite3_stmt *st;
};

static void *probe_thread(void *arg)
{
	struct stmt_probe *p = arg;
	p->st = db_stmt(p->db, "SELECT count(*) FROM t");
	db_stmt_done(p->st);
	return NULL;
}

/* db_stmt: one prepared statement per thread and SQL, reused, and reset
 * after each use so it sees rows committed since. */
static void db_stmt_is_kept_per_thread_and_sees_new_rows(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/stmt.db", kt_tmpdir());
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	sqlite3_exec(db_conn(db), "CREATE TABLE t (x INTEGER)", NULL, NULL, NULL);
	static const char sql[] = "SELECT count(*) FROM t";
	sqlite3_stmt *a = db_stmt(db, sql);
	CHECK(a != NULL && sqlite3_step(a) == SQLITE_ROW && sqlite3_column_int(a, 0) == 0);
	db_stmt_done(a);
	struct stmt_probe p = {db, NULL};
	pthread_t th;
	pthread_create(&th, NULL, probe_thread, &p);
	pthread_join(th, NULL);
	CHECK(p.st != NULL && p.st != a);
	/* Another connection's commit is seen by the kept statement. */
	sqlite3 *other;
	sqlite3_open(path, &other);
	CHECK(sqlite3_exec(other, "INSERT INTO t VALUES (1), (2)", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(other);
	sqlite3_stmt *b = db_stmt(db, sql);
	CHECK(b == a);
	CHECK(sqlite3_step(b) == SQLITE_ROW && sqlite3_column_int(b, 0) == 2);
	db_stmt_done(b);
	db_close(db);
}

static unsigned long changes_of(struct db *db)
{
	unsigned long n = 0;
	CHECK(db_changes(db, &n) == 0);
	return n;
}

static void *insert_bundle_thread(void *arg)
{
	struct db *db = arg;
	CHECK(sqlite3_exec(db_conn(db), "INSERT INTO bundles VALUES (7)", NULL, NULL, NULL) ==
	      SQLITE_OK);
	return NULL;
}

/* db_changes() moves after a commit that changed a watched table, from any
 * thread's connection, and only then: not for another table, not before
 * COMMIT, not for a rollback (the device poll's cache is only as right as
 * this count).  sqlite's automatic checkpoint, which the WAL hook replaces,
 * still happens. */
static void db_changes_counts_commits_to_watched_tables(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/changes.db", kt_tmpdir());
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	sqlite3 *c = db_conn(db);
	CHECK(sqlite3_exec(c, "CREATE TABLE bundles (id INTEGER PRIMARY KEY);"
			   " CREATE TABLE devices (id INTEGER PRIMARY KEY, last_seen TEXT);"
			   " CREATE TABLE assignments (device INTEGER PRIMARY KEY REFERENCES"
			   " devices(id) ON DELETE CASCADE); CREATE TABLE other (x)",
			   NULL, NULL, NULL) == SQLITE_OK);
	unsigned long n = changes_of(db);
	CHECK(sqlite3_exec(c, "INSERT INTO other VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(changes_of(db) == n);
	CHECK(sqlite3_exec(c, "INSERT INTO bundles VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(changes_of(db) == n + 1);
	CHECK(sqlite3_exec(c, "BEGIN; INSERT INTO devices VALUES (1, NULL);"
			   " INSERT INTO assignments VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(changes_of(db) == n + 1); /* not before the commit */
	CHECK(sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
	unsigned long two = changes_of(db);
	CHECK(two > n + 1); /* a step for each table the commit changed */
	CHECK(sqlite3_exec(c, "BEGIN; UPDATE devices SET last_seen = 'x'; ROLLBACK", NULL, NULL,
			   NULL) == SQLITE_OK);
	CHECK(sqlite3_exec(c, "INSERT INTO other VALUES (2)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(changes_of(db) == two); /* the rolled-back change left no mark */
	pthread_t th;
	pthread_create(&th, NULL, insert_bundle_thread, db);
	pthread_join(th, NULL);
	CHECK(changes_of(db) == two + 1);
	/* Enough frames for sqlite's autocheckpoint: the WAL is copied back
	 * and restarts, so it stops growing. */
	for (int i = 0; i < 3000; i++)
		sqlite3_exec(c, "INSERT INTO other VALUES (randomblob(3000))", NULL, NULL, NULL);
	char wal[620];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	struct stat sb;
	CHECK(stat(wal, &sb) == 0 && sb.st_size < 2000 * 4096 + 32);
	db_close(db);
}

static struct db_stamp stamp_of_read(struct db *db, const char *sql)
{
	struct db_reads r;
	struct db_stamp st = {0, 0};
	if (!CHECK(db_reads_begin(db, &r) == 0))
		return st;
	sqlite3_stmt *q = db_stmt(db, sql);
	if (CHECK(q != NULL))
		while (sqlite3_step(q) == SQLITE_ROW)
			;
	db_stmt_done(q);
	db_reads_end(db, &r, &st);
	return st;
}

static void *insert_a_thread(void *arg)
{
	CHECK(sqlite3_exec(db_conn(arg), "INSERT INTO a VALUES (9, 'z')", NULL, NULL, NULL) ==
	      SQLITE_OK);
	return NULL;
}

/* A stamp names the tables its reads used, found by sqlite's authorizer and
 * not declared: it stays current through commits to other tables and
 * rollbacks, and goes stale with the first commit to a table it read, from
 * any thread, a JOINed or count(*)-only table included.  The HTTP answer
 * cache is only as right as this. */
static void a_stamp_goes_stale_with_a_commit_to_a_table_it_read(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/stamps.db", kt_tmpdir());
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	sqlite3 *c = db_conn(db);
	CHECK(sqlite3_exec(c, "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);"
			   " CREATE TABLE b (a INTEGER, w TEXT); CREATE TABLE n (x);"
			   " CREATE TABLE other (x); INSERT INTO a VALUES (1, 'x')",
			   NULL, NULL, NULL) == SQLITE_OK);
	static const char join_sql[] = "SELECT a.v, b.w FROM a LEFT JOIN b ON b.a = a.id";
	static const char count_sql[] = "SELECT count(*) FROM n";
	struct db_stamp join = stamp_of_read(db, join_sql);
	struct db_stamp count = stamp_of_read(db, count_sql);
	CHECK(join.tables != 0 && count.tables != 0 && (join.tables & count.tables) == 0);
	/* a statement kept by db_stmt still says what it reads on reuse */
	struct db_stamp again = stamp_of_read(db, join_sql);
	CHECK(again.tables == join.tables);
	CHECK(sqlite3_exec(c, "INSERT INTO other VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(db_stamp_current(db, &join) && db_stamp_current(db, &count));
	CHECK(sqlite3_exec(c, "BEGIN; INSERT INTO b VALUES (1, 'y'); ROLLBACK", NULL, NULL,
			   NULL) == SQLITE_OK);
	CHECK(db_stamp_current(db, &join));
	CHECK(sqlite3_exec(c, "BEGIN; INSERT INTO b VALUES (1, 'y')", NULL, NULL, NULL) ==
	      SQLITE_OK);
	CHECK(db_stamp_current(db, &join)); /* not before the commit */
	CHECK(sqlite3_exec(c, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(!db_stamp_current(db, &join)); /* b is JOINed */
	CHECK(db_stamp_current(db, &count));
	CHECK(sqlite3_exec(c, "INSERT INTO n VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(!db_stamp_current(db, &count)); /* count(*) reads no column, still n */
	struct db_stamp fresh = stamp_of_read(db, join_sql);
	CHECK(db_stamp_current(db, &fresh));
	pthread_t th;
	pthread_create(&th, NULL, insert_a_thread, db);
	pthread_join(th, NULL);
	CHECK(!db_stamp_current(db, &fresh)); /* another thread's connection */
	/* a statement prepared directly on the connection counts too */
	struct db_reads r;
	struct db_stamp direct = {0, 0};
	CHECK(db_reads_begin(db, &r) == 0);
	sqlite3_stmt *q = NULL;
	CHECK(sqlite3_prepare_v2(c, "SELECT v FROM a WHERE id = 1", -1, &q, NULL) == SQLITE_OK);
	sqlite3_step(q);
	sqlite3_finalize(q);
	db_reads_end(db, &r, &direct);
	CHECK(direct.tables != 0 && db_stamp_current(db, &direct));
	CHECK(sqlite3_exec(c, "UPDATE a SET v = 'w' WHERE id = 1", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(!db_stamp_current(db, &direct));
	/* work that read no table stays current */
	struct db_stamp none = {1, 1};
	CHECK(db_reads_begin(db, &r) == 0);
	db_reads_end(db, &r, &none);
	CHECK(none.tables == 0 && db_stamp_current(db, &none));
	db_close(db);
}

/* A write that waited out the busy timeout is the caller's to retry (503),
 * not a server fault (500); other sqlite failures stay 500s. */
static void a_write_refused_as_busy_is_a_503_to_try_again(void)
{
	char path[] = "/tmp/kiln-busy-XXXXXX";
	int fd = mkstemp(path);
	if (!CHECK(fd >= 0))
		return;
	close(fd);
	sqlite3 *holder = NULL, *writer = NULL;
	CHECK(sqlite3_open(path, &holder) == SQLITE_OK);
	CHECK(sqlite3_open(path, &writer) == SQLITE_OK);
	CHECK(sqlite3_exec(holder, "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);"
			   "BEGIN IMMEDIATE; INSERT INTO t VALUES (1);", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_busy_timeout(writer, 0);
	struct kiln_err e = { 0 };
	CHECK(sqlite3_exec(writer, "INSERT INTO t VALUES (2)", NULL, NULL, NULL) == SQLITE_BUSY);
	CHECK_INT(db_err(writer, &e, "cannot add"), KILN_EUNAVAIL);
	CHECK_INT(e.code, KILN_EUNAVAIL);
	CHECKF(strstr(e.msg, "cannot add: ") == e.msg && strstr(e.msg, "try again") != NULL,
	       "%s", e.msg);
	CHECK(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
	CHECK(sqlite3_exec(writer, "INSERT INTO nowhere VALUES (2)", NULL, NULL, NULL) == SQLITE_ERROR);
	CHECK_INT(db_err(writer, &e, "cannot add"), KILN_EIO);
	CHECKF(strstr(e.msg, "no such table") != NULL && strstr(e.msg, "try again") == NULL,
	       "%s", e.msg);
	CHECK_INT(db_err(NULL, &e, "cannot add"), KILN_EIO);
	sqlite3_close(writer);
	sqlite3_close(holder);
	unlink(path);
	char side[sizeof(path) + 8];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* The stamp of bundles_archive(), the read behind a bundle archive's ETag
 * (a kept 304 of GET /api/v1/bundles/{id}/archive, server/answers.h),
 * names the bundles table on every use of its kept statement: it stays
 * current through a token being used and goes stale when the row is
 * deleted or another bundle is added, on kiln.db's real schema. */
static void the_archive_etag_read_goes_stale_with_a_bundles_commit(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/archive.db", kt_tmpdir());
	struct db *db;
	struct kiln_err err;
	if (!CHECK(db_open(path, &db, &err) == 0))
		return;
	if (!CHECKF(db_migrate(db, migrations, &err) == 0, "%s", err.msg)) {
		db_close(db);
		return;
	}
	sqlite3 *c = db_conn(db);
	CHECK(sqlite3_exec(c, "INSERT INTO bundles (id, name, target, sha256, size, manifest,"
			   " created_at) VALUES (5, 'm', 'maixcam', 'ab', 1, '{}', 'now'),"
			   " (6, 'n', 'maixcam', 'cd', 1, '{}', 'now')", NULL, NULL, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_exec(c, "INSERT INTO tokens (id, name, role, hash, created_at)"
			   " VALUES (1, 't', 'user', 'h', 'now')", NULL, NULL, NULL) == SQLITE_OK);
	for (int round = 0; round < 2; round++) { /* prepared, then kept by db_stmt */
		struct db_reads r;
		struct db_stamp st = {0, 0};
		char sha[BLOB_HEX_LEN + 1];
		if (!CHECK(db_reads_begin(db, &r) == 0))
			break;
		CHECK(bundles_archive(db, 5, "id", sha, NULL, 0, NULL, &err) == 0);
		db_reads_end(db, &r, &st);
		CHECK_STR(sha, "ab");
		CHECK(st.tables != 0 && db_stamp_current(db, &st));
		CHECK(sqlite3_exec(c, "UPDATE tokens SET last_used_at = 'x' WHERE id = 1", NULL, NULL, NULL) ==
		      SQLITE_OK);
		CHECK(db_stamp_current(db, &st));
		CHECK(sqlite3_exec(c, round == 0 ? "DELETE FROM bundles WHERE id = 6"
					 : "INSERT INTO bundles (id, name, target, sha256, size,"
					   " manifest, created_at) VALUES (7, 'o', 'maixcam', 'ef', 1,"
					   " '{}', 'now')", NULL, NULL, NULL) == SQLITE_OK);
		CHECK(!db_stamp_current(db, &st)); /* another row of the table, even */
	}
	db_close(db);
}

int main(int argc, char **argv)
{
	static const struct kt_test tests[] = {
		{"migrations_apply_from_empty_then_rerun_is_a_no_op",
		 migrations_apply_from_empty_then_rerun_is_a_no_op},
		{"a_failing_migration_leaves_the_database_as_it_was",
		 a_failing_migration_leaves_the_database_as_it_was},
		{"migrations_out_of_order_are_refused", migrations_out_of_order_are_refused},
		{"blob_put_dedupes_and_hashes", blob_put_dedupes_and_hashes},
		{"blob_writer_killed_before_commit_leaves_no_visible_blob",
		 blob_writer_killed_before_commit_leaves_no_visible_blob},
		{"blob_reader_never_sees_a_partial_blob", blob_reader_never_sees_a_partial_blob},
		{"a_large_blob_written_in_odd_pieces_keeps_its_bytes_and_hash",
		 a_large_blob_written_in_odd_pieces_keeps_its_bytes_and_hash},
		{"a_failed_write_on_the_helper_thread_fails_the_blob",
		 a_failed_write_on_the_helper_thread_fails_the_blob},
		{"db_stmt_is_kept_per_thread_and_sees_new_rows",
		 db_stmt_is_kept_per_thread_and_sees_new_rows},
		{"db_changes_counts_commits_to_watched_tables",
		 db_changes_counts_commits_to_watched_tables},
		{"a_stamp_goes_stale_with_a_commit_to_a_table_it_read",
		 a_stamp_goes_stale_with_a_commit_to_a_table_it_read},
		{"a_write_refused_as_busy_is_a_503_to_try_again",
		 a_write_refused_as_busy_is_a_503_to_try_again},
		{"the_archive_etag_read_goes_stale_with_a_bundles_commit",
		 the_archive_etag_read_goes_stale_with_a_bundles_commit},
	};
	return kt_main("storage", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}

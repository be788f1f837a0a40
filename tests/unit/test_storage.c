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
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/blob.h"
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
	};
	return kt_main("storage", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}

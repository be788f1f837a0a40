/*
 * kt: Kiln's small test harness.
 *
 * A test file declares a table of {name, function} and calls kt_main().  Each
 * test prints one line the runner (tests/run.sh) counts:
 *     PASS <file>.<test>
 *     FAIL <file>.<test>: <file>:<line>: <what>
 *     SKIP <file>.<test>: <why>
 * CHECK() records a failure and evaluates to false, and never returns from the
 * test by itself: write `if (!CHECK(x)) return;` where going on makes no sense.
 * `build/tests/<binary> <name>` runs one test by name.
 */
#ifndef KT_H
#define KT_H

#include <stdbool.h>
#include <stddef.h>

struct kt_test {
	const char *name;
	void (*fn)(void);
};

/* Runs the tests (all, or the one named in argv[1]); returns the exit code. */
int kt_main(const char *suite, const struct kt_test *tests, size_t n,
	    int argc, char **argv);

bool kt_check(const char *file, int line, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void kt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond) kt_check(__FILE__, __LINE__, (cond), "%s", #cond)
#define CHECKF(cond, ...) kt_check(__FILE__, __LINE__, (cond), __VA_ARGS__)
#define CHECK_INT(a, b) kt_check_int(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b))
/* Each operand is evaluated once: CHECK_INT(kt_server_stop(&s), 0) is safe. */
bool kt_check_int(const char *file, int line, const char *ea, const char *eb,
		  long long a, long long b);
#define CHECK_STR(a, b) kt_check_str(__FILE__, __LINE__, #a, (a), (b))
bool kt_check_str(const char *file, int line, const char *expr,
		  const char *a, const char *b);

/* A fresh empty directory under $TMPDIR for this test; removed at exit unless
 * KT_KEEP=1.  Returns a static buffer valid until the next call. */
const char *kt_tmpdir(void);

/* Reads a whole file into a new NUL-terminated buffer (caller frees) or NULL. */
char *kt_read_file(const char *path, size_t *len);
/* Writes len bytes to path; returns 0 or -1. */
int kt_write_file(const char *path, const void *buf, size_t len);

#endif

/*
 * kt: the test harness's runner and checks (see kt.h).
 */
#include "kt.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *cur_suite;
static const char *cur_test;
static bool cur_failed;
static bool cur_skipped;
static char skip_why[256];
static char tmp_dirs[32][256];
static int n_tmp;

bool kt_check(const char *file, int line, bool ok, const char *fmt, ...)
{
	if (ok)
		return true;
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Only the first failure names the test on the FAIL line; later ones go
	 * to stderr so a broken test gives one count, not ten. */
	if (!cur_failed)
		printf("FAIL %s.%s: %s:%d: %s\n", cur_suite, cur_test, file, line, what);
	else
		fprintf(stderr, "  also: %s:%d: %s\n", file, line, what);
	fflush(stdout);
	cur_failed = true;
	return false;
}

bool kt_check_int(const char *file, int line, const char *ea, const char *eb,
		  long long a, long long b)
{
	return kt_check(file, line, a == b, "%s == %s (%lld != %lld)", ea, eb, a, b);
}

bool kt_check_str(const char *file, int line, const char *expr,
		  const char *a, const char *b)
{
	bool ok = (a == NULL && b == NULL) ||
		  (a != NULL && b != NULL && strcmp(a, b) == 0);
	return kt_check(file, line, ok, "%s: got \"%.300s\", want \"%.300s\"", expr,
			a ? a : "(null)", b ? b : "(null)");
}

void kt_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(skip_why, sizeof(skip_why), fmt, ap);
	va_end(ap);
	cur_skipped = true;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

static void cleanup_tmp(void)
{
	const char *keep = getenv("KT_KEEP");
	if (keep && strcmp(keep, "1") == 0)
		return;
	for (int i = 0; i < n_tmp; i++)
		nftw(tmp_dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *kt_tmpdir(void)
{
	static char buf[256];
	const char *base = getenv("TMPDIR");
	snprintf(buf, sizeof(buf), "%s/kt-%s-XXXXXX", base ? base : "/tmp",
		 cur_test ? cur_test : "x");
	if (mkdtemp(buf) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", buf, strerror(errno));
		exit(3);
	}
	if (n_tmp < 32)
		snprintf(tmp_dirs[n_tmp++], sizeof(tmp_dirs[0]), "%s", buf);
	return buf;
}

char *kt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int kt_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	size_t w = fwrite(buf, 1, len, f);
	return (fclose(f) == 0 && w == len) ? 0 : -1;
}

int kt_main(const char *suite, const struct kt_test *tests, size_t n,
	    int argc, char **argv)
{
	int failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);
	atexit(cleanup_tmp);
	cur_suite = suite;
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		cur_test = tests[i].name;
		cur_failed = false;
		cur_skipped = false;
		tests[i].fn();
		if (cur_failed)
			failed++;
		else if (cur_skipped)
			printf("SKIP %s.%s: %s\n", suite, cur_test, skip_why);
		else
			printf("PASS %s.%s\n", suite, cur_test);
	}
	return failed ? 1 : 0;
}

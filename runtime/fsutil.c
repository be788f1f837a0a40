/*
 * fsutil: see fsutil.h.  Errors are errno-based (-1) where callers only
 * need success, kiln_err where the message reaches a person.
 */
#include "runtime/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, mode_t mode, struct kiln_err *err)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return kiln_errf(err, KILN_EINVAL, "", "path too long: %.200s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", buf,
					 strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", buf, strerror(errno));
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int rc = flag == FTW_DP ? rmdir(p) : unlink(p);
	return rc != 0 && errno != ENOENT ? -1 : 0;
}

int fs_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int fs_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int fs_copy_file(const char *from, const char *to, struct kiln_err *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kiln_errf(err, KILN_EIO, "", "cannot open %s: %s", from, strerror(errno));
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		int e = errno;
		close(in);
		return kiln_errf(err, KILN_EIO, "", "cannot create %s: %s", to, strerror(e));
	}
	int rc = 0;
	int fallback = 0;
	for (;;) {
		ssize_t n;
		if (!fallback) {
			/* In-kernel copy (a reflink on file systems that have them):
			 * a model can be hundreds of megabytes. */
			n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				fallback = 1;
				continue;
			}
		} else {
			char buf[1 << 16];
			n = read(in, buf, sizeof(buf));
			if (n > 0 && fs_write_all(out, buf, (size_t)n) != 0)
				n = -1;
		}
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = kiln_errf(err, KILN_EIO, "", "cannot copy %s to %s: %s", from, to,
				       strerror(errno));
			break;
		}
	}
	close(in);
	if (close(out) != 0 && rc == 0)
		rc = kiln_errf(err, KILN_EIO, "", "cannot write %s: %s", to, strerror(errno));
	return rc;
}

/*
 * joblog: the capped log file (see joblog.h).
 *
 * Layout on disk: head (cap/4 bytes) + one elision line + tail.  Once the
 * head is full every byte also goes to an in-memory ring of cap/2 bytes;
 * when the file would pass cap it is truncated to the head and rewritten
 * with the elision line and the ring, which happens at most once per cap/4
 * new bytes, so a chatty tool costs about two writes per byte.
 */
#include "runtime/joblog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_BUF (64 * 1024)
/* How far into the kept tail we look for a line start, so the part after
 * the elision line begins with a whole line. */
#define LOG_ALIGN_SCAN 4096

struct joblog {
	int fd;
	int failed;            /* a write failed: said once on stderr, then dropped */
	size_t cap, head_cap, tail_cap;
	uint64_t file_size;    /* bytes in the file */
	uint64_t total;        /* bytes offered */
	uint64_t elided;
	int tail_mode;         /* the head is full; ring holds the newest bytes */
	char *ring;
	size_t ring_fill, ring_pos;
	size_t buf_len;
	char buf[LOG_BUF];
};

int joblog_open(const char *path, size_t cap, struct joblog **out, struct kiln_err *err)
{
	struct joblog *l = malloc(sizeof(*l));
	if (l == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	memset(l, 0, offsetof(struct joblog, buf));
	l->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (l->fd < 0) {
		int e = errno;
		free(l);
		return kiln_errf(err, KILN_EIO, "", "cannot create log %s: %s", path, strerror(e));
	}
	if (cap < JOBLOG_MIN_CAP)
		cap = JOBLOG_MIN_CAP;
	/* head + elision line + tail stays under cap with a quarter of slack,
	 * so the tail is rewritten at most once per cap/4 new bytes. */
	l->cap = cap;
	l->head_cap = cap / 4;
	l->tail_cap = cap / 2;
	*out = l;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void log_failed(struct joblog *l)
{
	if (!l->failed)
		fprintf(stderr, "level=warn msg=\"cannot write job log: %s; further output "
			"is dropped from the file\"\n", strerror(errno));
	l->failed = 1;
}

int joblog_flush(struct joblog *l)
{
	if (l == NULL || l->buf_len == 0)
		return 0;
	size_t n = l->buf_len;
	l->buf_len = 0;
	if (l->failed)
		return KILN_EIO;
	if (write_all(l->fd, l->buf, n) != 0) {
		log_failed(l);
		return KILN_EIO;
	}
	l->file_size += n;
	return 0;
}

static void ring_append(struct joblog *l, const char *p, size_t n)
{
	if (n >= l->tail_cap) {
		memcpy(l->ring, p + n - l->tail_cap, l->tail_cap);
		l->ring_pos = 0;
		l->ring_fill = l->tail_cap;
		return;
	}
	size_t first = l->tail_cap - l->ring_pos;
	if (first > n)
		first = n;
	memcpy(l->ring + l->ring_pos, p, first);
	memcpy(l->ring, p + first, n - first);
	l->ring_pos = (l->ring_pos + n) % l->tail_cap;
	l->ring_fill = l->ring_fill + n > l->tail_cap ? l->tail_cap : l->ring_fill + n;
}

/* The file becomes head + elision line + the ring's bytes (the newest). */
static int log_rewrite(struct joblog *l)
{
	l->buf_len = 0;  /* those bytes are in the ring too */
	if (l->failed)
		return KILN_EIO;
	size_t start = (l->ring_pos + l->tail_cap - l->ring_fill) % l->tail_cap;
	size_t skip = 0;
	for (size_t i = 0; i < l->ring_fill && i < LOG_ALIGN_SCAN; i++)
		if (l->ring[(start + i) % l->tail_cap] == '\n') {
			skip = i + 1;
			break;
		}
	size_t keep = l->ring_fill - skip;
	l->elided = l->total - l->head_cap - keep;
	char marker[128];
	int mlen = snprintf(marker, sizeof(marker),
			    "\n[kiln] ... %llu bytes of output elided (log capped at %zu bytes) ...\n",
			    (unsigned long long)l->elided, l->cap);
	size_t a = (start + skip) % l->tail_cap;
	size_t first = keep < l->tail_cap - a ? keep : l->tail_cap - a;
	if (ftruncate(l->fd, (off_t)l->head_cap) != 0 ||
	    write_all(l->fd, marker, (size_t)mlen) != 0 ||
	    write_all(l->fd, l->ring + a, first) != 0 ||
	    write_all(l->fd, l->ring, keep - first) != 0) {
		log_failed(l);
		return KILN_EIO;
	}
	l->file_size = l->head_cap + (size_t)mlen + keep;
	return 0;
}

static int buffer_append(struct joblog *l, const char *p, size_t n)
{
	int rc = 0;
	while (n > 0) {
		size_t k = LOG_BUF - l->buf_len;
		if (k > n)
			k = n;
		memcpy(l->buf + l->buf_len, p, k);
		l->buf_len += k;
		p += k;
		n -= k;
		if (l->buf_len == LOG_BUF)
			rc |= joblog_flush(l);
	}
	return rc ? KILN_EIO : 0;
}

int joblog_write(struct joblog *l, const char *p, size_t n)
{
	if (l == NULL || n == 0)
		return 0;
	l->total += n;
	if (!l->tail_mode) {
		uint64_t used = l->file_size + l->buf_len;
		if (used + n <= l->head_cap)
			return buffer_append(l, p, n);
		size_t room = (size_t)(l->head_cap - used);
		int rc = buffer_append(l, p, room);
		rc |= joblog_flush(l);
		l->ring = malloc(l->tail_cap);
		if (l->ring == NULL) {
			/* no memory for the tail: keep the head, drop the rest */
			l->failed = 1;
			return KILN_ENOMEM;
		}
		l->tail_mode = 1;
		p += room;
		n -= room;
		if (rc != 0)
			return KILN_EIO;
	}
	ring_append(l, p, n);
	if (l->file_size + l->buf_len + n > l->cap)
		return log_rewrite(l);
	return buffer_append(l, p, n);
}

int joblog_printf(struct joblog *l, const char *fmt, ...)
{
	if (l == NULL)
		return 0;
	char line[1024];
	int n = snprintf(line, sizeof(line), "[kiln] ");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	return joblog_write(l, line, len);
}

uint64_t joblog_total(const struct joblog *l)
{
	return l ? l->total : 0;
}

uint64_t joblog_elided(const struct joblog *l)
{
	return l ? l->elided : 0;
}

void joblog_close(struct joblog *l)
{
	if (l == NULL)
		return;
	joblog_flush(l);
	close(l->fd);
	free(l->ring);
	free(l);
}


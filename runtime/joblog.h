/*
 * joblog: a job's log file, <data_dir>/jobs/<id>/log.txt, capped in size.
 *
 * The file never passes `cap` bytes: the first quarter is kept, then a line
 * saying how many bytes were elided, then the newest output.  The beginning
 * says which tool and options ran, the end says why it failed; the middle
 * of a 100 MB log is the least useful part.  One thread writes (the worker,
 * through the executor); readers (GET .../log) read the file itself, so
 * writes are buffered and flushed after each batch of output.
 *
 * API
 *   joblog_open(path, cap, &log, err) / joblog_close(log)   close flushes; accepts NULL
 *   joblog_write(log, buf, len)       raw bytes
 *   joblog_printf(log, fmt, ...)      one "[kiln] ..." line
 *   joblog_flush(log)
 *   joblog_total(log), joblog_elided(log)
 * Every function accepts a NULL log and then does nothing.
 */
#ifndef KILN_JOBLOG_H
#define KILN_JOBLOG_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_err.h"

#define JOBLOG_MIN_CAP 4096

struct joblog;

/* Creates or truncates path; caller frees with joblog_close().  cap below
 * JOBLOG_MIN_CAP is raised to it. */
int joblog_open(const char *path, size_t cap, struct joblog **out, struct kiln_err *err);
void joblog_close(struct joblog *log);
/* Appends bytes (buffered).  Returns 0 or KILN_EIO; a failed write is said
 * once on stderr and later output is dropped, never failing the step. */
int joblog_write(struct joblog *log, const char *buf, size_t len);
/* Appends one formatted line prefixed "[kiln] " with a trailing newline. */
int joblog_printf(struct joblog *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int joblog_flush(struct joblog *log);
/* Bytes offered so far, and bytes dropped from the middle. */
uint64_t joblog_total(const struct joblog *log);
uint64_t joblog_elided(const struct joblog *log);

#endif

/*
 * kiln_err: the one error value every Kiln module returns through.
 *
 * Public functions return 0 on success or a negative KILN_E* code, and fill a
 * caller-provided struct kiln_err with a human message (what was wrong and
 * what to do) and, when the error is about one input field, its name.  The
 * HTTP layer maps the code to a status in exactly one place (http_status_of).
 * This header knows nothing of HTTP, threads or sqlite.
 */
#ifndef KILN_ERR_H
#define KILN_ERR_H

#include <stddef.h>

enum kiln_code {
	KILN_OK = 0,
	KILN_EINVAL = -1,      /* bad input: 400 */
	KILN_ENOTFOUND = -2,   /* 404 */
	KILN_ECONFLICT = -3,   /* state forbids it: 409 */
	KILN_ETOOBIG = -4,     /* a size bound was passed: 413 */
	KILN_EUNPROC = -5,     /* well-formed but unusable: 422 */
	KILN_EAUTH = -6,       /* no or bad credentials: 401 */
	KILN_EFORBIDDEN = -7,  /* credentials lack the role: 403 */
	KILN_EIO = -8,         /* disk, database, process: 500 */
	KILN_ENOMEM = -9,      /* 500 */
	KILN_EUNAVAIL = -10,   /* a dependency is not there: 503 */
	KILN_EINTERNAL = -11,  /* a bug: 500 */
	KILN_ENOSPACE = -12,   /* the data directory's disk is nearly full: 507 */
	KILN_ELIMIT = -13,     /* a per-caller quota is used up: 429 */
};

struct kiln_err {
	int code;          /* enum kiln_code */
	char field[64];    /* input field the error is about, or "" */
	char msg[512];     /* what went wrong and what to do (a loader refusal names every layout its runtime takes) */
};

/* Sets err (when non-NULL) and returns code, so callers can write
 * `return kiln_errf(err, KILN_EINVAL, "name", "...", ...);`. */
int kiln_errf(struct kiln_err *err, int code, const char *field,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Resets err to "no error". */
void kiln_err_clear(struct kiln_err *err);

/* A short stable identifier for a code ("invalid", "not_found", ...), used as
 * the JSON error's "code" when a handler gives none of its own. */
const char *kiln_code_name(int code);

#endif

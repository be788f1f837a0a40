/*
 * kiln_err: filling and naming error values (see kiln_err.h).
 */
#include "runtime/kiln_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kiln_errf(struct kiln_err *err, int code, const char *field,
	      const char *fmt, ...)
{
	if (err == NULL)
		return code;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void kiln_err_clear(struct kiln_err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

const char *kiln_code_name(int code)
{
	switch (code) {
	case KILN_OK: return "ok";
	case KILN_EINVAL: return "invalid";
	case KILN_ENOTFOUND: return "not_found";
	case KILN_ECONFLICT: return "conflict";
	case KILN_ETOOBIG: return "too_large";
	case KILN_EUNPROC: return "unprocessable";
	case KILN_EAUTH: return "unauthorized";
	case KILN_EFORBIDDEN: return "forbidden";
	case KILN_EIO: return "io_error";
	case KILN_ENOMEM: return "out_of_memory";
	case KILN_EUNAVAIL: return "unavailable";
	case KILN_ENOSPACE: return "insufficient_storage";
	case KILN_ELIMIT: return "too_many_requests";
	default: return "internal";
	}
}

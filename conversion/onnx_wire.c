/*
 * onnx_wire: the bounded protobuf wire-format reader under every ONNX
 * parse (pb_next: one field, its length checked against the end of the
 * enclosing message), and the checks on names and free text that come from
 * the file (length, control characters, UTF-8), with their error texts.
 *
 * Knows no ONNX message; callers say what they are reading for the
 * message.
 */
#include "conversion/onnx_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- wire format ------------------------------------------------------------ */
int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return -1;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return -1;
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*pp = p;
			*v = x;
			return 0;
		}
	}
	return -1;
}

int pb_next(struct pbr *r, struct pbf *f, const char *what,
	    struct kiln_err *err)
{
	if (r->p >= r->end)
		return 0;
	f->start = r->p;
	uint64_t tag;
	if (pb_varint(&r->p, r->end, &tag) != 0)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: truncated field tag in %s",
				 what);
	f->num = (uint32_t)(tag >> 3);
	f->wt = (int)(tag & 7);
	if (tag >> 3 == 0 || tag >> 3 > 536870911u)
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: field number %llu in %s",
				 (unsigned long long)(tag >> 3), what);
	f->data = NULL;
	f->len = 0;
	f->v = 0;
	switch (f->wt) {
	case 0:
		if (pb_varint(&r->p, r->end, &f->v) != 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: varint field %u of %s runs past the end",
					 f->num, what);
		break;
	case 1:
	case 5: {
		size_t w = f->wt == 1 ? 8 : 4;
		if ((size_t)(r->end - r->p) < w)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: fixed field %u of %s runs past the end",
					 f->num, what);
		uint64_t x = 0;
		for (size_t i = 0; i < w; i++)
			x |= (uint64_t)r->p[i] << (8 * i);
		f->v = x;
		r->p += w;
		break;
	}
	case 2: {
		uint64_t len;
		if (pb_varint(&r->p, r->end, &len) != 0)
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated ONNX: length of field %u of %s runs past the end",
					 f->num, what);
		if (len > (uint64_t)(r->end - r->p))
			return kiln_errf(err, KILN_EINVAL, "model",
					 "truncated or corrupt ONNX: field %u of %s claims %llu bytes but only %zu remain",
					 f->num, what, (unsigned long long)len,
					 (size_t)(r->end - r->p));
		f->data = r->p;
		f->len = (size_t)len;
		r->p += len;
		break;
	}
	default:
		/* 3 and 4 are protobuf groups, which onnx.proto never uses;
		 * 6 and 7 do not exist. */
		return kiln_errf(err, KILN_EINVAL, "model",
				 "not an ONNX model: field %u of %s has wire type %d",
				 f->num, what, f->wt);
	}
	f->stop = r->p;
	return 1;
}

int onnx_want_wt(const struct pbf *f, int wt, const char *what,
		   const char *field, struct kiln_err *err)
{
	if (f->wt == wt)
		return 0;
	return kiln_errf(err, KILN_EINVAL, "model",
			 "not an ONNX model: %s.%s (field %u) has wire type %d, expected %d",
			 what, field, f->num, f->wt, wt);
}

/* --- names ------------------------------------------------------------------ */

/* Printable excerpt of untrusted bytes for an error message. */
void onnx_show(const uint8_t *s, size_t n, char *buf, size_t size)
{
	size_t j = 0, lim = size > 4 ? size - 4 : 0;
	for (size_t i = 0; i < n && j < lim && i < 48; i++)
		buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	if ((n > 48 || j >= lim) && size >= 4) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	if (size > 0)
		buf[j < size ? j : size - 1] = '\0';
}

static size_t utf8_bad(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1; cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2; cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3; cp = c & 0x07;
		} else {
			return i;
		}
		if (n - i <= k)
			return i;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k + 1;
	}
	return SIZE_MAX;
}

/* Checks a name from the file; on failure writes why into whybuf. */
bool onnx_name_ok(const uint8_t *s, size_t n, char *why, size_t wsz)
{
	char shown[64];
	if (n > ONNX_NAME_MAX) {
		onnx_show(s, n, shown, sizeof(shown));
		snprintf(why, wsz, "is %zu bytes long (limit %d): '%s'", n,
			 ONNX_NAME_MAX, shown);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f) {
			onnx_show(s, n, shown, sizeof(shown));
			snprintf(why, wsz,
				 "has a control character (0x%02x) at byte %zu: '%s'",
				 s[i], i, shown);
			return false;
		}
	}
	size_t bad = utf8_bad(s, n);
	if (bad != SIZE_MAX) {
		onnx_show(s, n, shown, sizeof(shown));
		snprintf(why, wsz, "is not valid UTF-8 at byte %zu: '%s'", bad,
			 shown);
		return false;
	}
	return true;
}

int onnx_bad_name(struct kiln_err *err, const char *why, const char *fmt, ...)
{
	char ctx[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	return kiln_errf(err, KILN_EINVAL, "model",
			 "%s %s; names must be printable UTF-8 of at most %d bytes",
			 ctx, why, ONNX_NAME_MAX);
}

/* Free text (producer, metadata values): kept, with control characters and
 * invalid UTF-8 replaced by '?' so the JSON stays clean. */
const char *onnx_text_copy(struct onnx_model *m, const uint8_t *s, size_t n)
{
	char *d = onnx_arena_alloc(m, n + 1);
	if (d == NULL)
		return NULL;
	size_t i = 0;
	while (i < n) {
		size_t bad = utf8_bad(s + i, n - i);
		size_t good = bad == SIZE_MAX ? n - i : bad;
		for (size_t j = 0; j < good; j++) {
			uint8_t c = s[i + j];
			d[i + j] = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f
				? '?' : (char)c;
		}
		i += good;
		if (i < n)
			d[i++] = '?';
	}
	d[n] = '\0';
	return d;
}

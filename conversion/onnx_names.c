/*
 * onnx_names: Ultralytics' "names" metadata → labels (see onnx_names.h).
 * A small reader of exactly the repr shape the exporter writes, with its
 * keys bare or quoted: anything else (a list, a YAML path, keys out of
 * order) is not guessed at.
 *
 * Escapes, as checked with Debian's Python 3.11 (str() of a dict is its
 * repr(); json.dumps with its default ensure_ascii=True):
 *   str({0: 'caf\u00e9\n', 1: "a'b", 3: 'b\\s', 5: '\x00\x7f\x9f',
 *        6: '\u4eba', 7: '\U0001F600', 8: '\u200b\u00ad', 11: '\U000e0001',
 *        12: '\xa0'})
 *     → {0: 'café\n', 1: "a'b", 3: 'b\\s', 5: '\x00\x7f\x9f', 6: '人',
 *        7: '😀', 8: '\u200b\xad', 11: '\U000e0001', 12: '\xa0'}
 *   repr keeps printable non-ASCII as it is and writes \\, the quote it
 *   chose (\' only when a name holds both quotes), \t \n \r, and \xNN,
 *   \uXXXX, \UXXXXXXXX for other non-printables (U+00A0 and U+00AD are
 *   not printable to Python, so a name with a no-break space or a soft
 *   hyphen comes as \xa0 / \xad).  Never \a \b \f \v, octal or \N{...}.
 *   json.dumps writes \" \\ \n \r \t \b \f, and \uXXXX for every other
 *   control and non-ASCII character, astral ones as a surrogate pair
 *   ("\ud83d\ude00" for U+1F600); other JSON writers may write \/.
 * So \\ \' \" \/ \xNN \uXXXX \UXXXXXXXX are decoded to UTF-8 and a
 * \uD800-\uDBFF followed by \uDC00-\uDFFF is one code point.  Refused,
 * with words: a lone surrogate or one in \U (Python can hold '\ud800' and
 * repr writes it so, but it has no UTF-8 form: no real export carries
 * it), a code point past U+10FFFF, and ASCII control characters however
 * written (\n, \t, \x00, \u001b, or the raw byte: MUD labels cannot hold
 * them, spec.c, and NUL would end the C string); any other escape is not
 * one repr or JSON writes.  Raw bytes are taken as they are: the text
 * comes from onnx_text_copy, which keeps it valid UTF-8.
 */
#include "conversion/onnx_names.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	return p;
}

/* n hex digits at p into *v; returns the position after them, or NULL */
static const char *hex(const char *p, int n, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return NULL;
		*v = *v << 4 | (uint32_t)d;
	}
	return p;
}

/* The escape at p (just after its backslash) as one code point in *cp;
 * returns the position after it, or NULL with why (wcap bytes) filled. */
static const char *escape(const char *p, uint32_t *cp, char *why, size_t wcap)
{
	const char *e = p;
	switch (*p) {
	case '\\': case '\'': case '"': case '/':
		*cp = (unsigned char)*p;
		return p + 1;
	case 'x':
		if ((p = hex(p + 1, 2, cp)) == NULL)
			goto digits;
		return p;
	case 'U':
		if ((p = hex(p + 1, 8, cp)) == NULL)
			goto digits;
		if (*cp > 0x10ffff) {
			snprintf(why, wcap, "\\U%.8s is past U+10FFFF, the last code point", e + 1);
			return NULL;
		}
		if (*cp >= 0xd800 && *cp <= 0xdfff) {
			snprintf(why, wcap, "\\U%.8s is a surrogate, which has no UTF-8 form", e + 1);
			return NULL;
		}
		return p;
	case 'u':
		if ((p = hex(p + 1, 4, cp)) == NULL)
			goto digits;
		if (*cp >= 0xdc00 && *cp <= 0xdfff) {
			snprintf(why, wcap, "\\u%.4s is a low surrogate with no high one "
				 "(\\uD800-\\uDBFF) before it", e + 1);
			return NULL;
		}
		if (*cp >= 0xd800 && *cp <= 0xdbff) {
			uint32_t lo;
			if (p[0] != '\\' || p[1] != 'u' || hex(p + 2, 4, &lo) == NULL ||
			    lo < 0xdc00 || lo > 0xdfff) {
				snprintf(why, wcap, "\\u%.4s is a high surrogate not followed by "
					 "a low one (\\uDC00-\\uDFFF)", e + 1);
				return NULL;
			}
			*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		return p;
	default:
		if (*p == 'n' || *p == 't' || *p == 'r' || *p == 'b' || *p == 'f')
			snprintf(why, wcap, "\\%c is a control character, which a label "
				 "cannot hold", *p);
		else
			snprintf(why, wcap, "\\%c is not an escape Python's repr or JSON "
				 "writes", (unsigned char)*p >= 0x20 ? *p : '?');
		return NULL;
	}
digits:
	snprintf(why, wcap, "\\%c needs %d hex digits", *e,
		 *e == 'x' ? 2 : *e == 'u' ? 4 : 8);
	return NULL;
}

/* cp as UTF-8 at out[*n] (cap bytes in all); 0, or -1 when it does not fit */
static int put_utf8(char *out, size_t *n, size_t cap, uint32_t cp)
{
	unsigned char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp; k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f)); k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f)); k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f)); k = 4;
	}
	if (*n + k >= cap)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	return 0;
}

/* A Python repr (or JSON) string at p ('...' or "..."); its text, decoded
 * to UTF-8, into out (cap bytes).  Returns the position after the closing
 * quote, or NULL with why filled. */
static const char *pystr(const char *p, char *out, size_t cap, char *why, size_t wcap)
{
	char q = *p;
	size_t n = 0;
	if (q != '\'' && q != '"') {
		snprintf(why, wcap, "a quoted string was expected");
		return NULL;
	}
	for (p++; *p && *p != q;) {
		uint32_t cp = (unsigned char)*p;
		int raw = cp != '\\';
		if (raw)
			p++;
		else if ((p = escape(p + 1, &cp, why, wcap)) == NULL)
			return NULL;
		if (cp < 0x20 || cp == 0x7f) {
			snprintf(why, wcap, "it holds the control character 0x%02x, which a "
				 "label cannot hold", (unsigned)cp);
			return NULL;
		}
		/* a raw byte stays a byte (the text is UTF-8 already); an
		 * escape's code point is written as UTF-8 */
		if (raw ? n + 1 >= cap : put_utf8(out, &n, cap, cp) != 0) {
			snprintf(why, wcap, "it is longer than %zu bytes", cap - 1);
			return NULL;
		}
		if (raw)
			out[n++] = (char)cp;
	}
	if (*p != q) {
		snprintf(why, wcap, "its closing quote (%c) is missing", q);
		return NULL;
	}
	out[n] = '\0';
	return p + 1;
}

/* A key at p: digits, bare (str() of a dict with int keys, what the
 * exporter writes) or quoted ('0' or "0": str() of a dict whose keys came
 * from YAML or JSON as strings, and JSON itself).  Its value into *k;
 * returns the position after it, or NULL with why filled. */
static const char *key(const char *p, long *k, char *why, size_t wcap)
{
	char buf[16];
	const char *after = p;
	if (*p == '\'' || *p == '"') {
		if ((after = pystr(p, buf, sizeof(buf), why, wcap)) == NULL)
			return NULL;
		p = buf;
	}
	/* one number's digits: no sign, space or leading zero */
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		goto bad;
	char *end;
	errno = 0;
	*k = strtol(p, &end, 10);
	if (errno != 0)
		goto bad;
	if (p == buf && *end != '\0')
		goto bad;
	return p == buf ? after : end;
bad:
	snprintf(why, wcap, "a key 0, 1, 2, ... (bare or quoted) was expected");
	return NULL;
}

cJSON *onnx_names_labels(const char *text, struct kiln_err *err)
{
	char why[200] = "";
	if (text == NULL) {
		kiln_errf(err, KILN_EINVAL, "names", "the model's metadata has no names");
		return NULL;
	}
	const char *p = ws(text), *at = p;
	cJSON *a = NULL;
	long want = 0;
	char name[512];
	if (*p++ != '{') {
		snprintf(why, sizeof(why), "a dict ({0: 'person', ...}) was expected");
		goto bad;
	}
	if ((a = cJSON_CreateArray()) == NULL) {
		kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		return NULL;
	}
	for (p = ws(p); *p != '}'; p = ws(p)) {
		long k;
		at = p;
		if ((p = key(p, &k, why, sizeof(why))) == NULL)
			goto bad;
		if (k != want || want >= ONNX_NAMES_MAX) {
			if (want >= ONNX_NAMES_MAX)
				snprintf(why, sizeof(why), "more than %d names", ONNX_NAMES_MAX);
			else
				snprintf(why, sizeof(why), "key %ld where %ld was expected (keys "
					 "run 0..n-1 in order)", k, want);
			goto bad;
		}
		p = ws(p);
		at = p;
		if (*p++ != ':') {
			snprintf(why, sizeof(why), "':' was expected after key %ld", k);
			goto bad;
		}
		at = p = ws(p);
		char wh[160];
		if ((p = pystr(p, name, sizeof(name), wh, sizeof(wh))) == NULL ||
		    name[0] == '\0') {
			snprintf(why, sizeof(why), "the name of key %ld: %s", k,
				 p ? "it is empty" : wh);
			goto bad;
		}
		cJSON *s = cJSON_CreateString(name);
		if (s == NULL || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			kiln_errf(err, KILN_ENOMEM, "", "out of memory");
			return NULL;
		}
		want++;
		at = p = ws(p);
		if (*p == ',')
			p++;
		else if (*p != '}') {
			snprintf(why, sizeof(why), "',' or '}' was expected after the name of "
				 "key %ld", k);
			goto bad;
		}
	}
	at = p;
	if (want == 0) {
		snprintf(why, sizeof(why), "the dict is empty");
		goto bad;
	}
	if (*(at = ws(p + 1)) != '\0') {
		snprintf(why, sizeof(why), "text follows the dict's '}'");
		goto bad;
	}
	return a;
bad:
	cJSON_Delete(a);
	kiln_errf(err, KILN_EINVAL, "names", "the model's metadata 'names' cannot be taken "
		  "as labels (byte %ld): %s", (long)(at - text), why);
	return NULL;
}

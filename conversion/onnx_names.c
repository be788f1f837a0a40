/*
 * onnx_names: Ultralytics' "names" metadata → labels (see onnx_names.h).
 * A small reader of exactly the repr shape the exporter writes, with its
 * keys bare or quoted: anything else (a list, a YAML path, keys out of
 * order) is not guessed at.
 */
#include "conversion/onnx_names.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	return p;
}

/* A Python repr string at p ('...' or "..."); its text into out (cap
 * bytes).  Returns the position after the closing quote, or NULL. */
static const char *pystr(const char *p, char *out, size_t cap)
{
	char q = *p;
	size_t n = 0;
	if (q != '\'' && q != '"')
		return NULL;
	for (p++; *p && *p != q; p++) {
		char c = *p;
		if (c == '\\') {
			c = *++p;
			if (c != '\\' && c != '\'' && c != '"')
				return NULL;  /* \n, \x..: not in a class name */
		}
		if (n + 1 >= cap)
			return NULL;
		out[n++] = c;
	}
	if (*p != q)
		return NULL;
	out[n] = '\0';
	return p + 1;
}

/* A key at p: digits, bare (str() of a dict with int keys, what the
 * exporter writes) or quoted ('0' or "0": str() of a dict whose keys came
 * from YAML or JSON as strings, and JSON itself).  Its value into *k;
 * returns the position after it, or NULL. */
static const char *key(const char *p, long *k)
{
	char buf[16];
	const char *after = p;
	if (*p == '\'' || *p == '"') {
		if ((after = pystr(p, buf, sizeof(buf))) == NULL)
			return NULL;
		p = buf;
	}
	/* one number's digits: no sign, space or leading zero */
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return NULL;
	char *end;
	errno = 0;
	*k = strtol(p, &end, 10);
	if (errno != 0)
		return NULL;
	if (p == buf)
		return *end == '\0' ? after : NULL;
	return end;
}

cJSON *onnx_names_labels(const char *text)
{
	if (text == NULL)
		return NULL;
	const char *p = ws(text);
	if (*p++ != '{')
		return NULL;
	cJSON *a = cJSON_CreateArray();
	long want = 0;
	char name[512];
	for (p = ws(p); a && *p != '}'; p = ws(p)) {
		long k;
		if ((p = key(p, &k)) == NULL || k != want || want >= ONNX_NAMES_MAX)
			goto bad;
		p = ws(p);
		if (*p++ != ':')
			goto bad;
		if ((p = pystr(ws(p), name, sizeof(name))) == NULL || name[0] == '\0')
			goto bad;
		cJSON_AddItemToArray(a, cJSON_CreateString(name));
		want++;
		p = ws(p);
		if (*p == ',')
			p++;
		else if (*p != '}')
			goto bad;
	}
	if (a == NULL || want == 0 || *ws(p + 1) != '\0')
		goto bad;
	return a;
bad:
	cJSON_Delete(a);
	return NULL;
}

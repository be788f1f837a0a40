/*
 * onnx_names: Ultralytics' "names" metadata → labels (see onnx_names.h).
 * A small reader of exactly the repr shape the exporter writes: anything
 * else (a list, a YAML path, keys out of order) is not guessed at.
 */
#include "conversion/onnx_names.h"

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
		char *end;
		long k = strtol(p, &end, 10);
		if (end == p || k != want || want >= ONNX_NAMES_MAX)
			goto bad;
		p = ws(end);
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

/*
 * strbuf: a growing NUL-terminated text buffer, for the writers that build
 * a file or a reply piece by piece (the recipes' YAML, JSON and scripts).
 *
 * An allocation failure sets `oom` and makes every later call a no-op, so
 * a writer checks once at the end.  The buffer owns `s`: strbuf_take()
 * hands it to the caller (free() it), strbuf_free() drops it.
 *
 *   struct strbuf b = {0};
 *   strbuf_puts(&b, "a: ");
 *   strbuf_printf(&b, "%d\n", 3);
 *   char *text = strbuf_take(&b);   NULL when out of memory
 */
#ifndef KILN_STRBUF_H
#define KILN_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *s;        /* NUL-terminated once anything was added; NULL before */
	size_t len, cap;
	int oom;
};

void strbuf_add(struct strbuf *b, const char *t, size_t n);
void strbuf_puts(struct strbuf *b, const char *t);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text ("" when nothing was added), which the caller frees; NULL (and
 * the buffer freed) when an allocation failed.  The buffer is empty after. */
char *strbuf_take(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif

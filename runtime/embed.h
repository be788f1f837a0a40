/*
 * embed: files compiled into kilnd by runtime/embed.sh (migrations, web UI).
 * Each table ends with an entry whose path is NULL; data is NUL-terminated
 * one byte past size, so SQL can be used as a C string.
 */
#ifndef KILN_EMBED_H
#define KILN_EMBED_H

#include <stddef.h>

struct embed_file {
	const char *path;           /* as given to embed.sh, e.g. "schema/001_init.sql" */
	const unsigned char *data;  /* size bytes, then a NUL */
	size_t size;
};

extern const struct embed_file migrations[];
extern const struct embed_file webui_assets[];

#endif

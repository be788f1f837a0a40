/*
 * mud: Sipeed's MUD model description (.mud, an ini file) — writer, reader
 * and the checks MaixPy/MaixCDK apply when nn.NN loads one
 * (../shared/reference/mud.md).
 *
 * The reader parses with inih, and first checks every line for what inih
 * and MaixCDK's inifile2 read differently (a '#' after the start of a line,
 * " ;" comments, continuation lines, "key: value", BOM, empty or duplicate
 * sections): such a file would load differently on the board than here, so
 * it is an error, not a guess.  Duplicate keys: the first wins (inifile2).
 *
 * API
 *   mud_new() / mud_free(m)           empty description; free accepts NULL
 *   mud_set(m, section, key, value, err)  replaces or appends (order kept)
 *   mud_get(m, section, key)          value or NULL (borrowed, valid until the
 *                                     next mud_set or mud_free)
 *   mud_to_text(m)                    ini text; new string, caller free()s
 *   mud_parse_text(text, len, &m, err) / mud_read(path, &m, err)
 *   mud_validate(m, dir, err)         MaixPy's rules; dir = the .mud's directory
 *                                     (model files must be there), NULL = skip
 *                                     the file checks
 *   mud_for_spec(spec, model, npu, vnpu, &m, err)
 *                                     the MUD Kiln writes for a job: [basic]
 *                                     type + model (cvimodel) or model_npu /
 *                                     model_vnpu (axmodel; either may be NULL),
 *                                     [extra] from the spec
 *
 * Ownership: a struct mud owns all its strings.  Knows nothing of jobs or
 * HTTP.  inih's line length is raised once (process-wide, pthread_once) to
 * MUD_MAX_LINE, because an 80-class label line is ~700 bytes and inih's
 * default is 200; that only widens what every inih caller accepts.
 */
#ifndef KILN_MUD_H
#define KILN_MUD_H

#include <stddef.h>

#include "runtime/kiln_err.h"
#include "conversion/spec.h"

#define MUD_MAX_LINE 65536
#define MUD_MAX_BYTES (1 << 20)
#define MUD_MAX_ENTRIES 256

struct mud_entry {
	char *section;
	char *key;
	char *value;
};

struct mud {
	struct mud_entry *e;   /* in file order */
	size_t n, cap;
};

struct mud *mud_new(void);
void mud_free(struct mud *m);
int mud_set(struct mud *m, const char *section, const char *key, const char *value,
	    struct kiln_err *err);
const char *mud_get(const struct mud *m, const char *section, const char *key);
char *mud_to_text(const struct mud *m);
int mud_parse_text(const char *text, size_t len, struct mud **out, struct kiln_err *err);
int mud_read(const char *path, struct mud **out, struct kiln_err *err);
int mud_validate(const struct mud *m, const char *dir, struct kiln_err *err);
int mud_for_spec(const struct job_spec *s, const char *model, const char *model_npu,
		 const char *model_vnpu, struct mud **out, struct kiln_err *err);

#endif

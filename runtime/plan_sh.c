/*
 * plan_sh: a plan as a POSIX shell script (see plan_sh.h).  Before this
 * module there were two renderers with two copies of the quoting
 * (conversion/recipe.c for the seeds' style, runtime/engine.c for the
 * engine's command); this is both, once.  It builds text only: nothing
 * here runs a shell.
 */
#include "runtime/plan_sh.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "runtime/strbuf.h"

/* One shell word: bare when every byte is plainly safe, else single-quoted
 * with each ' written as '\''. */
static void word(struct strbuf *b, const char *s)
{
	int bare = s[0] != '\0';
	for (const char *p = s; *p && bare; p++)
		bare = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		       (*p >= '0' && *p <= '9') || strchr("_./:=,+@%-", *p) != NULL;
	if (bare) {
		strbuf_puts(b, s);
		return;
	}
	strbuf_puts(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			strbuf_puts(b, "'\\''");
		else
			strbuf_add(b, p, 1);
	}
	strbuf_puts(b, "'");
}

static void write_file(struct strbuf *b, const struct plan_file *f)
{
	int heredoc = f->size > 0 && f->content[f->size - 1] == '\n' &&
		      strlen(f->content) == f->size;
	if (heredoc) {
		char delim[32] = "KILN_EOF";
		for (int k = 1; strstr(f->content, delim); k++)
			snprintf(delim, sizeof(delim), "KILN_EOF_%d", k);
		strbuf_puts(b, "cat > ");
		word(b, f->name);
		strbuf_printf(b, " <<'%s'\n", delim);
		strbuf_add(b, f->content, f->size);
		strbuf_printf(b, "%s\n", delim);
	} else {
		strbuf_puts(b, "printf '%s' ");
		word(b, f->content);
		strbuf_puts(b, " > ");
		word(b, f->name);
		strbuf_puts(b, "\n");
	}
	if (f->executable) {
		strbuf_puts(b, "chmod 755 ");
		word(b, f->name);
		strbuf_puts(b, "\n");
	}
}

/* The tool's argv in the seeds' style: one option (and its value) a line. */
static void tool_words(struct strbuf *b, char *const *argv, size_t argc)
{
	for (size_t k = 0; k < argc; k++) {
		const char *a = argv[k];
		if (k > 0)
			strbuf_puts(b, a[0] == '-' && a[1] != '\0' ? " \\\n  " : " ");
		word(b, a);
	}
}

/* A workspace path no real one equals, printed as "$PWD". */
static const char WS[] = "/kiln-workspace-placeholder";

/* The step as its engine spawns it; 0, or -1 after writing a line that
 * says why it cannot be run. */
static int engine_words(struct strbuf *b, const struct plan_step *s, const struct plan_sh_opts *o)
{
	const struct engine_conf *c = engine_find(o->confs, o->n_confs, s->toolchain);
	if (c == NULL) {
		strbuf_puts(b, "echo ");
		char msg[96];
		snprintf(msg, sizeof(msg), "toolchain %s is not configured in kiln.ini", s->toolchain);
		word(b, msg);
		strbuf_puts(b, " >&2; exit 1\n");
		return -1;
	}
	char name[128], mount[64];
	snprintf(mount, sizeof(mount), "%s:/workspace", WS);
	struct engine_cmd cmd;
	struct kiln_err err;
	if (engine_container_name(o->job, s->name, name, sizeof(name), &err) != 0 ||
	    engine_command(c, WS, name, s->argv, NULL, &cmd, &err) != 0) {
		engine_cmd_free(&cmd);
		strbuf_puts(b, "echo ");
		word(b, err.msg);
		strbuf_puts(b, " >&2; exit 1\n");
		return -1;
	}
	if (cmd.search_path != NULL && c->path[0] != '\0') {
		/* the same directory engine_command put first, then the user's PATH */
		size_t dl = strcspn(cmd.search_path, ":");
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%.*s", (int)dl, cmd.search_path);
		strbuf_puts(b, "PATH=");
		word(b, dir);
		strbuf_puts(b, ":\"$PATH\" ");
	}
	/* engine_command puts the step's argv last: the engine's words on
	 * one line, then the tool's in the seeds' style */
	size_t n = 0;
	while (cmd.argv[n])
		n++;
	size_t head = n >= s->argc ? n - s->argc : 0;
	for (size_t k = 0; k < head; k++) {
		if (strcmp(cmd.argv[k], mount) == 0)
			strbuf_puts(b, "\"$PWD\":/workspace");
		else
			word(b, cmd.argv[k]);
		strbuf_puts(b, " ");
	}
	tool_words(b, cmd.argv + head, n - head);
	strbuf_puts(b, "\n");
	engine_cmd_free(&cmd);
	return 0;
}

char *plan_sh(const struct plan *p, const struct plan_sh_opts *o)
{
	struct strbuf b = {0};
	strbuf_puts(&b, "#!/bin/sh\n# ");
	strbuf_puts(&b, o->title ? o->title : "Kiln job");
	strbuf_puts(&b, "\n#\n# What Kiln runs for this job, as a person would type it: the plan's "
		    "files,\n# then each step.  Run it in a directory holding the model, the "
		    "calibration\n# images and the test image under the names used below; that "
		    "directory is\n# the workspace.  ");
	strbuf_puts(&b, o->confs ? "Each step is the command kilnd runs through its engine\n"
			"# (kiln.ini [toolchain.*]).\n"
			: "Run it inside the toolchain's container (see kiln.ini\n"
			"# [toolchain.*]).\n");
	strbuf_puts(&b, "set -e\n\n");
	for (size_t i = 0; i < p->n_files; i++)
		write_file(&b, &p->files[i]);
	for (size_t i = 0; i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];
		strbuf_printf(&b, "\n# step %zu/%zu: %s (toolchain %s, timeout %d s)\n", i + 1,
			      p->n_steps, s->name, s->toolchain, s->timeout_s);
		if (o->confs != NULL) {
			if (engine_words(&b, s, o) != 0)
				continue;
		} else {
			tool_words(&b, s->argv, s->argc);
			strbuf_puts(&b, "\n");
		}
		for (size_t k = 0; k < s->n_outputs; k++) {
			char msg[PLAN_PATH_MAX + PLAN_NAME_MAX + 32];
			snprintf(msg, sizeof(msg), "step %s did not write %s", s->name, s->outputs[k]);
			strbuf_puts(&b, "test -e ");
			word(&b, s->outputs[k]);
			strbuf_puts(&b, " || { echo ");
			word(&b, msg);
			strbuf_puts(&b, " >&2; exit 1; }\n");
		}
	}
	return strbuf_take(&b);
}

/*
 * plan_sh: the one renderer of a plan as a shell script — what
 * GET /api/v1/jobs/{id}/plan?format=sh answers, what the tests' command
 * line prints, what a person runs to repeat a job by hand.
 *
 * The script writes the plan's files (a here-document when the text ends
 * in a newline, in the seeds' style; printf '%s' otherwise, so every byte
 * is as the plan has it), then runs each step in the seeds' style (the
 * command, then one option and its value per line) and checks the step's
 * outputs.  Given the engine confs (kiln.ini [toolchain.*]), each step is
 * the exact command kilnd spawns through its engine (engine_command): the
 * container command with "$PWD" as the workspace, or the local tool with
 * its PATH; without them, the tool's own command, to be run inside the
 * toolchain's container.  Every word is bare when plainly safe, else
 * single-quoted.
 *
 * API
 *   plan_sh(plan, &opts)   new string, caller free()s; NULL when out of memory
 */
#ifndef KILN_PLAN_SH_H
#define KILN_PLAN_SH_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/engine.h"
#include "runtime/plan.h"

struct plan_sh_opts {
	const char *title;                 /* first comment line; NULL = "Kiln job" */
	const struct engine_conf *confs;   /* NULL: the tools' own commands */
	size_t n_confs;
	int64_t job;                       /* names the containers (kiln-<job>-<step>) */
};

char *plan_sh(const struct plan *p, const struct plan_sh_opts *o);

#endif

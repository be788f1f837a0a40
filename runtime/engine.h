/*
 * engine: how a toolchain's step is run — on the host (local) or in a docker
 * or podman container — and whether a toolchain is ready to run at all.
 *
 * The lead's config module reads [toolchain.<id>] from kiln.ini and fills
 * one struct engine_conf per toolchain (the fields match struct
 * config_toolchain, plus the id).  This module turns (conf, workspace,
 * container name, step argv) into the argv the executor spawns:
 *
 *   local:   argv as is; conf.path (made absolute from the daemon's working
 *            directory) is put in front of PATH, both for finding argv[0]
 *            and in the step's environment
 *   docker,  <engine> run --rm --name kiln-<job>-<step>
 *   podman:      -v <workspace>:/workspace -w /workspace [engine_args] <image> argv...
 *            plus `<engine> kill <name>` and `<engine> rm -f <name>` (podman:
 *            `rm -f -t 0`, which kills at once), run when a cancel or
 *            timeout reaches SIGKILL, and for a job found running after a
 *            crash
 *
 * engine_args is split on spaces and tabs (no quoting), as kiln.ini says.
 *
 * API
 *   engine_find(confs, n, toolchain)        the conf for a toolchain, or NULL;
 *                                           "local" falls back to engine_local_conf
 *   engine_local_conf()                      static conf: toolchain local, engine local
 *   engine_conf_check(conf, err)             engine known, image given and sane, args bounded
 *   engine_container_name(job, step, buf, cap)
 *   engine_command(conf, workspace, container, argv, extra_env, &cmd, err)
 *   engine_cmd_free(&cmd)
 *   engine_is_slurm(conf), engine_node_conf(conf, &node)   engine = slurm: what the
 *                                           node runs (the step's argv is built
 *                                           from node_engine; runtime/slurm.h submits it)
 *   engine_remove_container(conf, name)      `<engine> rm -f name`, bounded in time
 *   engine_probe(conf, timeout_ms, &status)  does the engine answer, is the image there,
 *                                            does the tool run inside it (`model_transform.py
 *                                            --help`, `pulsar2 version`...), is it the
 *                                            toolchain double, what to run if not
 *   engine_status_json(&status)              for GET /api/v1/targets
 * The plan as a shell script with these commands is runtime/plan_sh.h.
 */
#ifndef KILN_ENGINE_H
#define KILN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "runtime/plan.h"

#define ENGINE_MAX_EXTRA_ARGS 32
/* A probe answers within this by default: `docker version` with a dead
 * daemon socket returns at once; a hung daemon should not hang start-up. */
#define ENGINE_PROBE_TIMEOUT_MS 5000
/* Running the tool's --help in its image: a container start plus python
 * imports (tpu_mlir pulls in numpy and onnx) take seconds, not ms. */
#define ENGINE_CHECK_TIMEOUT_MS 60000

struct engine_conf {
	char toolchain[16];     /* tpu-mlir | pulsar2 | pulsar | voyager | local */
	char engine[16];        /* docker | podman | local | slurm */
	char image[256];        /* containers: the image; local: unused */
	char engine_args[512];  /* extra arguments for `<engine> run`, space-separated */
	char path[1024];        /* local: prepended to PATH; relative = from kilnd's cwd */
	/* engine = slurm (runtime/slurm.h): the step is a batch job whose script
	 * runs what node_engine would run on this host, on a cluster node */
	char node_engine[16];   /* docker | podman | local */
	char partition[64];     /* sbatch --partition; "" = the cluster's default */
	int cpus;               /* --cpus-per-task; 0 = not given */
	char mem[32];           /* --mem (e.g. 4G); "" = not given */
	char time[32];          /* --time upper bound; "" = from the step's timeout */
	char sbatch_args[512];  /* more sbatch arguments, space-separated */
};

/* What to spawn for one step; every pointer owned, freed by engine_cmd_free. */
struct engine_cmd {
	char **argv;           /* NULL-terminated */
	char *search_path;     /* PATH to find argv[0] in; NULL = the daemon's */
	char **envp;           /* NULL-terminated environment */
	char **kill_argv;      /* containers: `<engine> kill <name>`; NULL for local */
	char **cleanup_argv;   /* containers: `<engine> rm -f [-t 0] <name>`; NULL for local */
	char container[128];   /* "" for local */
};

struct engine_status {
	char toolchain[16];
	char engine[16];
	char image[256];
	int engine_ok;         /* the engine (or, for local, the tool) answers */
	int image_ok;          /* containers: the image is present; local: 1 */
	int tool_ok;           /* the toolchain's programs run (in the image) */
	int simulated;         /* they answered as the toolchain double (its marker) */
	char message[sizeof(((struct kiln_err *)0)->msg)];     /* what is wrong; "" when ready */
	char fix[512];         /* the command a user would run; "" when ready */
};

const struct engine_conf *engine_find(const struct engine_conf *confs, size_t n,
				      const char *toolchain);
const struct engine_conf *engine_local_conf(void);

int engine_conf_check(const struct engine_conf *c, struct kiln_err *err);

/* 1 when steps of this toolchain go to Slurm. */
int engine_is_slurm(const struct engine_conf *c);
/* The conf of what runs on the node: c itself with engine = node_engine for
 * slurm, a plain copy otherwise. */
void engine_node_conf(const struct engine_conf *c, struct engine_conf *out);

/* sbatch_args split on spaces/tabs into toks (pointing into buf); -1 when
 * more than max. */
int engine_split_args(const char *args, char *buf, size_t cap, char **toks, int max);

/* "kiln-<job>-<step>" into buf; KILN_EINVAL when it does not fit. */
int engine_container_name(int64_t job, const char *step, char *buf, size_t cap,
			  struct kiln_err *err);

/* Builds the command for one step.  workspace must be absolute for
 * containers (it becomes a bind mount).  extra_env ("NAME=VALUE" strings,
 * NULL-terminated, may be NULL) is added to the spawned process's
 * environment — for a container that is the engine client, not the tool.
 * Free with engine_cmd_free() whatever the result. */
int engine_command(const struct engine_conf *c, const char *workspace, const char *container,
		   char *const *argv, const char *const *extra_env, struct engine_cmd *cmd,
		   struct kiln_err *err);
void engine_cmd_free(struct engine_cmd *cmd);

/* `<engine> rm -f <name>` for a container engine (nothing for local); waits
 * at most EXEC_HELPER_MS.  Returns 0 when the engine said it is gone or was
 * never there. */
int engine_remove_container(const struct engine_conf *c, const char *name);

/* Fills st; returns 0 when the toolchain is ready, KILN_EUNAVAIL when not
 * (st->message and st->fix say why and what to do). */
int engine_probe(const struct engine_conf *c, int timeout_ms, struct engine_status *st);

/* {"toolchain","engine","image","engine_ok","image_ok","tool_ok","simulated","ready",
 *  "message","fix"};
 * caller cJSON_Delete()s; NULL when out of memory. */
cJSON *engine_status_json(const struct engine_status *st);

#endif

/*
 * engine: command lines for local/docker/podman steps and toolchain probes
 * (see engine.h).
 *
 * Everything is built as argv arrays; the image and the workspace come from
 * the administrator's kiln.ini and the data directory, the step's argv from
 * a validated plan, and each stays one argv element.  What a user must do
 * when a toolchain is not ready is written here, per toolchain, because the
 * images come from different places (Docker Hub for tpuc_dev, a tarball
 * from AXERA for pulsar2, an SDK build for Voyager).
 */
#include "runtime/engine.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/exec.h"
#include "runtime/toolchain.h"

extern char **environ;

static const struct engine_conf LOCAL_CONF = {
	.toolchain = "local", .engine = "local", .image = "", .engine_args = "", .path = "",
};

const struct engine_conf *engine_local_conf(void)
{
	return &LOCAL_CONF;
}

const struct engine_conf *engine_find(const struct engine_conf *confs, size_t n,
				      const char *toolchain)
{
	for (size_t i = 0; confs && i < n; i++)
		if (strcmp(confs[i].toolchain, toolchain) == 0)
			return &confs[i];
	if (strcmp(toolchain, "local") == 0)
		return &LOCAL_CONF;
	return NULL;
}

static int is_container(const struct engine_conf *c)
{
	return strcmp(c->engine, "docker") == 0 || strcmp(c->engine, "podman") == 0;
}

static int image_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 256 || s[0] == '-')  /* "-x" would be read as an option */
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '/' || c == ':' || c == '@' || c == '-'))
			return 0;
	}
	return 1;
}

/* Splits engine_args on blanks into out[] (pointers into buf). */
static int split_args(const char *args, char *buf, size_t cap, char **out, int max)
{
	snprintf(buf, cap, "%s", args);
	int n = 0;
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return -1;
		out[n++] = t;
	}
	return n;
}

int engine_is_slurm(const struct engine_conf *c)
{
	return strcmp(c->engine, "slurm") == 0;
}

void engine_node_conf(const struct engine_conf *c, struct engine_conf *out)
{
	*out = *c;
	if (engine_is_slurm(c))
		snprintf(out->engine, sizeof(out->engine), "%s", c->node_engine);
}

int engine_split_args(const char *args, char *buf, size_t cap, char **toks, int max)
{
	return split_args(args, buf, cap, toks, max);
}

/* A space-separated setting (engine_args, sbatch_args) must split into at
 * most ENGINE_MAX_EXTRA_ARGS arguments. */
static int check_arg_count(const struct engine_conf *c, const char *key, const char *value,
			   struct kiln_err *err)
{
	char buf[512], field[64];
	char *toks[ENGINE_MAX_EXTRA_ARGS];
	if (split_args(value, buf, sizeof(buf), toks, ENGINE_MAX_EXTRA_ARGS) >= 0)
		return 0;
	snprintf(field, sizeof(field), "toolchain.%.16s.%s", c->toolchain, key);
	return kiln_errf(err, KILN_EINVAL, field, "[toolchain.%s] %s has more than %d arguments",
			 c->toolchain, key, ENGINE_MAX_EXTRA_ARGS);
}

int engine_conf_check(const struct engine_conf *c, struct kiln_err *err)
{
	char field[48];
	if (engine_is_slurm(c)) {
		struct engine_conf node;
		engine_node_conf(c, &node);
		snprintf(field, sizeof(field), "toolchain.%.16s.node_engine", c->toolchain);
		if (engine_is_slurm(&node))
			return kiln_errf(err, KILN_EINVAL, field,
					 "[toolchain.%s] node_engine cannot be slurm: use docker, "
					 "podman or local (what runs on the node)", c->toolchain);
		int rc = check_arg_count(c, "sbatch_args", c->sbatch_args, err);
		if (rc != 0)
			return rc;
		return engine_conf_check(&node, err);
	}
	snprintf(field, sizeof(field), "toolchain.%.16s.engine", c->toolchain);
	if (strcmp(c->engine, "local") != 0 && !is_container(c))
		return kiln_errf(err, KILN_EINVAL, field,
				 "[toolchain.%s] engine '%s' is not known: use docker, podman, local "
				 "or slurm", c->toolchain, c->engine);
	if (is_container(c)) {
		snprintf(field, sizeof(field), "toolchain.%.16s.image", c->toolchain);
		if (!image_ok(c->image))
			return kiln_errf(err, KILN_EINVAL, field,
					 "[toolchain.%s] image '%.100s' is not a valid image name",
					 c->toolchain, c->image);
	}
	return check_arg_count(c, "engine_args", c->engine_args, err);
}

int engine_container_name(int64_t job, const char *step, char *buf, size_t cap,
			  struct kiln_err *err)
{
	int n = snprintf(buf, cap, "kiln-%lld-%s", (long long)job, step);
	if (n < 0 || (size_t)n >= cap)
		return kiln_errf(err, KILN_EINVAL, "step", "container name for step '%.64s' is too long",
				 step);
	return 0;
}

/* --- string vectors ---------------------------------------------------------- */

struct vec {
	char **v;
	size_t n, cap;
	int oom;
};

static void vec_add(struct vec *v, const char *s)
{
	if (v->oom)
		return;
	if (v->n + 2 > v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 16;
		char **nv = realloc(v->v, nc * sizeof(char *));
		if (nv == NULL) {
			v->oom = 1;
			return;
		}
		v->v = nv;
		v->cap = nc;
	}
	v->v[v->n] = strdup(s);
	if (v->v[v->n] == NULL) {
		v->oom = 1;
		return;
	}
	v->n++;
	v->v[v->n] = NULL;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The vector (an empty one when nothing was added), or NULL when out of
 * memory; v is left empty either way. */
static char **vec_take(struct vec *v)
{
	if (v->oom) {
		strv_free(v->v);
		v->v = NULL;
		return NULL;
	}
	char **r = v->v ? v->v : calloc(1, sizeof(char *));
	v->v = NULL;
	return r;
}

/* conf.path made absolute from kilnd's working directory, into out. */
static void abs_path(const char *p, char *out, size_t cap)
{
	if (p[0] == '/') {
		snprintf(out, cap, "%s", p);
		return;
	}
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	int n = snprintf(out, cap, "%s/%s", cwd, p);
	if (n < 0 || (size_t)n >= cap)
		snprintf(out, cap, "%s", p);
}

/* `<engine> rm -f <name>`: kills and removes.  podman's rm -f first asks
 * the container to stop and waits up to 10 s; `-t 0` makes it kill at once
 * like docker's (which has no -t). */
static void rm_argv(struct vec *r, const struct engine_conf *c, const char *name)
{
	vec_add(r, c->engine);
	vec_add(r, "rm");
	vec_add(r, "-f");
	if (strcmp(c->engine, "podman") == 0) {
		vec_add(r, "-t");
		vec_add(r, "0");
	}
	vec_add(r, name);
}

void engine_cmd_free(struct engine_cmd *cmd)
{
	if (cmd == NULL)
		return;
	strv_free(cmd->argv);
	strv_free(cmd->envp);
	strv_free(cmd->kill_argv);
	strv_free(cmd->cleanup_argv);
	free(cmd->search_path);
	memset(cmd, 0, sizeof(*cmd));
}

int engine_command(const struct engine_conf *c, const char *workspace, const char *container,
		   char *const *argv, const char *const *extra_env, struct engine_cmd *cmd,
		   struct kiln_err *err)
{
	memset(cmd, 0, sizeof(*cmd));
	int rc = engine_conf_check(c, err);
	if (rc != 0)
		return rc;
	if (engine_is_slurm(c)) {
		/* the batch script runs on the node what node_engine runs here */
		struct engine_conf node;
		engine_node_conf(c, &node);
		return engine_command(&node, workspace, container, argv, extra_env, cmd, err);
	}
	struct vec a = {0}, e = {0};
	char *new_path = NULL;
	if (!is_container(c) && c->path[0] != '\0') {
		char dir[PATH_MAX];
		abs_path(c->path, dir, sizeof(dir));
		const char *old = getenv("PATH");
		size_t len = strlen(dir) + 1 + (old ? strlen(old) : 0) + 1;
		new_path = malloc(len);
		if (new_path == NULL)
			return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
		snprintf(new_path, len, "%s%s%s", dir, old ? ":" : "", old ? old : "");
	}
	/* The environment: kilnd's, with PATH replaced for a local path. */
	for (char **ev = environ; ev && *ev; ev++) {
		if (new_path && strncmp(*ev, "PATH=", 5) == 0)
			continue;
		vec_add(&e, *ev);
	}
	if (new_path) {
		size_t len = strlen(new_path) + 6;
		char *kv = malloc(len);
		if (kv) {
			snprintf(kv, len, "PATH=%s", new_path);
			vec_add(&e, kv);
			free(kv);
		} else {
			e.oom = 1;
		}
	}
	for (size_t i = 0; extra_env && extra_env[i]; i++)
		vec_add(&e, extra_env[i]);

	if (!is_container(c)) {
		for (size_t i = 0; argv[i]; i++)
			vec_add(&a, argv[i]);
		cmd->search_path = new_path;
		new_path = NULL;
	} else {
		if (workspace == NULL || workspace[0] != '/' || strchr(workspace, ':') ||
		    strchr(workspace, ',')) {
			strv_free(e.v);
			return kiln_errf(err, KILN_EINVAL, "",
					 "workspace '%.100s' cannot be mounted: it must be an absolute "
					 "path without ':' or ','", workspace ? workspace : "");
		}
		if (container == NULL || container[0] == '\0' ||
		    strlen(container) >= sizeof(cmd->container)) {
			strv_free(e.v);
			return kiln_errf(err, KILN_EINVAL, "", "a container step needs a name");
		}
		snprintf(cmd->container, sizeof(cmd->container), "%s", container);
		char mount[PATH_MAX + 16];
		snprintf(mount, sizeof(mount), "%s:/workspace", workspace);
		vec_add(&a, c->engine);
		vec_add(&a, "run");
		vec_add(&a, "--rm");
		vec_add(&a, "--name");
		vec_add(&a, container);
		vec_add(&a, "-v");
		vec_add(&a, mount);
		vec_add(&a, "-w");
		vec_add(&a, "/workspace");
		char buf[512];
		char *toks[ENGINE_MAX_EXTRA_ARGS];
		int nt = split_args(c->engine_args, buf, sizeof(buf), toks, ENGINE_MAX_EXTRA_ARGS);
		for (int i = 0; i < nt; i++)
			vec_add(&a, toks[i]);
		vec_add(&a, c->image);
		for (size_t i = 0; argv[i]; i++)
			vec_add(&a, argv[i]);
		struct vec k = {0}, r = {0};
		vec_add(&k, c->engine);
		vec_add(&k, "kill");
		vec_add(&k, container);
		rm_argv(&r, c, container);
		cmd->kill_argv = vec_take(&k);
		cmd->cleanup_argv = vec_take(&r);
		if (cmd->kill_argv == NULL || cmd->cleanup_argv == NULL)
			a.oom = 1;
	}
	free(new_path);
	cmd->argv = vec_take(&a);
	cmd->envp = vec_take(&e);
	if (cmd->argv == NULL || cmd->envp == NULL) {
		engine_cmd_free(cmd);
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	}
	return 0;
}

/* --- probes -------------------------------------------------------------------- */

struct capture {
	char first[200];   /* the first non-empty line of output */
	int marked;        /* a line carried the toolchain double's marker */
};

/* How the toolchain double names itself: "KILN-TOOLCHAIN-DOUBLE" on every
 * help text and file it writes, "kiln-double" in its version lines
 * (tests/toolchain-double/README.md).  No vendor tool prints either. */
static int double_marker(const char *line)
{
	return strstr(line, "KILN-TOOLCHAIN-DOUBLE") != NULL || strstr(line, "kiln-double") != NULL;
}

static void capture_line(void *arg, int stream, const char *line, size_t len)
{
	(void)stream;
	struct capture *c = arg;
	if (c->first[0] == '\0' && len > 0)
		snprintf(c->first, sizeof(c->first), "%s", line);
	if (double_marker(line))
		c->marked = 1;
}

/* Runs argv with a timeout; 0 when it exited 0. */
static int run_quiet(char *const *argv, const char *search, int timeout_ms, struct capture *cap)
{
	struct exec_req req = {
		.argv = argv, .search_path = search, .timeout_ms = timeout_ms,
		.on_line = capture_line, .arg = cap,
	};
	struct exec_result res;
	struct kiln_err err;
	int rc = exec_run(&req, &res, &err);
	if (rc != 0 && cap->first[0] == '\0')
		snprintf(cap->first, sizeof(cap->first), "%.199s", err.msg);
	return rc == 0 ? 0 : (res.outcome == EXEC_SPAWN_FAILED ? -2 : -1);
}

int engine_remove_container(const struct engine_conf *c, const char *name)
{
	if (!is_container(c))
		return 0;
	struct vec r = {0};
	rm_argv(&r, c, name);
	char **argv = vec_take(&r);
	if (argv == NULL)
		return KILN_ENOMEM;
	struct capture cap = {"", 0};
	int rc = run_quiet(argv, NULL, EXEC_HELPER_MS, &cap) == 0 ? 0 : KILN_EIO;
	strv_free(argv);
	return rc;
}

/* What proves a toolchain is there (its program for local, the commands run
 * in its image, how to get or build the image) is its row's: runtime/
 * toolchain.c.  "local" has no row: the host itself. */

/* podman needs a registry in the name to pull without a prompt; docker
 * assumes docker.io. */
static void pull_command(const struct engine_conf *c, char *out, size_t cap)
{
	const char *slash = strchr(c->image, '/');
	int has_domain = slash && (memchr(c->image, '.', (size_t)(slash - c->image)) ||
				   memchr(c->image, ':', (size_t)(slash - c->image)) ||
				   strncmp(c->image, "localhost/", 10) == 0);
	if (strcmp(c->engine, "podman") == 0 && !has_domain)
		snprintf(out, cap, "podman pull docker.io/%s%s", slash ? "" : "library/", c->image);
	else
		snprintf(out, cap, "%s pull %s", c->engine, c->image);
}

/* In-image check answers by (toolchain, engine, args, image id). */
struct check_memo {
	char key[1200];
	int tool_ok, simulated;
	char message[sizeof(((struct engine_status *)0)->message)], fix[512];
};

#define MEMO_SLOTS 8
static struct check_memo memo[MEMO_SLOTS];
static unsigned memo_next;
static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;

static int memo_get(const char *key, struct engine_status *st)
{
	int hit = 0;
	pthread_mutex_lock(&memo_lock);
	for (int i = 0; i < MEMO_SLOTS && !hit; i++) {
		if (memo[i].key[0] == '\0' || strcmp(memo[i].key, key) != 0)
			continue;
		st->tool_ok = memo[i].tool_ok;
		st->simulated = memo[i].simulated;
		snprintf(st->message, sizeof(st->message), "%s", memo[i].message);
		snprintf(st->fix, sizeof(st->fix), "%s", memo[i].fix);
		hit = 1;
	}
	pthread_mutex_unlock(&memo_lock);
	return hit;
}

static void memo_put(const char *key, const struct engine_status *st)
{
	pthread_mutex_lock(&memo_lock);
	struct check_memo *m = &memo[memo_next++ % MEMO_SLOTS];
	snprintf(m->key, sizeof(m->key), "%s", key);
	m->tool_ok = st->tool_ok;
	m->simulated = st->simulated;
	snprintf(m->message, sizeof(m->message), "%s", st->message);
	snprintf(m->fix, sizeof(m->fix), "%s", st->fix);
	pthread_mutex_unlock(&memo_lock);
}

/* The fix for a tool missing from (or an image missing for) a toolchain
 * that Kiln ships a Containerfile for: build it under the configured tag,
 * or under Kiln's own tag when the configured one is the vendor's base
 * image (building over sophgo/tpuc_dev:v3.1 would hide the base). */
static void build_fix(const struct engine_conf *c, const struct toolchain *h, char *out,
		      size_t cap)
{
	int local = strcmp(c->engine, "local") == 0;
	int vendor = local || strncmp(c->image, "sophgo/", 7) == 0;
	const char *tag = vendor ? h->build_tag : c->image;
	const char *engine = local ? "podman" : c->engine;
	char cmd[400];
	snprintf(cmd, sizeof(cmd), h->build, engine, tag);
	if (vendor)
		snprintf(out, cap, "%.300s, then set engine = %s and image = %.60s in [toolchain.%s]",
			 cmd, engine, tag, c->toolchain);
	else
		snprintf(out, cap, "%s", cmd);
}

/* Runs each of h->probes (in the image for containers, with the conf's
 * PATH for local); 0 when all exit 0.  Marks st->simulated when the tool
 * answered as the toolchain double. */
static int check_inside(const struct engine_conf *c, const struct toolchain *h,
			const char *search, int timeout_ms, struct engine_status *st)
{
	int container = is_container(c);
	for (int i = 0; i < 3 && h->probes[i]; i++) {
		struct vec a = {0};
		if (container) {
			vec_add(&a, c->engine);
			vec_add(&a, "run");
			vec_add(&a, "--rm");
			char buf[512];
			char *toks[ENGINE_MAX_EXTRA_ARGS];
			int nt = split_args(c->engine_args, buf, sizeof(buf), toks,
					    ENGINE_MAX_EXTRA_ARGS);
			for (int k = 0; k < nt; k++)
				vec_add(&a, toks[k]);
			vec_add(&a, c->image);
		}
		for (size_t k = 0; h->probes[i][k]; k++)
			vec_add(&a, h->probes[i][k]);
		char **argv = vec_take(&a);
		if (argv == NULL) {
			snprintf(st->message, sizeof(st->message), "out of memory");
			return KILN_EUNAVAIL;
		}
		struct capture cap = {"", 0};
		int rc = run_quiet(argv, container ? NULL : search, timeout_ms, &cap);
		strv_free(argv);
		if (cap.marked)
			st->simulated = 1;
		if (rc == 0)
			continue;
		const char *tool = h->probes[i][0];
		if (container)
			snprintf(st->message, sizeof(st->message),
				 "image %.100s present but %s missing inside (`%s %s` in it: %.60s)",
				 c->image, tool, tool, h->probes[i][1], cap.first);
		else
			snprintf(st->message, sizeof(st->message), "`%s %s` does not run: %.120s",
				 tool, h->probes[i][1], cap.first);
		if (h->build)
			build_fix(c, h, st->fix, sizeof(st->fix));
		else
			snprintf(st->fix, sizeof(st->fix),
				 "install the %s toolchain in the image (or on the host for engine = "
				 "local) so that `%s %s` runs", c->toolchain, tool, h->probes[i][1]);
		return KILN_EUNAVAIL;
	}
	st->tool_ok = 1;
	return 0;
}

int engine_probe(const struct engine_conf *c, int timeout_ms, struct engine_status *st)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->toolchain, sizeof(st->toolchain), "%s", c->toolchain);
	snprintf(st->engine, sizeof(st->engine), "%s", c->engine);
	snprintf(st->image, sizeof(st->image), "%s", c->image);
	if (timeout_ms <= 0)
		timeout_ms = ENGINE_PROBE_TIMEOUT_MS;
	struct kiln_err err;
	if (engine_conf_check(c, &err) != 0) {
		snprintf(st->message, sizeof(st->message), "%s", err.msg);
		snprintf(st->fix, sizeof(st->fix), "edit [toolchain.%s] in kiln.ini", c->toolchain);
		return KILN_EUNAVAIL;
	}
	if (engine_is_slurm(c)) {
		/* the cluster answers, then the node's tool as seen from here (the
		 * same image or shared path on the nodes, README "Slurm") */
		struct capture cap = {"", 0};
		char *sinfo[] = {"sinfo", "-h", "-o", "%P %a", NULL};
		if (run_quiet(sinfo, NULL, timeout_ms, &cap) != 0) {
			snprintf(st->message, sizeof(st->message), "Slurm does not answer: sinfo: %.180s",
				 cap.first);
			snprintf(st->fix, sizeof(st->fix),
				 "install slurm-client and munge on this host, copy the cluster's "
				 "slurm.conf and munge.key, or start kilnd with SLURM_CONF set");
			return KILN_EUNAVAIL;
		}
		struct engine_conf node;
		engine_node_conf(c, &node);
		int rc = engine_probe(&node, timeout_ms, st);
		snprintf(st->engine, sizeof(st->engine), "slurm");
		return rc;
	}
	const struct toolchain *h = toolchain_find(c->toolchain);
	if (!is_container(c)) {
		st->image_ok = 1;
		if (h == NULL) {  /* toolchain "local": the host itself */
			st->engine_ok = st->tool_ok = 1;
			return 0;
		}
		struct engine_cmd cmd;
		char *argv[] = {(char *)h->program, NULL};
		if (engine_command(c, NULL, NULL, argv, NULL, &cmd, &err) != 0) {
			snprintf(st->message, sizeof(st->message), "%s", err.msg);
			return KILN_EUNAVAIL;
		}
		const char *search = cmd.search_path ? cmd.search_path : getenv("PATH");
		char search_owned[PATH_MAX * 2];
		snprintf(search_owned, sizeof(search_owned), "%s", search ? search : "");
		int found = 0;
		const char *s = search ? search : "";
		while (*s && !found) {
			size_t n = strcspn(s, ":");
			char cand[PATH_MAX];
			int w = snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, s, h->program);
			struct stat sb;
			if (w > 0 && (size_t)w < sizeof(cand) && stat(cand, &sb) == 0 &&
			    S_ISREG(sb.st_mode) && access(cand, X_OK) == 0)
				found = 1;
			s += n;
			if (*s == ':')
				s++;
		}
		engine_cmd_free(&cmd);
		st->engine_ok = found;
		if (!found) {
			snprintf(st->message, sizeof(st->message),
				 "%s is not on the PATH%s%.160s", h->program,
				 c->path[0] ? " with path = " : "", c->path);
			snprintf(st->fix, sizeof(st->fix),
				 "install the %s toolchain on this host and set path = <its bin "
				 "directory> in [toolchain.%s], or use engine = docker or podman",
				 c->toolchain, c->toolchain);
			return KILN_EUNAVAIL;
		}
		return check_inside(c, h, search_owned, timeout_ms, st);
	}
	struct capture cap = {"", 0};
	char *ver[] = {(char *)c->engine, "version", NULL};
	int rc = run_quiet(ver, NULL, timeout_ms, &cap);
	if (rc == -2) {
		snprintf(st->message, sizeof(st->message), "%s is not installed", c->engine);
		snprintf(st->fix, sizeof(st->fix), "apt-get install %s",
			 strcmp(c->engine, "docker") == 0 ? "docker.io" : "podman");
		return KILN_EUNAVAIL;
	}
	if (rc != 0) {
		snprintf(st->message, sizeof(st->message), "%s does not answer: %.180s",
			 c->engine, cap.first);
		if (strcmp(c->engine, "docker") == 0)
			snprintf(st->fix, sizeof(st->fix),
				 "systemctl start docker (and add kilnd's user to the docker group)");
		else
			snprintf(st->fix, sizeof(st->fix), "podman info   # shows what is wrong");
		return KILN_EUNAVAIL;
	}
	st->engine_ok = 1;
	struct capture cap2 = {"", 0};
	char *insp[] = {(char *)c->engine, "image", "inspect", "--format", "{{.Id}}",
			(char *)c->image, NULL};
	if (run_quiet(insp, NULL, timeout_ms, &cap2) == 0) {
		st->image_ok = 1;
		/* A container's first start (python imports in the image) takes
		 * longer than `version`: the checks get their own budget. */
		if (h == NULL) {
			st->tool_ok = 1;
			return 0;
		}
		/* An image id names its content: the answer for it is kept for
		 * the process's life, so the 10 s probe cache of the routes does
		 * not start containers every time; a rebuilt image has a new id. */
		char key[sizeof(((struct check_memo *)0)->key)];
		snprintf(key, sizeof(key), "%s|%s|%s|%.200s", c->toolchain, c->engine,
			 c->engine_args, cap2.first);
		if (memo_get(key, st))
			return st->tool_ok ? 0 : KILN_EUNAVAIL;
		int rc = check_inside(c, h, NULL, timeout_ms > ENGINE_CHECK_TIMEOUT_MS
				      ? timeout_ms : ENGINE_CHECK_TIMEOUT_MS, st);
		/* a timeout may be a slow first start: only clear answers are kept */
		if (rc == 0 || strstr(st->message, "missing inside") != NULL)
			memo_put(key, st);
		return rc;
	}
	snprintf(st->message, sizeof(st->message), "image %.200s is not present in %s",
		 c->image, c->engine);
	if (h != NULL && h->build != NULL)
		build_fix(c, h, st->fix, sizeof(st->fix));
	else if (h != NULL && h->install_how != NULL)
		snprintf(st->fix, sizeof(st->fix), h->install_how, c->engine, c->image);
	else
		pull_command(c, st->fix, sizeof(st->fix));
	return KILN_EUNAVAIL;
}

cJSON *engine_status_json(const struct engine_status *st)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	int ready = st->engine_ok && st->image_ok && st->tool_ok;
	if (!cJSON_AddStringToObject(j, "toolchain", st->toolchain) ||
	    !cJSON_AddStringToObject(j, "engine", st->engine) ||
	    !cJSON_AddStringToObject(j, "image", st->image) ||
	    !cJSON_AddBoolToObject(j, "engine_ok", st->engine_ok) ||
	    !cJSON_AddBoolToObject(j, "image_ok", st->image_ok) ||
	    !cJSON_AddBoolToObject(j, "tool_ok", st->tool_ok) ||
	    !cJSON_AddBoolToObject(j, "simulated", st->simulated) ||
	    !cJSON_AddBoolToObject(j, "ready", ready) ||
	    !(ready ? cJSON_AddNullToObject(j, "message")
		    : cJSON_AddStringToObject(j, "message", st->message)) ||
	    !(ready ? cJSON_AddNullToObject(j, "fix")
		    : cJSON_AddStringToObject(j, "fix", st->fix))) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/*
 * test_jobs_podman: plan steps in a real container engine.  The test makes
 * a tiny image itself — a rootfs with Debian's busybox-static and a script
 * standing in for a vendor tool, packed with tar and loaded with
 * `podman import` — then runs a job step in it, cancels one, times one out,
 * and probes the engine.  On these machines podman needs `--runtime runc`
 * and explicit ulimits, passed as the toolchain's engine_args exactly as an
 * administrator would in kiln.ini.  Where podman cannot run, every test
 * says "SKIP ...: podman unavailable: <why>".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/db.h"
#include "runtime/embed.h"
#include "runtime/engine.h"
#include "runtime/events.h"
#include "runtime/exec.h"
#include "runtime/jobs.h"
#include "kt.h"
#include "runtime/worker.h"

static const char *ENGINE_ARGS =
	"--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024";

static char image[128];
static char why_not[256];   /* set when podman cannot be used */
static int ready = -1;      /* -1 not tried, 0 unavailable, 1 ready */

/* Runs argv; 0 when it exited 0.  The first line of output goes to first. */
struct first {
	char line[200];
};

static void first_line(void *arg, int stream, const char *line, size_t len)
{
	(void)stream;
	struct first *f = arg;
	if (f->line[0] == '\0' && len > 0)
		snprintf(f->line, sizeof(f->line), "%s", line);
}

static int run(char *const *argv, int timeout_ms, struct first *f)
{
	struct exec_req req = {.argv = argv, .timeout_ms = timeout_ms, .on_line = first_line,
			       .arg = f};
	struct exec_result res;
	struct kiln_err err;
	int rc = exec_run(&req, &res, &err);
	if (rc != 0 && f->line[0] == '\0')
		snprintf(f->line, sizeof(f->line), "%.199s", err.msg);
	return rc;
}

static void remove_image(void)
{
	char *argv[] = {"podman", "rmi", "-f", image, NULL};
	struct first f = {""};
	run(argv, 30000, &f);
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	if (kt_write_file(path, text, strlen(text)) != 0)
		return -1;
	return chmod(path, mode);
}

/* Builds and imports the image once per process. */
static int podman_ready(void)
{
	if (ready >= 0)
		return ready;
	ready = 0;
	if (access("/bin/busybox", X_OK) != 0) {
		snprintf(why_not, sizeof(why_not), "no /bin/busybox (apt-get install busybox-static)");
		return 0;
	}
	const char *dir = kt_tmpdir();
	char root[600], bin[700], tarball[700];
	snprintf(root, sizeof(root), "%s/rootfs", dir);
	snprintf(bin, sizeof(bin), "%s/bin", root);
	snprintf(tarball, sizeof(tarball), "%s/rootfs.tar", dir);
	mkdir(root, 0755);
	mkdir(bin, 0755);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "%s/busybox", bin);
	char *cp[] = {"cp", "/bin/busybox", cmd, NULL};
	struct first f = {""};
	if (run(cp, 10000, &f) != 0) {
		snprintf(why_not, sizeof(why_not), "cannot copy busybox: %s", f.line);
		return 0;
	}
	const char *applets[] = {"sh", "echo", "sleep", "cat", "ls", "true", NULL};
	for (int i = 0; applets[i]; i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s", bin, applets[i]);
		if (symlink("busybox", cmd) != 0) {
			snprintf(why_not, sizeof(why_not), "symlink: %s", strerror(errno));
			return 0;
		}
	}
	/* the stand-in vendor tool: prints like one and writes its output */
	snprintf(cmd, sizeof(cmd), "%s/fake-convert", bin);
	if (write_text(cmd, "#!/bin/sh\necho \"converting $1\"\n"
			    "echo 'Layer: out0  2-norm RE: 1.00%  cosine-sim: 0.9990'\n"
			    "cat \"$1\" > \"$2\"\n", 0755) != 0) {
		snprintf(why_not, sizeof(why_not), "cannot write the tool script");
		return 0;
	}
	char *tar[] = {"tar", "-C", root, "-cf", tarball, ".", NULL};
	memset(&f, 0, sizeof(f));
	if (run(tar, 30000, &f) != 0) {
		snprintf(why_not, sizeof(why_not), "tar: %s", f.line);
		return 0;
	}
	snprintf(image, sizeof(image), "localhost/kiln-test-jobs:%d", (int)getpid());
	char *imp[] = {"podman", "import", tarball, image, NULL};
	memset(&f, 0, sizeof(f));
	if (run(imp, 60000, &f) != 0) {
		snprintf(why_not, sizeof(why_not), "podman import: %s", f.line);
		return 0;
	}
	atexit(remove_image);
	char *trial[] = {"podman", "run", "--rm", "--runtime", "runc", "--ulimit",
			 "nofile=1024:1024", "--ulimit", "nproc=1024:1024", image, "true", NULL};
	memset(&f, 0, sizeof(f));
	if (run(trial, 60000, &f) != 0) {
		snprintf(why_not, sizeof(why_not), "podman run: %s", f.line);
		return 0;
	}
	ready = 1;
	return 1;
}

static int need_podman(void)
{
	if (podman_ready())
		return 1;
	kt_skip("podman unavailable: %s", why_not);
	return 0;
}

/* --- a job store and pool using podman for the tpu-mlir toolchain ------------------ */

struct env {
	char dir[512];
	struct db *db;
	struct events *ev;
	struct jobs *jobs;
	struct worker_pool *pool;
};

static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s", kt_tmpdir());
	char path[600];
	snprintf(path, sizeof(path), "%s/kiln.db", e->dir);
	struct kiln_err err;
	if (!CHECKF(db_open(path, &e->db, &err) == 0, "%s", err.msg) ||
	    !CHECKF(db_migrate(e->db, migrations, &err) == 0, "%s", err.msg) ||
	    !CHECK(events_new(NULL, &e->ev, &err) == 0) ||
	    !CHECK(jobs_open(e->db, e->ev, NULL, &e->jobs, &err) == 0))
		return -1;
	struct engine_conf ec = {.toolchain = "tpu-mlir", .engine = "podman"};
	snprintf(ec.image, sizeof(ec.image), "%s", image);
	snprintf(ec.engine_args, sizeof(ec.engine_args), "%s", ENGINE_ARGS);
	struct worker_conf wc = {.data_dir = e->dir, .workers = 1, .engines = &ec,
				 .n_engines = 1, .quiet = 1};
	if (!CHECKF(worker_start(e->jobs, &wc, &e->pool, &err) == 0, "%s", err.msg))
		return -1;
	return 0;
}

static void env_close(struct env *e)
{
	worker_stop(e->pool);
	jobs_close(e->jobs);
	events_free(e->ev);
	db_close(e->db);
}

static int64_t submit(struct env *e, const char *plan_json)
{
	struct plan *p = NULL;
	struct kiln_err err;
	if (!CHECKF(plan_parse(plan_json, strlen(plan_json), &p, &err) == 0, "%s", err.msg))
		return 0;
	cJSON *spec = cJSON_CreateObject();
	struct jobs_new n = {.model = "m", .target = "maixcam", .spec = spec, .plan = p};
	int64_t id = 0;
	CHECKF(jobs_submit(e->jobs, &n, &id, NULL, &err) == 0, "%s", err.msg);
	cJSON_Delete(spec);
	plan_free(p);
	return id;
}

struct scan {
	uint64_t last;
	const char *needle;
	int found;
	char state[16];
};

static void scan_fn(void *arg, const struct events_item *it)
{
	struct scan *s = arg;
	s->last = it->id;
	if (s->needle && strcmp(it->type, "log") == 0 && strstr(it->data, s->needle))
		s->found = 1;
	const char *p = strcmp(it->type, "state") == 0 ? strstr(it->data, "\"state\":\"") : NULL;
	if (p)
		snprintf(s->state, sizeof(s->state), "%.*s", (int)strcspn(p + 9, "\""), p + 9);
}

/* Waits for a log line containing needle, or (needle NULL) a final state. */
static const char *wait_for(struct env *e, int64_t id, const char *needle, int timeout_ms)
{
	static struct scan s;
	memset(&s, 0, sizeof(s));
	s.needle = needle;
	for (;;) {
		uint64_t from = s.last;
		events_read(e->ev, id, from, 0, scan_fn, &s, NULL);
		if (needle ? s.found : (strcmp(s.state, "succeeded") == 0 ||
					strcmp(s.state, "failed") == 0 ||
					strcmp(s.state, "cancelled") == 0))
			return needle ? "found" : s.state;
		if (!events_wait(e->ev, id, s.last, timeout_ms))
			return "timeout";
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Names of containers (running or not) called exactly name. */
static int container_exists(const char *name)
{
	char filter[200];
	snprintf(filter, sizeof(filter), "name=^%s$", name);
	char *argv[] = {"podman", "ps", "-a", "--filter", filter, "--format", "{{.Names}}", NULL};
	struct first f = {""};
	if (run(argv, 30000, &f) != 0)
		return -1;
	return f.line[0] != '\0';
}

static void podman__plan_step_runs_in_the_container_and_writes_its_output(void)
{
	if (!need_podman())
		return;
	struct env e;
	if (env_open(&e) != 0)
		return;
	int64_t id = submit(&e,
		"{\"files\":[{\"name\":\"input.txt\",\"content\":\"calibration bytes\\n\"}],"
		" \"steps\":[{\"name\":\"convert\",\"argv\":[\"fake-convert\",\"input.txt\",\"out.bin\"],"
		"  \"toolchain\":\"tpu-mlir\",\"timeout_s\":120,\"outputs\":[\"out.bin\"],"
		"  \"parser\":\"pulsar\"}]}");
	CHECK_STR(wait_for(&e, id, NULL, 120000), "succeeded");
	char path[700];
	snprintf(path, sizeof(path), "%s/jobs/%lld/work/out.bin", e.dir, (long long)id);
	char *out = kt_read_file(path, NULL);
	CHECK_STR(out, "calibration bytes\n");
	free(out);
	snprintf(path, sizeof(path), "%s/jobs/%lld/log.txt", e.dir, (long long)id);
	char *log = kt_read_file(path, NULL);
	CHECKF(log && strstr(log, "converting input.txt\n") && strstr(log, "podman run --rm --name kiln-"),
	       "%s", log ? log : "(no log)");
	free(log);
	struct kiln_err err;
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "figures"), 0);
		CHECK(f && cJSON_GetObjectItem(f, "cosine")->valuedouble == 0.999);
		cJSON_Delete(j);
	}
	char name[64];
	snprintf(name, sizeof(name), "kiln-%lld-convert", (long long)id);
	CHECK_INT(container_exists(name), 0);  /* --rm */
	env_close(&e);
}

static void podman__cancel_stops_and_removes_the_container_within_5s(void)
{
	if (!need_podman())
		return;
	struct env e;
	if (env_open(&e) != 0)
		return;
	/* sh is PID 1 in the container, and PID 1 ignores SIGTERM by default:
	 * only the engine's kill ends it */
	int64_t id = submit(&e,
		"{\"steps\":[{\"name\":\"spin\",\"argv\":[\"sh\",\"-c\","
		"  \"echo ready; while :; do sleep 1; done\"],\"toolchain\":\"tpu-mlir\"}]}");
	if (!CHECK_STR(wait_for(&e, id, "ready", 120000), "found"))
		return;
	char name[64];
	snprintf(name, sizeof(name), "kiln-%lld-spin", (long long)id);
	CHECK_INT(container_exists(name), 1);
	struct kiln_err err;
	int64_t t0 = now_ms();
	CHECK_INT(jobs_cancel(e.jobs, id, &err), 0);
	CHECK_STR(wait_for(&e, id, NULL, 30000), "cancelled");
	int64_t took = now_ms() - t0;
	CHECKF(took < 5000, "cancel took %lld ms", (long long)took);
	fprintf(stderr, "container cancel took %lld ms\n", (long long)took);
	CHECK_INT(container_exists(name), 0);
	env_close(&e);
}

static void podman__timeout_fails_the_job_and_removes_the_container(void)
{
	if (!need_podman())
		return;
	struct env e;
	if (env_open(&e) != 0)
		return;
	int64_t id = submit(&e,
		"{\"steps\":[{\"name\":\"hang\",\"argv\":[\"sleep\",\"1000\"],"
		"  \"toolchain\":\"tpu-mlir\",\"timeout_s\":3}]}");
	CHECK_STR(wait_for(&e, id, NULL, 60000), "failed");
	struct kiln_err err;
	cJSON *j = NULL;
	if (CHECK_INT(jobs_get(e.jobs, id, &j, &err), 0)) {
		CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring,
			  "timeout");
		cJSON_Delete(j);
	}
	char name[64];
	snprintf(name, sizeof(name), "kiln-%lld-hang", (long long)id);
	CHECK_INT(container_exists(name), 0);
	env_close(&e);
}

/* A second image: the first one's busybox plus tools named like TPU-MLIR's
 * that answer --help, as the image deploy/toolchains/tpu-mlir.Containerfile
 * builds would.  "" when it cannot be made. */
static char tool_image[128];

static void remove_tool_image(void)
{
	char *argv[] = {"podman", "rmi", "-f", tool_image, NULL};
	struct first f = {""};
	run(argv, 30000, &f);
}

static int make_tool_image(void)
{
	const char *dir = kt_tmpdir();
	char root[600], bin[700], path[800], tarball[700];
	snprintf(root, sizeof(root), "%s/rootfs2", dir);
	snprintf(bin, sizeof(bin), "%s/bin", root);
	snprintf(tarball, sizeof(tarball), "%s/rootfs2.tar", dir);
	mkdir(root, 0755);
	mkdir(bin, 0755);
	snprintf(path, sizeof(path), "%s/busybox", bin);
	char *cp[] = {"cp", "/bin/busybox", path, NULL};
	struct first f = {""};
	if (!CHECKF(run(cp, 10000, &f) == 0, "cp busybox: %s", f.line))
		return 0;
	snprintf(path, sizeof(path), "%s/sh", bin);
	if (!CHECK(symlink("busybox", path) == 0))
		return 0;
	const char *tools[] = {"model_transform.py", "model_transform", NULL};
	for (int i = 0; tools[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", bin, tools[i]);
		if (!CHECK(write_text(path, "#!/bin/sh\necho \"usage: model_transform [-h]\"\n",
				      0755) == 0))
			return 0;
	}
	char *tar[] = {"tar", "-C", root, "-cf", tarball, ".", NULL};
	memset(&f, 0, sizeof(f));
	if (!CHECKF(run(tar, 30000, &f) == 0, "tar: %s", f.line))
		return 0;
	snprintf(tool_image, sizeof(tool_image), "localhost/kiln-test-tpu-mlir:%d", (int)getpid());
	char *imp[] = {"podman", "import", tarball, tool_image, NULL};
	memset(&f, 0, sizeof(f));
	if (!CHECKF(run(imp, 60000, &f) == 0, "podman import: %s", f.line))
		return 0;
	atexit(remove_tool_image);
	return 1;
}

static void engine_probe__podman_reports_the_image_and_how_to_get_a_missing_one(void)
{
	if (!need_podman())
		return;
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "podman"};
	snprintf(c.engine_args, sizeof(c.engine_args), "%s", ENGINE_ARGS);
	snprintf(c.image, sizeof(c.image), "sophgo/kiln-not-pulled:v0");
	struct engine_status st;
	CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
	CHECK(st.engine_ok && !st.image_ok);
	/* pulling a tpuc_dev image cannot help: the fix builds one with the tool */
	CHECKF(strstr(st.fix, "podman build -t localhost/kiln-tpu-mlir:1.7 -f "
		      "deploy/toolchains/tpu-mlir.Containerfile deploy/toolchains") != NULL,
	       "%s", st.fix);
	snprintf(c.toolchain, sizeof(c.toolchain), "pulsar2");
	CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
	CHECKF(strstr(st.fix, "podman load -i pulsar2_") != NULL, "%s", st.fix);
}

/* issue 13 item 3: an image that is present but lacks model_transform.py
 * (sophgo/tpuc_dev:v3.1 itself) is not ready, and says what to build. */
static void engine_probe__image_without_the_tool_is_not_ready_and_says_the_build_command(void)
{
	if (!need_podman())
		return;
	struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "podman"};
	snprintf(c.engine_args, sizeof(c.engine_args), "%s", ENGINE_ARGS);
	snprintf(c.image, sizeof(c.image), "%s", image);   /* busybox only */
	struct engine_status st;
	CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
	CHECK(st.engine_ok && st.image_ok && !st.tool_ok);
	CHECKF(strstr(st.message, "present but model_transform.py missing inside") != NULL, "%s",
	       st.message);
	CHECKF(strstr(st.fix, "podman build -t ") != NULL &&
	       strstr(st.fix, "-f deploy/toolchains/tpu-mlir.Containerfile deploy/toolchains"),
	       "%s", st.fix);
	cJSON *j = engine_status_json(&st);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "ready")));
	cJSON_Delete(j);
	if (!make_tool_image())
		return;
	snprintf(c.image, sizeof(c.image), "%s", tool_image);
	CHECKF(engine_probe(&c, 0, &st) == 0, "%s / %s", st.message, st.fix);
	CHECK(st.tool_ok && !st.simulated);
	j = engine_status_json(&st);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "ready")));
	cJSON_Delete(j);
}

/* deploy/toolchains/tpu-mlir.Containerfile itself, built over a local
 * stand-in for sophgo/tpuc_dev (busybox + a `pip` that installs tools under
 * the wheel's plain names, as tpu_mlir's does): the build adds the .py names,
 * and the probe calls the result ready.  No registry is reached
 * (--pull=never, the base is local). */
static void containerfile__tpu_mlir_image_it_builds_is_ready(void)
{
	if (!need_podman())
		return;
	const char *cf = "deploy/toolchains/tpu-mlir.Containerfile";
	char cwd[512];
	if (!CHECKF(access(cf, R_OK) == 0, "%s not found from %s", cf,
		    getcwd(cwd, sizeof(cwd)) ? cwd : "?"))
		return;
	const char *dir = kt_tmpdir();
	char root[600], path[800], tarball[700];
	snprintf(root, sizeof(root), "%s/base", dir);
	snprintf(tarball, sizeof(tarball), "%s/base.tar", dir);
	const char *dirs[] = {"", "/bin", "/usr", "/usr/local", "/usr/local/bin", "/tmp", NULL};
	for (int i = 0; dirs[i]; i++) {
		snprintf(path, sizeof(path), "%s%s", root, dirs[i]);
		mkdir(path, 0755);
	}
	snprintf(path, sizeof(path), "%s/bin/busybox", root);
	char *cp[] = {"cp", "/bin/busybox", path, NULL};
	struct first f = {""};
	if (!CHECKF(run(cp, 10000, &f) == 0, "cp: %s", f.line))
		return;
	const char *applets[] = {"sh", "echo", "printf", "chmod", "ln", "dirname", "mkdir", "cat",
				 "true", NULL};
	for (int i = 0; applets[i]; i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", root, applets[i]);
		if (!CHECK(symlink("busybox", path) == 0))
			return;
	}
	snprintf(path, sizeof(path), "%s/bin/pip", root);
	if (!CHECK(write_text(path, "#!/bin/sh\necho \"pip $*\"\n"
			      "for t in model_transform model_deploy run_calibration run_qtable; do\n"
			      "  printf '#!/bin/sh\\necho usage: %s\\n' \"$t\" > /usr/local/bin/$t\n"
			      "  chmod 755 /usr/local/bin/$t\ndone\n", 0755) == 0))
		return;
	char *tar[] = {"tar", "-C", root, "-cf", tarball, ".", NULL};
	memset(&f, 0, sizeof(f));
	if (!CHECKF(run(tar, 30000, &f) == 0, "tar: %s", f.line))
		return;
	char base[128], built[128], arg[200];
	snprintf(base, sizeof(base), "localhost/kiln-test-tpuc-base:%d", (int)getpid());
	snprintf(built, sizeof(built), "localhost/kiln-test-tpu-mlir-built:%d", (int)getpid());
	snprintf(arg, sizeof(arg), "BASE=%s", base);
	char *imp[] = {"podman", "import", "--change", "ENV PATH=/usr/local/bin:/bin", tarball, base,
		       NULL};
	memset(&f, 0, sizeof(f));
	if (!CHECKF(run(imp, 60000, &f) == 0, "podman import: %s", f.line))
		return;
	char *build[] = {"podman", "build", "--runtime", "runc", "--ulimit", "nofile=1024:1024",
			 "--ulimit", "nproc=1024:1024", "--pull=never", "--build-arg", arg, "-t",
			 built, "-f", (char *)cf, "deploy/toolchains", NULL};
	memset(&f, 0, sizeof(f));
	int rc = run(build, 300000, &f);
	if (CHECKF(rc == 0, "podman build: %s", f.line)) {
		struct engine_conf c = {.toolchain = "tpu-mlir", .engine = "podman"};
		snprintf(c.engine_args, sizeof(c.engine_args), "%s", ENGINE_ARGS);
		snprintf(c.image, sizeof(c.image), "%s", built);
		struct engine_status st;
		CHECKF(engine_probe(&c, 0, &st) == 0, "%s / %s", st.message, st.fix);
		CHECK(st.tool_ok);
		/* the stand-in base alone lacks the tools: not ready, build command */
		snprintf(c.image, sizeof(c.image), "%s", base);
		CHECK_INT(engine_probe(&c, 0, &st), KILN_EUNAVAIL);
		CHECKF(strstr(st.fix, "tpu-mlir.Containerfile") != NULL, "%s", st.fix);
	}
	char *rmi[] = {"podman", "rmi", "-f", built, base, NULL};
	memset(&f, 0, sizeof(f));
	run(rmi, 60000, &f);
}

static const struct kt_test tests[] = {
	{"podman__plan_step_runs_in_the_container_and_writes_its_output",
	 podman__plan_step_runs_in_the_container_and_writes_its_output},
	{"podman__cancel_stops_and_removes_the_container_within_5s",
	 podman__cancel_stops_and_removes_the_container_within_5s},
	{"podman__timeout_fails_the_job_and_removes_the_container",
	 podman__timeout_fails_the_job_and_removes_the_container},
	{"engine_probe__podman_reports_the_image_and_how_to_get_a_missing_one",
	 engine_probe__podman_reports_the_image_and_how_to_get_a_missing_one},
	{"engine_probe__image_without_the_tool_is_not_ready_and_says_the_build_command",
	 engine_probe__image_without_the_tool_is_not_ready_and_says_the_build_command},
	{"containerfile__tpu_mlir_image_it_builds_is_ready",
	 containerfile__tpu_mlir_image_it_builds_is_ready},
};

int main(int argc, char **argv)
{
	return kt_main("test_jobs_podman", tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}

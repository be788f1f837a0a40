/*
 * deploy: the push-deployment runner thread (see deploy.h).  One thread,
 * one deployment at a time: a deployment is a handful of ssh/scp calls to
 * one board, and running two against the same board at once would only
 * race on its NPU.  Each step's state is written to the row as it ends, so
 * GET /deployments/{id} shows progress while the runner is still working.
 */
#include "deploy/deploy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deploy/deploy_preview.h"
#include "deploy/deployments.h"
#include "deploy/devices.h"
#include "deploy/device.h"
#include "runtime/exec.h"
#include "deploy/transport.h"

/* The runner: one thread and what it shares with the HTTP side.  Owned by
 * whoever called deploy_start (main.c keeps it in struct app). */
struct deploy_runner {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping, pending;
	pthread_t thread;
	struct deploy_opts opts;
	char data_dir[1024];
	/* Told when a deployment ends.  Called under listener_lock, so once
	 * deploy_set_listener(r, NULL, NULL) returns no call is running. */
	pthread_mutex_t listener_lock;
	void (*listener_fn)(void *ctx);
	void *listener_ctx;
};

static void notify_listener(struct deploy_runner *r)
{
	pthread_mutex_lock(&r->listener_lock);
	if (r->listener_fn)
		r->listener_fn(r->listener_ctx);
	pthread_mutex_unlock(&r->listener_lock);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the result contract --------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int deploy_result_parse(const char *out, cJSON **result, struct kiln_err *err)
{
	*result = NULL;
	/* The last non-empty line: vendor runtimes print banners to stdout
	 * before our program gets to print its object. */
	const char *end = out + strlen(out);
	while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > out && start[-1] != '\n')
		start--;
	if (start == end)
		return kiln_errf(err, KILN_EUNPROC, "result",
				 "the test program printed nothing on stdout; its stderr is kept "
				 "in raw_output");
	cJSON *o = cJSON_ParseWithLength(start, (size_t)(end - start));
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return kiln_errf(err, KILN_EUNPROC, "result",
				 "the test program's last line is not a JSON object: '%.80s'; the "
				 "whole output is kept in raw_output", start);
	}
	const cJSON *load = cJSON_GetObjectItemCaseSensitive(o, "load_ms");
	const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
	const cJSON *avg = cJSON_GetObjectItemCaseSensitive(o, "latency_avg_ms");
	const char *bad = NULL;
	if (load && !cJSON_IsNull(load) && !(cJSON_IsNumber(load) && load->valuedouble >= 0))
		bad = "load_ms must be a number of milliseconds or null";
	else if (lat && !cJSON_IsArray(lat))
		bad = "latency_ms must be a list of milliseconds";
	else if (avg && !(cJSON_IsNumber(avg) && avg->valuedouble >= 0))
		bad = "latency_avg_ms must be a number of milliseconds";
	else if (cJSON_GetArraySize(lat) == 0 && avg == NULL)
		bad = "it has neither latency_ms nor latency_avg_ms";
	else if (cJSON_GetArraySize(lat) > 100000)
		bad = "latency_ms has more than 100000 entries";
	int n = cJSON_GetArraySize(lat);
	double *v = n ? malloc(sizeof(double) * (size_t)n) : NULL;
	int i = 0;
	for (const cJSON *it = lat ? lat->child : NULL; !bad && it; it = it->next, i++) {
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0)
			bad = "latency_ms must hold only non-negative numbers";
		else if (v)
			v[i] = it->valuedouble;
	}
	if (bad || (n && v == NULL)) {
		free(v);
		cJSON_Delete(o);
		return kiln_errf(err, KILN_EUNPROC, "result",
				 "the test program's JSON breaks the contract: %s; the whole output "
				 "is kept in raw_output", bad ? bad : "out of memory");
	}
	cJSON *sum = cJSON_CreateObject();
	if (n) {
		qsort(v, (size_t)n, sizeof(double), cmp_double);
		double total = 0;
		for (i = 0; i < n; i++)
			total += v[i];
		cJSON_AddNumberToObject(sum, "runs", n);
		cJSON_AddNumberToObject(sum, "avg_ms", round(total / n * 1000) / 1000);
		cJSON_AddNumberToObject(sum, "min_ms", v[0]);
		cJSON_AddNumberToObject(sum, "p50_ms", v[n / 2]);
		cJSON_AddNumberToObject(sum, "max_ms", v[n - 1]);
	} else {
		const cJSON *runs = cJSON_GetObjectItemCaseSensitive(o, "runs");
		cJSON_AddNumberToObject(sum, "runs", cJSON_IsNumber(runs) ? runs->valuedouble : 1);
		cJSON_AddNumberToObject(sum, "avg_ms", avg->valuedouble);
	}
	free(v);
	cJSON_AddNumberToObject(sum, "detections",
				cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "detections")));
	cJSON_DeleteItemFromObjectCaseSensitive(o, "summary");
	cJSON_AddItemToObject(o, "summary", sum);
	*result = o;
	return 0;
}

/* --- one deployment -------------------------------------------------------- */

/* One deployment while it runs: its inputs (the store's), the steps so far
 * and the local staging folder. */
struct job {
	struct deployment_work w;
	struct deploy_runner *r;
	cJSON *steps;
	char work[1200];
};

static void save_steps(struct job *j)
{
	char *s = cJSON_PrintUnformatted(j->steps);
	if (s)
		deployments_set_steps(j->r->opts.db, j->w.id, s);
	free(s);
}

static cJSON *step_begin(struct job *j, const char *name)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "name", name);
	cJSON_AddStringToObject(s, "state", "running");
	cJSON_AddNumberToObject(s, "started_ms", (double)now_ms());
	cJSON_AddItemToArray(j->steps, s);
	save_steps(j);
	return s;
}

static void step_end(struct job *j, cJSON *s, const char *state, const char *detail)
{
	cJSON *t0 = cJSON_DetachItemFromObject(s, "started_ms");
	double dur = t0 ? (double)now_ms() - t0->valuedouble : 0;
	cJSON_Delete(t0);
	cJSON_ReplaceItemInObject(s, "state", cJSON_CreateString(state));
	cJSON_AddNumberToObject(s, "dur_ms", dur);
	if (detail && detail[0])
		cJSON_AddStringToObject(s, "detail", detail);
	save_steps(j);
	fprintf(stderr, "level=info deployment=%lld step=%s state=%s dur_ms=%.0f\n", j->w.id,
		cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), state, dur);
}

/* The bundle file the test program loads: the manifest's first file whose
 * name ends with (or is) the target's suffix, checked to be a plain
 * relative path.  Voyager's names a whole path (ax_models/kiln/network.yaml). */
static int model_file(const struct job *j, const struct deploy_program *p, char *out,
		      size_t cap, struct kiln_err *err)
{
	cJSON *m = cJSON_Parse(j->w.manifest ? j->w.manifest : "");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
	int rc = kiln_errf(err, KILN_EUNPROC, "bundle",
			   "bundle %lld has no '*%s' file for the %s test program", j->w.bundle,
			   p->model_suffix, j->w.target);
	for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name"));
		size_t n = name ? strlen(name) : 0, sn = strlen(p->model_suffix);
		if (n < sn || strcmp(name + n - sn, p->model_suffix) != 0)
			continue;
		int ok = name[0] != '/' && name[0] != '-' && strstr(name, "..") == NULL &&
			 n < cap && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
					   "vwxyz0123456789._/-") == n;
		if (ok) {
			snprintf(out, cap, "%s", name);
			kiln_err_clear(err);
			rc = 0;
		}
		break;
	}
	cJSON_Delete(m);
	return rc;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int bad = write(fd, buf, len) != (ssize_t)len;
	return close(fd) != 0 || bad ? -1 : 0;
}

/* Raw output as kept on the row: stdout, then stderr, each capped. */
static char *raw_text(const struct transport_out *o)
{
	size_t half = DEPLOY_RAW_MAX / 2;
	size_t ol = o->out_len > half ? half : o->out_len;
	size_t el = o->err_len > half ? half : o->err_len;
	char *s = malloc(ol + el + 64);
	if (s == NULL)
		return NULL;
	/* Keep the tail of each: the error is at the end, not the banner. */
	int n = snprintf(s, 64, "--- stdout ---\n");
	memcpy(s + n, o->out ? o->out + o->out_len - ol : "", ol);
	n += (int)ol;
	n += snprintf(s + n, 64, "--- stderr ---\n");
	memcpy(s + n, o->err ? o->err + o->err_len - el : "", el);
	s[n + (int)el] = '\0';
	return s;
}

/* Runs argv on the board as one step; 0 or -1 with msg filled. */
static int remote_step(struct job *j, const struct transport *t, const char *name,
		       const char *const *argv, int timeout_ms, struct kiln_err *err)
{
	cJSON *s = step_begin(j, name);
	struct transport_out o;
	int rc = transport_run(t, argv, timeout_ms, &o, err);
	transport_out_free(&o);
	step_end(j, s, rc == 0 ? "ok" : "failed", rc == 0 ? NULL : err->msg);
	return rc;
}

static void finish(struct job *j, const char *state, const char *error, const cJSON *result,
		   const char *raw, const unsigned char *preview, size_t preview_len)
{
	char *res = result ? cJSON_PrintUnformatted(result) : NULL;
	char *steps = cJSON_PrintUnformatted(j->steps);
	struct deployment_end end = {state, error, res, raw, preview, preview_len, steps};
	deployments_finish(j->r->opts.db, j->w.id, &end);
	free(res);
	free(steps);
	notify_listener(j->r);
	fprintf(stderr, "level=info deployment=%lld device=%lld bundle=%lld state=%s%s%s%s\n",
		j->w.id, j->w.device, j->w.bundle, state, error ? " msg=\"" : "", error ? error : "",
		error ? "\"" : "");
}

/* A push deploy tells the device's record what a pull report would: the
 * board was seen when it answered, and an install (or its failure) is a
 * report naming the deployment, so the devices page shows both the same
 * way.  A board that never answered was not seen. */
static void update_device(struct job *j, int connected, int ok, const char *why)
{
	struct db *db = j->r->opts.db;
	if (!connected || j->w.device == 0)
		return;
	if (!j->w.install) {
		devices_seen(db, j->w.device);
		return;
	}
	char detail[400], now[32];
	snprintf(detail, sizeof(detail), "push deployment %lld%s%.300s", j->w.id, ok ? "" : ": ",
		 ok ? "" : why);
	db_now(now, sizeof(now));
	struct kiln_err err;
	if (devices_report(db, j->w.device, j->w.bundle, ok ? "installed" : "failed", detail, now,
			   &err) != 0)
		fprintf(stderr, "level=error deployment=%lld msg=\"cannot update device %lld: %s\"\n",
			j->w.id, j->w.device, err.msg);
}

static void rm_work(const char *dir)
{
	static const char *const names[] = {"bundle.tar.gz", "kiln_test.py", "kiln_test.sh",
					    "test.jpg", NULL};
	char p[1400];
	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void run_one(struct deploy_runner *r, long long id)
{
	struct job j;
	memset(&j, 0, sizeof(j));
	j.r = r;
	j.steps = cJSON_CreateArray();
	struct kiln_err err;
	kiln_err_clear(&err);
	cJSON *result = NULL;
	char *raw = NULL;
	unsigned char *preview = NULL;
	size_t preview_len = 0;
	struct transport t;
	const struct deploy_program *prog = NULL;
	char model[520], remote[400], rbundle[420], rarchive[420], rprog[420], rimage[420];
	char key[1100], kh[1100], local_prog[1300], local_arch[1300], local_img[1300];
	int connected = 0, rc;
	char runs[16];

	if ((rc = deployments_load(r->opts.db, id, &j.w, &err)) != 0)
		goto fail;
	if ((prog = deploy_program_find(r->opts.program_of ? r->opts.program_of(j.w.target)
					: NULL)) == NULL) {
		kiln_errf(&err, KILN_EUNPROC, "", "no test program for target '%s'", j.w.target);
		goto fail;
	}
	enum device_transport kind;
	if (device_transport_parse(j.w.transport, &kind) != 0 ||
	    transport_open(&t, kind, j.w.address, r->data_dir, j.w.device, r->opts.connect_timeout_s,
			   &err) != 0)
		goto fail;
	if (kind == DEVICE_SSH) {
		device_key_paths(r->data_dir, j.w.device, key, kh, sizeof(key));
		if (access(key, R_OK) != 0) {
			kiln_errf(&err, KILN_ECONFLICT, "", "device %lld has no ssh key at %s; "
				  "register it again or give ssh_private_key", j.w.device, key);
			goto fail;
		}
	}
	if (model_file(&j, prog, model, sizeof(model), &err) != 0)
		goto fail;

	/* Local staging: the archive is a symlink to its blob, so nothing is
	 * copied on the server; scp and adb push follow it. */
	snprintf(j.work, sizeof(j.work), "%s/deploy", r->data_dir);
	mkdir(j.work, 0700);
	snprintf(j.work, sizeof(j.work), "%s/deploy/%lld", r->data_dir, id);
	rm_work(j.work);
	if (mkdir(j.work, 0700) != 0 && errno != EEXIST) {
		kiln_errf(&err, KILN_EIO, "", "cannot create %s: %s", j.work, strerror(errno));
		goto fail;
	}
	char blob[4200];
	snprintf(local_arch, sizeof(local_arch), "%s/bundle.tar.gz", j.work);
	snprintf(local_prog, sizeof(local_prog), "%s/%s", j.work, prog->file);
	snprintf(local_img, sizeof(local_img), "%s/test.jpg", j.work);
	if (blob_path(r->opts.blobs, j.w.sha, blob, sizeof(blob), &err) != 0)
		goto fail;
	if (access(blob, R_OK) != 0) {
		kiln_errf(&err, KILN_ENOTFOUND, "bundle", "bundle %lld's archive is missing from "
			  "the blob store", j.w.bundle);
		goto fail;
	}
	int has_image = j.w.image != NULL && prog->uses_image;
	if (symlink(blob, local_arch) != 0 ||
	    write_file(local_prog, prog->text, strlen(prog->text)) != 0 ||
	    (has_image && write_file(local_img, j.w.image, j.w.image_len) != 0)) {
		kiln_errf(&err, KILN_EIO, "", "cannot stage files in %s: %s", j.work,
			  strerror(errno));
		goto fail;
	}

	/* Remote layout: <models_dir>/kiln-deploy-<id>/{bundle.tar.gz, program,
	 * test.jpg, bundle/}; the id is never reused (AUTOINCREMENT). */
	snprintf(remote, sizeof(remote), "%s/kiln-deploy-%lld", j.w.models_dir, id);
	snprintf(rbundle, sizeof(rbundle), "%s/bundle", remote);
	snprintf(rarchive, sizeof(rarchive), "%s/bundle.tar.gz", remote);
	snprintf(rprog, sizeof(rprog), "%s/%s", remote, prog->file);
	snprintf(rimage, sizeof(rimage), "%s/test.jpg", remote);
	int quick_ms = (r->opts.connect_timeout_s + 20) * 1000;
	int step_ms = r->opts.step_timeout_s * 1000;

	const char *mk[] = {"mkdir", "-p", rbundle, NULL};
	if (remote_step(&j, &t, "connect", mk, quick_ms, &err) != 0)
		goto fail;
	connected = 1;
	cJSON *s = step_begin(&j, "copy");
	const char *files[] = {local_arch, local_prog, has_image ? local_img : NULL, NULL};
	rc = transport_push(&t, files, remote, step_ms, &err);
	step_end(&j, s, rc == 0 ? "ok" : "failed", rc == 0 ? NULL : err.msg);
	if (rc != 0)
		goto fail;
	const char *untar[] = {"tar", "-xzf", rarchive, "-C", rbundle, NULL};
	if (remote_step(&j, &t, "unpack", untar, step_ms, &err) != 0)
		goto fail;

	snprintf(runs, sizeof(runs), "%d", j.w.runs);
	const char *test[] = {prog->interpreter, rprog, rbundle, model, runs,
			      has_image ? rimage : NULL, NULL};
	s = step_begin(&j, "test");
	struct transport_out o;
	rc = transport_run(&t, test, step_ms, &o, &err);
	raw = raw_text(&o);
	if (rc == 0)
		rc = deploy_result_parse(o.out, &result, &err);
	else if (o.exit_code > 0 && !o.timed_out) {
		/* err.msg cannot be both a source and the destination. */
		char why[sizeof(err.msg)];
		snprintf(why, sizeof(why), "%s", err.msg);
		kiln_errf(&err, KILN_EIO, "", "the %s test program exited with status %d; its "
			  "output is kept in raw_output (%.150s)", j.w.target, o.exit_code, why);
	}
	transport_out_free(&o);
	step_end(&j, s, rc == 0 ? "ok" : "failed", rc == 0 ? NULL : err.msg);
	if (rc != 0)
		goto fail;

	const cJSON *dets = cJSON_GetObjectItemCaseSensitive(result, "detections");
	if (has_image) {
		s = step_begin(&j, "preview");
		rc = deploy_preview_draw(j.w.image, j.w.image_len, dets,
					 cJSON_GetObjectItemCaseSensitive(result, "labels"),
					 &preview, &preview_len, &err);
		step_end(&j, s, rc == 0 ? "ok" : "failed", rc == 0 ? NULL : err.msg);
		if (rc != 0)
			goto fail;
	}
	if (j.w.install) {
		/* Same layout kiln-pull.sh makes: <models_dir>/<name>, the previous
		 * one kept as <name>.old until the new one is in place. */
		char dst[400], old[420];
		snprintf(dst, sizeof(dst), "%s/%s", j.w.models_dir, j.w.bundle_name);
		snprintf(old, sizeof(old), "%s.old", dst);
		const char *a1[] = {"rm", "-rf", old, NULL};
		const char *a2[] = {"mkdir", "-p", dst, NULL};
		const char *a3[] = {"mv", dst, old, NULL};
		const char *a4[] = {"mv", rbundle, dst, NULL};
		const char *a5[] = {"rm", "-rf", old, NULL};
		const char *const *seq[] = {a1, a2, a3, a4, a5};
		s = step_begin(&j, "install");
		struct transport_out io;
		rc = 0;
		for (size_t i = 0; rc == 0 && i < 5; i++) {
			rc = transport_run(&t, seq[i], quick_ms, &io, &err);
			transport_out_free(&io);
		}
		step_end(&j, s, rc == 0 ? "ok" : "failed", rc == 0 ? dst : err.msg);
		if (rc != 0)
			goto fail;
	}
	const char *clean[] = {"rm", "-rf", remote, NULL};
	struct kiln_err cerr;
	remote_step(&j, &t, "cleanup", clean, quick_ms, &cerr);
	update_device(&j, 1, 1, NULL);
	finish(&j, "succeeded", NULL, result, raw, preview, preview_len);
	goto out;
fail:
	if (connected) {
		const char *clean2[] = {"rm", "-rf", remote, NULL};
		struct kiln_err cerr;
		remote_step(&j, &t, "cleanup", clean2, quick_ms, &cerr);
	}
	update_device(&j, connected, 0, err.msg[0] ? err.msg : "failed");
	finish(&j, "failed", err.msg[0] ? err.msg : "failed", result, raw, NULL, 0);
out:
	if (j.work[0])
		rm_work(j.work);
	cJSON_Delete(result);
	cJSON_Delete(j.steps);
	free(raw);
	free(preview);
	deployments_work_free(&j.w);
}

/* --- the thread --------------------------------------------------------------- */

static void *runner(void *arg)
{
	struct deploy_runner *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		r->pending = 0;
		pthread_mutex_unlock(&r->lock);
		long long id;
		while (!__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE) &&
		       (id = deployments_claim(r->opts.db)) > 0)
			run_one(r, id);
		pthread_mutex_lock(&r->lock);
		if (!r->pending && !r->stopping)
			pthread_cond_wait(&r->wake, &r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	/* FTW_PHYS: a symlink (the staged archive) is removed, never followed. */
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* What a kilnd killed (-9) in the middle of a deployment left: its
 * ssh/scp/adb clients, still talking to the board, and deploy/<id>/
 * staging folders.  Both go before the runner starts; no deployment runs
 * yet, so everything there is stale. */
static void cleanup_after_crash(const char *dir)
{
	char marker[1200];
	if (transport_marker(dir, marker, sizeof(marker)) == 0) {
		int n = exec_kill_marked(marker);
		if (n > 0)
			fprintf(stderr, "level=warn msg=\"killed deployment clients a previous "
				"kilnd left running\" count=%d\n", n);
	}
	char staging[1100];
	snprintf(staging, sizeof(staging), "%s/deploy", dir);
	DIR *d = opendir(staging);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    strspn(e->d_name, "0123456789") != strlen(e->d_name))
			continue;
		char p[1400];
		snprintf(p, sizeof(p), "%s/%s", staging, e->d_name);
		nftw(p, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

int deploy_start(const struct deploy_opts *o, struct deploy_runner **out,
		 struct kiln_err *err)
{
	*out = NULL;
	struct deploy_runner *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return kiln_errf(err, KILN_ENOMEM, "", "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_mutex_init(&r->listener_lock, NULL);
	r->opts = *o;
	snprintf(r->data_dir, sizeof(r->data_dir), "%s", o->data_dir);
	r->opts.data_dir = r->data_dir;
	cleanup_after_crash(r->data_dir);
	/* A deployment 'running' now was cut off by a restart: its board state
	 * is unknown, so it is failed, not retried behind the user's back. */
	deployments_fail_interrupted(o->db);
	r->pending = 1;
	int rc = pthread_create(&r->thread, NULL, runner, r);
	if (rc != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		pthread_mutex_destroy(&r->listener_lock);
		free(r);
		return kiln_errf(err, KILN_EIO, "", "cannot start the deployment thread: %s",
				 strerror(rc));
	}
	*out = r;
	return 0;
}

void deploy_kick(struct deploy_runner *r)
{
	pthread_mutex_lock(&r->lock);
	r->pending = 1;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void deploy_set_listener(struct deploy_runner *r, void (*fn)(void *ctx), void *ctx)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->listener_lock);
	r->listener_fn = fn;
	r->listener_ctx = ctx;
	pthread_mutex_unlock(&r->listener_lock);
}

void deploy_stop(struct deploy_runner *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	__atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->listener_lock);
	free(r);
}

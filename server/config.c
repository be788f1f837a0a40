/*
 * config: the settings table and its parsers (see config.h).
 *
 * Adding a setting is one row in SETTINGS plus its field in struct
 * kiln_config; parsing, validation, --help and the README table follow from
 * the row.  Values are validated here, at start-up, so a typo stops kilnd
 * with exit code 2 and a message naming the line rather than surfacing as a
 * strange failure under load.
 */
#include "server/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/toolchain.h"

const char *config_toolchain_id(int i)
{
	size_t n;
	const struct toolchain *tc = toolchain_table(&n);
	return i >= 0 && (size_t)i < n ? tc[i].id : "";
}

/* SET_DIR: a directory kilnd creates and writes; stored absolute (see
 * dir_value below). */
enum setting_type { SET_STR, SET_INT, SET_INT64, SET_SIZE, SET_ENUM, SET_LISTEN, SET_DIR };

struct setting {
	const char *section;  /* "toolchain.*" rows apply to each toolchain */
	const char *key;
	enum setting_type type;
	const char *def;
	long long min, max;   /* SET_INT, SET_SIZE */
	const char *choices;  /* SET_ENUM: "a|b|c" */
	size_t offset;        /* into struct kiln_config, or struct config_toolchain */
	size_t cap;           /* SET_STR: buffer size */
	const char *help;
};

#define KC(field) offsetof(struct kiln_config, field), sizeof(((struct kiln_config *)0)->field)
#define TC(field) offsetof(struct config_toolchain, field), \
	sizeof(((struct config_toolchain *)0)->field)

static const struct setting SETTINGS[] = {
	{"server", "listen", SET_LISTEN, "127.0.0.1:8080", 0, 0, NULL, KC(listen),
	 "address and port to listen on (host:port, [v6]:port; port 0 picks a free one)"},
	{"server", "data_dir", SET_DIR, "./var", 0, 0, NULL, KC(data_dir),
	 "directory for kiln.db, blobs/ and jobs/ (created if missing; a relative path is taken from the working directory kilnd starts in)"},
	{"server", "threads", SET_INT, "0", 0, 256, NULL, KC(threads),
	 "HTTP worker threads; 0 = twice the number of cores"},
	{"server", "work_threads", SET_INT, "2", 1, 64, NULL, KC(work_threads),
	 "threads for heavy request work (ONNX inspection on upload, cut, rewrite, graph "
	 "files, contact sheets); more such requests wait their turn without holding an "
	 "HTTP thread"},
	{"server", "ingest_threads", SET_INT, "1", 1, 64, NULL, KC(ingest_threads),
	 "dataset ingests run at once (each decodes on every core); more wait in state "
	 "'ingesting'"},
	{"server", "connection_limit", SET_INT, "2048", 1, 1000000, NULL, KC(connection_limit),
	 "most simultaneous connections"},
	{"server", "per_ip_connection_limit", SET_INT, "64", 0, 1000000, NULL,
	 KC(per_ip_connection_limit), "most simultaneous connections from one address; 0 = no limit"},
	{"server", "connection_timeout", SET_INT, "60", 1, 86400, NULL, KC(connection_timeout),
	 "seconds a connection may stay silent while a request is read or answered"},
	/* 10 s: a request line and headers are a few hundred bytes that any
	 * client sends at once; Apache closes idle keep-alives after 5 s. */
	{"server", "header_timeout", SET_INT, "10", 1, 3600, NULL, KC(header_timeout),
	 "seconds a client has, from connecting or from its previous reply, to send a "
	 "request's line and headers (slowloris); an idle kept-alive connection closes then too"},
	{"server", "connection_memory_limit", SET_SIZE, "32K", 8192, 16 << 20, NULL,
	 KC(connection_memory_limit),
	 "bytes per connection for the request line, headers and upload buffer; longer "
	 "request lines and headers get 414/431"},
	{"server", "max_json_body", SET_SIZE, "1M", 1024, 1LL << 30, NULL, KC(max_json_body),
	 "largest JSON request body; larger ones get 413"},
	{"server", "access_log", SET_STR, "-", 0, 0, NULL, KC(access_log),
	 "one line per request: '-' = stderr, 'off', or a file path"},
	{"server", "shutdown_grace", SET_INT, "10", 0, 3600, NULL, KC(shutdown_grace),
	 "seconds in-flight requests get to finish on SIGTERM/SIGINT"},
	{"limits", "model_bytes", SET_SIZE, "4G", 1024, 1LL << 40, NULL, KC(model_bytes),
	 "largest ONNX model upload; larger ones get 413"},
	{"limits", "dataset_bytes", SET_SIZE, "4G", 1024, 1LL << 40, NULL, KC(dataset_bytes),
	 "largest calibration archive upload; larger ones get 413"},
	{"limits", "dataset_entries", SET_INT64, "100000", 1, 100000000, NULL, KC(dataset_entries),
	 "most entries (files, directories, links) in one archive"},
	{"limits", "dataset_total_bytes", SET_SIZE, "8G", 1024, 1LL << 42, NULL,
	 KC(dataset_total_bytes), "most decompressed bytes in one archive (gzip bombs stop here)"},
	{"limits", "dataset_entry_bytes", SET_SIZE, "128M", 1024, 1LL << 40, NULL,
	 KC(dataset_entry_bytes), "largest decompressed file in an archive"},
	{"limits", "image_pixels", SET_INT64, "50000000", 256, 1000000000, NULL, KC(image_pixels),
	 "largest image, width x height from its header, checked before decoding"},
	{"jobs", "workers", SET_INT, "1", 1, 64, NULL, KC(workers),
	 "conversions run at once (they are heavy: one per machine is usual)"},
	{"jobs", "max_attempts", SET_INT, "2", 1, 100, NULL, KC(max_attempts),
	 "attempts of a job interrupted by a restart, or whose Slurm step the cluster lost "
	 "(NODE_FAIL, PREEMPTED, vanished), before it is failed"},
	{"jobs", "failed_workspace_hours", SET_INT, "72", 0, 87600, NULL, KC(failed_workspace_hours),
	 "hours a failed or cancelled job's workspace (jobs/<id>/work) is kept for debugging; "
	 "0 = removed when the job ends"},
	{"jobs", "max_queued_per_token", SET_INT, "20", 0, 1000000, NULL, KC(max_queued_per_token),
	 "most queued jobs one token may have; more get 429; 0 = no limit"},
	{"storage", "min_free", SET_SIZE, "1G", 0, 1LL << 50, NULL, KC(min_free),
	 "uploads and new jobs get 507 when the data directory's disk would have less free"},
	{"storage", "min_free_percent", SET_INT, "2", 0, 99, NULL, KC(min_free_percent),
	 "the same as a share of the disk: 507 below this many percent free"},
	{"storage", "orphan_grace", SET_INT, "3600", 0, 31536000, NULL, KC(orphan_grace),
	 "seconds a blob no record names is kept before the sweep removes it (an upload "
	 "being stored is younger)"},
	{"deploy", "connect_timeout", SET_INT, "10", 1, 300, NULL, KC(deploy_connect_timeout),
	 "seconds ssh waits for a board to answer before a deployment fails (ConnectTimeout)"},
	{"deploy", "step_timeout", SET_INT, "300", 5, 86400, NULL, KC(deploy_step_timeout),
	 "seconds a deployment's copy or test run may take on the board"},
	{"toolchain.*", "engine", SET_ENUM, "docker", 0, 0, "docker|podman|local|slurm", TC(engine),
	 "how steps run: in a docker or podman container, local (the host's PATH), or slurm "
	 "(a batch job per step on a Slurm cluster, running what node_engine would)"},
	{"toolchain.*", "image", SET_STR, "", 0, 0, NULL, TC(image),
	 "container image (default per toolchain; see README)"},
	{"toolchain.*", "engine_args", SET_STR, "", 0, 0, NULL, TC(engine_args),
	 "extra arguments for '<engine> run', separated by spaces"},
	{"toolchain.*", "path", SET_STR, "", 0, 0, NULL, TC(path),
	 "engine = local: directory prepended to PATH for the step"},
	{"toolchain.*", "node_engine", SET_ENUM, "docker", 0, 0, "docker|podman|local",
	 TC(node_engine), "engine = slurm: what the batch job runs on the node, taking image, "
	 "engine_args and path as above"},
	{"toolchain.*", "partition", SET_STR, "", 0, 0, NULL, TC(partition),
	 "engine = slurm: sbatch --partition; empty = the cluster's default partition"},
	{"toolchain.*", "cpus", SET_INT, "0", 0, 4096, NULL, TC(cpus),
	 "engine = slurm: sbatch --cpus-per-task; 0 = not given (Slurm's default)"},
	{"toolchain.*", "mem", SET_STR, "", 0, 0, NULL, TC(mem),
	 "engine = slurm: sbatch --mem (e.g. 8G); empty = not given"},
	{"toolchain.*", "time", SET_STR, "", 0, 0, NULL, TC(time),
	 "engine = slurm: sbatch --time (e.g. 2:00:00); empty = the step's own timeout"},
	{"toolchain.*", "sbatch_args", SET_STR, "", 0, 0, NULL, TC(sbatch_args),
	 "engine = slurm: more sbatch arguments, separated by spaces (e.g. --qos=low)"},
};
#define N_SETTINGS (sizeof(SETTINGS) / sizeof(SETTINGS[0]))

/* The image of a toolchain whose section names none: its row's
 * (runtime/toolchain.c, which says where each comes from). */
static const char *default_image(int t)
{
	const struct toolchain *tc = toolchain_find(config_toolchain_id(t));
	return tc ? tc->default_image : "";
}

/* Finds the row for section/key; *tc receives the toolchain index for
 * toolchain sections, -1 otherwise. */
static const struct setting *find(const char *section, const char *key, int *tc,
				  int *section_known)
{
	*tc = -1;
	*section_known = 0;
	const char *sec = section;
	if (strncmp(section, "toolchain.", 10) == 0) {
		for (int i = 0; i < TOOLCHAIN_COUNT; i++)
			if (strcmp(section + 10, config_toolchain_id(i)) == 0)
				*tc = i;
		if (*tc < 0)
			return NULL;
		sec = "toolchain.*";
	}
	for (size_t i = 0; i < N_SETTINGS; i++) {
		if (strcmp(SETTINGS[i].section, sec) != 0)
			continue;
		*section_known = 1;
		if (strcmp(SETTINGS[i].key, key) == 0)
			return &SETTINGS[i];
	}
	return NULL;
}

static int parse_ll(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

static int parse_size(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -1;
	long long mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1LL << 10;
	else if (*end == 'M' || *end == 'm')
		mul = 1LL << 20;
	else if (*end == 'G' || *end == 'g')
		mul = 1LL << 30;
	else if (*end != '\0')
		return -1;
	if (mul != 1)
		end++;
	if (*end != '\0' || n > LLONG_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

int config_split_listen(const char *listen, char *host, size_t host_cap, int *port,
			struct kiln_err *err)
{
	const char *colon;
	size_t hlen;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (close == NULL || close[1] != ':')
			return kiln_errf(err, KILN_EINVAL, "listen",
					 "listen '%s' must be host:port or [v6]:port", listen);
		colon = close + 1;
		listen++;
		hlen = (size_t)(close - listen);
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL)
			return kiln_errf(err, KILN_EINVAL, "listen",
					 "listen '%s' must be host:port, e.g. 127.0.0.1:8080", listen);
		hlen = (size_t)(colon - listen);
	}
	long long p;
	if (hlen == 0 || hlen >= host_cap || parse_ll(colon + 1, &p) != 0 || p < 0 || p > 65535)
		return kiln_errf(err, KILN_EINVAL, "listen",
				 "listen '%s': need a host and a port 0-65535", listen);
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* A SET_DIR value made absolute against the working directory, so every
 * path kilnd derives from it (database, blobs, job workspaces, the symlinks
 * deploy makes) means the same thing whatever folder it is resolved from.
 * It is checked here, before anything is written: the directory, or the
 * nearest part of it that exists, must be a directory kilnd can write to. */
static int dir_value(const char *name, const char *value, char *out, size_t cap,
		     struct kiln_err *err)
{
	if (value[0] == '\0')
		return kiln_errf(err, KILN_EINVAL, name, "%s is empty: name a directory", name);
	char cwd[1024] = "";
	if (value[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
		return kiln_errf(err, KILN_EINVAL, name, "%s: cannot read the working directory: %s",
				 name, strerror(errno));
	while (value[0] == '.' && value[1] == '/')
		value += 2;
	int n = value[0] == '/' ? snprintf(out, cap, "%s", value)
				: snprintf(out, cap, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, value);
	if (n < 0 || (size_t)n >= cap)
		return kiln_errf(err, KILN_EINVAL, name, "%s is too long (at most %zu bytes)", name,
				 cap - 1);
	for (size_t len = strlen(out); len > 1 && out[len - 1] == '/'; len--)
		out[len - 1] = '\0';
	char probe[1024];
	snprintf(probe, sizeof(probe), "%s", out);
	struct stat st;
	while (stat(probe, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return kiln_errf(err, KILN_EINVAL, name, "%s = '%s': %s: %s", name, value,
					 probe, strerror(errno));
		char *slash = strrchr(probe, '/');
		if (slash == probe) {
			probe[1] = '\0';
			continue;
		}
		*slash = '\0';
	}
	if (!S_ISDIR(st.st_mode))
		return kiln_errf(err, KILN_EINVAL, name, "%s = '%s': %s is not a directory", name,
				 value, probe);
	if (access(probe, W_OK | X_OK) != 0)
		return kiln_errf(err, KILN_EINVAL, name,
				 "%s = '%s': %s is not writable (%s): choose another directory or "
				 "fix its permissions", name, value, probe, strerror(errno));
	return 0;
}

int config_set(struct kiln_config *cfg, const char *section, const char *key,
	       const char *value, struct kiln_err *err)
{
	int tc, section_known;
	char name[160];
	snprintf(name, sizeof(name), "%s.%s", section, key);
	const struct setting *s = find(section, key, &tc, &section_known);
	if (s == NULL && !section_known)
		return kiln_errf(err, KILN_EINVAL, name, "unknown section [%s]%s", section,
				 strncmp(section, "toolchain.", 10) == 0 ?
				 " (toolchains: tpu-mlir, pulsar2, pulsar, voyager)" : "");
	if (s == NULL)
		return kiln_errf(err, KILN_EINVAL, name, "unknown key '%s' in section [%s]",
				 key, section);
	char *base = tc >= 0 ? (char *)&cfg->toolchains[tc] : (char *)cfg;
	void *field = base + s->offset;
	long long n;
	char host[128];
	int port;
	if (s->type == SET_LISTEN &&
	    config_split_listen(value, host, sizeof(host), &port, err) != 0) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		return kiln_errf(err, KILN_EINVAL, name, "%s: %s", name, msg);
	}
	switch (s->type) {
	case SET_DIR:
		return dir_value(name, value, field, s->cap, err);
	case SET_LISTEN: /* validated above, stored as a string */
	case SET_STR:
		if (strlen(value) >= s->cap)
			return kiln_errf(err, KILN_EINVAL, name, "%s is too long (at most %zu bytes)",
					 name, s->cap - 1);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case SET_INT:
		if (parse_ll(value, &n) != 0 || n < s->min || n > s->max)
			return kiln_errf(err, KILN_EINVAL, name,
					 "%s = '%s': need a whole number from %lld to %lld",
					 name, value, s->min, s->max);
		*(int *)field = (int)n;
		return 0;
	case SET_INT64:
		if (parse_ll(value, &n) != 0 || n < s->min || n > s->max)
			return kiln_errf(err, KILN_EINVAL, name,
					 "%s = '%s': need a whole number from %lld to %lld",
					 name, value, s->min, s->max);
		*(long long *)field = n;
		return 0;
	case SET_SIZE:
		if (parse_size(value, &n) != 0 || n < s->min || n > s->max)
			return kiln_errf(err, KILN_EINVAL, name,
					 "%s = '%s': need a size from %lld to %lld bytes "
					 "(suffix K, M or G allowed)", name, value, s->min, s->max);
		*(long long *)field = n;
		return 0;
	case SET_ENUM: {
		size_t vl = strlen(value);
		for (const char *c = s->choices; *c;) {
			const char *bar = strchr(c, '|');
			size_t cl = bar ? (size_t)(bar - c) : strlen(c);
			if (cl == vl && strncmp(c, value, vl) == 0 && vl < s->cap) {
				memcpy(field, value, vl + 1);
				return 0;
			}
			c += cl + (bar ? 1 : 0);
		}
		return kiln_errf(err, KILN_EINVAL, name, "%s = '%s': must be one of %s",
				 name, value, s->choices);
	}
	}
	return kiln_errf(err, KILN_EINTERNAL, name, "setting %s has no type", name);
}

void config_defaults(struct kiln_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &SETTINGS[i];
		struct kiln_err err;
		if (strcmp(s->section, "toolchain.*") != 0) {
			config_set(cfg, s->section, s->key, s->def, &err);
			continue;
		}
		for (int t = 0; t < TOOLCHAIN_COUNT; t++) {
			char sec[64];
			snprintf(sec, sizeof(sec), "toolchain.%s", config_toolchain_id(t));
			config_set(cfg, sec, s->key,
				   strcmp(s->key, "image") == 0 ? default_image(t) : s->def, &err);
		}
	}
}

struct load_ctx {
	struct kiln_config *cfg;
	struct kiln_err *err;
	int failed;
};

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *ctx = user;
	if (ctx->failed)
		return 0;
	if (section[0] == '\0') {
		/* inih also lands here after a broken "[section" line, whose
		 * number is the one ini_parse reports. */
		kiln_errf(ctx->err, KILN_EINVAL, key, "key '%s' is outside any [section] "
			  "(or a section header above is missing its ']')", key);
		ctx->failed = 1;
		return 0;
	}
	if (config_set(ctx->cfg, section, key, value, ctx->err) != 0) {
		ctx->failed = 1;
		return 0; /* ini_parse then returns this line's number */
	}
	return 1;
}

int config_load(struct kiln_config *cfg, const char *path, struct kiln_err *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return kiln_errf(err, KILN_EINVAL, "config", "cannot read %s: %s", path,
				 strerror(errno));
	struct load_ctx ctx = {cfg, err, 0};
	int line = ini_parse_file(f, on_ini, &ctx);
	fclose(f);
	if (line == 0)
		return 0;
	if (ctx.failed) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		return kiln_errf(err, KILN_EINVAL, err->field, "%s:%d: %s", path, line, msg);
	}
	return kiln_errf(err, KILN_EINVAL, "config",
			 "%s:%d: not an ini line (expected [section] or key = value)", path, line);
}

void config_print_help(FILE *out)
{
	fprintf(out, "Settings (kiln.ini section.key, default — meaning):\n");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &SETTINGS[i];
		fprintf(out, "  [%s] %s = %s\n      %s%s%s\n", s->section, s->key,
			s->def[0] ? s->def : "(empty)", s->help,
			s->choices ? "; one of " : "", s->choices ? s->choices : "");
	}
	fprintf(out, "  toolchain.* is each of: tpu-mlir, pulsar2, pulsar, voyager\n");
}

/* The value of row s in base (cfg, or one toolchain's struct), as JSON:
 * numbers as numbers (sizes in bytes), everything else as the string
 * kiln.ini holds. */
static cJSON *value_json(const struct setting *s, const char *base)
{
	const void *field = base + s->offset;
	switch (s->type) {
	case SET_INT:
		return cJSON_CreateNumber(*(const int *)field);
	case SET_INT64:
	case SET_SIZE:
		return cJSON_CreateNumber((double)*(const long long *)field);
	case SET_STR:
	case SET_ENUM:
	case SET_LISTEN:
	case SET_DIR:
		return cJSON_CreateString((const char *)field);
	}
	return cJSON_CreateNull();
}

static int add_row(cJSON *items, const struct setting *s, const char *section, const char *base,
		   const char *def)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return -1;
	cJSON_AddItemToArray(items, o);
	cJSON_AddStringToObject(o, "section", section);
	cJSON_AddStringToObject(o, "key", s->key);
	cJSON_AddItemToObject(o, "value", value_json(s, base));
	cJSON_AddStringToObject(o, "default", def);
	cJSON_AddStringToObject(o, "help", s->help);
	if (s->choices)
		cJSON_AddStringToObject(o, "choices", s->choices);
	return 0;
}

cJSON *config_settings_json(const struct kiln_config *cfg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	int bad = items == NULL;
	for (size_t i = 0; i < N_SETTINGS && !bad; i++)
		if (strcmp(SETTINGS[i].section, "toolchain.*") != 0)
			bad = add_row(items, &SETTINGS[i], SETTINGS[i].section, (const char *)cfg,
				      SETTINGS[i].def) != 0;
	/* Toolchain rows grouped per toolchain, as a kiln.ini has them. */
	for (int t = 0; t < TOOLCHAIN_COUNT && !bad; t++) {
		char section[64];
		snprintf(section, sizeof(section), "toolchain.%s", config_toolchain_id(t));
		for (size_t i = 0; i < N_SETTINGS && !bad; i++)
			if (strcmp(SETTINGS[i].section, "toolchain.*") == 0)
				/* an empty image means the toolchain's own default */
				bad = add_row(items, &SETTINGS[i], section,
					      (const char *)&cfg->toolchains[t],
					      strcmp(SETTINGS[i].key, "image") == 0 ? default_image(t)
					      : SETTINGS[i].def) != 0;
	}
	if (bad) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

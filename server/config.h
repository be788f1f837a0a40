/*
 * config: kilnd's settings — one table (config.c) from which kiln.ini
 * parsing, command-line overrides, `kilnd --help` and the README's table all
 * follow.  Every key has a default; unknown sections or keys are errors that
 * name the key and the line.  No other module parses kiln.ini.
 */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "runtime/toolchain.h"

/* One [toolchain.<id>] section per toolchain row (runtime/toolchain.h):
 * toolchains[i] is the settings of toolchain_table()'s row i. */
const char *config_toolchain_id(int i);

struct config_toolchain {
	char engine[16];        /* docker | podman | local | slurm */
	char image[256];
	char engine_args[512];  /* extra arguments for `<engine> run`, split on spaces */
	char path[1024];        /* engine=local: prepended to PATH for the step */
	/* engine = slurm (README "Running steps on a Slurm cluster") */
	char node_engine[16];   /* docker | podman | local: what the node runs */
	char partition[64];
	int cpus;
	char mem[32];
	char time[32];
	char sbatch_args[512];
};

struct kiln_config {
	/* [server] */
	char listen[128];             /* host:port; port 0 picks a free one */
	char data_dir[1024];
	int threads;                  /* 0 = 2 x cores */
	int work_threads;             /* heavy request work at once (runtime/workpool.h) */
	int ingest_threads;           /* dataset ingests at once */
	int connection_limit;
	int per_ip_connection_limit;  /* 0 = no per-address limit */
	int connection_timeout;       /* seconds of inactivity */
	int header_timeout;           /* seconds for a request's line and headers */
	long long connection_memory_limit; /* bytes per connection for headers */
	long long max_json_body;      /* bytes */
	char access_log[1024];        /* "-" = stderr, "off", or a file path */
	int shutdown_grace;           /* seconds in-flight requests get at shutdown */
	/* [limits] */
	long long model_bytes;        /* largest ONNX upload */
	long long dataset_bytes;      /* largest calibration archive upload */
	long long dataset_entries;    /* most entries in one archive */
	long long dataset_total_bytes; /* most decompressed bytes in one archive */
	long long dataset_entry_bytes; /* largest decompressed entry */
	long long image_pixels;       /* largest image (from its header) */
	/* [jobs] */
	int workers;
	int max_attempts;
	int failed_workspace_hours;   /* 0 = a failed job's workspace goes at once */
	int max_queued_per_token;     /* 0 = no limit */
	/* [storage] */
	long long min_free;           /* bytes the data dir's disk keeps free (507 below) */
	int min_free_percent;         /* the same as a percentage of the disk */
	int orphan_grace;             /* seconds before an unnamed blob may be removed */
	/* [deploy] */
	int deploy_connect_timeout;   /* seconds ssh waits for a board to answer */
	int deploy_step_timeout;      /* seconds a copy or test run may take */
	/* [toolchain.<id>] */
	struct config_toolchain toolchains[TOOLCHAIN_COUNT];
};

/* Fills cfg with every default. */
void config_defaults(struct kiln_config *cfg);

/* Reads an ini file over cfg.  Errors name the file, line and key. */
int config_load(struct kiln_config *cfg, const char *path, struct kiln_err *err);

/* Sets one "section.key" (as from a command-line flag) with validation. */
int config_set(struct kiln_config *cfg, const char *section, const char *key,
	       const char *value, struct kiln_err *err);

/* Every setting in force, for GET /api/v1/settings (read-only):
 * {"items": [{"section","key","value","default","help","choices"?}]}, the
 * toolchain.* rows once per toolchain; sizes in bytes.  NULL when out of
 * memory.  Nothing in the table is a secret (tokens live in the database). */
cJSON *config_settings_json(const struct kiln_config *cfg);

/* Prints every setting with its default and help, for `kilnd --help`. */
void config_print_help(FILE *out);

/* Splits "host:port" / "[v6]:port" into host and port; validates both. */
int config_split_listen(const char *listen, char *host, size_t host_cap, int *port,
			struct kiln_err *err);

#endif

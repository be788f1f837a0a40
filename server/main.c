/*
 * kilnd: the Kiln daemon's entry point.
 *
 * Reads settings (defaults < kiln.ini < command-line flags), opens the data
 * directory (database with migrations, blob store, first admin token),
 * serves HTTP until SIGINT/SIGTERM, then lets in-flight requests finish and
 * closes the database.  Exit codes: 0 clean stop, 1 could not start,
 * 2 bad configuration or command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/app.h"
#include "server/auth.h"
#include "server/config.h"
#include "conversion/targets.h"
#include "deploy/deploy.h"
#include "runtime/embed.h"
#include "server/http.h"
#include "server/jobsys.h"
#include "server/reinspect.h"
#include "server/routes.h"
#include "server/session.h"
#include "runtime/workpool.h"
#include "runtime/fsutil.h"

#define KILN_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: kilnd [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]\n"
		"             [--ready-fd N] [--help] [--version]\n"
		"  --config FILE      read settings from an ini file (see below)\n"
		"  --listen ADDR:PORT override [server] listen\n"
		"  --data-dir DIR     override [server] data_dir\n"
		"  --ready-fd N       write the bound address and a newline to fd N once\n"
		"                     kilnd accepts connections, then close it\n\n");
	config_print_help(out);
}

static void logf_err(const char *what, const struct kiln_err *err)
{
	fprintf(stderr, "level=error msg=\"%s\" error=\"%s\"%s%s\n", what, err->msg,
		err->field[0] ? " field=" : "", err->field);
}

/* The data dir holds every user's models, datasets and the token hashes:
 * only kilnd's user may enter it (0700), and the database is 0600 (sqlite
 * gives its -wal and -shm files the database's mode).  Made so at every
 * start, so an older install is closed up too.  Blobs are written 0600 by
 * runtime/blob.c. */
static int private_data_dir(const char *dir)
{
	if (chmod(dir, 0700) != 0)
		return -1;
	static const char *const db_files[] = {"kiln.db", "kiln.db-wal", "kiln.db-shm"};
	for (size_t i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++) {
		char path[1100];
		snprintf(path, sizeof(path), "%s/%s", dir, db_files[i]);
		/* kiln.db is made here, empty (sqlite takes an empty file as a new
		 * database), so it is never world-readable even for a moment. */
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (i == 0 ? O_CREAT : 0), 0600);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		int rc = fchmod(fd, 0600);
		close(fd);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* Serving hundreds of connections needs more than the usual soft limit of
 * 1024 descriptors; the hard limit is ours to take. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void wake_parked(void *unused)
{
	(void)unused;
	routes_notify();
}

static int threads_default(int configured)
{
	if (configured > 0)
		return configured;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(2 * n) : 4;
}

/* The HTTP layer's token check, bound to this process's database. */
static int authenticate_token(void *appp, const char *token, struct http_principal *p,
		      struct kiln_err *err)
{
	struct app *app = appp;
	return auth_token_verify(app->db, token, p, err);
}

/* The HTTP layer's session-cookie check (the dashboard), same database. */
static int check_session(void *appp, const char *sid, const char *csrf, int unsafe,
			 struct http_principal *p, struct kiln_err *err)
{
	struct app *app = appp;
	return session_check(app->db, sid, csrf, unsafe, p, NULL, err);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"data-dir", required_argument, NULL, 'd'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *listen = NULL, *data_dir = NULL;
	int ready_fd = -1, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'l': listen = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'r': ready_fd = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kilnd %s\n", KILN_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kilnd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	struct kiln_config cfg;
	struct kiln_err err;
	kiln_err_clear(&err);
	config_defaults(&cfg);
	if ((config_path && config_load(&cfg, config_path, &err) != 0) ||
	    (listen && config_set(&cfg, "server", "listen", listen, &err) != 0) ||
	    (data_dir && config_set(&cfg, "server", "data_dir", data_dir, &err) != 0)) {
		fprintf(stderr, "kilnd: configuration error: %s\n", err.msg);
		return 2;
	}
	char host[128];
	int port;
	if (config_split_listen(cfg.listen, host, sizeof(host), &port, &err) != 0) {
		fprintf(stderr, "kilnd: configuration error: %s\n", err.msg);
		return 2;
	}
	FILE *alog = NULL;
	if (strcmp(cfg.access_log, "-") == 0) {
		alog = stderr;
	} else if (strcmp(cfg.access_log, "off") != 0) {
		alog = fopen(cfg.access_log, "a");
		if (alog == NULL) {
			fprintf(stderr, "kilnd: configuration error: access_log %s: %s\n",
				cfg.access_log, strerror(errno));
			return 2;
		}
	}

	/* Signals are taken by sigwait() in this thread only; every thread
	 * started from here on inherits the blocked mask. */
	sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	struct kiln_err derr;
	if (fs_mkdir_p(cfg.data_dir, 0700, &derr) != 0) {
		fprintf(stderr, "kilnd: configuration error: data_dir: %s\n", derr.msg);
		return 2;
	}
	if (private_data_dir(cfg.data_dir) != 0) {
		fprintf(stderr, "level=error msg=\"cannot make data_dir %s private (0700, kiln.db "
			"0600): %s\"\n", cfg.data_dir, strerror(errno));
		return 1;
	}
	struct app app = {.cfg = &cfg};
	char dbpath[1100];
	snprintf(dbpath, sizeof(dbpath), "%s/kiln.db", cfg.data_dir);
	int created = 0, rc = 1;
	struct http_server *srv = NULL;
	if (db_open(dbpath, &app.db, &err) != 0) {
		logf_err("cannot open the database", &err);
		goto out;
	}
	if (db_migrate(app.db, migrations, &err) != 0) {
		logf_err("cannot migrate the database", &err);
		goto out;
	}
	if (blob_store_open(cfg.data_dir, &app.blobs, &err) != 0) {
		logf_err("cannot open the blob store", &err);
		goto out;
	}
	if (auth_bootstrap(app.db, cfg.data_dir, &created, &err) != 0) {
		logf_err("cannot create the first admin token", &err);
		goto out;
	}
	if (created)
		fprintf(stderr, "level=info msg=\"created the first admin token; sign in with "
			"the token in this file\" file=%s/admin.token\n", cfg.data_dir);
	/* Models inspected by an older kilnd lack the newer fields (anchors,
	 * per-board suggestions): inspected again before any job reads them. */
	int reinspected = 0, reinspect_failed = 0;
	if (reinspect_stale(app.db, app.blobs, &reinspected, &reinspect_failed, &err) != 0) {
		logf_err("cannot re-inspect the stored models", &err);
		goto out;
	}
	if (reinspected || reinspect_failed)
		fprintf(stderr, "level=info msg=\"re-inspected stored models\" done=%d failed=%d\n",
			reinspected, reinspect_failed);
	/* Before HTTP: the job routes call into it, and the workers first put
	 * back the jobs a crash left running (runtime/JOBS.md). */
	if (jobsys_start(&cfg, app.db, app.blobs, &app.jobsys, &err) != 0) {
		logf_err("cannot start the job system", &err);
		goto out;
	}
	/* The deployment runner picks up deployments queued before a restart. */
	struct deploy_opts dopts = {app.db, app.blobs, cfg.data_dir, cfg.deploy_connect_timeout,
				    cfg.deploy_step_timeout, targets_deploy_program};
	if (deploy_start(&dopts, &app.deploy, &err) != 0) {
		logf_err("cannot start the deployment runner", &err);
		goto out;
	}

	/* Heavy request work (ingest, inspection, cut, graph files) runs here,
	 * never on an HTTP thread; datasets left ingesting by a crash fail. */
	if (workpool_new(cfg.work_threads, &app.work, &err) != 0 ||
	    workpool_new(cfg.ingest_threads, &app.ingest, &err) != 0) {
		logf_err("cannot start the work threads", &err);
		goto out;
	}
	routes_datasets_recover(&app);
	routes_models_recover(&app);

	struct http_server_opts hopts = {
		.host = host,
		.port = port,
		.threads = threads_default(cfg.threads),
		.connection_limit = cfg.connection_limit,
		.per_ip_connection_limit = cfg.per_ip_connection_limit,
		.connection_timeout = cfg.connection_timeout,
		.header_timeout = cfg.header_timeout,
		.connection_memory_limit = (size_t)cfg.connection_memory_limit,
		.max_json_body = (size_t)cfg.max_json_body,
		.access_log = alog,
		.routes = routes_table,
		.n_routes = routes_count,
		.authenticate = authenticate_token,
		.check_session = check_session,
		.app = &app,
		.work = app.work,
		.answers_db = app.db,
	};
	if (http_server_start(&hopts, &srv, &err) != 0) {
		logf_err("cannot start the HTTP server", &err);
		goto out;
	}
	/* A deployment that ends wakes the ?wait=N requests parked on it. */
	routes_notify_set(srv);
	deploy_set_listener(app.deploy, wake_parked, NULL);
	char addr[200];
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		 http_server_port(srv));
	fprintf(stderr, "level=info msg=\"kilnd %s listening\" addr=%s data_dir=%s threads=%d\n",
		KILN_VERSION, addr, cfg.data_dir, hopts.threads);
	/* The last line `make run` shows: where to go next. */
	fprintf(stderr, "level=info msg=\"dashboard: open http://%s/ and sign in with the token "
		"in %s/admin.token\"\n", addr, cfg.data_dir);
	if (ready_fd >= 0) {
		dprintf(ready_fd, "%s\n", addr);
		close(ready_fd);
	}

	int sig = 0;
	sigwait(&stop_set, &sig);
	fprintf(stderr, "level=info msg=\"stopping\" signal=%s grace_s=%d\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", cfg.shutdown_grace);
	deploy_set_listener(app.deploy, NULL, NULL);
	routes_notify_set(NULL);
	http_server_stop(srv, cfg.shutdown_grace);
	srv = NULL;
	rc = 0;
out:
	deploy_set_listener(app.deploy, NULL, NULL);
	routes_notify_set(NULL);
	http_server_stop(srv, 0);
	workpool_free(app.work); /* after HTTP: offloaded requests use it until then */
	routes_datasets_stop();    /* a running ingest ends at its next step */
	workpool_free(app.ingest); /* queued ingests fail; the running one is joined */
	jobsys_stop(app.jobsys); /* after HTTP: handlers use it until then */
	deploy_stop(app.deploy); /* before the database it writes to closes */
	blob_store_close(app.blobs);
	db_close(app.db);
	if (alog && alog != stderr)
		fclose(alog);
	if (rc == 0)
		fprintf(stderr, "level=info msg=\"stopped\"\n");
	return rc;
}

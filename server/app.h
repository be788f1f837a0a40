/*
 * app: what every route handler can reach — the settings, the database,
 * the blob store, the job system and the deployment runner — handed to handlers through http_req_app().  Built and
 * torn down by main.c; handlers never free any of it.
 */
#ifndef KILN_APP_H
#define KILN_APP_H

#include "runtime/blob.h"
#include "server/config.h"
#include "runtime/db.h"

struct deploy_runner;
struct jobsys;
struct workpool;

struct app {
	const struct kiln_config *cfg;
	struct db *db;
	struct blob_store *blobs;
	struct jobsys *jobsys;   /* jobs, events, workers, toolchains (jobsys.h) */
	struct deploy_runner *deploy; /* the push-deployment thread (deploy/deploy.h) */
	struct workpool *work;   /* heavy request work off the HTTP threads */
	struct workpool *ingest; /* dataset ingests: long, so apart from `work` */
};

#endif

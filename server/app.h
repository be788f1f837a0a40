/*
 * app: what every route handler can reach — the settings, the database and
 * the blob store — handed to handlers through http_req_app().  Built and
 * torn down by main.c; handlers never free any of it.
 */
#ifndef KILN_APP_H
#define KILN_APP_H

#include "runtime/blob.h"
#include "server/config.h"
#include "runtime/db.h"

struct jobsys;

struct app {
	const struct kiln_config *cfg;
	struct db *db;
	struct blob_store *blobs;
	struct jobsys *jobsys;   /* jobs, events, workers, toolchains (jobsys.h) */
};

#endif

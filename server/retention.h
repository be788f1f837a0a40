/*
 * retention: what kilnd removes from the data directory, and when
 * (README "Disk use").
 *
 *   - a succeeded job's workspace (jobs/<id>/work): by the worker, once the
 *     bundle is stored (worker_conf.remove_succeeded_workspace);
 *   - a failed or cancelled job's workspace: kept [jobs]
 *     failed_workspace_hours for debugging, then removed by the sweep;
 *   - every finished job's workspace made from a model or dataset, when
 *     that model or dataset is deleted (retention_forget);
 *   - blobs no record names (blobrefs.c), once older than [storage]
 *     orphan_grace, by the sweep.  (Temporary upload files are removed by
 *     blob_store_open() at start only: a long dataset ingest may still be
 *     reading one that was last written hours ago.)
 * Job logs (jobs/<id>/log*.txt) and bundles are kept.
 *
 * The sweep runs once in retention_start() (before kilnd listens) and then
 * every RETENTION_SWEEP_S on its own thread.  Owned by jobsys.
 */
#ifndef KILN_RETENTION_H
#define KILN_RETENTION_H

#include "runtime/blob.h"
#include "server/config.h"
#include "runtime/db.h"
#include "runtime/jobs.h"

/* Ten minutes: expiry is counted in hours and orphans are rare, so a
 * sweep (one directory walk) more often would only cost disk reads. */
#define RETENTION_SWEEP_S 600

struct retention;

struct retention_stats {
	int workspaces;        /* job workspaces removed */
	int blobs;             /* orphan blobs removed */
	unsigned long long bytes; /* bytes of the orphan blobs */
};

/* Sweeps once, then starts the timer thread.  Caller frees with
 * retention_stop() (accepts NULL).  Nothing is owned: cfg, db, bs and jobs
 * must outlive it. */
int retention_start(const struct kiln_config *cfg, struct db *db, struct blob_store *bs,
		    struct jobs *jobs, struct retention **out, struct kiln_err *err);
void retention_stop(struct retention *r);

/* One sweep now; st (may be NULL) gets what it removed. */
void retention_sweep(struct retention *r, struct retention_stats *st);

/* A model or dataset (id as stored in jobs.model / jobs.dataset) was
 * deleted: removes the workspaces of every finished job made from it, so
 * no copy of its bytes stays behind.  Returns how many were removed. */
int retention_forget(struct retention *r, const char *model, const char *dataset);

#endif

/*
 * diskfree: refuse new work when the data directory's disk is nearly full.
 *
 * An upload or a job that runs the disk full fails half way and can take
 * sqlite's WAL with it; refusing it up front with 507 and a message saying
 * what to do is kinder.  The thresholds are [storage] min_free and
 * min_free_percent.  Reads and deletes are never refused: they are how an
 * operator gets space back.
 */
#ifndef KILN_DISKFREE_H
#define KILN_DISKFREE_H

#include <stdint.h>

#include "server/config.h"
#include "runtime/kiln_err.h"

/* 0 when the data directory's file system keeps at least the configured
 * free space after `incoming` more bytes (0 when unknown); KILN_ENOSPACE
 * (507) with a message naming the free space and the setting otherwise.
 * A file system that cannot be asked (statvfs fails) is not refused. */
int diskfree_check(const struct kiln_config *cfg, uint64_t incoming, struct kiln_err *err);

#endif

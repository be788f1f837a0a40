/*
 * blobrefs: which records name a blob.  A blob may be removed only when no
 * row in any table that stores blob hashes still names it; this module holds
 * the one list of those (table, column) pairs.
 */
#ifndef KILN_BLOBREFS_H
#define KILN_BLOBREFS_H

#include <time.h>

#include "runtime/blob.h"
#include "runtime/db.h"

/* Held around "commit a blob + insert the row naming it" and around
 * blobrefs_release(), so a delete can never remove a blob that a concurrent
 * upload of the same bytes is about to name. */
void blobrefs_lock(void);
void blobrefs_unlock(void);

/* Removes the blob when no record names it any more; errors are logged,
 * not returned (an orphaned blob costs disk, never correctness).  Takes
 * the lock itself.  Returns 1 when the blob was removed, else 0. */
int blobrefs_release(struct db *db, struct blob_store *bs, const char *hex);

/* Removes every blob last written before `before` (time(2)) that no record
 * names; *removed and *bytes get how many and their size.  Each removal
 * is decided under the lock, as in blobrefs_release(). */
int blobrefs_sweep(struct db *db, struct blob_store *bs, time_t before, int *removed,
		   unsigned long long *bytes, struct kiln_err *err);

#endif

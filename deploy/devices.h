/*
 * devices: the device store in sqlite (tables `devices`, `assignments` and
 * `device_reports`).  The one place that reads or writes those rows: the
 * device and pull routes, and the deployment runner when a push deploy
 * reaches a board.  Values are checked by device.h before they come here;
 * this file knows nothing of HTTP.
 *
 * API (any thread)
 *   devices_insert(db, &row, &id, err)    KILN_ECONFLICT (field "name") for
 *                                         a name already registered
 *   devices_set_ssh_key(db, id, pub, err)
 *   devices_remove(db, id)                the row (assignment and reports go
 *                                         with it: ON DELETE CASCADE)
 *   devices_get(db, id, full, &json, err) the API record; full adds the last
 *                                         DEVICES_REPORTS_SHOWN reports
 *   devices_list(db, after, limit, &json, err)
 *   devices_assign(db, id, model_name|NULL, bundle, err)   bundle 0: by name
 *   devices_resolve(db, id, sha|NULL, name|NULL, cap)
 *                     the bundle the assignment resolves to now: the exact
 *                     one, or the newest of that name for the device's
 *                     target; 0 when none, -1 on a database error
 *   devices_by_token(db, token_id, &id, err)
 *                     the device behind a device token (0: none); refreshes
 *                     last_seen at most every DEVICES_SEEN_REFRESH_S
 *   devices_pull(db, token_id, &id, &bundle|NULL, sha, name, cap, err)
 *                     devices_by_token and devices_resolve in one statement
 *                     (the device poll's path): bundle 0 when none
 *   devices_report(db, id, bundle, status, detail|NULL, now, err)
 *                     one report row (newest DEVICES_REPORTS_KEPT kept) and
 *                     the device's last status, last seen and installed
 *                     bundle ('installed', or 'current' naming a bundle), in
 *                     one transaction; push deploys report through it too
 *   devices_seen(db, id)          last_seen = now (a push deploy reached it)
 */
#ifndef KILN_DEVICES_H
#define KILN_DEVICES_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

#define DEVICES_REPORTS_KEPT 100
#define DEVICES_REPORTS_SHOWN 10
/* last_seen is refreshed at most this often by /pull, so a fleet polling
 * every few seconds reads the database but does not write it. */
#define DEVICES_SEEN_REFRESH_S 60

struct device_row {
	const char *name, *target, *transport;
	const char *address;         /* NULL for pull */
	const char *models_dir;
	long long token_id;
};

int devices_insert(struct db *db, const struct device_row *row, long long *id,
		   struct kiln_err *err);
int devices_set_ssh_key(struct db *db, long long id, const char *pub, struct kiln_err *err);
void devices_remove(struct db *db, long long id);
int devices_get(struct db *db, long long id, int full, cJSON **json, struct kiln_err *err);
int devices_list(struct db *db, long long after, int limit, cJSON **json, struct kiln_err *err);
int devices_assign(struct db *db, long long id, const char *model_name, long long bundle,
		   struct kiln_err *err);
long long devices_resolve(struct db *db, long long id, char sha[BLOB_HEX_LEN + 1], char *name,
			  size_t name_cap);
int devices_by_token(struct db *db, long long token_id, long long *id, struct kiln_err *err);
int devices_pull(struct db *db, long long token_id, long long *id, long long *bundle,
		 char sha[BLOB_HEX_LEN + 1], char *name, size_t name_cap, struct kiln_err *err);
int devices_report(struct db *db, long long id, long long bundle, const char *status,
		   const char *detail, const char *now, struct kiln_err *err);
void devices_seen(struct db *db, long long id);

#endif

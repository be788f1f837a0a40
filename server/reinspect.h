/*
 * reinspect: brings the models' stored inspections up to what this kilnd
 * computes.  An inspection is made once, at upload; fields added since
 * (YOLOv5 "anchors", the per-board suggestions of issue 13) are missing
 * from a record an older kilnd stored, and a job checked against it would
 * be refused ("mud.anchors is required") until the model was uploaded
 * again.  So at start every record whose "inspection_version" is below
 * ONNX_INSPECTION_VERSION (conversion/onnx.h) is inspected again from its
 * blob and rewritten.  A blob that no longer opens keeps its record and is
 * logged: a stale inspection is better than none.
 *
 * API
 *   reinspect_stale(db, blobs, &done, &failed, err)
 *       0 (done/failed count the records), or a database error
 */
#ifndef KILN_REINSPECT_H
#define KILN_REINSPECT_H

#include "runtime/blob.h"
#include "runtime/db.h"
#include "runtime/kiln_err.h"

int reinspect_stale(struct db *db, const struct blob_store *blobs, int *done, int *failed,
		    struct kiln_err *err);

#endif

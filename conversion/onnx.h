/*
 * onnx: reading, inspecting, cutting and re-labelling ONNX models.
 *
 * A model is opened by mmap and walked with a small protobuf wire-format
 * reader: tensor data (raw_data, float_data, ...) is skipped by its length
 * and never copied, so a 470 MB model is inspected after touching a few
 * hundred pages.  Small flat messages (OperatorSetIdProto,
 * StringStringEntryProto, new ValueInfoProtos) go through the protobuf-c code
 * generated from Debian's onnx.proto.  The writer (cut, IR rewrite) copies the
 * byte ranges it keeps straight from the mapping, so weights are written
 * without being decoded.
 *
 * Knows nothing of HTTP or threads; a model is read-only after onnx_open and
 * may be used from several threads at once.
 *
 * API (all functions return 0 or a negative KILN_E* and fill err):
 *
 *   onnx_open(path, &m, err)          map and validate a file; onnx_close(m)
 *   onnx_open_mem(buf, len, &m, err)  same over caller memory (tests, fuzz);
 *                                     buf must outlive m
 *   onnx_inspect_json(m)              the model record's inspection: IR,
 *                                     producer, opsets, IO with shapes, op
 *                                     histogram, initializers, metadata,
 *                                     external data, per-target support
 *                                     (target_ops.h), suggested outputs
 *   onnx_suggest_json(m)              just the suggestions (best first)
 *                                     and the YOLOv5 anchors the graph holds
 *   onnx_suggest(m, &list, &n, err)   the same as C structs
 *   onnx_graph_json_text(m, &len)     nodes in topological order + tensors,
 *                                     for GET /models/{id}/graph (text;
 *                                     onnx_graph_json(m) is the same as cJSON)
 *   onnx_cut(m, outputs, n, fd, st, err)
 *                                     write a new ONNX holding exactly the
 *                                     nodes needed for `outputs`; unknown
 *                                     names -> KILN_EINVAL listing them
 *   onnx_cut_file(m, outputs, n, path, st, err)
 *                                     same, to path via tmp + fsync + rename
 *   onnx_rewrite_ir(m, ir, opset, fd, err)
 *                                     lower ir_version (and optionally the
 *                                     default-domain opset) when nothing in
 *                                     the model needs the newer one; else
 *                                     KILN_EUNPROC naming what blocks it
 *
 * Errors: bytes that are not an ONNX model (empty, random, truncated, lengths
 * past the end, no graph, bad names) -> KILN_EINVAL with field "model"; a
 * well-formed model whose graph is unusable (input produced nowhere, cycle,
 * a tensor produced twice) -> KILN_EUNPROC; bounds -> KILN_ETOOBIG.
 */
#ifndef KILN_ONNX_H
#define KILN_ONNX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"

/* Bounds on what a model may contain.  They are far above what real exports
 * use (Ultralytics names are < 80 bytes, big transformer exports have ~50k
 * nodes) and keep a hostile file from costing more than O(file) memory. */
#define ONNX_NAME_MAX      1024      /* bytes in a tensor/node/op name */
#define ONNX_MAX_NODES     (1u << 21)
#define ONNX_MAX_NODE_IO   65536     /* inputs or outputs of one node */
#define ONNX_MAX_ATTRS     1024      /* attributes of one node */
#define ONNX_MAX_RANK      64
#define ONNX_MAX_DEPTH     8         /* subgraph (If/Loop/Scan) nesting */
#define ONNX_MAX_OPSETS    64
#define ONNX_MAX_META      4096
#define ONNX_MAX_TENSORS   (1u << 23)
#define ONNX_MAX_FILE      ((size_t)16 << 30)
#define ONNX_MAX_INIT_ELEMS ((uint64_t)1 << 50) /* elements of one initializer */

struct onnx_model;

/* Opens and validates path.  On success *out is a new model; the caller
 * closes it with onnx_close().  The file may be removed once opened. */
int onnx_open(const char *path, struct onnx_model **out, struct kiln_err *err);

/* Same over buf[0..len), which must stay valid and unchanged until
 * onnx_close(); nothing is copied. */
int onnx_open_mem(const void *buf, size_t len, struct onnx_model **out,
		  struct kiln_err *err);

/* Unmaps and frees; accepts NULL. */
void onnx_close(struct onnx_model *m);

/* --- small accessors (used by target_ops and recipes) --------------------- */
int64_t onnx_ir_version(const struct onnx_model *m);
/* Version imported for domain ("" and "ai.onnx" are the default domain), or
 * -1 when the model does not import it. */
int64_t onnx_opset_version(const struct onnx_model *m, const char *domain);
size_t onnx_node_count(const struct onnx_model *m);
/* Op type and domain of node i (file order); valid while m is open. */
const char *onnx_node_op(const struct onnx_model *m, size_t i);
const char *onnx_node_domain(const struct onnx_model *m, size_t i);
/* Graph inputs that are not initializers: the tensors a user feeds. */
size_t onnx_feed_count(const struct onnx_model *m);
const char *onnx_feed_name(const struct onnx_model *m, size_t i);
/* 1 when feed i has a dim that is not a fixed positive number (named,
 * unknown, or no shape at all), else 0. */
int onnx_feed_is_dynamic(const struct onnx_model *m, size_t i);
/* Writes "[N, 3, H, W]"-style text of feed i's shape into buf. */
void onnx_feed_shape_text(const struct onnx_model *m, size_t i, char *buf,
			  size_t size);

/* Name of an ONNX TensorProto.DataType ("float32", "int64", ...), or
 * "undefined" for 0 and unknown codes. */
const char *onnx_elem_type_name(int elem_type);

/* --- inspection ------------------------------------------------------------ */

/* Returns a new cJSON object (caller frees with cJSON_Delete), or NULL when
 * out of memory.  It carries "inspection_version": ONNX_INSPECTION_VERSION,
 * raised whenever a field is added or its meaning changes (2: YOLOv5
 * "anchors", per-board suggestions for every target; 3: pose/seg
 * suggestions on Metis and AXera-Pi), so a record stored by an older
 * kilnd is inspected again (server/reinspect.c). */
#define ONNX_INSPECTION_VERSION 3
cJSON *onnx_inspect_json(const struct onnx_model *m);

/* Output suggestions, best first. */
struct onnx_suggestion {
	char **tensors;          /* tensor names, in the order to pass them */
	size_t ntensors;
	const char *family;      /* "yolov5", "yolov8", "yolo11", "classifier",
				    "sigmoid-head", "graph-outputs" (static) */
	const char *model_type;  /* MUD [extra] model_type, or NULL (static) */
	const char *layout;      /* what the tensors are, which board loaders
				    match on (static): "head-convs" (YOLOv8/11
				    box+class Convs per level), "level-concats"
				    (their per-level Concat), "dfl-sigmoid",
				    "anchor-convs" (YOLOv5), "logits",
				    "graph-outputs"; pose and seg heads add
				    their keypoint / mask outputs after the
				    levels, as MaixCDK's loader wants */
	const char *task;        /* "detect", "pose", "seg" for YOLOv8/11 (the
				    MUD [extra] type MaixCDK reads: detector,
				    pose, seg), else NULL (static) */
	char reason[256];
};
/* *out is a new array of *n suggestions (never empty for a valid model);
 * free with onnx_suggestions_free(). */
int onnx_suggest(const struct onnx_model *m, struct onnx_suggestion **out,
		 size_t *n, struct kiln_err *err);
void onnx_suggestions_free(struct onnx_suggestion *s, size_t n);
/* {"suggested_outputs": [{tensors, family, reason}...],
 *  "suggested_model_type": "yolov8" | null}; caller cJSON_Delete()s; NULL on
 * OOM.  The board-independent list: its first entry is what
 * "suggested_outputs" has always meant (reCamera's cut for YOLOv8/11). */
cJSON *onnx_suggest_json(const struct onnx_model *m);

/* The anchors an Ultralytics YOLOv5 export carries in its Detect head (each
 * level's anchor_grid constant, onnx_suggest.c): writes width,height pairs
 * in pixels, levels in head order (stride 8 first in an export), up to max
 * numbers to out; *per_level gets the numbers per level (2 x anchors).
 * Returns the number of levels, 0 when the model has no such head or any
 * level's anchors cannot be read. */
#define ONNX_MAX_ANCHORS 64
size_t onnx_yolov5_anchors(const struct onnx_model *m, double *out, size_t max,
			   size_t *per_level);
/* The same as rows, one per level ([[10,13,16,30,33,23], ...]), or JSON
 * null; NULL on OOM. */
cJSON *onnx_yolov5_anchors_json(const struct onnx_model *m);

/* What one board's runtime loads for a family (and task), best first.  A
 * board's rows (struct target.suggest_rules) end with a row whose
 * families[0] is NULL.  Only the layouts a row lists are offered for that
 * board: the others would compile and then fail to load. */
struct suggest_rule {
	const char *families[3];
	const char *tasks[3];       /* {NULL}: any task */
	const char *layouts[3];     /* {"none"}: no cut loads; the general order is
				       shown with why, and the loader check refuses */
	const char *why;            /* names the vendor source */
};
/* Per runtime (onnx_suggest.c); MaixCAM and MaixCAM2 differ by layouts. */
extern const struct suggest_rule SUGGEST_MAIXCAM[], SUGGEST_MAIXCAM2[], SUGGEST_RECAMERA[],
	SUGGEST_AXERA_PI[], SUGGEST_METIS[];

/* The suggestions the runtime of a board (its rows, may be NULL) loads,
 * best first: writes indexes into all[0..n) to idx (room for n) and
 * returns how many.  *why (may be NULL) gets the board rule that chose
 * them, naming its vendor source (static text), or NULL when the board has
 * no rule for the model's family and takes the board-independent order. */
size_t onnx_suggest_pick(const struct suggest_rule *rules, const struct onnx_suggestion *all,
			 size_t n, size_t *idx, const char **why);
/* {tensors, family, model_type, layout, task, reason} of one suggestion; caller
 * cJSON_Delete()s; NULL on OOM. */
cJSON *onnx_suggestion_json(const struct onnx_suggestion *s);

/* {"nodes": [{name, op, domain, inputs, outputs, attrs}] in topological
 *  order, "tensors": {name: {kind, type, shape}}, "inputs": [...],
 *  "outputs": [...]}; caller cJSON_Delete()s; NULL on OOM. */
cJSON *onnx_graph_json(const struct onnx_model *m);
/* The same object as compact JSON text, built without a cJSON tree (what
 * the HTTP route should send: ~10 ms for 10k nodes).  Returns a new
 * NUL-terminated string, caller frees with free(); *len (may be NULL) gets
 * its length; NULL on OOM. */
char *onnx_graph_json_text(const struct onnx_model *m, size_t *len);
/* The same text written to f in pieces of at most 256 KiB, so memory does
 * not grow with the graph's text (GET /models/{id}/graph serves the file).
 * 0, or KILN_EIO (with or without OOM) when a write failed. */
int onnx_graph_json_write(const struct onnx_model *m, FILE *f, struct kiln_err *err);

/* --- writing --------------------------------------------------------------- */

struct onnx_cut_stats {
	size_t nodes;            /* nodes kept */
	size_t initializers;     /* initializers kept */
	size_t inputs;           /* graph inputs kept */
	size_t untyped_outputs;  /* outputs whose shape could not be inferred
				    (written with elem type only) */
	uint64_t bytes;          /* bytes written */
};

/* Writes to fd (at its current offset) a model whose graph holds exactly the
 * nodes needed to compute outputs[0..n) from the graph inputs, with the
 * initializers they use, the graph inputs they read, value_info of kept
 * tensors and the outputs typed where known.  st may be NULL. */
int onnx_cut(const struct onnx_model *m, const char *const *outputs, size_t n,
	     int fd, struct onnx_cut_stats *st, struct kiln_err *err);
/* Same, written to path through a temporary file in the same directory,
 * fsynced and renamed; on error nothing is left at path. */
int onnx_cut_file(const struct onnx_model *m, const char *const *outputs,
		  size_t n, const char *path, struct onnx_cut_stats *st,
		  struct kiln_err *err);

/* Writes the model to fd with ir_version = ir_version and, when opset > 0,
 * the default-domain opset = opset.  Refuses (KILN_EUNPROC) when the model
 * uses something the lower IR lacks (float8/int4 types, local functions,
 * training info, ...), when the opset is above what that IR allows, or when
 * lowering the opset would change the meaning of an op the model uses (the
 * message lists those ops).  Raising versions is refused (KILN_EINVAL). */
int onnx_rewrite_ir(const struct onnx_model *m, int ir_version, int opset,
		    int fd, struct kiln_err *err);

/* Highest default-domain opset the given IR version allows (ONNX's release
 * table), or 0 for IR < 3. */
int onnx_max_opset_for_ir(int ir_version);

#endif

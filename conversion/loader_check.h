/*
 * loader_check: holds a job to the rules the board's runtime applies when it
 * loads the model, so a bundle the board would refuse (or decode into
 * nothing) fails here with the runtime's own words and what to change,
 * instead of being marked good.
 *
 * One table row per (target, model_type) names the runtime's file it was
 * read from, the output layouts its decoder reads and the function that
 * checks the outputs' count, order, ranks and channels against labels and
 * anchors, quoting the runtime's own words:
 *   MaixCAM, MaixCAM2: MaixCDK (MaixPy's nn classes; also the .mud's
 *     [basic]/[extra] keys), sipeed/MaixCDK @ d9741a20,
 *     components/nn/include/maix_nn_{yolov5,yolo11,yolov8,classifier}.hpp;
 *   reCamera: SSCMA-Micro's ModelFactory in auto mode, which picks the
 *     decoder itself, Seeed-Studio/SSCMA-Micro @ 60e2edec,
 *     sscma/core/model/ma_model_*.cpp isValid ("Model not supported");
 *   AXera-Pi: ax-samples' AX620 programs, AXERA-TECH/ax-samples @ 70a51781,
 *     examples/ax620/ax_{yolov5s,yolov8s,classification}_steps.cc;
 *   Metis: voyager-sdk v1.2.5 @ 38c4bf07, ax_models/decoders/yolo.py
 *     (decodeyolo's _guess_yolo_model).
 * Only MaixCDK reads a .mud, so only its bundles have one validated.
 *
 * API
 *   loader_check_dst_perm(spec)
 *       1 when MaixCAM2's pulsar2 config must give 4-D outputs
 *       dst_perm [0,2,3,1] (NHWC): target_options.output_layout "nhwc", or
 *       "auto" and the model_type's decoder reads NHWC (yolov8/yolo11;
 *       YOLOv5's reads NCHW only)
 *   loader_check_submit(spec, inspection, err)
 *       what can be known at submit time: model_type against the detected
 *       family, label count against the head's channels, anchors against
 *       the head, the output layout, and the whole output check when the
 *       chosen outputs are graph outputs with known shapes.  0, KILN_EINVAL
 *       (a spec field is wrong: 400 naming it) or KILN_EUNPROC (the chosen
 *       outputs cannot be loaded: 422 naming the layouts the board takes)
 *   loader_check_bundle(spec, model_path, bundle_dir, err)
 *       before a bundle is marked good: the staged .mud read back and
 *       validated as MaixCDK would (mud_validate), and the chosen outputs'
 *       shapes (read from the ONNX at model_path, shapes inferred where the
 *       file declares none) after the board's layout, checked against the
 *       model_type's loader.  0 or KILN_EUNPROC
 *   loader_check_onnx(spec, model, err)
 *       the chosen outputs' shapes read from an open ONNX model (inferred
 *       where the file declares none), put in the board's layout and held
 *       to the model_type's loader; at submit (400/422) and on the bundle
 *   loader_check_outputs(spec, outs, n, err)
 *       the output rule alone, on given shapes (already in the board's
 *       layout); for the two above and for tests
 *
 * Knows nothing of HTTP, jobs or the database.
 */
#ifndef KILN_LOADER_CHECK_H
#define KILN_LOADER_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "runtime/kiln_err.h"
#include "conversion/spec.h"

#define LOADER_MAX_RANK 8

/* One output as the board sees it; dims < 0 are unknown. */
struct loader_out {
	const char *name;           /* borrowed */
	int rank;                   /* -1: unknown */
	int64_t d[LOADER_MAX_RANK];
	int nhwc;                   /* 1: permuted to NHWC on the way (MaixCAM2 dst_perm) */
	int graph_output;           /* 1: one of the model's own outputs (no cut) */
};

struct loader_ctx;
typedef int (*loader_outputs_fn)(const struct loader_ctx *c, const struct loader_out *o,
				 size_t n, struct kiln_err *err);

/* One row per model_type of a runtime; a board's row of targets.c points
 * to its runtime's table, which ends with a row whose model_type is NULL. */
struct loader_rule {
	const char *model_type;
	const char *cls;            /* the runtime's class or program (nn.YOLOv5 ...) */
	const char *header;         /* the vendor file it was read from */
	unsigned layouts;           /* output layouts the decoder reads (LOADER_NCHW ...) */
	int perm_by_default;        /* MaixCAM2 "auto": dst_perm [0,2,3,1] */
	const char *group;          /* models of one family, for "contradicts" */
	loader_outputs_fn check;    /* NULL: no output rule */
};

enum { LOADER_NCHW = 1, LOADER_NHWC = 2 };

/* The runtimes' tables (loader_check.c). */
extern const struct loader_rule LOADER_MAIXCDK[], LOADER_RECAMERA[], LOADER_AXERA_PI[],
	LOADER_METIS[];

int loader_check_dst_perm(const struct job_spec *s);
int loader_check_submit(const struct job_spec *s, const cJSON *insp, struct kiln_err *err);
int loader_check_bundle(const struct job_spec *s, const char *model_path,
			const char *bundle_dir, struct kiln_err *err);
struct onnx_model;
int loader_check_onnx(const struct job_spec *s, const struct onnx_model *m,
		      struct kiln_err *err);
int loader_check_outputs(const struct job_spec *s, const struct loader_out *outs, size_t n,
			 struct kiln_err *err);

#endif

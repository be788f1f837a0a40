/*
 * toolchain: the one table of toolchains Kiln runs — one row per toolchain,
 * with everything about it that is not a board's: its fixed id (one
 * [toolchain.<id>] section in kiln.ini), the image a job runs in when the
 * settings name none, the log parser of its steps, how it wants the
 * calibration images (a directory or one tar), how it compares the
 * quantized model with the float one (on one test image, on the calibration
 * set, or not at all), whether Kiln holds the figures against the
 * tolerance itself, what proves the tool is there (its readiness probes,
 * run by engine.c) and which parser its log lines go through (logparse.c's
 * kinds, with their progress bars).  The settings table (server/config.c),
 * the plan allow-list (plan.c), the spec's tolerance (conversion/spec.c),
 * the conversion library (conversion/convert.c), the engine probe, the log
 * parsers and GET /api/v1/targets read it, so adding a toolchain is one row
 * here (plus a parser kind in logparse.c when its lines are new shapes).
 *
 * API
 *   toolchain_table(&n)     the rows (static), in kiln.ini's order
 *   toolchain_find(id)      the row for id, or NULL ("local" has none)
 *   toolchain_ids_text(buf, cap)   "tpu-mlir, pulsar2, ..." for messages
 *   toolchain_parser_known(id)     is id a step parser? ("" and "none" are)
 *   toolchain_parser_ids()         NULL-terminated parser ids, for help
 *   toolchain_logparse_new(id, &p, err)   a step's parser by id (logparse_new)
 *
 * Knows nothing of boards, HTTP or threads; everything here is static data.
 */
#ifndef KILN_TOOLCHAIN_H
#define KILN_TOOLCHAIN_H

#include <stddef.h>

#include "runtime/logparse.h"

/* Room for the rows (static tables sized from the table, e.g. parser ids). */
#define TOOLCHAIN_COUNT_MAX 8

/* How many rows the table has, for arrays with one slot per toolchain (the
 * [toolchain.<id>] settings, the engines): row i is slot i.  toolchain.c
 * checks it against the table at compile time. */
#define TOOLCHAIN_COUNT 4

/* How the calibration images reach the tool. */
enum toolchain_calib {
	TOOLCHAIN_CALIB_DIR,   /* a directory of images (TPU-MLIR --dataset, Voyager) */
	TOOLCHAIN_CALIB_TAR,   /* one tar (pulsar2 calibration_dataset, pulsar
				  dataset_conf_calibration) */
};

/* What the tool compares the quantized model with the float one on. */
enum toolchain_compare {
	TOOLCHAIN_COMPARE_TEST_IMAGE,   /* one image (model_deploy --test_input, pulsar run) */
	TOOLCHAIN_COMPARE_CALIBRATION,  /* the images it quantizes with (pulsar2) */
	TOOLCHAIN_COMPARE_NOTHING,      /* prints no comparison (Voyager deploy.py) */
};

struct toolchain {
	const char *id;               /* tpu-mlir | pulsar2 | pulsar | voyager */
	const char *name;             /* for people */
	const char *default_image;    /* [toolchain.<id>] image when kiln.ini says none */
	const char *parser;           /* logparse id of its steps */
	enum toolchain_calib calib;
	enum toolchain_compare compare;
	const char *compare_option;   /* target option that turns the comparison on, or NULL */
	const char *no_compare_why;   /* said when there is no comparison */
	const char *compare_why;      /* said with a calibration-set comparison, or NULL */
	int tolerance_values;         /* 2: cosine and euclidean; 1: cosine */
	int kiln_checks_tolerance;    /* 1: the tool prints figures but never fails on
					 them, so Kiln holds them against the tolerance */
	int calib_recommended;        /* the least calibration images its vendor asks for */
	const char *calib_recommended_why;  /* ... and where it says so, for the warning */
	const struct logparse_kind *log;  /* the parser named `parser`, NULL for "none" */
	/* Readiness (engine.c): an image can be present and still lack the
	 * tool, so the probes run in it (in the image for docker and podman,
	 * on the host for local). */
	const char *program;          /* engine = local: must be on the PATH */
	const char *const *probes[3]; /* argv lists that must succeed; NULL-ended */
	const char *install_how;      /* printf: engine, image: getting the image, or NULL */
	const char *build;            /* printf: engine, tag: builds an image with the tool */
	const char *build_tag;        /* the tag to suggest when the configured one is a vendor base */
};

const struct toolchain *toolchain_table(size_t *n);
const struct toolchain *toolchain_find(const char *id);
void toolchain_ids_text(char *buf, size_t cap);

/* 1 when id names a parser ("" and "none" included), else 0. */
int toolchain_parser_known(const char *id);

/* The parser ids ("none" first), NULL-terminated; static. */
const char *const *toolchain_parser_ids(void);

/* New parser state for a step whose plan names parser id; an unknown id is
 * KILN_EINVAL naming the known ones. */
int toolchain_logparse_new(const char *id, struct logparse **out, struct kiln_err *err);

#endif

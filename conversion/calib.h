/*
 * calib: calibration image sets — archive ingest, normalised set, exports.
 *
 * API summary (for the HTTP layer)
 * --------------------------------
 *   POST /api/v1/datasets      calib_limits_default(&lim) (then settings),
 *                              calib_ingest(bs, stored_upload_path, &lim, &res, &err)
 *                              -> 201 with calib_result_json(res) merged into
 *                                 {id, name, sha256}; on error err.code maps to
 *                                 413 (KILN_ETOOBIG, err.field names the bound) or
 *                                 422 (KILN_EUNPROC: corrupt archive, 0 images),
 *                                 and res (still set, complete == 0) says which
 *                                 entries were read before the failure.
 *                              Always calib_result_free(res), whatever the status.
 *   GET  …/datasets/{id}/thumbs  calib_contact_sheet(bs, shas, n, 0, &jpeg, &len, &err)
 *   job (runtime/recipes)      calib_export_default(&opt), set layout/count/seed/
 *                              size/mean/scale, calib_materialize(bs, shas, n, &opt,
 *                              dest, &written, &err)
 *   preprocessing              calib_preprocess_files() (all cores), or
 *                              calib_img_letterbox() in calib_img.h for one image.
 *
 * What ingest does: reads the archive (tar, tar.gz, tar.bz2, tar.xz, tar.zst,
 * zip) entry by entry with libarchive — nothing is ever written by an entry's
 * own path — and keeps regular files that decode as JPEG or PNG.  Each kept
 * image is re-encoded as a baseline RGB JPEG (4:4:4, quality 95) with its long
 * side capped, EXIF orientation applied, and stored once in the blob store.
 *
 * Two passes.  The first reads every header and every byte and checks the
 * archive-wide bounds and the archive's own integrity without decoding a
 * pixel; only an archive that passes is decoded (second pass, on all cores).
 * So a refused archive stores nothing, and a bomb is refused as soon as a
 * bound is crossed (checked after every decompressed block of <= 64 KiB).
 *
 * Corrupt archives: REFUSED AS A WHOLE.  A tar whose header is corrupt half
 * way, a truncated upload, a bad zip CRC or a broken compressed stream make
 * calib_ingest fail with KILN_EUNPROC (field "archive"), even though the
 * entries before the damage were readable; the result then lists those
 * entries (calib_result.seen, JSON "entries_before_error") so the user can
 * see where it broke.  The reasoning: a set silently missing its second half
 * calibrates worse and nobody would notice.  A corrupt *image* inside an
 * intact archive is only that entry's rejection.
 *
 * Entry rules, each with the reason string given in `rejected`: directory,
 * symbolic link, hard link, device / fifo / other special file, absolute name,
 * name with "..", path through an earlier symlink entry, hidden or system file
 * (any component starting with '.', __MACOSX/, Thumbs.db, desktop.ini), name
 * not valid or too long, not a JPEG or PNG, corrupt or truncated image, side
 * below min_side, header pixel count above max_pixels (checked before
 * decoding), and duplicates (same normalised content as an earlier entry).
 *
 * Threads: calib_ingest, calib_materialize and calib_preprocess_files start
 * worker threads internally and join them before returning; nothing shared
 * outlives the call, and memory is bounded by threads x one image.
 */
#ifndef KILN_CALIB_H
#define KILN_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "runtime/blob.h"
#include "conversion/calib_img.h"
#include "runtime/kiln_err.h"

/* Bounds of one ingest.  Passing an archive-wide bound refuses the whole
 * archive with KILN_ETOOBIG and err.field set to the member's name. */
struct calib_limits {
	uint64_t archive_bytes;   /* size of the archive file (default 4 GiB) */
	uint64_t entries;         /* headers, any type (default 100 000) */
	uint64_t total_bytes;     /* decompressed bytes, all entries (default 8 GiB) */
	uint64_t entry_bytes;     /* decompressed bytes of one entry (default 128 MiB) */
	/* Decompressed / compressed bytes, checked once 64 MiB have come out
	 * (default 200; 0 = off).  Photos do not compress, so a ratio like this
	 * is a bomb, and it is caught after 64 MiB instead of after 8 GiB. */
	uint64_t max_ratio;
	uint64_t max_pixels;      /* per image, from its header (default 50 000 000) */
	unsigned min_side;        /* per image (default 16) */
	unsigned long_side;       /* normalised images' long side cap (default 1024) */
	int quality;              /* normalised JPEG quality (default 95) */
	unsigned threads;         /* decoding threads; 0 = every online CPU */
	/* Not a bound: told how far the ingest has come, 0..1 (reading the
	 * archive is the first 10 %, decoding the rest), on the calling
	 * thread, about a hundred times.  Returning non-zero stops the ingest
	 * (KILN_EUNAVAIL, nothing kept): kilnd is shutting down.  NULL:
	 * nobody asks. */
	int (*progress)(void *ctx, double done);
	void *progress_ctx;
};

void calib_limits_default(struct calib_limits *lim);

struct calib_image {
	char sha256[BLOB_HEX_LEN + 1];  /* the normalised JPEG in the blob store */
	char *entry;                    /* archive entry it came from (first, if duplicated) */
	enum calib_img_format format;   /* of the original */
	unsigned width, height;         /* normalised */
	unsigned src_width, src_height; /* original, after orientation */
	int gray;                       /* original had one colour channel */
};

struct calib_reject {
	char *entry;    /* name as in the archive, made valid UTF-8 */
	char *reason;   /* one sentence */
};

/* Owned by the caller of calib_ingest; free with calib_result_free(). */
struct calib_result {
	int complete;                   /* 0: the archive was refused */
	struct calib_image *images;     /* sorted by entry name (bytewise), unique by sha256 */
	size_t n_images;
	struct calib_reject *rejected;  /* in archive order */
	size_t n_rejected;
	char **seen;                    /* refused only: entry names read before the error */
	size_t n_seen;
	size_t entries;                 /* headers read */
	uint64_t bytes;                 /* decompressed bytes read */
	size_t duplicates;              /* entries dropped as duplicates */
	/* sha256 of the images' hashes, one per line in list order: names the
	 * normalised set (what the job cache key should use). */
	char set_sha256[BLOB_HEX_LEN + 1];
};

/* Reads the archive at path, stores the normalised images in bs.
 * 0: *out holds >= 1 image.  KILN_ETOOBIG: a bound (err.field).  KILN_EUNPROC:
 * not an archive, corrupt archive (field "archive"), or no usable image
 * (field "images"; *out still lists every rejection).  KILN_EIO, KILN_ENOMEM.
 * *out is set whenever memory allowed, on success and failure alike; caller
 * frees it with calib_result_free(). */
int calib_ingest(struct blob_store *bs, const char *path, const struct calib_limits *lim,
		 struct calib_result **out, struct kiln_err *err);
void calib_result_free(struct calib_result *r);

/* The dataset record body:
 *   {"complete": true, "set_sha256": "…", "count": N,
 *    "images": [{"sha256", "entry", "width", "height", "format",
 *                "source_width", "source_height"}…],
 *    "rejected": [{"entry", "reason"}…],
 *    "stats": {"entries", "bytes", "formats": {"jpeg": n, "png": n},
 *              "width": {"min", "median", "max"}, "height": {…},
 *              "grayscale": n, "duplicates": n},
 *    "entries_read": N, "entries_before_error": [the last <= 100 names]
 *                                    (refused archives only)}
 * width/height stats are of the originals (after orientation).
 * Returns a new object (caller cJSON_Delete()s) or NULL when out of memory. */
cJSON *calib_result_json(const struct calib_result *r);

/* --- handing a set to a toolchain ------------------------------------------ */

enum calib_layout {
	CALIB_DIR,     /* a directory of files: TPU-MLIR run_calibration --dataset */
	CALIB_TAR,     /* one tar of files: Pulsar2 calibration_dataset, pulsar */
};

enum calib_fit {
	CALIB_FIT_NONE,       /* the normalised image as stored */
	CALIB_FIT_LETTERBOX,  /* aspect kept, centred, borders = pad */
	CALIB_FIT_STRETCH,    /* scaled to exactly width x height */
};

struct calib_export {
	enum calib_layout layout;
	size_t count;             /* N images; 0 or >= n: all */
	uint64_t seed;            /* sampling seed: same seed, same N images */
	enum calib_fit fit;
	unsigned width, height;   /* model input size, for LETTERBOX / STRETCH */
	unsigned char pad;        /* letterbox border value (default 114, as YOLO) */
	int npy;                  /* 1: float32 .npy tensors instead of .jpg */
	int nchw;                 /* npy shape (1,3,H,W) when 1, (1,H,W,3) when 0 (default 1) */
	int bgr;                  /* npy channel order BGR (default 0: RGB) */
	/* npy value = (pixel - mean[c]) * scale[c], c in output channel order
	 * (default mean 0, scale 1/255). */
	float mean[3], scale[3];
};

void calib_export_default(struct calib_export *opt);

/* Writes N of the n images (sha256 hashes in set order) to dest: a directory
 * (created if missing; files are NNNNN_<hash16>.jpg or .npy) or a tar file
 * (written to a temporary name and renamed).  N is sampled deterministically
 * from opt->seed and written in set order.  *written (may be NULL) gets N.
 * Names are generated, never taken from the archive. */
int calib_materialize(struct blob_store *bs, const char *const *sha256, size_t n,
		      const struct calib_export *opt, const char *dest, size_t *written,
		      struct kiln_err *err);

/* The set-order index (0..n-1) of the first image calib_materialize would
 * write for n images, count and seed: the image a job compares on when its
 * spec names no test image, so the figure comes from an image the job was
 * calibrated with.  n == 0 gives 0. */
size_t calib_first_pick(size_t n, size_t count, uint64_t seed);

/* The seed every job samples its calibration images with: the same set and
 * count give the same images, so the cache key stays honest and a job's
 * sample can be listed again later (server/jobsys.c, server/jobcalib.c). */
#define CALIB_JOB_SEED 0

/* The set-order indexes (0..n-1, ascending) of the images calib_materialize
 * writes for n images, count and seed: which images a job calibrated on.
 * *idx is a new array of n entries of which the first *k are the sample;
 * caller frees with free().  -1 when out of memory. */
int calib_sample(size_t n, size_t count, uint64_t seed, size_t **idx, size_t *k);

/* A contact sheet of up to 64 images (evenly spaced through the set), each
 * letterboxed into a cell x cell square (0: 128), as a JPEG.  *jpeg is new;
 * caller frees with free(). */
int calib_contact_sheet(struct blob_store *bs, const char *const *sha256, size_t n,
			unsigned cell, unsigned char **jpeg, size_t *len,
			struct kiln_err *err);

/* --- fast preprocessing ---------------------------------------------------- */

/* Called from a worker thread for each file, in no particular order: rgb is
 * out_w x out_h x 3 (valid during the call only) or NULL with e saying why
 * the file failed. */
typedef void (*calib_sink)(void *ctx, size_t index, const unsigned char *rgb,
			   const struct kiln_err *e);

/* Letterboxes every file to out_w x out_h RGB (pad borders) on `threads`
 * threads (0: every CPU).  Files bigger than lim->entry_bytes or images over
 * lim->max_pixels fail individually.  *failed (may be NULL) counts them. */
int calib_preprocess_files(const char *const *paths, size_t n, unsigned out_w,
			   unsigned out_h, unsigned char pad, const struct calib_limits *lim,
			   calib_sink sink, void *ctx, size_t *failed, struct kiln_err *err);

#endif

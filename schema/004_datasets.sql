-- 004: calibration sets.  The uploaded archive is a blob (sha256); each kept
-- image was normalised to a baseline RGB JPEG and stored as its own blob,
-- listed in dataset_images in a stable order (position).  The ingest report
-- (rejected entries with reasons, stats) is kept as JSON.
CREATE TABLE datasets (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	sha256 TEXT NOT NULL,            -- the uploaded archive
	size INTEGER NOT NULL,
	set_sha256 TEXT NOT NULL,        -- names the normalised set (cache key input)
	images INTEGER NOT NULL,
	report TEXT NOT NULL,            -- calib_result_json: rejected, stats
	created_at TEXT NOT NULL
);
CREATE TABLE dataset_images (
	dataset INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	sha256 TEXT NOT NULL,
	entry TEXT NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	PRIMARY KEY (dataset, position)
);
CREATE INDEX dataset_images_by_sha ON dataset_images(sha256);

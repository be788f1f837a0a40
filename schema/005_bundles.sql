-- 005: bundles — what a succeeded job produced.  The .tar.gz is a blob
-- (sha256, also the ETag); each file inside is a blob too (bundle_files), so
-- GET /bundles/{id}/files/{name} is a sendfile.  manifest is manifest.json.
CREATE TABLE bundles (
	id INTEGER PRIMARY KEY,
	job INTEGER,                     -- jobs.id that made it
	name TEXT NOT NULL,
	target TEXT NOT NULL,
	sha256 TEXT NOT NULL,            -- the .tar.gz
	size INTEGER NOT NULL,
	manifest TEXT NOT NULL,
	simulated INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
);
CREATE INDEX bundles_by_name ON bundles(target, name, id);
CREATE TABLE bundle_files (
	bundle INTEGER NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	PRIMARY KEY (bundle, name)
);

-- 003: uploaded (and cut / rewritten) ONNX models.  The bytes live in the
-- blob store under sha256; the inspection is computed once at upload and
-- kept as JSON.  The same bytes under the same name are one record.
CREATE TABLE models (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	inspection TEXT NOT NULL,
	parent INTEGER REFERENCES models(id) ON DELETE SET NULL,
	derivation TEXT,                 -- JSON: {"cut": [...]} or {"rewrite": {...}}
	UNIQUE (name, sha256)
);
CREATE INDEX models_by_sha ON models(sha256);

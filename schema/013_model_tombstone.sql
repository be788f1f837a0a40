-- 013: a deleted model that jobs (or cut children) still name stays as a
-- tombstone: its row keeps id, name, hash and inspection, gains deleted_at,
-- and its blob is released.  A job page keeps its link and says when the
-- model went.  A new upload of the same bytes under the same name must make
-- a fresh record, so UNIQUE(name, sha256) becomes a unique index over live
-- rows only.  SQLite cannot drop a table constraint, hence the rebuild.
-- The new table's parent names models_new: ALTER ... RENAME rewrites that
-- self-reference to "models"; naming "models" here would let the DROP of
-- the old table (an implicit DELETE with foreign keys on) null every
-- copied parent.
CREATE TABLE models_new (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	inspection TEXT NOT NULL,
	parent INTEGER REFERENCES models_new(id) ON DELETE SET NULL,
	derivation TEXT,                 -- JSON: {"cut": [...]} or {"rewrite": {...}}
	deleted_at TEXT                  -- NULL: live; else when it was deleted
);
INSERT INTO models_new(id, name, sha256, size, created_at, inspection, parent, derivation)
	SELECT id, name, sha256, size, created_at, inspection, parent, derivation FROM models;
DROP TABLE models;
ALTER TABLE models_new RENAME TO models;
CREATE INDEX models_by_sha ON models(sha256);
CREATE UNIQUE INDEX models_live_name_sha ON models(name, sha256) WHERE deleted_at IS NULL;

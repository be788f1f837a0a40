-- 001: access tokens.  A token is shown once when created; only its sha256
-- is stored, so a copy of kiln.db does not leak credentials.
CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'device')),
	hash TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	last_used_at TEXT,
	revoked_at TEXT
);

-- 007: dashboard sessions.  Signing in with a token gives the browser an
-- HttpOnly cookie holding a random session id; only its sha256 is stored,
-- like tokens.  The CSRF token is derived from the session id (never
-- stored), so a copy of kiln.db can forge neither.  A session lives only as
-- long as its token: revoking the token ends its sessions at once.
CREATE TABLE sessions (
	id INTEGER PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	token INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

-- 006: boards (devices), what each should run (assignments), what each said
-- it installed (device_reports) and push deployments with their test-run
-- results.  A device's credential is an ordinary device-role token (tokens,
-- 001): only its id is kept here, so revoking the token locks the board out.
CREATE TABLE devices (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	target TEXT NOT NULL,
	transport TEXT NOT NULL CHECK (transport IN ('ssh', 'adb', 'pull')),
	address TEXT,                    -- ssh: [user@]host[:port]; adb: serial; pull: NULL
	models_dir TEXT NOT NULL,        -- where bundles live on the board
	token INTEGER NOT NULL REFERENCES tokens(id),
	ssh_public_key TEXT,             -- the per-device key's public half (ssh)
	created_at TEXT NOT NULL,
	last_seen_at TEXT,               -- last /pull or /pull/report
	installed_bundle INTEGER,        -- from the last report with status 'installed'
	last_status TEXT,
	last_detail TEXT
);
CREATE UNIQUE INDEX devices_by_token ON devices(token);
CREATE TABLE assignments (
	device INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
	model_name TEXT,                 -- newest bundle of this name for the device's target
	bundle INTEGER,                  -- or exactly this bundle
	set_at TEXT NOT NULL,
	CHECK ((model_name IS NULL) <> (bundle IS NULL))
);
CREATE TABLE device_reports (
	id INTEGER PRIMARY KEY,
	device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	bundle INTEGER,
	status TEXT NOT NULL,
	detail TEXT,
	created_at TEXT NOT NULL
);
CREATE INDEX device_reports_by_device ON device_reports(device, id);
CREATE TABLE deployments (
	id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids name remote work dirs
	device INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
	bundle INTEGER NOT NULL,
	state TEXT NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
	runs INTEGER NOT NULL DEFAULT 10,
	install INTEGER NOT NULL DEFAULT 1,
	steps TEXT NOT NULL DEFAULT '[]',      -- JSON: [{name, state, dur_ms, detail}]
	result TEXT,                           -- JSON: the test program's object
	error TEXT,
	raw_output TEXT,                       -- the test program's output, capped
	test_image BLOB,                       -- JPEG the test ran on, or NULL
	preview BLOB,                          -- JPEG with the boxes drawn by kilnd
	created_at TEXT NOT NULL,
	started_at TEXT,
	finished_at TEXT
);
CREATE INDEX deployments_by_state ON deployments(state, id);

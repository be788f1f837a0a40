-- Jobs (issue 6, runtime/jobs.c): one row per conversion job.  The queue is
-- the rows in state 'queued', oldest id first; a worker claims one by moving
-- it to 'running' inside BEGIN IMMEDIATE.  Applied by runtime/db.c inside
-- one transaction with the other migrations (no BEGIN/COMMIT here).
CREATE TABLE jobs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids name workspaces
	model TEXT NOT NULL,                   -- id of the stored model
	dataset TEXT,                          -- id of the calibration set, if any
	target TEXT NOT NULL,                  -- maixcam, recamera, ...
	spec TEXT NOT NULL,                    -- the submitted job spec (JSON object)
	plan TEXT,                             -- the plan (JSON); NULL until planned
	state TEXT NOT NULL DEFAULT 'queued'
		CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	step TEXT,                             -- name of the current or last step
	step_index INTEGER,
	progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
	attempt INTEGER NOT NULL DEFAULT 1,    -- runs so far, counting restarts
	attempt_base INTEGER NOT NULL DEFAULT 1, -- attempt at the last submit/retry:
	                                       -- max_attempts counts from here
	error_code TEXT,                       -- step_failed, timeout, interrupted, ...
	error_message TEXT,
	cache_key TEXT,
	cached_from INTEGER,                   -- the job whose bundle a cache hit reused
	created_at TEXT NOT NULL,
	started_at TEXT,
	finished_at TEXT,
	bundle TEXT,                           -- id of the result bundle
	figures TEXT NOT NULL DEFAULT '[]',    -- parsed similarity figures (JSON array)
	cancel_requested INTEGER NOT NULL DEFAULT 0,
	pgid INTEGER                           -- process group of the running step,
	                                       -- so a restart can kill what a crash left
);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX jobs_by_cache_key ON jobs(cache_key, state) WHERE cache_key IS NOT NULL;

-- 008: dataset ingest runs off the HTTP threads (POST /api/v1/datasets
-- answers 202).  A row exists from the upload on: 'ingesting' with progress
-- 0..1, then 'ready' (images stored) or 'rejected' (nothing stored; error
-- and report say why).  'failed' is an ingest a restart interrupted.
-- Rows from before this migration were complete: 'ready', progress 1.
ALTER TABLE datasets ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE datasets ADD COLUMN progress REAL NOT NULL DEFAULT 1;
ALTER TABLE datasets ADD COLUMN error TEXT;       -- {"code", "message", "field"} JSON

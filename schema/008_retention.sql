-- 008 (issue 14 item 6): who submitted a job, for the per-token limit on
-- queued jobs ([jobs] max_queued_per_token), and indexes on every column
-- that names a blob, so the orphan sweep's "does any row name this blob?"
-- (server/blobrefs.c) is a lookup, not a scan of the table per blob.
ALTER TABLE jobs ADD COLUMN owner INTEGER;   -- tokens.id of the submitter; NULL before 008
CREATE INDEX jobs_by_owner ON jobs(owner, state) WHERE owner IS NOT NULL;
CREATE INDEX jobs_by_model ON jobs(model);
CREATE INDEX jobs_by_dataset ON jobs(dataset) WHERE dataset IS NOT NULL;
CREATE INDEX datasets_by_sha ON datasets(sha256);
CREATE INDEX bundles_by_sha ON bundles(sha256);
CREATE INDEX bundle_files_by_sha ON bundle_files(sha256);

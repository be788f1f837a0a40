-- 012 (issue 16): several boards from one submit.  group_id is the id of
-- the first job of a "targets": [...] request, the same on every job it
-- made (NULL for a job submitted alone); GET /api/v1/groups/{id} reads
-- them back for the boards grid.
ALTER TABLE jobs ADD COLUMN group_id INTEGER;
CREATE INDEX jobs_by_group ON jobs(group_id) WHERE group_id IS NOT NULL;

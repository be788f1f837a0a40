-- 009 (issue 18): steps run as Slurm batch jobs.  slurm_job is the Slurm
-- job id of the step running now (kept after the job ends, for the
-- dashboard: where its last step ran); resume_step is set only by a restart
-- that found the step still known to Slurm: the next claim re-attaches to
-- slurm_job at that step instead of running the job again.
ALTER TABLE jobs ADD COLUMN slurm_job INTEGER;
ALTER TABLE jobs ADD COLUMN resume_step INTEGER;

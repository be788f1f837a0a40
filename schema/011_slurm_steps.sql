-- 011 (issue 18): where each step ran.  slurm_steps is a JSON array with
-- one object per Slurm job a step became, in submit order, over every
-- attempt: {"attempt", "step", "slurm_job", "node"} (node null until Slurm
-- placed the job).  The dashboard's job page shows it; slurm_job stays the
-- step running now (what a restart re-attaches to).
ALTER TABLE jobs ADD COLUMN slurm_steps TEXT;

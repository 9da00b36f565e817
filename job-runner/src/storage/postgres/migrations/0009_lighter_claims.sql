-- Fewer index entries per task on the hot path (issue 21's profile: each claim and each end
-- of an attempt writes a new version of the task's row, with an entry in every index whose
-- condition it meets).
-- The running tasks by runner: every claim entered the task in it. Runners are found by
-- their tasks through the running tasks by job (the rescue reads every running task
-- anyway), and the one read by runner that runs often, the requests to cancel, gets an
-- index of its own that holds only the tasks asked to stop.
DROP INDEX jobs_tasks_running;
CREATE INDEX jobs_tasks_cancelling ON jobs_tasks (locked_by) WHERE cancel_requested_at IS NOT NULL;
-- The pending tasks by key: every task was entered, keyed or not. Only keyed tasks are read
-- through it (the claim of keys in turn); the others are claimed through `jobs_tasks_claim`.
DROP INDEX jobs_tasks_keyed;
CREATE INDEX jobs_tasks_keyed ON jobs_tasks (job, partition_key, priority DESC, run_at, id)
    WHERE state = 'pending' AND partition_key IS NOT NULL;

-- Flow control: a task's key (the argument fields a job's `per` names: its limits and
-- rates apply per key, and claims take keys in turn), the limits set on jobs at run time,
-- the starts that rate limits count, and the uniqueness keys that tasks hold.
ALTER TABLE jobs_tasks ADD COLUMN partition_key TEXT;
CREATE INDEX jobs_tasks_running_job ON jobs_tasks (job, partition_key) WHERE state = 'running';
-- The claims of keyed jobs: the next key after another, and each key's first due tasks,
-- found by seeking instead of ranking every pending task.
CREATE INDEX jobs_tasks_keyed ON jobs_tasks (job, partition_key, priority DESC, run_at, id)
    WHERE state = 'pending';

-- Limits set at run time (CLI, admin API): a row replaces the job's own limit and rate
-- (NULL: none) until it is cleared.
CREATE TABLE jobs_limits (
    job TEXT PRIMARY KEY,
    concurrency INTEGER,
    rate_count INTEGER,
    rate_window_ms INTEGER,
    updated_at INTEGER NOT NULL
);

-- Starts counted by rate limits: n attempts of a job (and key, '' for none) claimed at an
-- instant; rows older than the window go as claims pass.
CREATE TABLE jobs_rate (
    job TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    n INTEGER NOT NULL
);
CREATE INDEX jobs_rate_window ON jobs_rate (job, key, started_at);

-- Uniqueness keys: a key is held by its task until `until` (unix milliseconds): for ever
-- while the task is pending or running, then for `period_ms` after it succeeded, and not at
-- all once it is dead or cancelled. The primary key makes concurrent enqueues of one key
-- store one task.
CREATE TABLE jobs_unique (
    job TEXT NOT NULL,
    key TEXT NOT NULL,
    task_id INTEGER,
    until INTEGER NOT NULL,
    period_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, key)
);
CREATE INDEX jobs_unique_task ON jobs_unique (task_id);
INSERT INTO jobs_unique (job, key, task_id, until)
    SELECT job, unique_key, id, 9223372036854775807 FROM jobs_tasks
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');
DROP INDEX jobs_tasks_unique_key;

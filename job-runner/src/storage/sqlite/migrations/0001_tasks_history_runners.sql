-- Tasks: one row per enqueued run of a job, with all its attempts.
-- Times are unix milliseconds, read from the runner's clock.
CREATE TABLE jobs_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    queue TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    run_at INTEGER NOT NULL,
    scheduled_at INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    unique_key TEXT,
    exclusive INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX jobs_tasks_claim ON jobs_tasks (job, priority DESC, run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_tasks_due ON jobs_tasks (job, run_at) WHERE state = 'pending';
CREATE INDEX jobs_tasks_running ON jobs_tasks (locked_by) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_tasks_unique_key ON jobs_tasks (job, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'running');
CREATE UNIQUE INDEX jobs_tasks_exclusive ON jobs_tasks (job) WHERE exclusive = 1 AND state = 'running';
CREATE INDEX jobs_tasks_state ON jobs_tasks (state, queue, run_at);
CREATE INDEX jobs_tasks_finished ON jobs_tasks (finished_at) WHERE finished_at IS NOT NULL;

-- Execution history: one row per attempt.
CREATE TABLE jobs_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    job TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    records_processed INTEGER,
    runner_id TEXT NOT NULL
);
CREATE INDEX jobs_executions_job ON jobs_executions (job, id);
CREATE INDEX jobs_executions_status ON jobs_executions (status, id);
CREATE INDEX jobs_executions_task ON jobs_executions (task_id);
CREATE INDEX jobs_executions_finished ON jobs_executions (finished_at);

-- Runner processes and their heartbeats: a runner whose heartbeat is older than the lease
-- has lost its claims.
CREATE TABLE jobs_runners (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

-- Paused jobs: their cron ticks are skipped and their tasks are held.
CREATE TABLE jobs_paused (
    job TEXT PRIMARY KEY,
    paused_at INTEGER NOT NULL
);

-- Cron ticks taken: the key that makes each tick run once across all runners.
CREATE TABLE jobs_ticks (
    schedule_id TEXT NOT NULL,
    tick_at INTEGER NOT NULL,
    task_id INTEGER,
    PRIMARY KEY (schedule_id, tick_at)
);

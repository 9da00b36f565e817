-- Tasks: one row per enqueued run of a job, with all its attempts.
-- Times are unix milliseconds, read from the runner's clock (as on SQLite, so that one code
-- path serves both backends).
CREATE TABLE jobs_tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job TEXT NOT NULL,
    queue TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    run_at BIGINT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    trigger TEXT NOT NULL,
    unique_key TEXT,
    exclusive BIGINT NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
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
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id BIGINT NOT NULL,
    job TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    records_processed BIGINT,
    runner_id TEXT NOT NULL
);
CREATE INDEX jobs_executions_job ON jobs_executions (job, id);
CREATE INDEX jobs_executions_status ON jobs_executions (status, id);
CREATE INDEX jobs_executions_task ON jobs_executions (task_id);
CREATE INDEX jobs_executions_finished ON jobs_executions (finished_at);

-- Runner processes and their heartbeats.
CREATE TABLE jobs_runners (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    queues TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Paused jobs: their cron ticks are skipped and their tasks are held.
CREATE TABLE jobs_paused (
    job TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL
);

-- Cron ticks taken: the key that makes each tick run once across all runners.
CREATE TABLE jobs_ticks (
    schedule_id TEXT NOT NULL,
    tick_at BIGINT NOT NULL,
    task_id BIGINT,
    PRIMARY KEY (schedule_id, tick_at)
);

-- The operations console and traces.

-- The trace context of the code that enqueued a task (W3C `traceparent`, then
-- `tracestate` after a newline when there is one): each attempt's span continues that
-- trace, and a chain's next step takes its previous step's context.
ALTER TABLE jobs_tasks ADD COLUMN trace_context TEXT;

-- Paused queues: no runner claims a task of a paused queue (its tasks wait, and cron ticks
-- still store theirs) until the queue is resumed.
CREATE TABLE jobs_queues_paused (
    queue TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL
);

-- Attempts per minute, job and queue, written with the history rows in the same
-- transaction: the console's charts read this, never a scan of the history. `minute` is
-- the start of the minute in which the attempts ended (unix milliseconds); `waited_ms` sums
-- how long first attempts waited between being due and starting (`started` counts them).
CREATE TABLE jobs_minutes (
    minute BIGINT NOT NULL,
    job TEXT NOT NULL,
    queue TEXT NOT NULL,
    succeeded BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    dead BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0,
    snoozed BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    started BIGINT NOT NULL DEFAULT 0,
    waited_ms BIGINT NOT NULL DEFAULT 0,
    max_waited_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, job, queue)
);

-- A task's page links it to the tick or the event that started it.
CREATE INDEX jobs_ticks_task ON jobs_ticks (task_id);
CREATE INDEX jobs_events_task ON jobs_events (task_id);

-- A task's page lists the steps of its chain (`Reads::task_links`: the tasks whose
-- chain_id is the chain's). Only chained tasks are entered, so the insert of a plain task,
-- the hot path, pays nothing for it.
CREATE INDEX jobs_tasks_chain ON jobs_tasks (chain_id) WHERE chain_id IS NOT NULL;

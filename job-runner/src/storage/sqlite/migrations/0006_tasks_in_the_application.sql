-- Jobs inside the application: how many times a task snoozed (a snooze does not count an
-- attempt; past 100 it does), the progress a running task reports (JSON), the instant a
-- running task was asked to stop, and what a successful attempt returned (JSON) with the
-- last progress of each attempt.
ALTER TABLE jobs_tasks ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs_tasks ADD COLUMN progress TEXT;
ALTER TABLE jobs_tasks ADD COLUMN cancel_requested_at INTEGER;
ALTER TABLE jobs_executions ADD COLUMN result TEXT;
ALTER TABLE jobs_executions ADD COLUMN progress TEXT;

-- The jobs the runners of this database run, with the settings a task of each is stored
-- with: recorded by each runner at start, read by enqueues from outside the Rust client.
CREATE TABLE jobs_known (
    job TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    exclusive INTEGER NOT NULL,
    keyed INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Jobs inside the application: how many times a task snoozed (a snooze does not count an
-- attempt; past 100 it does), the progress a running task reports (JSON), the instant a
-- running task was asked to stop, and what a successful attempt returned (JSON) with the
-- last progress of each attempt.
ALTER TABLE jobs_tasks ADD COLUMN snoozes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs_tasks ADD COLUMN progress TEXT;
ALTER TABLE jobs_tasks ADD COLUMN cancel_requested_at BIGINT;
ALTER TABLE jobs_executions ADD COLUMN result TEXT;
ALTER TABLE jobs_executions ADD COLUMN progress TEXT;

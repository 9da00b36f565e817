-- Events taken: each (source, event, job) starts at most one task, even when the source
-- delivers the event twice. A field that does not fit the job is recorded as an error.
CREATE TABLE jobs_events (
    source TEXT NOT NULL,
    event_id TEXT NOT NULL,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    fields TEXT NOT NULL,
    task_id INTEGER,
    error TEXT,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, event_id, job)
);
CREATE INDEX jobs_events_received ON jobs_events (received_at);

-- Chains: the first task's id, the step's number, and the steps still to come (a JSON array
-- of job names, for chains started at run time).
ALTER TABLE jobs_tasks ADD COLUMN chain_id INTEGER;
ALTER TABLE jobs_tasks ADD COLUMN chain_step INTEGER;
ALTER TABLE jobs_tasks ADD COLUMN chain_rest TEXT;
ALTER TABLE jobs_executions ADD COLUMN chain_id INTEGER;
ALTER TABLE jobs_executions ADD COLUMN chain_step INTEGER;

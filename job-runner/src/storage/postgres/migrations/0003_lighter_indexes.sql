-- Fewer index entries per task on the hot path: a succeeded task and a succeeded attempt,
-- the bulk of both tables, are no longer entered in the by-state indexes (listings of
-- succeeded rows read the primary key backwards, where they are most rows). Every other
-- state keeps its index: dead and running tasks, failed attempts.
DROP INDEX jobs_tasks_state;
CREATE INDEX jobs_tasks_state ON jobs_tasks (state, queue, run_at) WHERE state <> 'succeeded';
DROP INDEX jobs_executions_status;
CREATE INDEX jobs_executions_status ON jobs_executions (status, id) WHERE status <> 'succeeded';

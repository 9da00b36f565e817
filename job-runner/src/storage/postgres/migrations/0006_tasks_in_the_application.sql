-- Jobs inside the application: how many times a task snoozed (a snooze does not count an
-- attempt; past 100 it does), the progress a running task reports (JSON), the instant a
-- running task was asked to stop, and what a successful attempt returned (JSON) with the
-- last progress of each attempt.
ALTER TABLE jobs_tasks ADD COLUMN snoozes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs_tasks ADD COLUMN progress TEXT;
ALTER TABLE jobs_tasks ADD COLUMN cancel_requested_at BIGINT;
-- A caller waits for the task's end: the completion announces it (on jobs_ended).
ALTER TABLE jobs_tasks ADD COLUMN awaited BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs_executions ADD COLUMN result TEXT;
ALTER TABLE jobs_executions ADD COLUMN progress TEXT;

-- The jobs the runners of this database run, with the settings a task of each is stored
-- with: recorded by each runner at start, read by enqueues from outside the Rust client.
CREATE TABLE jobs_known (
    job TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    priority BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    exclusive BIGINT NOT NULL,
    keyed BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Enqueues a task from SQL (a trigger, another language, psql), in the caller's
-- transaction: `SELECT jobs_enqueue('send_invoice', '{"customer_id": 7}')`. The job must be
-- known to the runners of this database; its queue, priority and attempts are theirs. The
-- arguments are checked when the task runs: arguments that do not fit the job's type end
-- the task dead with an error that names the type. Jobs with uniqueness or partition keys
-- are refused (their keys are computed by the Rust client). Due tasks are announced, so
-- runners wake when the transaction commits. Returns the task's id.
CREATE FUNCTION jobs_enqueue(
    p_job TEXT,
    p_args JSONB DEFAULT 'null'::jsonb,
    p_run_at TIMESTAMPTZ DEFAULT NULL,
    p_priority BIGINT DEFAULT NULL
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    known jobs_known%ROWTYPE;
    now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT;
    due BIGINT;
    new_id BIGINT;
BEGIN
    SELECT * INTO known FROM jobs_known WHERE job = p_job;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no job named % is known to the runners of this database', p_job
            USING HINT = 'check the name with `job-runner list`; runners record their jobs when they start';
    END IF;
    IF known.keyed = 1 THEN
        RAISE EXCEPTION 'job % has uniqueness or partition keys, which only the Rust client computes', p_job
            USING HINT = 'enqueue it with the job''s generated `enqueue` (Jobs, or Jobs::within for a transaction)';
    END IF;
    due := COALESCE((extract(epoch FROM p_run_at) * 1000)::BIGINT, now_ms);
    INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, attempt,
        max_attempts, trigger, exclusive, created_at)
    VALUES (p_job, known.queue, p_args::TEXT, 'pending', COALESCE(p_priority, known.priority),
        due, due, 0, known.max_attempts, 'enqueue', known.exclusive, now_ms)
    RETURNING id INTO new_id;
    IF due <= now_ms THEN
        PERFORM pg_notify('jobs_tasks', p_job);
    END IF;
    RETURN new_id;
END
$$;

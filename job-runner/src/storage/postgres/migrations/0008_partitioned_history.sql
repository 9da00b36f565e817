-- The history, partitioned by day of `finished_at`: retention drops a whole day at a time
-- (no row-by-row DELETE, no dead rows, no vacuum), and the hot day is small.
--
-- The rows written before this version stay where they are: the old table becomes the
-- partition `jobs_executions_legacy`, covering every `finished_at` up to the end of the
-- day of its newest row (today at least). Attaching it reads it once to check the range
-- and builds one index, on (id, finished_at), the primary key a partitioned table needs;
-- no row is rewritten. Retention drops it whole once the cut-off passes its end.

ALTER TABLE jobs_executions RENAME TO jobs_executions_legacy;
ALTER INDEX jobs_executions_job RENAME TO jobs_executions_legacy_job;
ALTER INDEX jobs_executions_status RENAME TO jobs_executions_legacy_status;
ALTER INDEX jobs_executions_task RENAME TO jobs_executions_legacy_task;
ALTER INDEX jobs_executions_finished RENAME TO jobs_executions_legacy_finished;

DO $$
DECLARE
    next_id BIGINT;
    cutover BIGINT;
BEGIN
    -- The numbering goes on where the old table's left off.
    EXECUTE format(
        'SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s',
        pg_get_serial_sequence('jobs_executions_legacy', 'id'))
    INTO next_id;
    ALTER TABLE jobs_executions_legacy ALTER COLUMN id DROP IDENTITY;
    ALTER TABLE jobs_executions_legacy DROP CONSTRAINT jobs_executions_pkey;

    CREATE TABLE jobs_executions (
        id BIGINT GENERATED ALWAYS AS IDENTITY,
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
        runner_id TEXT NOT NULL,
        chain_id BIGINT,
        chain_step BIGINT,
        result TEXT,
        progress TEXT,
        PRIMARY KEY (id, finished_at)
    ) PARTITION BY RANGE (finished_at);
    EXECUTE format('ALTER TABLE jobs_executions ALTER COLUMN id RESTART WITH %s', next_id);
    -- The same indexes as before; the old table's own are attached to them, not rebuilt.
    CREATE INDEX jobs_executions_job ON jobs_executions (job, id);
    CREATE INDEX jobs_executions_status ON jobs_executions (status, id) WHERE status <> 'succeeded';
    CREATE INDEX jobs_executions_task ON jobs_executions (task_id);
    CREATE INDEX jobs_executions_finished ON jobs_executions (finished_at);

    cutover := (floor(GREATEST(
        extract(epoch FROM now()) * 1000,
        COALESCE((SELECT MAX(finished_at) FROM jobs_executions_legacy), 0)
    ) / 86400000) + 1)::BIGINT * 86400000;
    EXECUTE format(
        'ALTER TABLE jobs_executions ATTACH PARTITION jobs_executions_legacy '
        'FOR VALUES FROM (MINVALUE) TO (%s)', cutover);
END
$$;

-- Each partition and its range of `finished_at`: `lo` NULL from the beginning of time,
-- `hi` NULL for the default partition (the rows of days that have no partition).
CREATE VIEW jobs_executions_partitions AS
SELECT c.oid::regclass AS partition,
       substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''?(-?[0-9]+)''?\)')::BIGINT AS lo,
       substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''?(-?[0-9]+)''?\)')::BIGINT AS hi,
       pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'jobs_executions'::regclass;

-- A row whose day has no partition (a clock far ahead or behind) lands here, never fails.
CREATE TABLE jobs_executions_default PARTITION OF jobs_executions DEFAULT;

-- Creates the day partitions of the `days` days from the one that holds `from_ms`, those
-- that do not exist yet; the rows of such a day already in the default partition move
-- into it. Serialized by an advisory lock, so that runners may call it together. Days
-- that an existing partition covers (the legacy one) are skipped. Returns how many it
-- created.
CREATE FUNCTION jobs_executions_add_days(from_ms BIGINT, days INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    day_ms CONSTANT BIGINT := 86400000;
    first BIGINT := floor(from_ms::NUMERIC / day_ms)::BIGINT * day_ms;
    day_lo BIGINT;
    day_hi BIGINT;
    part TEXT;
    created INTEGER := 0;
BEGIN
    -- "jobhist" in ASCII, the key that serializes changes to the partitions.
    PERFORM pg_advisory_xact_lock(29958815980548980);
    FOR i IN 0 .. days - 1 LOOP
        day_lo := first + i * day_ms;
        day_hi := day_lo + day_ms;
        part := 'jobs_executions_p'
            || to_char(to_timestamp(day_lo / 1000.0) AT TIME ZONE 'UTC', 'YYYYMMDD');
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM jobs_executions_partitions p
            WHERE NOT p.is_default AND (p.lo IS NULL OR p.lo < day_hi) AND p.hi > day_lo);
        -- Made apart and attached, rather than `CREATE TABLE ... PARTITION OF`, which would
        -- lock the whole history (and every completion) out for a moment: attaching locks
        -- out only other changes of the partitions, and the default partition.
        EXECUTE format('CREATE TABLE %I (LIKE jobs_executions INCLUDING DEFAULTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM jobs_executions_default '
            'WHERE finished_at >= %s AND finished_at < %s RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved', day_lo, day_hi, part);
        EXECUTE format(
            'ALTER TABLE jobs_executions ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
            part, day_lo, day_hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;

-- Drops a partition whose every row is past the retention period: detached, then
-- dropped, under the same lock as the days' creation.
CREATE FUNCTION jobs_executions_drop(part REGCLASS) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(29958815980548980);
    EXECUTE format('ALTER TABLE jobs_executions DETACH PARTITION %s', part);
    EXECUTE format('DROP TABLE %s', part);
END
$$;

-- The days ahead: as many as the runners' cleaner keeps ready (`HISTORY_DAYS_AHEAD`).
SELECT jobs_executions_add_days((extract(epoch FROM now()) * 1000)::BIGINT, 8);

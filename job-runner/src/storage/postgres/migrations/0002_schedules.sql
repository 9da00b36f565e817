-- Schedules: every tick comes from here, whether the schedule was written in code (in_code,
-- synced from the registry at start) or added at run time.
CREATE TABLE jobs_schedules (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    cron TEXT,
    every_ms BIGINT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    args TEXT NOT NULL DEFAULT 'null',
    enabled BIGINT NOT NULL DEFAULT 1,
    catch_up TEXT NOT NULL DEFAULT 'skip',
    in_code BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_schedules_job ON jobs_schedules (job);

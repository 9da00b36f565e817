-- Version 3 on PostgreSQL makes the by-state indexes of tasks and attempts skip the
-- succeeded rows (partial indexes, `WHERE state <> 'succeeded'`). SQLite's planner uses a
-- partial index only when a query's own WHERE clause names its condition, which
-- `state = 'pending'` does not: such indexes would turn the queue statistics and listings
-- into table scans. SQLite keeps its full indexes; this version changes nothing here, so
-- that one change has one number on every backend.
SELECT 1;

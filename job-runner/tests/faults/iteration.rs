//! One iteration: a fresh database, runners under faults while the workload runs, the
//! drain, and the invariants.

use std::time::{Duration, Instant};

use crate::database::Database;
use crate::fleet::{Faults, Fleet, Impairment, Moment};
use crate::invariants::{CRON_JOB, Checked, check};
use crate::rng::Rng;
use crate::support::{Backend, Relay, Site, restart_postgres, wait_until};
use crate::workload::Workload;

/// At most this many runners run at once.
pub const MAX_RUNNERS: usize = 3;

/// How long the last runners have to finish everything once the faults stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

/// How an iteration runs.
pub struct Setup<'a> {
    pub backend: Backend,
    /// How long the workload and the faults last.
    pub chaos: Duration,
    /// Relays to cut runners off with (PostgreSQL only): two per runner that may run at
    /// once, so that a runner started while another drains after SIGTERM has one too.
    pub relays: &'a [Relay],
    /// Whether to restart the database server once, at a random point.
    pub restart_database: bool,
}

/// What an iteration did and checked.
pub struct Outcome {
    pub faults: Faults,
    pub checked: Checked,
    /// Every violation of an invariant, and every problem of a runner process.
    pub violations: Vec<String>,
    /// The runners' logs, for a failure's report.
    pub logs: Vec<(String, String)>,
    /// What was done to the runners when, for a failure's report.
    pub journal: Vec<String>,
    /// The site, kept for a failure's report (its files; for PostgreSQL, its schema).
    pub site: Site,
}

/// Runs one iteration with the choices of `rng`.
pub fn run(setup: &Setup<'_>, rng: &mut Rng) -> Outcome {
    let mut site = Site::new(setup.backend);
    site.env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    site.env("JOBS_JOB_FILE_LANDED_ENABLED", "true");
    std::fs::write(
        site.path("jobs.toml"),
        "[sources.inbox]\nkind = \"folder\"\npath = \"inbox\"\n",
    )
    .expect("write jobs.toml");
    let database = Database::open(&site.database_url, setup.backend);
    let mut workload = Workload::new(site.path("inbox"));
    let mut violations = Vec::new();
    // Dropped while no runner runs: the first runner's scan takes them.
    workload.drop_files(rng);

    let skew = setup.backend == Backend::Postgres;
    let mut fleet = Fleet::new(setup.relays, skew);
    fleet.start(&mut site, rng);
    let start = Instant::now();
    let restart_at = setup
        .restart_database
        .then(|| start + setup.chaos.mul_f64(rng.between(10, 80) as f64 / 100.0));
    let mut restarted = false;
    while start.elapsed() < setup.chaos {
        fleet.reap();
        fleet.heal(false);
        if let Some(at) = restart_at
            && !restarted
            && Instant::now() >= at
        {
            restarted = true;
            fleet.note("restarting PostgreSQL".into());
            let status = restart_postgres().wait().expect("wait for the restart");
            assert!(status.success(), "the PostgreSQL restart failed");
            fleet.note("PostgreSQL restarted".into());
            fleet.faults.database_restarts += 1;
        }
        let moment = || Moment {
            tick_edge: database.tick_edge(CRON_JOB, 1000).map(|(edge, _)| edge),
            busy: database.busy_runners(),
        };
        let roll = rng.below(100);
        match roll {
            0..30 => {
                if let Err(error) = workload.enqueue(&database, rng) {
                    violations.push(format!("the workload could not enqueue: {error}"));
                }
            }
            30..42 => workload.drop_files(rng),
            42..54 => {
                fleet.kill(rng, &moment());
            }
            54..63 => {
                fleet.terminate(rng, &moment());
            }
            63..70 => {
                let span = Duration::from_millis(rng.between(1000, 5000) as u64);
                fleet.impair(Impairment::Stall, rng, &moment(), span);
            }
            70..80 if !setup.relays.is_empty() => {
                let span = Duration::from_millis(rng.between(1000, 6000) as u64);
                fleet.impair(Impairment::Cut, rng, &moment(), span);
            }
            _ => {}
        }
        // Runners come back: always while fewer than two run, else now and then.
        if fleet.len() < 2 || (fleet.len() < MAX_RUNNERS && roll >= 80) {
            fleet.start(&mut site, rng);
        }
        std::thread::sleep(Duration::from_millis(rng.between(100, 400) as u64));
    }

    // The drain: no more faults or work. One runner on time (the drainer) takes over the
    // ticks, the others stop, the schedule is paused, and the drainer finishes what is
    // left. Pausing while runners whose clocks disagree run would leave ticks untaken for
    // good: one ahead takes ticks that the others take only when they are due on theirs.
    fleet.heal(true);
    let drainer = fleet.drainer(&mut site);
    let covered = wait_until(Duration::from_secs(30), || {
        fleet.reap();
        database
            .tick_edge(CRON_JOB, 1000)
            .is_some_and(|(edge, _)| fleet.covers(drainer, edge))
    });
    fleet.stop_all_but(Some(drainer));
    let whole = wait_until(Duration::from_secs(30), || {
        database
            .tick_edge(CRON_JOB, 1000)
            .is_some_and(|(edge, latest)| edge == latest)
    });
    if !covered || !whole {
        violations.push(format!(
            "the ticks of `{CRON_JOB}` stayed broken for 30 s after the last fault"
        ));
    }
    fleet.note("pausing the schedule".into());
    let paused = wait_until(Duration::from_secs(30), || {
        database.pause_schedule(CRON_JOB).is_ok()
    });
    if !paused {
        violations.push(format!("cannot pause the schedule `{CRON_JOB}`"));
    }
    let drained = drain(&database, &workload, &mut fleet, &mut site, rng);
    if !drained {
        violations.push(format!(
            "the runners did not finish the work within {DRAIN_LIMIT:?} of the last fault"
        ));
    }
    fleet.note("drained".into());
    fleet.stop_all_but(None);
    let (checked, found) = check(&database, &workload);
    violations.extend(found);
    violations.append(&mut fleet.problems);
    database.close();
    Outcome {
        faults: fleet.faults,
        checked,
        violations,
        logs: fleet.all_logs(),
        journal: std::mem::take(&mut fleet.journal),
        site,
    }
}

/// Waits until nothing is pending or running and every file has been taken, and that has
/// held for a second (a tick taken just before the pause, or an event on its way, shows up
/// within it); `false` after [`DRAIN_LIMIT`].
fn drain(
    database: &Database,
    workload: &Workload,
    fleet: &mut Fleet<'_>,
    site: &mut Site,
    rng: &mut Rng,
) -> bool {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut quiet_since: Option<Instant> = None;
    while Instant::now() < deadline {
        fleet.reap();
        // A runner that exited on its own is reported; another finishes the work.
        if fleet.len() == 0 {
            fleet.start(site, rng);
        }
        let quiet = database.unfinished() == Ok(0)
            && database
                .events()
                .is_ok_and(|events| events.len() >= workload.files.len());
        match (quiet, quiet_since) {
            (false, _) => quiet_since = None,
            (true, None) => quiet_since = Some(Instant::now()),
            (true, Some(since)) if since.elapsed() >= Duration::from_secs(1) => return true,
            (true, Some(_)) => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

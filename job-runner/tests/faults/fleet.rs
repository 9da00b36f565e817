//! The runner processes of one iteration, and the faults done to them: SIGKILL, SIGTERM,
//! starts, partitions (a relay cut), stalls (SIGSTOP, then SIGCONT) and skewed clocks.
//!
//! Every cron tick needs a runner to take it. A runner takes the ticks after the instant
//! its clock read when it started, and none once it is stopped or cut off (a cut-off runner
//! takes its ticks late, after the cut). So that no tick is missed, a runner is stopped or
//! cut only while another, healthy runner already covers every tick after the edge: the
//! last tick of the unbroken run of ticks taken from the first (see
//! [`Database::tick_edge`](crate::database::Database::tick_edge)); that is, one whose first
//! tick (its start on its own clock, with a margin) is not after the edge. With clocks
//! skewed, this is what keeps the ticks whole: a runner whose clock is 4 s ahead takes the
//! tick 4 s from now at once, and the ticks in between are left to the others until they
//! are due on theirs.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::jobs::CLOCK_SKEW;
use crate::rng::Rng;
use crate::support::{Relay, Runner, Site};

/// A runner's scheduler starts shortly before it logs `runner started`; this much later
/// than that, it surely takes every tick.
const START_MARGIN_MS: i64 = 1500;

/// How many times a runner is started before its failure to start fails the iteration.
const START_TRIES: u32 = 3;

/// How long a runner sent SIGTERM may take to exit: its grace (10 s in the tests) and more.
const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// What was done to the runners.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// Runners started (the first of each iteration included).
    pub starts: u64,
    /// Runners killed with SIGKILL.
    pub kills: u64,
    /// Runners stopped with SIGTERM.
    pub terms: u64,
    /// Runners cut off from the database for a while.
    pub partitions: u64,
    /// Runners stalled (SIGSTOP) for a while.
    pub stalls: u64,
    /// Runners started with a skewed clock.
    pub skewed: u64,
    /// PostgreSQL restarts.
    pub database_restarts: u64,
}

impl Faults {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Faults) {
        self.starts += other.starts;
        self.kills += other.kills;
        self.terms += other.terms;
        self.partitions += other.partitions;
        self.stalls += other.stalls;
        self.skewed += other.skewed;
        self.database_restarts += other.database_restarts;
    }
}

/// A running runner.
struct Member {
    label: String,
    runner: Runner,
    /// Unix milliseconds of the first tick it surely takes (on the true clock).
    covers_from: i64,
    /// Its clock's skew in seconds.
    skew: i64,
    /// The relay its connections go through, if any.
    relay: Option<usize>,
    /// While it is cut off or stalled: how, and until when.
    impaired: Option<(Impairment, Instant)>,
}

/// What the database says at the moment a fault is chosen.
pub struct Moment {
    /// The edge of the cron ticks taken (see `Database::tick_edge`).
    pub tick_edge: Option<i64>,
    /// The process ids of the runners running attempts now.
    pub busy: BTreeSet<u32>,
}

/// What keeps a runner from the database for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impairment {
    /// Its relay passes nothing (a network partition): the process runs on, unanswered.
    Cut,
    /// The process is stopped (SIGSTOP), as in a long pause of its host.
    Stall,
}

/// A runner sent SIGTERM, waiting for its exit.
struct Stopping {
    label: String,
    runner: Runner,
    relay: Option<usize>,
    deadline: Instant,
}

/// The runners of one iteration.
pub struct Fleet<'a> {
    relays: &'a [Relay],
    skew: bool,
    members: Vec<Member>,
    stopping: Vec<Stopping>,
    /// The logs of the runners gone, by label.
    pub logs: Vec<(String, String)>,
    /// What went wrong with the processes themselves (a runner exiting on its own, or not
    /// exiting after SIGTERM).
    pub problems: Vec<String>,
    /// What was done.
    pub faults: Faults,
    /// What was done when, one line each, for a failure's report.
    pub journal: Vec<String>,
    started: usize,
}

impl Drop for Fleet<'_> {
    /// The relays outlive the iteration: none stays cut, whatever ended it (a panic too).
    fn drop(&mut self) {
        for relay in self.relays {
            relay.heal();
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<'a> Fleet<'a> {
    /// No runner yet; `relays` (more than runners may run at once) are used to cut
    /// runners off, and `skew` says whether clocks may be skewed.
    pub fn new(relays: &'a [Relay], skew: bool) -> Fleet<'a> {
        Fleet {
            relays,
            skew,
            members: Vec::new(),
            stopping: Vec::new(),
            logs: Vec::new(),
            problems: Vec::new(),
            faults: Faults::default(),
            journal: Vec::new(),
            started: 0,
        }
    }

    /// Notes what was done, with the time.
    pub fn note(&mut self, what: String) {
        let now = chrono::Utc::now().format("%H:%M:%S%.3f");
        self.journal.push(format!("{now} {what}"));
    }

    /// How many runners run (cut off or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Starts a runner, on a skewed clock and through a relay when the fleet has them.
    pub fn start(&mut self, site: &mut Site, rng: &mut Rng) {
        let skew = if self.skew && rng.percent(50) {
            let seconds = rng.between(1, 5);
            if rng.percent(50) { seconds } else { -seconds }
        } else {
            0
        };
        self.start_skewed(site, skew);
    }

    /// Starts a runner whose clock is `skew` seconds off.
    fn start_skewed(&mut self, site: &mut Site, skew: i64) {
        // A relay of its own: not one that a runner still running (or still draining after
        // SIGTERM) uses, which a cut would cut off too.
        let relay = (0..self.relays.len()).find(|&i| {
            self.members.iter().all(|m| m.relay != Some(i))
                && self.stopping.iter().all(|s| s.relay != Some(i))
        });
        let direct = site.database_url.clone();
        if let Some(relay) = relay {
            site.env("JOBS_DATABASE_URL", &self.relays[relay].url(&direct));
        }
        site.env(CLOCK_SKEW, &skew.to_string());
        let mut tries = 0;
        let runner = loop {
            tries += 1;
            match site.try_runner_with(&[]) {
                Ok(runner) => break runner,
                // The database may have been out of reach for a moment (a restart by
                // another process on this machine): a runner refuses to start then.
                Err(problem) if tries < START_TRIES => {
                    self.note(format!("a runner did not start, trying again: {problem}"));
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(problem) => panic!("{problem}"),
            }
        };
        site.env("JOBS_DATABASE_URL", &direct);
        site.env(CLOCK_SKEW, "0");
        self.started += 1;
        self.faults.starts += 1;
        if skew != 0 {
            self.faults.skewed += 1;
        }
        let label = format!(
            "runner {} (pid {}, clock {skew:+} s{})",
            self.started,
            runner.child.id(),
            relay.map(|r| format!(", relay {r}")).unwrap_or_default()
        );
        self.note(format!("started {label}"));
        self.members.push(Member {
            label,
            runner,
            covers_from: now_ms() + skew * 1000 + START_MARGIN_MS,
            skew,
            relay,
            impaired: None,
        });
    }

    /// The members that may be stopped or cut now without a tick going untaken: another
    /// healthy member covers every tick after the edge of the ticks taken.
    fn removable(&self, tick_edge: Option<i64>) -> Vec<usize> {
        let Some(edge) = tick_edge else {
            return Vec::new();
        };
        (0..self.members.len())
            .filter(|&victim| {
                self.members
                    .iter()
                    .enumerate()
                    .any(|(i, m)| i != victim && m.impaired.is_none() && m.covers_from <= edge)
            })
            .collect()
    }

    /// One of `candidates`; most often one running attempts, when some are, so that the
    /// faults hit work in flight.
    fn pick(&self, rng: &mut Rng, candidates: &[usize], moment: &Moment) -> Option<usize> {
        let busy: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| moment.busy.contains(&self.members[i].runner.child.id()))
            .collect();
        let from = if !busy.is_empty() && rng.percent(75) {
            &busy
        } else {
            candidates
        };
        (!from.is_empty()).then(|| from[rng.below(from.len() as u64) as usize])
    }

    /// Kills a runner with SIGKILL, if one may go; then heals its relay, so that its
    /// connections close.
    pub fn kill(&mut self, rng: &mut Rng, moment: &Moment) -> bool {
        let Some(i) = self.pick(rng, &self.removable(moment.tick_edge), moment) else {
            return false;
        };
        let member = self.members.remove(i);
        self.note(format!("SIGKILL {}", member.label));
        self.logs.push((member.label.clone(), member.runner.log()));
        member.runner.kill();
        if let Some(relay) = member.relay {
            self.relays[relay].heal();
        }
        self.faults.kills += 1;
        true
    }

    /// Sends SIGTERM to a healthy runner, if one may go; it drains its attempts and exits
    /// while the iteration goes on.
    pub fn terminate(&mut self, rng: &mut Rng, moment: &Moment) -> bool {
        let healthy: Vec<usize> = self
            .removable(moment.tick_edge)
            .into_iter()
            .filter(|&i| self.members[i].impaired.is_none())
            .collect();
        let Some(i) = self.pick(rng, &healthy, moment) else {
            return false;
        };
        let member = self.members.remove(i);
        self.note(format!("SIGTERM {}", member.label));
        signal(&member.runner, "TERM");
        self.stopping.push(Stopping {
            label: member.label,
            runner: member.runner,
            relay: member.relay,
            deadline: Instant::now() + EXIT_LIMIT,
        });
        self.faults.terms += 1;
        true
    }

    /// Cuts a runner off the database, or stalls it, for `span`, if one may be.
    pub fn impair(
        &mut self,
        how: Impairment,
        rng: &mut Rng,
        moment: &Moment,
        span: Duration,
    ) -> bool {
        let candidates: Vec<usize> = self
            .removable(moment.tick_edge)
            .into_iter()
            .filter(|&i| self.members[i].impaired.is_none())
            .filter(|&i| how == Impairment::Stall || self.members[i].relay.is_some())
            .collect();
        let Some(i) = self.pick(rng, &candidates, moment) else {
            return false;
        };
        let member = &mut self.members[i];
        member.impaired = Some((how, Instant::now() + span));
        let what = match how {
            Impairment::Cut => {
                if let Some(relay) = member.relay {
                    self.relays[relay].cut();
                }
                self.faults.partitions += 1;
                format!("cut off {} for {span:?}", member.label)
            }
            Impairment::Stall => {
                member.runner.freeze();
                // Thawed on time by a thread of its own: a stalled runner may hold SQLite's
                // write lock, and the iteration's own writes then wait for it.
                let pid = member.runner.child.id().to_string();
                std::thread::spawn(move || {
                    std::thread::sleep(span);
                    // Killed meanwhile, the process is gone: the signal finds no one (its
                    // id is not handed out again within seconds).
                    let _ = Command::new("kill")
                        .args(["-CONT", &pid])
                        .stderr(Stdio::null())
                        .status();
                });
                self.faults.stalls += 1;
                format!("stalled {} for {span:?}", member.label)
            }
        };
        self.note(what);
        true
    }

    /// Ends the cuts and stalls that are due (all of them with `all`).
    pub fn heal(&mut self, all: bool) {
        let mut healed = Vec::new();
        for member in &mut self.members {
            let Some((how, until)) = member.impaired else {
                continue;
            };
            if !all && until > Instant::now() {
                continue;
            }
            match how {
                Impairment::Cut => {
                    if let Some(relay) = member.relay {
                        self.relays[relay].heal();
                    }
                }
                Impairment::Stall => member.runner.thaw(),
            }
            member.impaired = None;
            // It takes its kept ticks late, then goes on; counted as covering only from
            // now, as if it had just started.
            member.covers_from = now_ms() + member.skew * 1000 + START_MARGIN_MS;
            healed.push(format!("{how:?} of {} over", member.label));
        }
        for what in healed {
            self.note(what);
        }
    }

    /// Notes runners that exited on their own, and collects those that exited after
    /// SIGTERM (or kills those that take too long).
    pub fn reap(&mut self) {
        let mut i = 0;
        while i < self.members.len() {
            match self.members[i].runner.child.try_wait() {
                Ok(Some(status)) => {
                    let member = self.members.remove(i);
                    if let Some(relay) = member.relay {
                        self.relays[relay].heal();
                    }
                    let log = member.runner.log();
                    self.problems.push(format!(
                        "{} exited on its own ({status}); its log ends:\n{}",
                        member.label,
                        tail(&log)
                    ));
                    self.logs.push((member.label, log));
                }
                _ => i += 1,
            }
        }
        let mut i = 0;
        while i < self.stopping.len() {
            let stopping = &mut self.stopping[i];
            match stopping.runner.child.try_wait() {
                Ok(Some(status)) => {
                    let stopping = self.stopping.remove(i);
                    // Let the log reader catch up.
                    std::thread::sleep(Duration::from_millis(50));
                    let log = stopping.runner.log();
                    if !status.success() {
                        self.problems.push(format!(
                            "{} exited with {status} after SIGTERM; its log ends:\n{}",
                            stopping.label,
                            tail(&log)
                        ));
                    }
                    self.logs.push((stopping.label, log));
                }
                _ if Instant::now() > stopping.deadline => {
                    let stopping = self.stopping.remove(i);
                    let log = stopping.runner.log();
                    self.problems.push(format!(
                        "{} did not exit within {EXIT_LIMIT:?} of SIGTERM; its log ends:\n{}",
                        stopping.label,
                        tail(&log)
                    ));
                    self.logs.push((stopping.label, log));
                    stopping.runner.kill();
                }
                _ => i += 1,
            }
        }
    }

    /// The process id of a healthy runner whose clock is right, started if there is none:
    /// the one that finishes the iteration's work alone.
    pub fn drainer(&mut self, site: &mut Site) -> u32 {
        let on_time = |m: &Member| m.skew == 0 && m.impaired.is_none();
        if !self.members.iter().any(on_time) {
            self.start_skewed(site, 0);
        }
        let member = self
            .members
            .iter()
            .find(|m| on_time(m))
            .expect("a runner on time was just started");
        member.runner.child.id()
    }

    /// Whether the runner `pid` takes every tick after `edge`.
    pub fn covers(&self, pid: u32, edge: i64) -> bool {
        self.members
            .iter()
            .any(|m| m.runner.child.id() == pid && m.covers_from <= edge)
    }

    /// Sends SIGTERM to every runner but `keep` (all of them without one) and waits until
    /// they have exited.
    pub fn stop_all_but(&mut self, keep: Option<u32>) {
        self.heal(true);
        let (kept, stopped): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.members)
            .into_iter()
            .partition(|m| Some(m.runner.child.id()) == keep);
        self.members = kept;
        for member in stopped {
            self.note(format!("SIGTERM {} (the end)", member.label));
            signal(&member.runner, "TERM");
            self.stopping.push(Stopping {
                label: member.label,
                runner: member.runner,
                relay: member.relay,
                deadline: Instant::now() + EXIT_LIMIT,
            });
        }
        while !self.stopping.is_empty() {
            self.reap();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The logs of every runner, gone or running.
    pub fn all_logs(&self) -> Vec<(String, String)> {
        let mut logs = self.logs.clone();
        logs.extend(
            self.members
                .iter()
                .map(|m| (m.label.clone(), m.runner.log())),
        );
        logs.extend(
            self.stopping
                .iter()
                .map(|s| (s.label.clone(), s.runner.log())),
        );
        logs
    }
}

fn signal(runner: &Runner, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &runner.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// The last lines of a log.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

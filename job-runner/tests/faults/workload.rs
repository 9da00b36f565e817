//! The mixed workload of an iteration, and the record of what it started, which the
//! invariants compare the tables with.

use std::path::PathBuf;

use job_core::EnqueueRequest;
use serde_json::json;

use crate::database::Database;
use crate::rng::Rng;

/// What an enqueued task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `echo`, due now.
    Now,
    /// `echo`, due a moment later.
    Delayed,
    /// `slow`: runs long enough to be caught mid-attempt by a fault.
    Slow,
    /// `flaky`: fails its first attempts, then succeeds.
    Flaky { failures: u32 },
    /// `always_fails`: every attempt fails; it ends dead.
    Fails,
    /// The chain written in code, `step_one -> step_two -> step_three`, from `n`.
    CodeChain { n: u64 },
    /// A chain started at run time, `add_one -> times_ten -> step_three`, from `n`.
    RunTimeChain { n: u64 },
}

impl Kind {
    /// The jobs of a chain's steps, in order; `None` for a task that starts no chain.
    pub fn steps(self) -> Option<[&'static str; 3]> {
        match self {
            Kind::CodeChain { .. } => Some(["step_one", "step_two", "step_three"]),
            Kind::RunTimeChain { .. } => Some(["add_one", "times_ten", "step_three"]),
            _ => None,
        }
    }

    /// What a chain's last step records as processed when every step succeeds, or `None`
    /// when a step fails for good (`step_two` refuses 13).
    pub fn chain_result(self) -> Option<i64> {
        match self {
            Kind::CodeChain { n } if n + 1 == 13 => None,
            Kind::CodeChain { n } => Some((n as i64 + 1) * 2),
            Kind::RunTimeChain { n } => Some((n as i64 + 1) * 10),
            _ => None,
        }
    }
}

/// A task the workload stored.
#[derive(Debug, Clone, Copy)]
pub struct Enqueued {
    pub id: i64,
    pub kind: Kind,
}

/// What the workload started: tasks and files.
pub struct Workload {
    pub tasks: Vec<Enqueued>,
    /// The names of the files dropped into the watched folder.
    pub files: Vec<String>,
    inbox: PathBuf,
}

impl Workload {
    /// Nothing started yet; files go to `inbox`.
    pub fn new(inbox: PathBuf) -> Workload {
        std::fs::create_dir_all(&inbox).expect("create the watched folder");
        Workload {
            tasks: Vec::new(),
            files: Vec::new(),
            inbox,
        }
    }

    /// Enqueues a mixed batch of 1 to 8 tasks in one transaction.
    pub fn enqueue(&mut self, database: &Database, rng: &mut Rng) -> Result<(), String> {
        let count = rng.between(1, 8);
        let mut kinds = Vec::new();
        let mut requests = Vec::new();
        for _ in 0..count {
            let (kind, request) = request(rng, self.tasks.len() + requests.len());
            kinds.push(kind);
            requests.push(request);
        }
        let ids = database.enqueue(requests)?;
        self.tasks.extend(
            ids.into_iter()
                .zip(kinds)
                .map(|(id, kind)| Enqueued { id, kind }),
        );
        Ok(())
    }

    /// Drops 1 to 3 complete files into the watched folder (each written under a hidden
    /// name and moved in, so that no event sees it half written).
    pub fn drop_files(&mut self, rng: &mut Rng) {
        for _ in 0..rng.between(1, 3) {
            let name = format!("file-{:04}.txt", self.files.len());
            let hidden = self.inbox.join(format!(".{name}.partial"));
            let body = "x".repeat(rng.below(64) as usize);
            std::fs::write(&hidden, format!("{body}\nEND\n")).expect("write a file");
            std::fs::rename(&hidden, self.inbox.join(&name)).expect("move a file in");
            self.files.push(name);
        }
    }
}

/// One task of the mix, the `index`th of the iteration.
fn request(rng: &mut Rng, index: usize) -> (Kind, EnqueueRequest) {
    let roll = rng.below(100);
    let (kind, job, args) = match roll {
        0..16 => (Kind::Now, "echo", json!({ "text": format!("now {index}") })),
        16..27 => (
            Kind::Delayed,
            "echo",
            json!({ "text": format!("later {index}") }),
        ),
        27..50 => {
            let millis = rng.between(500, 3000);
            let marker = format!("slow-{index}");
            (
                Kind::Slow,
                "slow",
                json!({ "millis": millis, "marker": marker }),
            )
        }
        50..63 => {
            let failures = rng.between(1, 2) as u32;
            (Kind::Flaky { failures }, "flaky", json!(failures))
        }
        63..68 => (Kind::Fails, "always_fails", json!(null)),
        68..84 => {
            // 12 makes step_two fail for good; 6 makes it slow (1.5 s).
            let n = match rng.below(4) {
                0 => 12,
                1 => 6,
                _ => rng.between(0, 20) as u64,
            };
            (Kind::CodeChain { n }, "step_one", json!(n))
        }
        _ => {
            let n = rng.between(0, 20) as u64;
            (Kind::RunTimeChain { n }, "add_one", json!(n))
        }
    };
    let mut request = EnqueueRequest::new(job, args);
    if kind == Kind::Delayed {
        request.options.delay = Some(std::time::Duration::from_millis(
            rng.between(300, 3000) as u64
        ));
    }
    if matches!(kind, Kind::RunTimeChain { .. }) {
        request.then = vec!["times_ten".into(), "step_three".into()];
    }
    (kind, request)
}

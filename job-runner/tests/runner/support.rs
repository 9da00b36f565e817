//! Real runner processes for the integration tests.
//!
//! The test binary is also the runner: started with `JOB_RUNNER_TEST_CHILD` set, it runs
//! the `job-runner` command line (with the test jobs of this binary registered) instead of
//! the tests. Every test gets its own folder and database.
//!
//! Below the processes: what the tests read back from them (tasks, history rows, ticks).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variable that turns this binary into a runner process.
pub const CHILD: &str = "JOB_RUNNER_TEST_CHILD";

/// Runs the `job-runner` command line with the test jobs, in a process started with
/// [`CHILD`] set to `args` (its arguments as a JSON array).
pub fn child(args: &str) -> std::process::ExitCode {
    let args: Vec<String> = match serde_json::from_str(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("bad {CHILD}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    job_runner::cli::main_from(args, crate::jobs::setup)
}

/// The admin token of the tests that serve the admin API.
pub const TOKEN: &str = "admin-token-for-the-tests-0123456789";

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Runs a future to completion on a throwaway runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A folder with a database, shared by the processes of one test.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    /// How this process's own connections (enqueuing, say) reach the database.
    pub connect: job_runner::storage::ConnectOptions,
    schema: Option<String>,
    env: Vec<(String, String)>,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let (Some(schema), Some(base)) = (&self.schema, crate::backends::postgres_url()) {
            block_on(crate::backends::drop_schema(&base, schema));
        }
    }
}

impl Site {
    pub fn new(backend: Backend) -> Site {
        let dir = tempfile::tempdir().expect("create a temporary folder");
        let (database_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("jobs.db").display()),
                None,
            ),
            Backend::Postgres => {
                let base = crate::backends::postgres_url()
                    .expect("PostgreSQL tests run only when it is reachable");
                let (schema, url) = block_on(crate::backends::fresh_schema(&base));
                (url, Some(schema))
            }
        };
        let mut site = Site::on(database_url);
        site.dir = dir;
        site.schema = schema;
        site
    }

    /// A site on a database the test made (and removes) itself.
    pub fn on(database_url: String) -> Site {
        Site {
            dir: tempfile::tempdir().expect("create a temporary folder"),
            database_url,
            connect: Default::default(),
            schema: None,
            env: [
                // Test timing: quick heartbeats and recovery, quick polling.
                ("JOBS_HEARTBEAT", "300ms"),
                ("JOBS_LEASE", "2s"),
                ("JOBS_POLL_INTERVAL", "100ms"),
                ("JOBS_SHUTDOWN_GRACE", "10s"),
                // Scheduled test jobs only run in the tests that enable them.
                ("JOBS_JOB_EVERY_SECOND_ENABLED", "false"),
                ("JOBS_JOB_UNIQUE_EVERY_SECOND_ENABLED", "false"),
                ("JOBS_JOB_CATCHES_UP_ENABLED", "false"),
                ("JOBS_JOB_EVERY_TWO_SECONDS_ENABLED", "false"),
                // Event jobs need their sources configured: only their tests do.
                ("JOBS_JOB_FILE_LANDED_ENABLED", "false"),
                ("JOBS_JOB_OBJECT_UPLOADED_ENABLED", "false"),
                // Tests that use the admin server turn it on, on a port of their own.
                ("JOBS_ADMIN_ADDR", "off"),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        }
    }

    /// Sets an environment variable for every process started from now on.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Site {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `job-runner ARGS` on this site, to start by hand (several at once, say).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
        let mut all = vec!["job-runner".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        command
            .env(
                CHILD,
                serde_json::to_string(&all).expect("arguments as JSON"),
            )
            .env("JOBS_DATABASE_URL", &self.database_url)
            .env("JOBS_LOG", "info,sqlx=warn,apalis_core=warn")
            .env("NO_COLOR", "1")
            .env("TEST_SITE", self.dir.path())
            .current_dir(self.dir.path());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs a CLI command to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run the command")
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "`job-runner {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// `history --json` with extra arguments.
    pub fn history(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["history", "--json"];
        if !args.contains(&"--limit") {
            all.extend(["--limit", "10000"]);
        }
        all.extend_from_slice(args);
        let text = self.ok(&all);
        serde_json::from_str::<Vec<Value>>(&text)
            .unwrap_or_else(|e| panic!("history is not JSON ({e}): {text}"))
    }

    /// `trigger NAME [--args JSON] --json`: the stored task.
    pub fn trigger(&self, job: &str, args: Option<&str>) -> Value {
        let mut all = vec!["trigger", job, "--json"];
        if let Some(args) = args {
            all.extend(["--args", args]);
        }
        serde_json::from_str(&self.ok(&all)).expect("the task as JSON")
    }

    /// Enqueues many tasks of `job` at once through the library's client.
    pub fn enqueue_many(&self, job: &str, args: Vec<Value>) -> Vec<i64> {
        self.try_enqueue_many(job, args)
            .unwrap_or_else(|e| panic!("enqueue {job}: {e}"))
    }

    /// Like [`Site::enqueue_many`], but says why the database refused instead of panicking.
    pub fn try_enqueue_many(&self, job: &str, args: Vec<Value>) -> Result<Vec<i64>, String> {
        use job_core::JobClient;
        let requests: Vec<job_core::EnqueueRequest> = args
            .into_iter()
            .map(|a| job_core::EnqueueRequest::new(job, a))
            .collect();
        let stored = self
            .try_with_jobs(async |jobs| jobs.enqueue_many(requests).await)?
            .map_err(|e| format!("enqueue: {e}"))?;
        Ok(stored
            .into_iter()
            .map(|e| e.id.as_str().parse().expect("a numeric id"))
            .collect())
    }

    /// Runs `f` with the library's client on this site's database.
    pub fn with_jobs<T>(&self, f: impl AsyncFnOnce(&job_runner::Jobs) -> T) -> T {
        self.try_with_jobs(f).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Site::with_jobs`], but says why the database could not be opened instead of
    /// panicking.
    fn try_with_jobs<T>(&self, f: impl AsyncFnOnce(&job_runner::Jobs) -> T) -> Result<T, String> {
        block_on(async {
            let store = job_runner::storage::Store::connect(&self.database_url, &self.connect)
                .await
                .map_err(|e| format!("open the database: {e}"))?;
            let migrated = store.migrate().await.map_err(|e| format!("migrate: {e}"));
            let out = match migrated {
                Ok(()) => {
                    let registry = job_core::Registry::from_linked().expect("the test jobs");
                    let plan =
                        job_runner::plan::Plan::new(registry, &job_runner::Config::default())
                            .expect("a plan");
                    let jobs = job_runner::Jobs::new(
                        store.clone(),
                        std::sync::Arc::new(plan),
                        job_core::Clock::system(),
                    );
                    Ok(f(&jobs).await)
                }
                Err(e) => Err(e),
            };
            store.close().await;
            out
        })
    }

    /// Starts `job-runner run` and waits until it has started.
    pub fn runner(&self) -> Runner {
        self.runner_with(&[])
    }

    /// Starts `job-runner run EXTRA...` and waits until it has started.
    pub fn runner_with(&self, extra: &[&str]) -> Runner {
        self.try_runner_with(extra)
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// Like [`Site::runner_with`], but says why the runner did not start (it exited, or did
    /// not log `runner started` within 30 s) instead of panicking.
    pub fn try_runner_with(&self, extra: &[&str]) -> Result<Runner, String> {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a runner");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut runner = Runner { child, log };
        let limit = Duration::from_secs(30);
        let mut exited = None;
        wait_until(limit, || {
            exited = runner.child.try_wait().ok().flatten();
            runner.log().contains("runner started") || exited.is_some()
        });
        if runner.log().contains("runner started") {
            return Ok(runner);
        }
        match exited {
            Some(status) => {
                // Let the log reader catch up.
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "the runner exited ({status}) before it started:\n{}",
                    runner.log()
                ))
            }
            None => Err(format!(
                "the runner did not log `runner started` within {limit:?}:\n{}",
                runner.log()
            )),
        }
    }
}

/// A running `job-runner run` process.
pub struct Runner {
    pub child: Child,
    log: Arc<Mutex<String>>,
}

impl Runner {
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn wait_for_log(&self, needle: &str, limit: Duration) {
        let found = wait_until(limit, || self.log().contains(needle));
        assert!(
            found,
            "the runner did not log `{needle}` within {limit:?}:\n{}",
            self.log()
        );
    }

    /// The admin server's base URL, as logged at start.
    pub fn admin_url(&self) -> String {
        self.wait_for_log("admin API and dashboard listening", Duration::from_secs(10));
        let log = self.log();
        let start = log.find("url=http://").expect("the admin URL in the log") + 4;
        let url: String = log[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        url.trim_end_matches('/').to_owned()
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> (bool, String) {
        signal(&self.child, "TERM");
        let status = self.child.wait().expect("wait for the runner");
        // Let the log reader catch up.
        std::thread::sleep(Duration::from_millis(100));
        (status.success(), self.log())
    }

    /// Freezes the process (SIGSTOP), as if it lost the database: no heartbeat, no work.
    pub fn freeze(&self) {
        signal(&self.child, "STOP");
    }

    /// Thaws a frozen process (SIGCONT).
    pub fn thaw(&self) {
        signal(&self.child, "CONT");
    }

    /// Kills with SIGKILL: no cleanup at all.
    pub fn kill(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Polls `condition` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for a file to exist.
pub fn wait_for_file(path: &Path, limit: Duration) -> bool {
    wait_until(limit, || path.exists())
}

/// An RFC 3339 field as milliseconds.
pub fn millis(value: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("an RFC 3339 timestamp")
        .timestamp_millis()
}

/// The id of a task as `trigger --json` prints it.
pub fn task_id(task: &Value) -> i64 {
    task["id"].as_i64().expect("a task id")
}

/// The history rows of one task, oldest first.
pub fn rows_of_task(site: &Site, id: i64) -> Vec<Value> {
    let mut rows = site.history(&["--task", &id.to_string()]);
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

/// The status of each row.
pub fn statuses(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A task's state as `tasks --json` lists it, or `""` when it is not listed.
pub fn task_state(site: &Site, id: i64) -> String {
    let tasks: Vec<Value> =
        serde_json::from_str(&site.ok(&["tasks", "--json", "--limit", "10000"]))
            .expect("tasks as JSON");
    tasks
        .iter()
        .find(|t| t["id"] == id)
        .map(|t| t["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// Ticks of `job` by scheduled instant, with how many executions each had.
pub fn ticks_of(site: &Site, job: &str) -> BTreeMap<i64, Vec<Value>> {
    let mut ticks: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for row in site.history(&["--job", job]) {
        if row["trigger"] == "cron" {
            ticks
                .entry(millis(&row["scheduled_at"]))
                .or_default()
                .push(row);
        }
    }
    ticks
}

/// A TCP relay to the database that a test can cut, as a network partition would: while it
/// is cut, bytes wait in both directions, and nothing is refused or closed.
pub struct Relay {
    port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    /// Relays connections to the server of `database_url`.
    pub fn to(database_url: &str) -> Relay {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        let target = server_of(database_url).to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the relay");
        let port = listener.local_addr().expect("the relay's address").port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (
                        from.try_clone().expect("a socket"),
                        to.try_clone().expect("a socket"),
                    );
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
                        let mut buffer = [0u8; 16 * 1024];
                        loop {
                            if flag.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(20));
                                continue;
                            }
                            match from.read(&mut buffer) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buffer[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                                Err(_) => break,
                            }
                        }
                        // One side closed: close both, so that the other direction ends
                        // too and the server sees its client go (an idle server connection
                        // would otherwise stay open, and keep its locks, forever).
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut }
    }

    /// `database_url` through this relay.
    pub fn url(&self, database_url: &str) -> String {
        database_url.replacen(
            server_of(database_url),
            &format!("127.0.0.1:{}", self.port),
            1,
        )
    }

    /// Cuts the relay: nothing passes until [`heal`](Relay::heal).
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets everything pass again, what waited first.
    pub fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Starts restarting this machine's PostgreSQL cluster; the restart is over (the server
/// answers again) when the returned process has exited.
pub fn restart_postgres() -> Child {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a PostgreSQL cluster on this machine")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL version");
    Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .spawn()
        .expect("restart PostgreSQL")
}

/// The `host:port` of a PostgreSQL URL.
pub fn server_of(database_url: &str) -> &str {
    let after = database_url
        .split_once('@')
        .map_or(database_url, |(_, rest)| rest);
    after.split(['/', '?']).next().unwrap_or(after)
}

/// The unix milliseconds a test job wrote into `path`.
pub fn millis_in(path: &Path) -> i64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("unix milliseconds")
}

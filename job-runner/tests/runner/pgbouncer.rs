//! Runners behind PgBouncer in transaction mode (`database_pool_mode = "transaction"`):
//! many runner processes share a few server connections with every cron tick and every
//! task run once, and a runner with a direct `listen_url` hears of new tasks through LISTEN
//! while its statements go through the pooler.
//!
//! Each test starts a PgBouncer of its own (Debian's `pgbouncer` package, which `cargo
//! xtask test` installs) on a free port, with an ini file of its own, in front of a
//! database of its own. A database, not a schema as the other PostgreSQL tests use: they
//! choose their schema with `options=-c search_path=...` in the URL, a startup parameter
//! that PgBouncer 1.18 refuses. Without PgBouncer these tests skip loudly, except with
//! `CI=true`, where that is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use job_runner::storage::PoolMode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::Test;
use crate::support::{Backend, Runner, Site, block_on, server_of, ticks_of, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    ten_runners_share_twenty_server_connections_through_pgbouncer => crate::Runs::Only(Backend::Postgres),
    a_runner_behind_pgbouncer_with_a_listen_url_hears_of_new_tasks => crate::Runs::Only(Backend::Postgres),
    a_search_path_that_pgbouncer_drops_is_refused_at_start => crate::Runs::Only(Backend::Postgres),
];

/// What a runner logs when a statement failed or a session did not survive the pooler.
const TROUBLE: [&str; 5] = [
    "database error",
    "prepared statement",
    "unsupported startup parameter",
    "cannot listen",
    "lost the connection",
];

fn ten_runners_share_twenty_server_connections_through_pgbouncer(_: Backend) {
    let Some(Behind {
        mut site,
        bouncer,
        database,
    }) = behind_pgbouncer("")
    else {
        return;
    };
    // Every runner polls: none has a direct connection to LISTEN on. Leases as in
    // production (the suite's 2 s lease is for recovery tests): ten runners wait their turn
    // for twenty server connections on this 2-core machine, and a heartbeat that waits
    // past 2 s has its runner's claims recovered, which is not what this test is about.
    site.env("JOBS_POOL_SIZE", "8")
        .env("JOBS_POLL_INTERVAL", "300ms")
        .env("JOBS_HEARTBEAT", "2s")
        .env("JOBS_LEASE", "10s")
        .env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    let runners: Vec<Runner> = (0..10).map(|_| site.runner()).collect();
    let notes: Vec<Value> = (0..500)
        .map(|i| json!({ "text": format!("note {i}") }))
        .collect();
    let ids = site.enqueue_many("echo", notes);
    // However many clients PgBouncer has, the server sees at most its pool of 20: the most
    // seen while the tasks run.
    let mut server_connections = 0;
    let all_ran = wait_until(Duration::from_secs(60), || {
        server_connections = server_connections.max(database.server_connections());
        site.history(&["--job", "echo", "--status", "succeeded"])
            .len()
            >= ids.len()
    });
    // Let the schedule tick a few more seconds with every runner up.
    std::thread::sleep(Duration::from_secs(5));
    let logs: Vec<String> = runners
        .into_iter()
        .map(|runner| {
            let (clean, log) = runner.terminate();
            assert!(clean, "a runner did not exit cleanly:\n{log}");
            log
        })
        .collect();
    for log in &logs {
        for trouble in TROUBLE {
            assert!(
                !log.contains(trouble),
                "a runner logged `{trouble}` through PgBouncer:\n{log}\nPgBouncer:\n{}",
                bouncer.log()
            );
        }
    }
    assert!(all_ran, "not every task ran within 60 s");
    assert!(
        server_connections <= 20,
        "{server_connections} server connections to the database, past PgBouncer's pool of 20"
    );

    // Every enqueued task ran once: one history row each, succeeded.
    let rows = site.history(&["--job", "echo"]);
    let mut per_task: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for row in &rows {
        per_task
            .entry(row["task_id"].as_i64().expect("a task id"))
            .or_default()
            .push(row);
    }
    assert_eq!(
        per_task.keys().copied().collect::<BTreeSet<_>>(),
        ids.iter().copied().collect::<BTreeSet<_>>(),
        "the history's tasks are not the enqueued ones"
    );
    let twice: Vec<_> = per_task.iter().filter(|(_, r)| r.len() != 1).collect();
    assert!(twice.is_empty(), "tasks ran more than once: {twice:?}");
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");

    // Every tick between the first and the last ran once, each as a task of its own.
    let ticks = ticks_of(&site, "every_second");
    let (first, last) = match (ticks.keys().next(), ticks.keys().last()) {
        (Some(&first), Some(&last)) => (first, last),
        _ => panic!("no tick ran"),
    };
    assert!(
        last - first >= 3_000,
        "the schedule ran for only {} ms of the test's seconds",
        last - first
    );
    let missing: Vec<i64> = (0..=(last - first) / 1000)
        .map(|s| first + s * 1000)
        .filter(|t| !ticks.contains_key(t))
        .collect();
    assert!(missing.is_empty(), "ticks that never ran: {missing:?}");
    let doubled: Vec<_> = ticks.iter().filter(|(_, rows)| rows.len() != 1).collect();
    assert!(doubled.is_empty(), "ticks run more than once: {doubled:?}");
    let tasks: BTreeSet<i64> = ticks
        .values()
        .map(|rows| rows[0]["task_id"].as_i64().expect("a task id"))
        .collect();
    assert_eq!(tasks.len(), ticks.len(), "two ticks share a task");
}

fn a_runner_behind_pgbouncer_with_a_listen_url_hears_of_new_tasks(_: Backend) {
    let Some(Behind {
        mut site,
        database,
        // Bound, so that PgBouncer runs until the end of the test.
        bouncer: _bouncer,
    }) = behind_pgbouncer("")
    else {
        return;
    };
    // A poll once a minute: within the test's seconds, only LISTEN can bring a task that
    // another process stores (see `wakes.rs`).
    site.env("JOBS_POLL_INTERVAL", "60s")
        .env("JOBS_HEARTBEAT", "20s")
        .env("JOBS_LEASE", "60s")
        .env("JOBS_LISTEN_URL", &database.url);
    let started = Instant::now();
    let runner = site.runner();
    // Let the runner's fetchers make their first claims (finding nothing) and go idle.
    std::thread::sleep(Duration::from_millis(1500));
    // Stored through PgBouncer, by this process: the NOTIFY is sent inside the storing
    // transaction, and the server delivers it at the commit.
    let ids = site.enqueue_many("echo", vec![json!({ "text": "through the pooler" })]);
    let before_the_poll = Duration::from_secs(50).saturating_sub(started.elapsed());
    let ran = wait_until(before_the_poll, || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .iter()
            .any(|row| row["task_id"] == ids[0])
    });
    let (clean, log) = runner.terminate();
    assert!(
        ran,
        "a task stored through PgBouncer waited for the runner's poll (every 60 s) though it listens on listen_url:\n{log}"
    );
    assert!(clean, "the runner did not exit cleanly:\n{log}");
    for trouble in TROUBLE {
        assert!(
            !log.contains(trouble),
            "the runner logged `{trouble}`:\n{log}"
        );
    }
}

fn a_search_path_that_pgbouncer_drops_is_refused_at_start(_: Backend) {
    // Told to ignore `options`, PgBouncer drops the search_path the URL asks for: the
    // tables would go to the role's default schema instead.
    let Some(Behind {
        mut site,
        database,
        // Bound, so that PgBouncer runs until the end of the test.
        bouncer: _bouncer,
    }) = behind_pgbouncer("ignore_startup_parameters = options")
    else {
        return;
    };
    block_on(async {
        let mut connection = sqlx::PgConnection::connect(&database.url)
            .await
            .expect("connect to the test's database");
        sqlx::query("CREATE SCHEMA jobs")
            .execute(&mut connection)
            .await
            .expect("create a schema");
    });
    site.database_url = format!("{}?options=-c%20search_path%3Djobs", site.database_url);
    let output = site.cli(&["migrate"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "migrated into another schema: {stderr}"
    );
    assert!(
        stderr.contains("search_path `jobs`") && stderr.contains("ALTER ROLE"),
        "the error does not say what went wrong and what to do: {stderr}"
    );
    // Nothing was created anywhere.
    let tables: i64 = block_on(async {
        let mut connection = sqlx::PgConnection::connect(&database.url)
            .await
            .expect("connect to the test's database");
        sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'jobs_%'",
        )
        .fetch_one(&mut connection)
        .await
        .expect("count the job tables")
    });
    assert_eq!(tables, 0, "job tables were created despite the refusal");
}

/// A database of the test's own behind a PgBouncer of its own, and a site whose processes
/// reach it through PgBouncer, in transaction mode (dropped in this order: the processes'
/// site, PgBouncer, the database).
struct Behind {
    site: Site,
    bouncer: Bouncer,
    database: Database,
}

/// A fresh [`Behind`], its PgBouncer with `extra` settings; `None` (after saying so) when
/// PgBouncer is not installed.
fn behind_pgbouncer(extra: &str) -> Option<Behind> {
    let program = pgbouncer()?;
    let database = Database::create();
    let bouncer = Bouncer::start(&program, &database, extra);
    let mut site = Site::on(bouncer.url(&database.url));
    site.connect.pool_mode = PoolMode::Transaction;
    site.env("JOBS_DATABASE_POOL_MODE", "transaction");
    Some(Behind {
        site,
        bouncer,
        database,
    })
}

/// PgBouncer's program, or `None` (after saying so) when it is not installed.
fn pgbouncer() -> Option<PathBuf> {
    let found = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "PgBouncer is not installed and CI=true: `cargo xtask test` installs it (`apt-get install pgbouncer`)"
            );
        }
        eprintln!(
            "\n!!!!!!!!\n!!!!!!!! SKIPPING a PgBouncer test: PgBouncer is not installed.\n!!!!!!!! Install it: `sudo apt-get install pgbouncer` (cargo xtask test does).\n!!!!!!!!\n"
        );
    }
    found
}

/// A database of the test's own on the test server, dropped with it.
struct Database {
    name: String,
    /// Its URL, straight to the server.
    url: String,
    /// The server's URL, to create and drop it from.
    base: String,
}

impl Database {
    fn create() -> Database {
        let base = crate::backends::postgres_url()
            .expect("PostgreSQL tests run only when it is reachable");
        let name = format!(
            "jt_bouncer_{}_{:x}",
            std::process::id(),
            crate::backends::rand_suffix()
        );
        block_on(async {
            let mut connection = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut connection)
                .await
                .expect("create a database");
        });
        let url = with_database(&base, &name);
        Database { name, url, base }
    }

    /// How many connections the server has to this database now.
    fn server_connections(&self) -> i64 {
        block_on(async {
            let mut connection = sqlx::PgConnection::connect(&self.base)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(&self.name)
                .fetch_one(&mut connection)
                .await
                .expect("count the server's connections")
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        block_on(async {
            if let Ok(mut connection) = sqlx::PgConnection::connect(&self.base).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .execute(&mut connection)
                .await;
            }
        });
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let scheme = url.find("://").map_or(0, |i| i + 3);
    let path = url[scheme..].find('/').map_or(url.len(), |i| scheme + i);
    let query = url[path..].find('?').map_or("", |i| &url[path + i..]);
    format!("{}/{name}{query}", &url[..path])
}

/// A PgBouncer process of the test's own, in transaction mode with a pool of 20 server
/// connections, in front of one database; stopped when dropped.
struct Bouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Bouncer {
    /// Starts PgBouncer with these `extra` settings.
    fn start(program: &Path, database: &Database, extra: &str) -> Bouncer {
        let dir = tempfile::tempdir().expect("a folder for PgBouncer");
        let (host, server_port) = server_of(&database.url)
            .rsplit_once(':')
            .unwrap_or((server_of(&database.url), "5432"));
        let user = user_of(&database.url);
        let port = free_port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).expect("write the users file");
        // The test server trusts its local users; PgBouncer does too, and has no other
        // setting than these and `extra` (no `ignore_startup_parameters`: the runner must
        // need none).
        let ini = format!(
            "[databases]\n\
             {name} = host={host} port={server_port} dbname={name}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {users}\n\
             pool_mode = transaction\n\
             default_pool_size = 20\n\
             max_client_conn = 1000\n\
             {extra}\n",
            name = database.name,
            users = users.display(),
        );
        let ini_path = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).expect("write pgbouncer.ini");
        let log = std::fs::File::create(dir.path().join("pgbouncer.log")).expect("a log file");
        let mut command = Command::new(program);
        // PgBouncer refuses to run as root: it reads its files, then becomes `nobody`.
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        let mut child = command
            .arg(&ini_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("start PgBouncer");
        let up = wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            let _ = child.kill();
            panic!(
                "PgBouncer did not listen on port {port} within 10 s:\n{}",
                std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default()
            );
        }
        Bouncer { child, port, dir }
    }

    /// `database_url` through this PgBouncer.
    fn url(&self, database_url: &str) -> String {
        database_url.replacen(
            server_of(database_url),
            &format!("127.0.0.1:{}", self.port),
            1,
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user of a PostgreSQL URL (libpq's default: `postgres` here).
fn user_of(url: &str) -> String {
    let after = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after.split_once('@') {
        Some((credentials, _)) => credentials.split(':').next().unwrap_or("").to_owned(),
        None => "postgres".to_owned(),
    }
}

/// A TCP port no one listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

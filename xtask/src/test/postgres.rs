//! The PostgreSQL server of the PostgreSQL half of the suites, at `JOBS_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`): started when it is local and not
//! running (`pg_ctlcluster`, as on Debian; installed first with apt when this process may),
//! and its database created when it is missing.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::machine::{self, Missing};

/// The server the suites use when `JOBS_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a server that was just started gets to accept connections.
const START_WAIT: Duration = Duration::from_secs(30);

/// The URL the suites will use.
pub fn url() -> String {
    std::env::var("JOBS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Makes sure the server at `url` accepts connections and has the URL's database; says what
/// is missing and how to get it when that cannot be done from here.
pub fn ensure(url: &str) -> Result<(), Missing> {
    let Some(server) = Server::parse(url) else {
        return Err(Missing {
            what: format!(
                "JOBS_TEST_POSTGRES_URL is not a PostgreSQL URL: `{}`",
                redact(url)
            ),
            how: "write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE".into(),
        });
    };
    if !server.accepts(url) {
        start(url, &server)?;
    }
    create_database(url, &server)
}

/// Where a PostgreSQL URL points.
#[derive(Debug, PartialEq, Eq)]
struct Server {
    host: String,
    port: u16,
    database: String,
}

impl Server {
    /// The server and database of `postgres://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?...]`.
    fn parse(url: &str) -> Option<Server> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let rest = rest.split('?').next().unwrap_or(rest);
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => {
                (credentials.split(':').next().unwrap_or(""), host_port)
            }
            None => ("", authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':').unwrap_or(""))
        } else {
            host_port.rsplit_once(':').unwrap_or((host_port, ""))
        };
        let port = if port.is_empty() {
            5432
        } else {
            port.parse().ok()?
        };
        // libpq's defaults: the local server, and a database named after the user.
        let host = if host.is_empty() { "localhost" } else { host };
        let database = match (database, user) {
            ("", "") => "postgres",
            ("", user) => user,
            (database, _) => database,
        };
        Some(Server {
            host: host.to_owned(),
            port,
            database: database.to_owned(),
        })
    }

    /// Whether the server runs on this machine, where it can be started.
    fn is_local(&self) -> bool {
        matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
    }

    /// Whether the server accepts connections: `pg_isready`, or a TCP connection where
    /// that is not installed.
    fn accepts(&self, url: &str) -> bool {
        if machine::program("pg_isready").is_some() {
            return Command::new("pg_isready")
                .args(["-q", "-t", "3", "-d", url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(3)).is_ok())
    }
}

/// Starts the local server (installing it first when there is none and this process may),
/// as `.ci/run` did: the newest cluster in `/etc/postgresql`, with `pg_ctlcluster`.
fn start(url: &str, server: &Server) -> Result<(), Missing> {
    let shown = redact(url);
    let skipped = "the PostgreSQL half of every suite is skipped";
    if !server.is_local() {
        return Err(Missing {
            what: format!("PostgreSQL is unreachable at {shown}: {skipped}"),
            how: "start that server, or point JOBS_TEST_POSTGRES_URL at one that runs".into(),
        });
    }
    if machine::program("pg_ctlcluster").is_none() {
        let how = "install it: `sudo apt-get install postgresql` (Debian, Ubuntu), or point JOBS_TEST_POSTGRES_URL at a server that runs".to_owned();
        if !machine::can_install() {
            return Err(Missing {
                what: format!(
                    "PostgreSQL is not installed (no pg_ctlcluster) and nothing answers at {shown}: {skipped}"
                ),
                how,
            });
        }
        machine::apt_install(&["postgresql"]).map_err(|error| Missing {
            what: format!("PostgreSQL could not be installed: {error}"),
            how: how.clone(),
        })?;
    }
    let Some(version) = newest_cluster() else {
        return Err(Missing {
            what: format!(
                "PostgreSQL is installed but has no cluster in /etc/postgresql: {skipped}"
            ),
            how: "create one: `sudo pg_createcluster VERSION main`".into(),
        });
    };
    let running = Command::new("pg_ctlcluster")
        .args([&version, "main", "status"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if running {
        return Err(Missing {
            what: format!("PostgreSQL {version} runs but does not answer at {shown}: {skipped}"),
            how: "compare its port (`pg_lsclusters`) with JOBS_TEST_POSTGRES_URL's".into(),
        });
    }
    eprintln!("xtask test: starting PostgreSQL {version} (cluster main)...");
    machine::run(Command::new("pg_ctlcluster").args([
        "--skip-systemctl-redirect",
        &version,
        "main",
        "start",
    ]))
    .map_err(|error| Missing {
        what: format!("PostgreSQL {version} could not be started: {error}"),
        how: format!("start it as root: `sudo pg_ctlcluster {version} main start`"),
    })?;
    let started = Instant::now();
    while started.elapsed() < START_WAIT {
        if server.accepts(url) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    Err(Missing {
        what: format!(
            "PostgreSQL {version} was started but does not accept connections at {shown} after {} s: {skipped}",
            START_WAIT.as_secs()
        ),
        how: format!(
            "see its log in /var/log/postgresql/, and check that it listens on port {}",
            server.port
        ),
    })
}

/// The newest PostgreSQL version with a cluster in `/etc/postgresql`.
fn newest_cluster() -> Option<String> {
    let mut versions: Vec<(Vec<u32>, String)> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .map(|name| {
            let key = name.split('.').filter_map(|p| p.parse().ok()).collect();
            (key, name)
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, name)| name)
}

/// Creates the URL's database when the server does not have it, through `psql` on the
/// server's `postgres` database.
fn create_database(url: &str, server: &Server) -> Result<(), Missing> {
    let database = &server.database;
    if machine::program("psql").is_none() {
        eprintln!(
            "xtask test: psql is not installed: not checking that database `{database}` exists (`sudo apt-get install postgresql-client` to have it checked and created)"
        );
        return Ok(());
    }
    let admin = with_database(url, "postgres");
    let exists = Command::new("psql")
        .args([&admin, "-Atqc"])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{}'",
            database.replace('\'', "''")
        ))
        .stdin(Stdio::null())
        .output();
    let exists = match exists {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim() == "1"
        }
        Ok(output) => {
            return Err(Missing {
                what: format!(
                    "cannot log in to PostgreSQL at {}: {}",
                    redact(url),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                how: "let the URL's user in from this host (on a test machine, pg_hba.conf: `host all all 127.0.0.1/32 trust`), or put its password in JOBS_TEST_POSTGRES_URL".into(),
            });
        }
        Err(error) => {
            return Err(Missing {
                what: format!("cannot run psql: {error}"),
                how: "install the client: `sudo apt-get install postgresql-client`".into(),
            });
        }
    };
    if exists {
        return Ok(());
    }
    eprintln!("xtask test: creating database `{database}`...");
    machine::run(Command::new("psql").args([&admin, "-qc"]).arg(format!(
        "CREATE DATABASE \"{}\"",
        database.replace('"', "\"\"")
    )))
    .map_err(|error| Missing {
        what: format!("database `{database}` is missing and could not be created: {error}"),
        how: format!("create it: `createdb {database}` as a user who may"),
    })
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let scheme_end = before_query.find("://").map_or(0, |i| i + 3);
    let authority_end = before_query[scheme_end..]
        .find('/')
        .map_or(before_query.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &before_query[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` with its password, if any, replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or("");
            format!(
                "{}{user}:***@{host}{}",
                &url[..scheme_end],
                &rest[authority_end..]
            )
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16, database: &str) -> Option<Server> {
        Some(Server {
            host: host.into(),
            port,
            database: database.into(),
        })
    }

    #[test]
    fn urls_name_the_server_to_start_and_the_database_to_create() {
        assert_eq!(
            Server::parse(DEFAULT_URL),
            server("127.0.0.1", 5432, "test")
        );
        assert_eq!(
            Server::parse(
                "postgresql://jobs:secret@db.internal:6543/jobs?options=-c%20search_path%3Djobs"
            ),
            server("db.internal", 6543, "jobs")
        );
        assert_eq!(
            Server::parse("postgres://[::1]/x"),
            server("::1", 5432, "x")
        );
        assert_eq!(
            Server::parse("postgres://alice@localhost"),
            server("localhost", 5432, "alice")
        );
        assert_eq!(Server::parse("postgres://h:port/x"), None);
        assert_eq!(Server::parse("mysql://h/x"), None);
        assert!(Server::parse(DEFAULT_URL).is_some_and(|s| s.is_local()));
        assert!(!Server::parse("postgres://db.internal/x").is_some_and(|s| s.is_local()));
    }

    #[test]
    fn the_database_is_created_from_the_servers_postgres_database() {
        assert_eq!(
            with_database(DEFAULT_URL, "postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            with_database("postgres://u@h:1/test?sslmode=disable", "postgres"),
            "postgres://u@h:1/postgres?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h", "postgres"),
            "postgres://u@h/postgres"
        );
    }

    #[test]
    fn messages_never_show_a_password() {
        assert_eq!(
            redact("postgres://jobs:secret@db:5432/jobs"),
            "postgres://jobs:***@db:5432/jobs"
        );
        assert_eq!(redact(DEFAULT_URL), DEFAULT_URL);
    }
}

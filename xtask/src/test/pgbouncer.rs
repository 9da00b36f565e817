//! PgBouncer for the runner suite's PgBouncer tests (`job-runner/tests/runner/pgbouncer.rs`
//! starts Debian's `/usr/sbin/pgbouncer` on a port and with an ini file of its own; the
//! PostgreSQL server's own configuration is never touched).

use super::machine::{self, Missing};

/// The program the PgBouncer tests start.
const PROGRAM: &str = "/usr/sbin/pgbouncer";

/// Debian's package that holds it.
const PACKAGE: &str = "pgbouncer";

/// Makes sure PgBouncer is installed: installs it with apt when it is missing and this
/// process may; otherwise says what is missing and how to get it.
pub fn ensure() -> Result<(), Missing> {
    if machine::all_exist(&[PROGRAM]) {
        return Ok(());
    }
    let how = format!("install Debian's package: `sudo apt-get install {PACKAGE}`");
    if !machine::can_install() {
        return Err(Missing {
            what: format!("PgBouncer is missing ({PROGRAM}): the PgBouncer tests are skipped"),
            how,
        });
    }
    match machine::apt_install(&[PACKAGE]) {
        Ok(()) if machine::all_exist(&[PROGRAM]) => Ok(()),
        Ok(()) => Err(Missing {
            what: format!(
                "PgBouncer was installed but {PROGRAM} is still missing: the PgBouncer tests are skipped"
            ),
            how: "check where the package put it (`dpkg -L pgbouncer`)".into(),
        }),
        Err(error) => Err(Missing {
            what: format!("PgBouncer could not be installed: {error}"),
            how,
        }),
    }
}

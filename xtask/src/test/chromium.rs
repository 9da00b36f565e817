//! Headless Chromium and ChromeDriver for the dashboard test (`job-runner/tests/dashboard.rs`
//! looks for Debian's `/usr/bin/chromium` and `/usr/bin/chromedriver`).

use super::machine::{self, Missing};

/// The programs the dashboard test starts.
const PROGRAMS: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];

/// Debian's packages that hold them.
const PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];

/// Makes sure Chromium and ChromeDriver are installed: installs them with apt when they are
/// missing and this process may; otherwise says what is missing and how to get it.
pub fn ensure() -> Result<(), Missing> {
    if machine::all_exist(&PROGRAMS) {
        return Ok(());
    }
    let how = format!(
        "install Debian's packages: `sudo apt-get install {}`",
        PACKAGES.join(" ")
    );
    if !machine::can_install() {
        return Err(Missing {
            what: format!(
                "Chromium is missing ({} and {} are needed): the dashboard test is skipped",
                PROGRAMS[0], PROGRAMS[1]
            ),
            how,
        });
    }
    match machine::apt_install(&PACKAGES) {
        Ok(()) if machine::all_exist(&PROGRAMS) => Ok(()),
        Ok(()) => Err(Missing {
            what: format!(
                "Chromium was installed but {} or {} is still missing: the dashboard test is skipped",
                PROGRAMS[0], PROGRAMS[1]
            ),
            how: "check where the packages put them (`dpkg -L chromium chromium-driver`)".into(),
        }),
        Err(error) => Err(Missing {
            what: format!("Chromium could not be installed: {error}"),
            how,
        }),
    }
}

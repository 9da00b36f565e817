//! `cargo xtask new-job` on copies of this workspace: the jobs it generates build, pass
//! their tests, `cargo fmt --check` and clippy; every refusal leaves the tree unchanged.
//!
//! The build test keeps its copy at a fixed place, `target/xtask-tests/workspace`, with
//! the files' modification times preserved, and builds it in `target/xtask-tests`: a
//! second run rebuilds only the `examples` crate instead of the whole dependency tree, and
//! the target directory does not grow with each run. A lock serializes concurrent runs.
//! The refusal tests, which build nothing, use throwaway temporary copies.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real workspace's root.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

/// Copies the workspace's sources (not `target/` nor `.git/`) into `to`, keeping the files'
/// modification times so that cargo reuses what it built from an earlier copy.
fn copy_workspace(to: &Path) {
    fn copy_dir(from: &Path, to: &Path, top: bool) {
        std::fs::create_dir_all(to).expect("create a folder of the copy");
        for entry in std::fs::read_dir(from).expect("read a folder of the workspace") {
            let entry = entry.expect("a folder entry");
            let name = entry.file_name();
            if top && (name == "target" || name == ".git") {
                continue;
            }
            let file_type = entry.file_type().expect("a file type");
            let (source, destination) = (entry.path(), to.join(&name));
            if file_type.is_dir() {
                copy_dir(&source, &destination, false);
            } else if file_type.is_file() {
                std::fs::copy(&source, &destination).expect("copy a file");
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .expect("a modification time");
                File::options()
                    .write(true)
                    .open(&destination)
                    .and_then(|f| f.set_modified(modified))
                    .expect("keep the modification time");
            }
        }
    }
    copy_dir(&workspace_root(), to, true);
}

/// Every file and folder under `dir` with its contents: two equal fingerprints mean an
/// unchanged tree.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read a folder") {
            let path = entry.expect("a folder entry").path();
            let relative = path.strip_prefix(dir).expect("inside").to_owned();
            if path.is_dir() {
                found.insert(relative, None);
                pending.push(path);
            } else {
                found.insert(relative, Some(std::fs::read(&path).expect("read a file")));
            }
        }
    }
    found
}

/// Runs the xtask binary built for this test in `dir`.
fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run xtask")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The target directory that the copies build in, shared between runs.
fn shared_target() -> PathBuf {
    workspace_root().join("target").join("xtask-tests")
}

/// `cargo ARGS` in `dir`, building in the shared target directory; panics with the output
/// when it fails.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("run cargo");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "`cargo {}` failed in {}:\n{stdout}\n{stderr}",
        args.join(" "),
        dir.display()
    );
    format!("{stdout}{stderr}")
}

/// The command printed after "then run its test:".
fn next_command(stdout: &str) -> Vec<String> {
    let mut lines = stdout.lines();
    lines
        .find(|line| line.ends_with("then run its test:"))
        .unwrap_or_else(|| panic!("no next command in:\n{stdout}"));
    lines
        .next()
        .expect("the command")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn generated_jobs_build_pass_their_tests_fmt_and_clippy() {
    let target = shared_target();
    std::fs::create_dir_all(&target).expect("create the shared target directory");
    let lock = File::create(target.join("new-job.lock")).expect("create the lock file");
    lock.lock().expect("lock the shared copy");

    let copy = target.join("workspace");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).expect("remove the previous copy");
    }
    copy_workspace(&copy);
    let original_lib =
        std::fs::read_to_string(copy.join("examples/src/lib.rs")).expect("read lib.rs");

    // A cron job, created from a subfolder of the workspace.
    let cron = xtask(
        &copy.join("examples").join("src"),
        &[
            "new-job",
            "nightly_report",
            "--cron",
            "30 2 * * *",
            "--timezone",
            "America/New_York",
            "--queue",
            "reports",
        ],
    );
    let cron_stdout = text(&cron.stdout);
    assert!(cron.status.success(), "{cron_stdout}{}", text(&cron.stderr));
    assert!(
        cron_stdout.contains("created examples/src/nightly_report.rs: the job `NightlyReport`"),
        "{cron_stdout}"
    );
    assert!(
        cron_stdout.contains("edited  examples/src/lib.rs: added `pub mod nightly_report;`"),
        "{cron_stdout}"
    );
    assert_eq!(
        next_command(&cron_stdout),
        ["cargo", "test", "-p", "examples", "--lib", "nightly_report"]
    );

    // An on-demand job with arguments, created from another crate's folder: it still goes
    // to `examples`, the default.
    let on_demand = xtask(
        &copy.join("job-core"),
        &[
            "new-job",
            "send_welcome_email",
            "--args",
            "WelcomeEmail",
            "--queue",
            "emails",
        ],
    );
    let on_demand_stdout = text(&on_demand.stdout);
    assert!(
        on_demand.status.success(),
        "{on_demand_stdout}{}",
        text(&on_demand.stderr)
    );

    let cron_source = std::fs::read_to_string(copy.join("examples/src/nightly_report.rs"))
        .expect("the cron job's module");
    assert!(cron_source.contains(
        "#[job(cron = \"30 2 * * *\", timezone = \"America/New_York\", queue = \"reports\")]\n\
         pub async fn nightly_report(ctx: JobContext) -> JobResult {"
    ));
    assert!(cron_source.contains(".run(NightlyReport, ())"));
    let args_source = std::fs::read_to_string(copy.join("examples/src/send_welcome_email.rs"))
        .expect("the on-demand job's module");
    assert!(
        args_source
            .contains("#[derive(Debug, Clone, Serialize, Deserialize)]\npub struct WelcomeEmail {")
    );
    assert!(args_source.contains(
        "pub async fn send_welcome_email(args: WelcomeEmail, ctx: JobContext) -> JobResult {"
    ));
    for source in [&cron_source, &args_source] {
        assert!(source.contains("// Do the work here."));
        assert!(source.contains("TestContext::new()"));
        assert!(!source.contains("todo!") && !source.contains("unimplemented!"));
    }
    // The mod lines are in rustfmt's order among the existing ones.
    assert_eq!(
        std::fs::read_to_string(copy.join("examples/src/lib.rs")).expect("read lib.rs"),
        original_lib
            .replace(
                "pub mod keys;\n",
                "pub mod keys;\npub mod nightly_report;\n"
            )
            .replace(
                "pub mod transfer;\n",
                "pub mod send_welcome_email;\npub mod transfer;\n"
            )
    );

    // Build once, run each printed command (the second reuses the first's build).
    for stdout in [&cron_stdout, &on_demand_stdout] {
        let command = next_command(stdout);
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let output = cargo(&copy, &args);
        let name = command.last().expect("a job name");
        assert!(
            output.contains(&format!(
                "test {name}::tests::runs_and_reports_how_many_records_it_processed ... ok"
            )),
            "{output}"
        );
        assert!(output.contains("test result: ok. 1 passed"), "{output}");
    }
    cargo(&copy, &["fmt", "--check", "-p", "examples"]);
    cargo(
        &copy,
        &[
            "clippy",
            "-p",
            "examples",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
}

/// A fresh throwaway copy of the workspace.
fn scratch_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy_workspace(dir.path());
    dir
}

/// Runs `new-job ARGS` in `dir`, expects a refusal whose message contains `message`, and
/// checks that nothing under `root` changed.
fn assert_refused(root: &Path, dir: &Path, args: &[&str], message: &str) {
    let before = fingerprint(root);
    let output = xtask(dir, args);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "`{}` was not refused:\n{}{stderr}",
        args.join(" "),
        text(&output.stdout)
    );
    assert!(
        stderr.starts_with("error: ") && stderr.contains(message),
        "`{}`: expected `{message}` in:\n{stderr}",
        args.join(" ")
    );
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    assert!(
        fingerprint(root) == before,
        "`{}` changed the tree",
        args.join(" ")
    );
}

#[test]
fn refuses_invalid_names_and_options_without_writing() {
    let copy = scratch_copy();
    let root = copy.path();
    let cron_error = job_schedule::Cron::parse("61 * * * *")
        .unwrap_err()
        .to_string();
    let zone_error = job_schedule::parse_zone("Europe/Pariss")
        .unwrap_err()
        .to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["new-job", "PurgeUploads"],
            "invalid job name `PurgeUploads`: it has the uppercase letter `P`; write it in lowercase, such as `purge_uploads`",
        ),
        (&["new-job", "purge-uploads"], "`-` is not allowed"),
        (
            &["new-job", "2fa_reset"],
            "must start with a lowercase letter",
        ),
        (
            &["new-job", "type"],
            "invalid job name `type`: it is a Rust keyword",
        ),
        (&["new-job", "async"], "it is a Rust keyword"),
        (
            &["new-job", "nightly", "--cron", "61 * * * *"],
            &format!("invalid `--cron`: {cron_error}"),
        ),
        (
            &["new-job", "nightly", "--cron", "0 0 30 2 *"],
            "never fires",
        ),
        (
            &[
                "new-job",
                "nightly",
                "--cron",
                "@daily",
                "--timezone",
                "Europe/Pariss",
            ],
            &format!("invalid `--timezone`: {zone_error}"),
        ),
        (
            &["new-job", "nightly", "--timezone", "UTC"],
            "`--timezone` only applies to cron jobs",
        ),
        (
            &["new-job", "nightly", "--queue", "a queue"],
            "invalid queue `a queue`",
        ),
        (
            &["new-job", "send_email", "--args", "SendEmail"],
            "`--args SendEmail` is the name `#[job]` gives the job type of `send_email`",
        ),
        (
            &["new-job", "send_email", "--args", "email_request"],
            "invalid arguments type `email_request`: it must start with an uppercase letter",
        ),
        (
            &["new-job", "send_email", "--args", "Outcome"],
            "would hide `Outcome`",
        ),
        (
            &[
                "new-job",
                "send_email",
                "--args",
                "Email",
                "--cron",
                "@daily",
            ],
            "a cron job takes no arguments",
        ),
        (
            &["new-job", "tokio"],
            "`tokio` is the name of the dependency `tokio` of crate `examples`",
        ),
    ];
    for (args, message) in cases {
        assert_refused(root, root, args, message);
    }
}

#[test]
fn refuses_a_job_that_exists() {
    let copy = scratch_copy();
    let root = copy.path();
    let src = root.join("examples").join("src");
    // A job whose name differs from its function's, and a module declared without a file.
    std::fs::write(
        src.join("digest.rs"),
        "#[job(cron = \"@daily\", name = \"nightly_digest\")]\npub async fn send_digest() -> JobResult { Ok(Outcome::none()) }\n",
    )
    .expect("write a job");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    std::fs::write(src.join("lib.rs"), format!("{lib}\nmod ghost;\n")).expect("edit lib.rs");

    assert_refused(
        root,
        root,
        &["new-job", "keys"],
        "`examples/src/keys.rs` already exists",
    );
    assert_refused(
        root,
        &src,
        &["new-job", "cleanup_expired_sessions"],
        "a function `cleanup_expired_sessions` already exists at examples/src/cleanup.rs:",
    );
    assert_refused(
        root,
        root,
        &["new-job", "nightly_digest"],
        "a job named `nightly_digest` (`name = \"nightly_digest\"`) already exists at examples/src/digest.rs:1",
    );
    assert_refused(
        root,
        root,
        &["new-job", "ghost"],
        "`examples/src/lib.rs` already declares module `ghost`",
    );

    // A job that this command just created.
    let created = xtask(root, &["new-job", "purge_uploads", "--cron", "@hourly"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert_refused(
        root,
        root,
        &["new-job", "purge_uploads"],
        "`examples/src/purge_uploads.rs` already exists",
    );
}

#[test]
fn refuses_a_missing_crate_or_dependency() {
    let copy = scratch_copy();
    let root = copy.path();

    assert_refused(
        root,
        root,
        &["new-job", "nightly", "--crate", "no-such-crate"],
        "there is no crate at `no-such-crate` (no `no-such-crate/Cargo.toml`)",
    );
    assert_refused(
        root,
        root,
        &["new-job", "nightly", "--crate", "job-schedule"],
        "crate `job-schedule` does not depend on `job-core`, which the job needs (`#[job]`, `JobContext`, the testing helper); add `job-core.workspace = true` under [dependencies] in `job-schedule/Cargo.toml`",
    );

    // A member crate with job-core only, and a crate outside the members.
    std::fs::create_dir_all(root.join("bare/src")).expect("create a crate");
    std::fs::write(
        root.join("bare/Cargo.toml"),
        "[package]\nname = \"bare\"\nedition = \"2024\"\n\n[dependencies]\njob-core.workspace = true\n",
    )
    .expect("write its manifest");
    std::fs::write(root.join("bare/src/lib.rs"), "//! Bare.\n").expect("write its lib.rs");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    let with_bare = manifest.replacen("members = [", "members = [\"bare\", ", 1);
    assert_ne!(
        with_bare, manifest,
        "the workspace's Cargo.toml has a `members = [` line"
    );
    std::fs::write(root.join("Cargo.toml"), with_bare).expect("add a member");
    std::fs::create_dir_all(root.join("outside/src")).expect("create a crate");
    std::fs::write(
        root.join("outside/Cargo.toml"),
        "[package]\nname = \"outside\"\nedition = \"2024\"\n",
    )
    .expect("write its manifest");

    assert_refused(
        root,
        root,
        &["new-job", "nightly", "--crate", "bare"],
        "crate `bare` does not depend on `tokio`, which the generated test needs for `#[tokio::test]`; add `tokio = { workspace = true, features = [\"macros\", \"rt\"] }` under [dev-dependencies] in `bare/Cargo.toml`",
    );
    assert_refused(
        root,
        root,
        &[
            "new-job",
            "send_email",
            "--args",
            "Email",
            "--crate",
            "bare",
        ],
        "crate `bare` does not depend on `serde`, which a job with arguments needs to store them; add `serde.workspace = true` under [dependencies] in `bare/Cargo.toml`",
    );
    assert_refused(
        root,
        root,
        &["new-job", "nightly", "--crate", "outside"],
        "is not a member of the workspace",
    );
}

#[test]
fn refuses_outside_a_workspace() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    assert_refused(
        dir.path(),
        dir.path(),
        &["new-job", "nightly"],
        "no Cargo workspace contains",
    );
}

#[test]
fn help_lists_the_commands_and_shows_an_example() {
    let root = workspace_root();
    let help = xtask(&root, &["--help"]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    assert!(help.contains("Usage: cargo xtask <COMMAND>"), "{help}");
    assert!(help.contains("new-job"), "{help}");

    for flag in ["--help", "-h"] {
        let output = xtask(&root, &["new-job", flag]);
        assert!(output.status.success());
        let help = text(&output.stdout);
        assert!(help.contains("Examples:"), "{help}");
        assert!(
            help.contains(
                "cargo xtask new-job purge_stale_uploads --cron '0 3 * * *' --timezone Europe/Paris"
            ),
            "{help}"
        );
        for option in ["--cron", "--timezone", "--queue", "--args", "--crate"] {
            assert!(help.contains(option), "{option}: {help}");
        }
    }
}

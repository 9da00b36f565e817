//! `cargo xtask new-job`: scaffolds a job module, its test and its `mod` line.
//!
//! Every check runs before anything is written: a refused command leaves the tree as it
//! was. The cron expression and time zone go through `job-schedule`, the same code the
//! `#[job]` macro calls, so what this command accepts the macro accepts.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::workspace::{Crate, Dependency, Kind, Workspace};

/// What to generate, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub name: String,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub queue: Option<String>,
    pub args: Option<String>,
    /// The target crate, relative to the workspace root.
    pub krate: PathBuf,
}

/// A request whose options have been checked.
#[derive(Debug, Clone)]
pub struct Job {
    /// The function and module name, such as `purge_stale_uploads`.
    pub name: String,
    /// The job type the macro generates, such as `PurgeStaleUploads`.
    pub type_name: String,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub queue: Option<String>,
    /// The arguments type to generate, when the job takes arguments.
    pub args: Option<String>,
}

/// What `new-job` did, for the report.
#[derive(Debug)]
pub struct Created {
    pub module: PathBuf,
    pub lib: PathBuf,
    pub mod_line: String,
    pub package: String,
    pub formatted: bool,
}

/// Runs the command from `cwd`: checks everything, then writes the module and the `mod`
/// line, and returns what it did.
pub fn run(request: &Request, cwd: &Path) -> anyhow::Result<(Workspace, Job, Created)> {
    let job = check_request(request)?;
    let workspace = Workspace::find(cwd)?;
    let krate = Crate::open(&workspace, &request.krate)?;
    let Some(lib) = krate.lib_path() else {
        bail!(
            "crate `{}` has no library (`{}`); jobs live in a library so that the runner can link them: create `src/lib.rs` or pass `--crate` a library crate",
            krate.name,
            workspace.display(&krate.dir.join("src").join("lib.rs"))
        );
    };
    let dependencies = krate.dependencies(&workspace);
    check_dependencies(&job, &workspace, &krate, &dependencies)?;
    check_module_name(&job, &krate, &dependencies)?;
    let lib_text = std::fs::read_to_string(&lib)
        .with_context(|| format!("cannot read `{}`", lib.display()))?;
    let module_dir = lib.parent().expect("a file has a parent").to_owned();
    check_not_taken(&job, &workspace, &module_dir, &lib, &lib_text)?;

    let module = module_dir.join(format!("{}.rs", job.name));
    let mod_line = format!("pub mod {};", job.name);
    let new_lib = add_mod_line(&lib_text, &job.name);
    let source = render(&job);
    let (source, formatted) = match rustfmt(&source, &krate.edition, &krate.dir)? {
        Some(formatted) => (formatted, true),
        None => (source, false),
    };

    // Writes: the module first (never over an existing file), then the mod line; if the
    // second fails, the first is undone.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&module)
        .with_context(|| format!("cannot create `{}`", module.display()))?;
    let written = file
        .write_all(source.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(error) = written.and_then(|()| std::fs::write(&lib, new_lib)) {
        let _ = std::fs::remove_file(&module);
        return Err(error).with_context(|| {
            format!(
                "cannot write `{}` or `{}`; nothing was changed",
                module.display(),
                lib.display()
            )
        });
    }
    let created = Created {
        module,
        lib,
        mod_line,
        package: krate.name,
        formatted,
    };
    Ok((workspace, job, created))
}

/// The report printed after a job was created.
pub fn report(workspace: &Workspace, job: &Job, created: &Created) -> String {
    let mut out = String::new();
    let kind = match (&job.cron, &job.timezone) {
        (Some(cron), Some(zone)) => format!("cron `{cron}` in {zone}"),
        (Some(cron), None) => format!("cron `{cron}` in UTC"),
        (None, _) => "on demand".to_owned(),
    };
    let queue = job
        .queue
        .as_ref()
        .map(|q| format!(", queue `{q}`"))
        .unwrap_or_default();
    let args = job
        .args
        .as_ref()
        .map(|a| format!(", arguments `{a}`"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Created job `{}` ({kind}{queue}{args}) in crate `{}`:",
        job.name, created.package
    );
    let _ = writeln!(
        out,
        "  created {}: the job `{}`{} and its test",
        workspace.display(&created.module),
        job.type_name,
        job.args
            .as_ref()
            .map(|a| format!(", its arguments `{a}`"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  edited  {}: added `{}`",
        workspace.display(&created.lib),
        created.mod_line
    );
    if !created.formatted {
        let _ = writeln!(
            out,
            "  (rustfmt was not found: run `cargo fmt -p {}`)",
            created.package
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Next: write the work where `{}` says \"Do the work here\", then run its test:",
        workspace.display(&created.module)
    );
    let _ = writeln!(out, "  {}", test_command(&created.package, &job.name));
    out
}

/// The command that runs the generated test.
pub fn test_command(package: &str, name: &str) -> String {
    format!("cargo test -p {package} --lib {name}")
}

/// The checks that need nothing but the command line.
pub fn check_request(request: &Request) -> anyhow::Result<Job> {
    let name = request.name.as_str();
    if let Err(problem) = check_snake_case(name) {
        bail!(
            "invalid job name `{name}`: {problem}; a job name is a snake_case Rust identifier, such as `purge_stale_uploads`"
        );
    }
    if KEYWORDS.contains(&name) {
        bail!(
            "invalid job name `{name}`: it is a Rust keyword; choose another name, such as `{name}_job`"
        );
    }
    let type_name = job_schedule::job_type_name(name);

    if let Some(args) = &request.args {
        if let Err(problem) = check_upper_camel_case(args) {
            bail!(
                "invalid arguments type `{args}`: {problem}; an arguments type is an UpperCamelCase Rust identifier, such as `{type_name}Args`"
            );
        }
        if *args == type_name {
            bail!(
                "`--args {args}` is the name `#[job]` gives the job type of `{name}`; name the arguments type differently, such as `{type_name}Args`"
            );
        }
        if RESERVED_TYPES.contains(&args.as_str()) {
            bail!(
                "`--args {args}` would hide `{args}`, which the job module uses; name the arguments type differently, such as `{type_name}Args`"
            );
        }
        if request.cron.is_some() {
            bail!(
                "a cron job takes no arguments (each tick runs it with none): drop `--args` for a cron job, or drop `--cron` for an on-demand job with arguments"
            );
        }
    }

    let cron = match &request.cron {
        Some(expression) => {
            let expression = expression.trim();
            job_schedule::Cron::parse(expression)
                .map_err(|e| anyhow::anyhow!("invalid `--cron`: {e}"))?;
            Some(expression.to_owned())
        }
        None => None,
    };
    if let Some(zone) = &request.timezone {
        if cron.is_none() {
            bail!("`--timezone` only applies to cron jobs: add `--cron EXPR` or drop `--timezone`");
        }
        job_schedule::parse_zone(zone).map_err(|e| anyhow::anyhow!("invalid `--timezone`: {e}"))?;
    }
    if let Some(queue) = &request.queue
        && let Err(problem) = job_schedule::check_name(queue, job_schedule::NAME_MAX)
    {
        bail!("invalid queue `{queue}`: {problem}");
    }
    Ok(Job {
        name: name.to_owned(),
        type_name,
        cron,
        timezone: request.timezone.clone(),
        queue: request.queue.clone(),
        args: request.args.clone(),
    })
}

/// Strict and reserved keywords of every edition up to 2024: none can name a function.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names the generated module uses: an arguments type of one of these names would hide it.
const RESERVED_TYPES: &[&str] = &[
    "Self",
    // `job_core::prelude::*`, the test's imports and the derives.
    "EnqueueError",
    "Job",
    "JobClient",
    "JobContext",
    "JobError",
    "JobResult",
    "Outcome",
    "Clock",
    "TestContext",
    "Serialize",
    "Deserialize",
    // The standard prelude.
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "Vec",
    "Box",
    "Debug",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Default",
];

/// Lowercase words of letters and digits joined by single underscores, starting with a
/// letter; at most 100 characters, as `#[job]` allows for a job name.
fn check_snake_case(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > job_schedule::NAME_MAX {
        return Err(format!(
            "it is longer than {} characters",
            job_schedule::NAME_MAX
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(if c.is_ascii_uppercase() {
            format!(
                "it has the uppercase letter `{c}`; write it in lowercase, such as `{}`",
                snake_case(name)
            )
        } else {
            format!("`{c}` is not allowed; use lowercase letters, digits and `_`")
        });
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it must start with a lowercase letter".into());
    }
    if name.ends_with('_') || name.contains("__") {
        return Err("separate its words with single underscores, with none at the end".into());
    }
    Ok(())
}

/// An UpperCamelCase identifier: an uppercase letter, then letters and digits.
fn check_upper_camel_case(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err("it must start with an uppercase letter".into());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!("`{c}` is not allowed; use letters and digits"));
    }
    Ok(())
}

/// `PurgeStaleUploads` or `purge-stale-uploads` becomes `purge_stale_uploads`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '-' || c == ' ' {
            out.push('_');
        } else {
            out.push(c);
        }
    }
    out
}

/// The target crate's dependencies that the generated code needs.
fn check_dependencies(
    job: &Job,
    workspace: &Workspace,
    krate: &Crate,
    dependencies: &[Dependency],
) -> anyhow::Result<()> {
    let manifest = workspace.display(&krate.dir.join("Cargo.toml"));
    let declared = |package: &str, kinds: &[Kind]| -> Option<Vec<String>> {
        let found: Vec<&Dependency> = dependencies
            .iter()
            .filter(|d| d.package == package && kinds.contains(&d.kind))
            .collect();
        (!found.is_empty()).then(|| found.iter().flat_map(|d| d.features.clone()).collect())
    };
    // What to write in the manifest: `NAME.workspace = true` when the workspace declares
    // the dependency, with only the features its declaration lacks.
    let spec = |package: &str, features: &[&str]| {
        let inherited = workspace.inherited_features(package);
        let features = features
            .iter()
            .filter(|f| !inherited.iter().any(|i| i == *f))
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        match (workspace.declares(package), features.is_empty()) {
            (true, true) => format!("{package}.workspace = true"),
            (true, false) => format!("{package} = {{ workspace = true, features = [{features}] }}"),
            (false, true) => format!("{package} = \"1\""),
            (false, false) => format!("{package} = {{ version = \"1\", features = [{features}] }}"),
        }
    };

    if declared("job-core", &[Kind::Normal]).is_none() {
        let path = if workspace.declares("job-core") {
            spec("job-core", &[])
        } else {
            "job-core = { path = \"<path to job-core>\" }".to_owned()
        };
        bail!(
            "crate `{}` does not depend on `job-core`, which the job needs (`#[job]`, `JobContext`, the testing helper); add `{path}` under [dependencies] in `{manifest}`",
            krate.name
        );
    }
    if job.args.is_some() {
        match declared("serde", &[Kind::Normal]) {
            None => bail!(
                "crate `{}` does not depend on `serde`, which a job with arguments needs to store them; add `{}` under [dependencies] in `{manifest}`",
                krate.name,
                spec("serde", &["derive"])
            ),
            Some(features) if !features.iter().any(|f| f == "derive") => bail!(
                "crate `{}` uses `serde` without its `derive` feature, which the arguments type needs for `#[derive(Serialize, Deserialize)]`; add `features = [\"derive\"]` to `serde` under [dependencies] in `{manifest}`",
                krate.name
            ),
            Some(_) => {}
        }
    }
    let tokio = declared("tokio", &[Kind::Normal, Kind::Dev]);
    let has = |features: &[String], wanted: &[&str]| {
        features.iter().any(|f| wanted.contains(&f.as_str()))
    };
    match tokio {
        Some(features)
            if has(&features, &["macros"]) && has(&features, &["rt", "rt-multi-thread"]) => {}
        Some(_) => bail!(
            "crate `{}` uses `tokio` without the features `macros` and `rt`, which the generated test needs for `#[tokio::test]`; add `{}` under [dev-dependencies] in `{manifest}`",
            krate.name,
            spec("tokio", &["macros", "rt"])
        ),
        None => bail!(
            "crate `{}` does not depend on `tokio`, which the generated test needs for `#[tokio::test]`; add `{}` under [dev-dependencies] in `{manifest}`",
            krate.name,
            spec("tokio", &["macros", "rt"])
        ),
    }
    Ok(())
}

/// A module at the crate root named like a crate would make paths such as `tokio::...`
/// ambiguous.
fn check_module_name(job: &Job, krate: &Crate, dependencies: &[Dependency]) -> anyhow::Result<()> {
    let name = job.name.as_str();
    if ["std", "core", "alloc", "proc_macro", "test"].contains(&name) {
        bail!(
            "`{name}` is the name of a built-in crate; a module of that name would make `{name}::...` paths ambiguous; choose another name, such as `{name}_job`"
        );
    }
    if let Some(dependency) = dependencies
        .iter()
        .find(|d| d.key.replace('-', "_") == name)
    {
        bail!(
            "`{name}` is the name of the dependency `{}` of crate `{}`; a module of that name would make `{name}::...` paths ambiguous; choose another name, such as `{name}_job`",
            dependency.key,
            krate.name
        );
    }
    if krate.name.replace('-', "_") == name {
        bail!(
            "`{name}` is the name of crate `{}` itself; choose another name, such as `{name}_job`",
            krate.name
        );
    }
    Ok(())
}

/// Refuses a name that a file, a module or a job of the crate already uses.
fn check_not_taken(
    job: &Job,
    workspace: &Workspace,
    module_dir: &Path,
    lib: &Path,
    lib_text: &str,
) -> anyhow::Result<()> {
    let name = job.name.as_str();
    for path in [module_dir.join(format!("{name}.rs")), module_dir.join(name)] {
        if path.exists() {
            bail!(
                "`{}` already exists; choose another name, or edit the existing job",
                workspace.display(&path)
            );
        }
    }
    if let Some(line) = find_mod_line(lib_text, name) {
        bail!(
            "`{}` already declares module `{name}` (line {line}); choose another name",
            workspace.display(lib)
        );
    }
    let mut files = Vec::new();
    rust_files(module_dir, &mut files)?;
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        if let Some(line) = find_fn(&text, name) {
            bail!(
                "a function `{name}` already exists at {}:{line}; choose another name for the job",
                workspace.display(&file)
            );
        }
        if let Some(line) = find_job_name(&text, name) {
            bail!(
                "a job named `{name}` (`name = \"{name}\"`) already exists at {}:{line}; choose another name",
                workspace.display(&file)
            );
        }
    }
    Ok(())
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    Ok(())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The line of the first `fn NAME(` (or `fn NAME<`) in `text`.
fn find_fn(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find("fn") {
        let start = from + found;
        from = start + 2;
        if text[..start].chars().next_back().is_some_and(is_ident_char) {
            continue;
        }
        let rest = &text[start + 2..];
        let after_space = rest.trim_start();
        if after_space.len() == rest.len() {
            continue; // `fnord`, `fn(`
        }
        let after_raw = after_space.strip_prefix("r#").unwrap_or(after_space);
        let Some(after_name) = after_raw.strip_prefix(name) else {
            continue;
        };
        if after_name.trim_start().starts_with(['(', '<']) {
            return Some(line_of(text, start));
        }
    }
    None
}

/// The line of the first `#[job(...)]` attribute whose options include `name = "NAME"`.
fn find_job_name(text: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find("#[") {
        let start = from + found;
        from = start + 2;
        let rest = &text[start + 2..];
        let Some(open) = rest.find('(') else {
            continue;
        };
        let path: String = rest[..open]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if path != "job" && !path.ends_with("::job") {
            continue;
        }
        let mut depth = 0_usize;
        let mut end = None;
        let mut in_string = false;
        let mut escaped = false;
        for (i, c) in rest[open..].char_indices() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let options = &rest[open + 1..end?];
        for option in options.split(',') {
            if let Some((key, value)) = option.split_once('=')
                && key.trim() == "name"
                && value.trim() == format!("\"{name}\"")
            {
                return Some(line_of(text, start));
            }
        }
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// A top-level `mod` declaration: its name and whether it is a plain `mod NAME;` line.
fn mod_declaration(line: &str) -> Option<(&str, bool)> {
    if line.starts_with(char::is_whitespace) {
        return None; // not at the top level
    }
    let mut rest = line.trim_end();
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    let rest = rest.strip_prefix("mod")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("r#").unwrap_or(rest);
    let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    let (name, tail) = rest.split_at(end);
    if name.is_empty() {
        return None;
    }
    Some((name, tail.trim_start() == ";"))
}

/// The line of the `mod NAME` declaration in the crate root, if any.
fn find_mod_line(lib_text: &str, name: &str) -> Option<usize> {
    lib_text
        .lines()
        .position(|line| mod_declaration(line).is_some_and(|(n, _)| n == name))
        .map(|i| i + 1)
}

/// `lib_text` with `pub mod NAME;` added: in order among the `mod NAME;` lines if they are
/// sorted (as rustfmt sorts them), else after the last one; with no `mod` line, after the
/// crate's leading docs and attributes.
pub fn add_mod_line(lib_text: &str, name: &str) -> String {
    let newline = if lib_text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut lines: Vec<&str> = lib_text.lines().collect();
    let mod_line = format!("pub mod {name};");
    let mods: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| match mod_declaration(line) {
            Some((n, true)) => Some((i, n)),
            _ => None,
        })
        .collect();
    if mods.is_empty() {
        let header = lines
            .iter()
            .position(|line| {
                let line = line.trim_start();
                !(line.is_empty() || line.starts_with("//!") || line.starts_with("#!["))
            })
            .unwrap_or(lines.len());
        // Keep a blank line between the header and the module list, and after it.
        let mut insert = vec![mod_line.as_str()];
        if header < lines.len() {
            insert.push("");
        }
        if header > 0 && !lines[header - 1].trim().is_empty() {
            insert.insert(0, "");
        }
        lines.splice(header..header, insert);
        return join(&lines, newline, lib_text);
    }
    let after_last = mods.last().expect("not empty").0 + 1;
    let sorted = mods.windows(2).all(|w| w[0].1 <= w[1].1);
    let index = if sorted {
        mods.iter()
            .find(|(_, n)| *n > name)
            .map_or(after_last, |(i, _)| *i)
    } else {
        after_last
    };
    lines.insert(index, &mod_line);
    join(&lines, newline, lib_text)
}

fn join(lines: &[&str], newline: &str, original: &str) -> String {
    let mut text = lines.join(newline);
    if original.ends_with('\n') || original.is_empty() {
        text.push_str(newline);
    }
    text
}

/// `source` formatted by rustfmt, as `cargo fmt` would format it; `None` when rustfmt
/// cannot be run. A syntax error is a bug of this command, reported as such.
fn rustfmt(source: &str, edition: &str, dir: &Path) -> anyhow::Result<Option<String>> {
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let child = Command::new(&rustfmt)
        .args(["--edition", edition, "--emit", "stdout"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return Ok(None);
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = source.to_owned();
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().context("rustfmt did not finish")?;
    let _ = feeder.join();
    if !output.status.success() {
        bail!(
            "rustfmt refused the generated code (a bug of `cargo xtask new-job`; nothing was written):\n{}\n{source}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Some(
        String::from_utf8(output.stdout).context("rustfmt printed something that is not UTF-8")?,
    ))
}

/// The job module's source.
pub fn render(job: &Job) -> String {
    let name = &job.name;
    let type_name = &job.type_name;
    let mut options = Vec::new();
    if let Some(cron) = &job.cron {
        options.push(format!("cron = {cron:?}"));
    }
    if let Some(zone) = &job.timezone {
        options.push(format!("timezone = {zone:?}"));
    }
    if let Some(queue) = &job.queue {
        options.push(format!("queue = {queue:?}"));
    }
    let attribute = if options.is_empty() {
        "#[job]".to_owned()
    } else {
        format!("#[job({})]", options.join(", "))
    };
    let queue = job
        .queue
        .as_ref()
        .map(|q| format!(", on queue `{q}`"))
        .unwrap_or_default();
    let example_args = job.args.as_ref().map(|args| format!("{args} {{ id: 42 }}"));

    let mut out = String::new();
    let when = match &job.cron {
        Some(cron) => format!(
            "runs on the schedule `{cron}`, {}{queue}",
            match &job.timezone {
                Some(zone) => format!("in {zone} time"),
                None => "in UTC".to_owned(),
            }
        ),
        None => format!("runs on demand{queue}"),
    };
    let _ = writeln!(out, "//! The `{name}` job: it {when}.");
    out.push_str("//!\n");
    out.push_str(match job.cron {
        Some(_) => "//! Replace this paragraph with what the job keeps true, and why the application needs it.\n",
        None => "//! Replace this paragraph with what the job does, and when the application enqueues it.\n",
    });
    out.push('\n');
    out.push_str("use job_core::prelude::*;\n");
    if job.args.is_some() {
        out.push_str("use serde::{Deserialize, Serialize};\n");
    }
    out.push('\n');

    if let Some(args) = &job.args {
        let _ = write!(
            out,
            "\
/// The arguments of [`{name}`]: what one task needs to know.
///
/// Replace the example field with the job's real arguments. They are stored as JSON until a
/// worker runs the task, so keep them small: ids rather than whole records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct {args} {{
    /// An example field, the id of the record to work on: replace it.
    pub id: u64,
}}

"
        );
    }

    let _ = writeln!(out, "/// Describe here what one run does. It {when}.");
    match (&job.cron, &example_args) {
        (Some(_), _) => {}
        (None, Some(example)) => {
            let _ = writeln!(
                out,
                "///\n/// Enqueue it with `{type_name}::enqueue(jobs, {example}).await?`."
            );
        }
        (None, None) => {
            let _ = writeln!(
                out,
                "///\n/// Enqueue it with `{type_name}::enqueue(jobs).await?`."
            );
        }
    }
    out.push_str("///\n/// It reports how many records it processed; the execution history keeps the count.\n");
    let _ = writeln!(out, "{attribute}");
    match &job.args {
        Some(args) => {
            let _ = writeln!(
                out,
                "pub async fn {name}(args: {args}, ctx: JobContext) -> JobResult {{"
            );
        }
        None => {
            let _ = writeln!(out, "pub async fn {name}(ctx: JobContext) -> JobResult {{");
        }
    }
    out.push_str(
        "    // Do the work here. Read the time with `ctx.now()`, the runner's clock (a test can
    // set it), and shared state, registered on the runner with `.data(value)`, with
    // `ctx.data::<T>()?`. Return how many records the run processed.
",
    );
    if job.args.is_some() {
        out.push_str("    let _id = args.id;\n");
    }
    out.push_str(
        "    let _now = ctx.now();
    Ok(Outcome::processed(0_u32))
}
",
    );

    let run_args = example_args.unwrap_or_else(|| "()".to_owned());
    let _ = write!(
        out,
        "
#[cfg(test)]
mod tests {{
    use job_core::Clock;
    use job_core::testing::TestContext;

    use super::*;

    #[tokio::test]
    async fn runs_and_reports_how_many_records_it_processed() {{
        // Give the job its shared state with `.data(value)`, as the runner would.
        let now = \"2026-01-01T00:00:00Z\".parse().expect(\"a valid instant\");
        let outcome = TestContext::new()
            .clock(Clock::virtual_at(now))
            .run({type_name}, {run_args})
            .await
            .expect(\"the job succeeds\");
        assert_eq!(outcome.records_processed(), Some(0));
    }}
}}
"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: &str) -> Request {
        Request {
            name: name.to_owned(),
            krate: PathBuf::from("examples"),
            ..Request::default()
        }
    }

    fn refused(request: &Request) -> String {
        format!("{:#}", check_request(request).unwrap_err())
    }

    #[test]
    fn names() {
        assert!(check_request(&request("purge_stale_uploads")).is_ok());
        assert!(check_request(&request("sync2fa_keys")).is_ok());
        for (name, message) in [
            ("", "it is empty"),
            (
                "PurgeUploads",
                "write it in lowercase, such as `purge_uploads`",
            ),
            ("purge-uploads", "`-` is not allowed"),
            ("2fa", "must start with a lowercase letter"),
            ("_private", "must start with a lowercase letter"),
            ("a__b", "single underscores"),
            ("trailing_", "single underscores"),
            ("r#type", "`#` is not allowed"),
            ("type", "it is a Rust keyword"),
            ("async", "it is a Rust keyword"),
            ("gen", "it is a Rust keyword"),
        ] {
            let error = refused(&request(name));
            assert!(error.contains(message), "{name}: {error}");
        }
        assert!(refused(&request(&"a".repeat(101))).contains("longer than 100"));
    }

    #[test]
    fn arguments() {
        let with = |args: &str| Request {
            args: Some(args.to_owned()),
            ..request("send_welcome_email")
        };
        assert!(check_request(&with("WelcomeEmail")).is_ok());
        assert!(refused(&with("SendWelcomeEmail")).contains("name `#[job]` gives the job type"));
        assert!(refused(&with("welcome_email")).contains("start with an uppercase letter"));
        assert!(refused(&with("Welcome_Email")).contains("`_` is not allowed"));
        assert!(refused(&with("Outcome")).contains("would hide `Outcome`"));
        assert!(refused(&with("Self")).contains("would hide `Self`"));
        let cron = Request {
            cron: Some("@daily".to_owned()),
            ..with("WelcomeEmail")
        };
        assert!(refused(&cron).contains("a cron job takes no arguments"));
    }

    #[test]
    fn schedules_are_checked_by_job_schedule() {
        let with = |cron: &str, zone: Option<&str>| Request {
            cron: Some(cron.to_owned()),
            timezone: zone.map(str::to_owned),
            ..request("nightly")
        };
        let job = check_request(&with(" 30 2 * * * ", Some("America/New_York"))).unwrap();
        assert_eq!(job.cron.as_deref(), Some("30 2 * * *"));
        assert_eq!(
            refused(&with("61 * * * *", None)),
            format!(
                "invalid `--cron`: {}",
                job_schedule::Cron::parse("61 * * * *").unwrap_err()
            )
        );
        assert!(refused(&with("0 0 30 2 *", None)).contains("never fires"));
        assert!(
            refused(&with("@daily", Some("Europe/Pariss")))
                .contains("did you mean `Europe/Paris`?")
        );
        let zone_only = Request {
            timezone: Some("UTC".to_owned()),
            ..request("nightly")
        };
        assert!(refused(&zone_only).contains("`--timezone` only applies to cron jobs"));
        let queue = Request {
            queue: Some("bad queue".to_owned()),
            ..request("nightly")
        };
        assert!(refused(&queue).contains("invalid queue `bad queue`: ` ` is not allowed"));
    }

    #[test]
    fn finds_functions_and_job_names() {
        let text = "use x;\n\n#[job(cron = \"0 0 * * *\", name = \"nightly\")]\npub async fn run_nightly(ctx: JobContext) -> JobResult {}\nfn helper<T>() {}\n";
        assert_eq!(find_fn(text, "run_nightly"), Some(4));
        assert_eq!(find_fn(text, "helper"), Some(5));
        assert_eq!(find_fn(text, "run"), None);
        assert_eq!(find_fn(text, "nightly"), None);
        assert_eq!(find_job_name(text, "nightly"), Some(3));
        assert_eq!(find_job_name(text, "run_nightly"), None);
        assert_eq!(
            find_job_name("#[job_core::job(\n  name = \"x\",\n)]", "x"),
            Some(1)
        );
        assert_eq!(find_job_name("let name = \"x\";", "x"), None);
        assert_eq!(find_fn("fnord x(", "x"), None);
    }

    #[test]
    fn mod_lines_stay_sorted() {
        let lib = "//! Docs.\n\n#![warn(missing_docs)]\n\nuse std::path::PathBuf;\n\npub mod auth;\npub mod cleanup;\npub mod keys;\npub mod transfer;\n\npub use crate::auth::AuthDb;\n";
        assert_eq!(
            add_mod_line(lib, "purge"),
            lib.replace("pub mod transfer;", "pub mod purge;\npub mod transfer;")
        );
        assert_eq!(
            add_mod_line(lib, "zap"),
            lib.replace("pub mod transfer;", "pub mod transfer;\npub mod zap;")
        );
        assert_eq!(
            add_mod_line(lib, "a"),
            lib.replace("pub mod auth;", "pub mod a;\npub mod auth;")
        );
        // rustfmt's order: byte order, `_` before letters.
        assert_eq!(
            add_mod_line("pub mod foo;\npub mod foobar;\n", "foo_bar"),
            "pub mod foo;\npub mod foo_bar;\npub mod foobar;\n"
        );
        // Unsorted: after the last one.
        assert_eq!(
            add_mod_line("mod b;\nmod a;\n\nfn f() {}\n", "c"),
            "mod b;\nmod a;\npub mod c;\n\nfn f() {}\n"
        );
        // None yet: after the header.
        assert_eq!(
            add_mod_line("//! Docs.\n\nuse x;\n", "job"),
            "//! Docs.\n\npub mod job;\n\nuse x;\n"
        );
        assert_eq!(add_mod_line("", "job"), "pub mod job;\n");
        assert_eq!(
            add_mod_line("pub mod a;\r\npub mod c;\r\n", "b"),
            "pub mod a;\r\npub mod b;\r\npub mod c;\r\n"
        );
    }

    #[test]
    fn finds_mod_declarations() {
        let lib = "pub mod a;\nmod b {\n    mod c;\n}\npub(crate) mod d;\nmod r#e;\n";
        assert_eq!(find_mod_line(lib, "a"), Some(1));
        assert_eq!(find_mod_line(lib, "b"), Some(2));
        assert_eq!(find_mod_line(lib, "c"), None);
        assert_eq!(find_mod_line(lib, "d"), Some(5));
        assert_eq!(find_mod_line(lib, "e"), Some(6));
        assert_eq!(find_mod_line("pub mod ab;", "a"), None);
    }

    /// The templates are already in rustfmt's style for names of usual length, so a
    /// machine without rustfmt still gets formatted code.
    #[test]
    fn templates_are_formatted() {
        let jobs = [
            check_request(&Request {
                cron: Some("0 3 * * *".into()),
                timezone: Some("Europe/Paris".into()),
                queue: Some("maintenance".into()),
                ..request("purge_stale_uploads")
            })
            .unwrap(),
            check_request(&Request {
                args: Some("WelcomeEmail".into()),
                queue: Some("emails".into()),
                ..request("send_welcome_email")
            })
            .unwrap(),
            check_request(&request("rebuild_search_index")).unwrap(),
        ];
        let dir = std::env::temp_dir();
        for job in jobs {
            let source = render(&job);
            let Some(formatted) = rustfmt(&source, "2024", &dir).unwrap() else {
                eprintln!("rustfmt is not installed: skipped");
                return;
            };
            assert_eq!(source, formatted, "{}", job.name);
        }
    }
}

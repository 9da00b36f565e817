//! The workspace and its crates, as read from their manifests.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, bail};

use toml::{Table, Value};

/// The workspace that contains a directory.
#[derive(Debug)]
pub struct Workspace {
    /// The directory of the root `Cargo.toml`.
    pub root: PathBuf,
    /// The root manifest.
    pub manifest: Table,
}

impl Workspace {
    /// The workspace containing `dir`: the nearest `Cargo.toml` at or above `dir` that has a
    /// `[workspace]` table.
    pub fn find(dir: &Path) -> anyhow::Result<Workspace> {
        for candidate in dir.ancestors() {
            let path = candidate.join("Cargo.toml");
            if !path.is_file() {
                continue;
            }
            let manifest = read_manifest(&path)?;
            if manifest.contains_key("workspace") {
                return Ok(Workspace {
                    root: candidate.to_owned(),
                    manifest,
                });
            }
        }
        bail!(
            "no Cargo workspace contains `{}` (no Cargo.toml with a [workspace] table in it or above it); run `cargo xtask` inside the workspace",
            dir.display()
        )
    }

    /// `path` relative to the workspace root, for messages.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The member patterns of `[workspace] members`.
    pub fn members(&self) -> Vec<&str> {
        strings(at(&self.manifest, &["workspace", "members"]))
    }

    /// Whether the crate in `dir` (relative to the root) is a member of the workspace.
    pub fn is_member(&self, relative: &Path) -> bool {
        let path = slash_path(relative);
        if path.is_empty() {
            return self.manifest.contains_key("package");
        }
        let excluded = strings(at(&self.manifest, &["workspace", "exclude"]));
        if excluded.iter().any(|pattern| glob_match(pattern, &path)) {
            return false;
        }
        self.members()
            .iter()
            .any(|pattern| glob_match(pattern, &path))
    }

    /// The features of `[workspace.dependencies] NAME`, for a member that inherits it.
    pub fn inherited_features(&self, name: &str) -> Vec<String> {
        match at(&self.manifest, &["workspace", "dependencies", name]) {
            Some(Value::Table(table)) => strings(table.get("features"))
                .into_iter()
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `[workspace.dependencies]` declares `name`.
    pub fn declares(&self, name: &str) -> bool {
        at(&self.manifest, &["workspace", "dependencies", name]).is_some()
    }
}

/// A crate of the workspace.
#[derive(Debug)]
pub struct Crate {
    /// The crate's directory.
    pub dir: PathBuf,
    /// The package name (what `cargo test -p` takes).
    pub name: String,
    /// Its manifest.
    pub manifest: Table,
    /// Its edition, for rustfmt.
    pub edition: String,
}

/// Which section of a manifest a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Dev,
    Build,
}

impl Kind {
    pub fn section(self) -> &'static str {
        match self {
            Kind::Normal => "dependencies",
            Kind::Dev => "dev-dependencies",
            Kind::Build => "build-dependencies",
        }
    }
}

/// One declaration of a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name the crate uses for it (the key), with `-` as written.
    pub key: String,
    /// The package it names.
    pub package: String,
    pub kind: Kind,
    /// Its features, including those inherited from `[workspace.dependencies]`.
    pub features: Vec<String>,
}

impl Crate {
    /// The crate at `relative` (a path from the workspace root, or absolute).
    pub fn open(workspace: &Workspace, relative: &Path) -> anyhow::Result<Crate> {
        let dir = workspace.root.join(relative);
        let manifest_path = dir.join("Cargo.toml");
        let members = workspace.members().join(", ");
        if !manifest_path.is_file() {
            bail!(
                "there is no crate at `{}` (no `{}`); pass `--crate` the path of a crate of the workspace, relative to its root `{}` (members: {members})",
                relative.display(),
                workspace.display(&manifest_path),
                workspace.root.display(),
            );
        }
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve `{}`", dir.display()))?;
        let manifest = read_manifest(&dir.join("Cargo.toml"))?;
        let Some(name) = string(&manifest, &["package", "name"]).map(str::to_owned) else {
            bail!(
                "`{}` is not a crate (its Cargo.toml has no [package] name); pass `--crate` the path of a crate of the workspace (members: {members})",
                relative.display()
            );
        };
        let root = workspace
            .root
            .canonicalize()
            .with_context(|| format!("cannot resolve `{}`", workspace.root.display()))?;
        let inside = dir.strip_prefix(&root).ok();
        if !inside.is_some_and(|inside| workspace.is_member(inside)) {
            bail!(
                "crate `{name}` (`{}`) is not a member of the workspace at `{}`; add its path to `members` in the workspace's Cargo.toml, or pass `--crate` a member (members: {members})",
                dir.display(),
                root.display()
            );
        }
        let edition = match at(&manifest, &["package", "edition"]) {
            Some(Value::String(edition)) => edition.clone(),
            Some(Value::Table(table)) if is_true(table.get("workspace")) => {
                string(&workspace.manifest, &["workspace", "package", "edition"])
                    .unwrap_or("2015")
                    .to_owned()
            }
            _ => "2015".to_owned(),
        };
        Ok(Crate {
            dir,
            name,
            manifest,
            edition,
        })
    }

    /// The library's root file: `[lib] path`, else `src/lib.rs`, when it exists.
    pub fn lib_path(&self) -> Option<PathBuf> {
        let path = match string(&self.manifest, &["lib", "path"]) {
            Some(path) => self.dir.join(path),
            None => self.dir.join("src").join("lib.rs"),
        };
        path.is_file().then_some(path)
    }

    /// Every dependency the crate declares, in every section, including target-specific ones.
    pub fn dependencies(&self, workspace: &Workspace) -> Vec<Dependency> {
        let mut sections: Vec<&Table> = vec![&self.manifest];
        if let Some(targets) = self.manifest.get("target").and_then(Value::as_table) {
            sections.extend(targets.values().filter_map(Value::as_table));
        }
        let mut found = Vec::new();
        for section in sections {
            for kind in [Kind::Normal, Kind::Dev, Kind::Build] {
                let Some(table) = section.get(kind.section()).and_then(Value::as_table) else {
                    continue;
                };
                for (key, value) in table {
                    let (package, mut features) = match value {
                        Value::Table(spec) => (
                            string(spec, &["package"]).unwrap_or(key).to_owned(),
                            strings(spec.get("features"))
                                .into_iter()
                                .map(str::to_owned)
                                .collect::<Vec<_>>(),
                        ),
                        _ => (key.to_owned(), Vec::new()),
                    };
                    let inherits = is_true(value.as_table().and_then(|spec| spec.get("workspace")));
                    if inherits {
                        features.extend(workspace.inherited_features(key));
                    }
                    found.push(Dependency {
                        key: key.to_owned(),
                        package,
                        kind,
                        features,
                    });
                }
            }
        }
        found
    }
}

fn read_manifest(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    text.parse()
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))
}

/// The value at a path of keys, such as `["workspace", "members"]`.
fn at<'a>(table: &'a Table, keys: &[&str]) -> Option<&'a Value> {
    let (last, parents) = keys.split_last()?;
    let mut table = table;
    for key in parents {
        table = table.get(*key)?.as_table()?;
    }
    table.get(*last)
}

/// The string at a path of keys.
fn string<'a>(table: &'a Table, keys: &[&str]) -> Option<&'a str> {
    at(table, keys).and_then(Value::as_str)
}

/// Whether a value is `true`, as in `edition.workspace = true`.
fn is_true(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool) == Some(true)
}

/// The strings of an array value (other items are skipped).
fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// `a/b` for a relative path, whatever the platform.
fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Cargo's member patterns: `*` and `?` within one path component.
fn glob_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern
        .trim_start_matches("./")
        .trim_end_matches('/')
        .split('/')
        .collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| component_match(p.as_bytes(), s.as_bytes()))
}

fn component_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            component_match(&pattern[1..], text)
                || (!text.is_empty() && component_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => component_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => component_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_patterns() {
        assert!(glob_match("examples", "examples"));
        assert!(glob_match("./examples/", "examples"));
        assert!(glob_match("crates/*", "crates/jobs"));
        assert!(glob_match("crates/job-?", "crates/job-a"));
        assert!(!glob_match("crates/*", "crates/a/b"));
        assert!(!glob_match("examples", "examples2"));
    }

    #[test]
    fn finds_this_workspace_from_a_subdirectory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let workspace = Workspace::find(&here).unwrap();
        assert_eq!(
            workspace.root,
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
        );
        assert!(workspace.is_member(Path::new("examples")));
        assert!(!workspace.is_member(Path::new("target")));

        let examples = Crate::open(&workspace, Path::new("examples")).unwrap();
        assert_eq!(examples.name, "examples");
        assert_eq!(examples.edition, "2024");
        let tokio: Vec<_> = examples
            .dependencies(&workspace)
            .into_iter()
            .filter(|d| d.package == "tokio")
            .collect();
        assert_eq!(tokio.len(), 2);
        assert!(
            tokio
                .iter()
                .any(|d| d.kind == Kind::Dev && d.features.contains(&"macros".to_owned()))
        );
        let serde = examples
            .dependencies(&workspace)
            .into_iter()
            .find(|d| d.package == "serde")
            .unwrap();
        assert_eq!(serde.features, ["derive"]);
    }
}

//! Every job linked into the program, found through `inventory`.

use std::collections::BTreeMap;
use std::fmt;

use crate::JobDescriptor;

#[doc(hidden)]
pub struct Registration(pub &'static JobDescriptor);

inventory::collect!(Registration);

/// The jobs linked into this program, by name.
///
/// ```
/// use job_core::prelude::*;
///
/// /// Says hello.
/// #[job]
/// async fn hello() -> JobResult { Ok(Outcome::none()) }
///
/// let registry = job_core::Registry::from_linked()?;
/// assert!(registry.get("hello").is_some());
/// # Ok::<(), job_core::DuplicateJobs>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    jobs: BTreeMap<&'static str, &'static JobDescriptor>,
}

impl Registry {
    /// Collects every job registered with `#[job]` in the crates linked into this program.
    /// Two jobs with one name are refused, with both locations.
    pub fn from_linked() -> Result<Registry, DuplicateJobs> {
        Registry::from_descriptors(inventory::iter::<Registration>.into_iter().map(|r| r.0))
    }

    /// A registry of the given jobs (for tests and embedding).
    pub fn from_descriptors(
        descriptors: impl IntoIterator<Item = &'static JobDescriptor>,
    ) -> Result<Registry, DuplicateJobs> {
        let mut jobs: BTreeMap<&'static str, &'static JobDescriptor> = BTreeMap::new();
        let mut clashes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for descriptor in descriptors {
            if let Some(first) = jobs.get(descriptor.name()) {
                clashes
                    .entry(descriptor.name())
                    .or_insert_with(|| vec![first.location().to_string()])
                    .push(descriptor.location().to_string());
            } else {
                jobs.insert(descriptor.name(), descriptor);
            }
        }
        if clashes.is_empty() {
            Ok(Registry { jobs })
        } else {
            Err(DuplicateJobs {
                clashes: clashes
                    .into_iter()
                    .map(|(n, l)| (n.to_owned(), l))
                    .collect(),
            })
        }
    }

    /// The job named `name`.
    pub fn get(&self, name: &str) -> Option<&'static JobDescriptor> {
        self.jobs.get(name).copied()
    }

    /// The jobs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static JobDescriptor> + '_ {
        self.jobs.values().copied()
    }

    /// How many jobs there are.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Keeps only the jobs for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&JobDescriptor) -> bool) {
        self.jobs.retain(|_, d| keep(d));
    }
}

/// Two or more jobs share a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DuplicateJobs {
    /// Each shared name with the locations of the jobs that use it.
    pub clashes: Vec<(String, Vec<String>)>,
}

impl fmt::Display for DuplicateJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, locations)) in self.clashes.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} jobs are named `{name}` ({}); give all but one another name with #[job(name = \"...\")]",
                locations.len(),
                locations.join(" and ")
            )?;
        }
        Ok(())
    }
}

//! Shared state for jobs: a pool, a client, a configuration, registered once and read by type.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Values registered for jobs to read, one per type.
///
/// The runner builder and the testing helper both fill one; a job reads it with
/// [`JobContext::data`](crate::JobContext::data).
///
/// ```
/// use job_core::State;
///
/// struct Mailer { from: &'static str }
///
/// let mut state = State::new();
/// state.insert(Mailer { from: "ops@example.com" });
/// assert_eq!(state.get::<Mailer>().map(|m| m.from), Some("ops@example.com"));
/// assert!(state.get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct State {
    values: HashMap<TypeId, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl State {
    /// An empty set.
    pub fn new() -> State {
        State::default()
    }

    /// Registers `value`, replacing any earlier value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(
            TypeId::of::<T>(),
            Entry {
                value: Arc::new(value),
                type_name: type_name::<T>(),
            },
        );
    }

    /// The value of type `T`, if one is registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|entry| entry.value.downcast_ref::<T>())
    }

    /// The names of the registered types, sorted.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.values.values().map(|e| e.type_name).collect();
        names.sort_unstable();
        names
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.type_names()).finish()
    }
}

/// A job asked for shared state of a type that was never registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "job `{job}` needs shared state of type `{type_name}`, but none is registered; register it with `.data(value)` on the runner builder (or on `TestContext` in a test)"
)]
pub struct MissingData {
    /// The job that asked.
    pub job: String,
    /// The type it asked for.
    pub type_name: &'static str,
}

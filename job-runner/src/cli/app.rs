//! What an application registers before its jobs run (`run` and `exec`).

use job_core::{BoxFuture, Clock, EventSource, State};

use super::error::CliError;

/// What an application registers before its jobs run: the shared state they read with
/// `ctx.data()` (pools, clients, settings), and event sources of its own.
#[derive(Default)]
pub struct AppSetup {
    pub(super) state: State,
    pub(super) sources: Vec<Box<dyn EventSource>>,
    pub(super) clock: Option<Clock>,
}

impl AppSetup {
    /// Registers a value that jobs read with `ctx.data::<T>()`.
    pub fn data<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.state.insert(value);
        self
    }

    /// The shared state, to fill in place.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Adds an event source; one of the same name in `jobs.toml` replaces it.
    pub fn source(&mut self, source: impl EventSource) -> &mut Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Runs on `clock` instead of the system clock: a system clock only (a runner refuses a
    /// virtual one), such as [`Clock::skewed`] to test hosts whose clocks disagree.
    pub fn clock(&mut self, clock: Clock) -> &mut Self {
        self.clock = Some(clock);
        self
    }

    /// The application's registrations, as `setup` makes them.
    pub(super) async fn filled(setup: Setup) -> Result<AppSetup, CliError> {
        let mut app = AppSetup::default();
        setup(&mut app).await?;
        Ok(app)
    }
}

/// Fills an [`AppSetup`]; run before `run` and `exec`.
pub type Setup = for<'a> fn(
    &'a mut AppSetup,
) -> BoxFuture<'a, Result<(), Box<dyn std::error::Error + Send + Sync>>>;

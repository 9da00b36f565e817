//! The dashboard's sessions, kept in the admin server's memory.
//!
//! Logging in with the admin token opens a session: a random id (32 bytes from the
//! operating system, hex-encoded) that the browser keeps in an `HttpOnly` cookie, so that
//! the page's scripts never hold the token or the id. A session ends at the first of:
//! logging out, [`LIFETIME`] after the login, or the runner stopping (nothing is stored).
//!
//! The lifetime is fixed, not sliding: a dashboard left open refreshes every two seconds
//! and would keep a sliding session alive forever, so a stolen cookie would never expire.
//! With a fixed lifetime it works for at most 12 hours, and an operator logs in at most
//! twice a day.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::secret::{self, RandomError};

/// How long a session lasts after its login.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Most open sessions; a login beyond them ends the session closest to its end. Only the
/// holder of the token can open sessions; the bound keeps a script that logs in in a loop
/// from filling the memory.
const MOST: usize = 1024;

/// The open sessions, by the SHA-256 of their ids: a lookup's timing then depends on the
/// hash, which a guesser does not control, rather than on the id.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    open: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session at `now`; returns its id.
    pub(crate) fn open(&self, now: Instant) -> Result<String, RandomError> {
        let id = secret::random_hex()?;
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, ends| *ends > now);
        if open.len() >= MOST
            && let Some(soonest) = open.iter().min_by_key(|(_, ends)| **ends).map(|(k, _)| *k)
        {
            open.remove(&soonest);
        }
        open.insert(key(&id), now + LIFETIME);
        Ok(id)
    }

    /// Whether `id` is a session that is open at `now`.
    pub(crate) fn admits(&self, id: &str, now: Instant) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&key(id)).is_some_and(|ends| *ends > now)
    }

    /// Ends the session `id`, if it is open.
    pub(crate) fn close(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(&key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_until_logout_or_twelve_hours() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let id = sessions.open(start).unwrap();
        assert_eq!(id.len(), 64);
        assert!(sessions.admits(&id, start));
        assert!(sessions.admits(&id, start + LIFETIME - Duration::from_secs(1)));
        assert!(!sessions.admits(&id, start + LIFETIME));
        assert!(!sessions.admits(&id[1..], start));
        assert!(!sessions.admits("", start));

        let other = sessions.open(start).unwrap();
        assert_ne!(other, id);
        sessions.close(&other);
        assert!(!sessions.admits(&other, start));
        assert!(
            sessions.admits(&id, start),
            "logging out ended another session"
        );
    }

    #[test]
    fn beyond_the_most_sessions_the_oldest_ends() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let first = sessions.open(start).unwrap();
        let later = start + Duration::from_secs(1);
        let second = sessions.open(later).unwrap();
        for _ in 2..MOST {
            sessions.open(later).unwrap();
        }
        assert!(sessions.admits(&first, later));
        sessions.open(later).unwrap();
        assert!(!sessions.admits(&first, later));
        assert!(sessions.admits(&second, later));
    }
}

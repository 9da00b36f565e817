//! Secrets: one comparison, one source of random values and one minimum length for the
//! admin token, the dashboard's session ids and the webhook sources' secrets.
//!
//! A leaf module: the admin server and the event sources both use it, and it uses neither.

/// The fewest characters a configured secret (the admin token, a webhook source's secret)
/// may have. 16 random characters from a 64-symbol alphabet hold 96 bits, beyond reach of
/// guessing over HTTP; a shorter secret is more likely a placeholder than a choice.
pub const MIN_LEN: usize = 16;

/// Whether `secret` is long enough to be configured (see [`MIN_LEN`]).
pub fn long_enough(secret: &str) -> bool {
    secret.chars().count() >= MIN_LEN
}

/// Whether `candidate` is `secret`, in time that does not depend on where they differ (only
/// on their lengths). A crate for this loop would weigh more than the loop.
pub fn matches(secret: &[u8], candidate: &[u8]) -> bool {
    if secret.len() != candidate.len() {
        return false;
    }
    secret
        .iter()
        .zip(candidate)
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

/// The operating system gave no random bytes.
#[derive(Debug, thiserror::Error)]
#[error(
    "the operating system gave no random bytes ({0}); a secret cannot be generated without them: check that the system's random source (getrandom(2) or /dev/urandom) is available"
)]
pub struct RandomError(getrandom::Error);

/// 32 random bytes from the operating system, hex-encoded (64 characters).
pub fn random_hex() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(RandomError)?;
    Ok(hex(&bytes))
}

/// `bytes` in lower-case hexadecimal, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_exactly() {
        let secret = b"correct horse battery staple";
        assert!(matches(secret, b"correct horse battery staple"));
        assert!(!matches(secret, b"correct horse battery stapla"));
        assert!(!matches(secret, b"correct"));
        assert!(!matches(secret, b""));
    }

    #[test]
    fn random_values_are_64_hex_digits_and_differ() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex().unwrap());
    }

    #[test]
    fn the_minimum_counts_characters() {
        assert!(!long_enough("fifteen-chars-x"));
        assert!(long_enough("sixteen-chars-xx"));
        assert!(!long_enough("ééééééééééééééé"));
    }
}

//! Time zones by IANA name.

use chrono_tz::{TZ_VARIANTS, Tz};

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone `{name}`; {hint}")]
pub struct ZoneError {
    name: String,
    hint: String,
}

impl ZoneError {
    /// The name that was refused.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Looks up an IANA time zone name such as `"UTC"`, `"Europe/Paris"` or `"America/New_York"`.
///
/// A near miss gets a suggestion in the error:
///
/// ```
/// let error = job_schedule::parse_zone("Europe/Pariss").unwrap_err();
/// assert_eq!(error.to_string(), "unknown time zone `Europe/Pariss`; did you mean `Europe/Paris`?");
/// assert_eq!(job_schedule::parse_zone("America/New_York")?.name(), "America/New_York");
/// # Ok::<(), job_schedule::ZoneError>(())
/// ```
pub fn parse_zone(name: &str) -> Result<Tz, ZoneError> {
    if let Ok(zone) = name.parse::<Tz>() {
        return Ok(zone);
    }
    let hint = match suggest(name) {
        Some(close) => format!("did you mean `{close}`?"),
        None => "use an IANA name such as \"UTC\", \"Europe/Paris\" or \"America/New_York\"".into(),
    };
    Err(ZoneError {
        name: name.to_owned(),
        hint,
    })
}

/// The known zone closest to `name`: the same name in other letter case, or one within
/// a couple of typing mistakes.
fn suggest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for zone in TZ_VARIANTS {
        let candidate = zone.name();
        let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    let limit = (name.len() / 4).clamp(1, 3);
    best.filter(|&(d, _)| d <= limit).map(|(_, zone)| zone)
}

/// Levenshtein distance over bytes; zone names are ASCII.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.as_bytes().iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_and_suggestions() {
        assert_eq!(parse_zone("UTC").unwrap(), Tz::UTC);
        assert_eq!(parse_zone("Asia/Tokyo").unwrap(), Tz::Asia__Tokyo);
        let error = parse_zone("america/new_york").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("did you mean `America/New_York`?"),
            "{error}"
        );
        let error = parse_zone("Mars/Olympus_Mons").unwrap_err();
        assert!(error.to_string().contains("IANA name"), "{error}");
        assert_eq!(error.name(), "Mars/Olympus_Mons");
    }
}

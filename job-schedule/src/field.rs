//! One field of a cron expression: its name, its range, and the set of values it selects.

use std::fmt;

/// A field of a cron expression, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The optional leading field of a 6-field expression, 0-59.
    Second,
    /// 0-59.
    Minute,
    /// 0-23.
    Hour,
    /// 1-31.
    DayOfMonth,
    /// 1-12 or `JAN`-`DEC`.
    Month,
    /// 0-7 (0 and 7 are Sunday) or `SUN`-`SAT`.
    DayOfWeek,
}

impl Field {
    /// The smallest and largest value the field accepts as written.
    pub const fn bounds(self) -> (u8, u8) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// The field's name as it appears in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// What the field accepts, for error messages.
    fn accepted(self) -> &'static str {
        match self {
            Field::Second | Field::Minute => "a number 0-59",
            Field::Hour => "a number 0-23",
            Field::DayOfMonth => "a number 1-31",
            Field::Month => "a number 1-12 or a name JAN-DEC",
            Field::DayOfWeek => "a number 0-7 (0 and 7 are Sunday) or a name SUN-SAT",
        }
    }

    fn names(self) -> &'static [&'static str] {
        const MONTHS: &[&str] = &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        match self {
            Field::Month => MONTHS,
            Field::DayOfWeek => DAYS,
            _ => &[],
        }
    }

    /// The value a name stands for (`JAN` is 1, `SUN` is 0), case-insensitively.
    fn value_of_name(self, name: &str) -> Option<u8> {
        let first = match self {
            Field::Month => 1,
            _ => 0,
        };
        self.names()
            .iter()
            .position(|candidate| candidate.eq_ignore_ascii_case(name))
            .map(|index| first + index as u8)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The values one field selects, as a bit set (bit `n` set when value `n` is selected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Values(u64);

impl Values {
    pub(crate) const fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    /// The smallest selected value that is `>= from`.
    pub(crate) fn first_at_or_after(self, from: u32) -> Option<u32> {
        if from >= 64 {
            return None;
        }
        let rest = self.0 >> from;
        (rest != 0).then(|| from + rest.trailing_zeros())
    }

    pub(crate) fn min(self) -> Option<u32> {
        self.first_at_or_after(0)
    }

    pub(crate) const fn single(value: u32) -> Self {
        Values(1 << value)
    }
}

/// Why one field of an expression was refused.
pub(crate) struct FieldError {
    pub(crate) field: Field,
    pub(crate) value: String,
    pub(crate) reason: String,
}

/// A parsed field: the values it selects and whether it was written starting with `*`.
pub(crate) struct Parsed {
    pub(crate) values: Values,
    pub(crate) starts_with_star: bool,
}

/// Parses one field (`*`, `5`, `1-5`, `*/15`, `10-40/10`, `5/15`, `MON-FRI`, lists of these).
pub(crate) fn parse(field: Field, text: &str) -> Result<Parsed, FieldError> {
    let fail = |reason: String| FieldError {
        field,
        value: text.to_owned(),
        reason,
    };
    if text.is_empty() {
        return Err(fail(format!(
            "the field is empty; expected {}",
            field.accepted()
        )));
    }
    let (low, high) = field.bounds();
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(fail(
                "a list has an empty item; write values separated by single commas, such as `1,15`"
                    .to_owned(),
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    fail(format!(
                        "step `{step}` is not a number; write a step as `*/15` or `0-30/5`"
                    ))
                })?;
                if step == 0 {
                    return Err(fail(
                        "a step of 0 never advances; use a step of at least 1".into(),
                    ));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (start, end) = if range == "*" {
            (u32::from(low), u32::from(high))
        } else if let Some((from, to_text)) = range.split_once('-') {
            let from = value(field, from).map_err(&fail)?;
            let mut to = value(field, to_text).map_err(&fail)?;
            // `FRI-SUN` ends the week: SUN closing a range is day 7, not day 0.
            if field == Field::DayOfWeek && to == 0 && from > 0 && !to_text.starts_with('0') {
                to = 7;
            }
            if from > to {
                return Err(fail(format!(
                    "range {from}-{to} goes backwards; write the smaller value first"
                )));
            }
            (from, to)
        } else {
            let single = value(field, range).map_err(&fail)?;
            // `5/15` means "from 5 to the end, every 15", as in cronie and most crons.
            let end = if step.is_some() {
                u32::from(high)
            } else {
                single
            };
            (single, end)
        };
        // `step_by` rather than `n += step`, which overflows for a step near `u32::MAX`.
        for n in (start..=end).step_by(step.unwrap_or(1) as usize) {
            bits |= 1 << n;
        }
    }
    if field == Field::DayOfWeek && bits & (1 << 7) != 0 {
        // 7 is another name for Sunday.
        bits = (bits & !(1 << 7)) | 1;
    }
    Ok(Parsed {
        values: Values(bits),
        starts_with_star: text.starts_with('*'),
    })
}

/// Parses a single number or name of `field`, checking its range.
fn value(field: Field, text: &str) -> Result<u32, String> {
    let (low, high) = field.bounds();
    if text.is_empty() {
        return Err(format!(
            "a range is missing a value; expected {}",
            field.accepted()
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(n) if (u32::from(low)..=u32::from(high)).contains(&n) => Ok(n),
            _ => Err(format!(
                "{text} is out of range; expected {}",
                field.accepted()
            )),
        };
    }
    if let Some(n) = field.value_of_name(text) {
        return Ok(u32::from(n));
    }
    if field.names().is_empty() {
        Err(format!(
            "`{text}` is not a number; expected {}",
            field.accepted()
        ))
    } else {
        Err(format!(
            "unknown name `{text}`; expected {}",
            field.accepted()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(field: Field, text: &str) -> Vec<u32> {
        let parsed = parse(field, text).unwrap_or_else(|e| panic!("{text}: {}", e.reason));
        (0..64).filter(|&n| parsed.values.contains(n)).collect()
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        assert_eq!(set(Field::Minute, "*/15"), [0, 15, 30, 45]);
        assert_eq!(set(Field::Minute, "10-40/10"), [10, 20, 30, 40]);
        assert_eq!(set(Field::Minute, "5/20"), [5, 25, 45]);
        assert_eq!(set(Field::Hour, "1,3,5-6"), [1, 3, 5, 6]);
        assert_eq!(set(Field::Month, "jan,MAR-May"), [1, 3, 4, 5]);
        assert_eq!(set(Field::DayOfWeek, "MON-FRI"), [1, 2, 3, 4, 5]);
        assert_eq!(set(Field::DayOfWeek, "7"), [0]);
        assert_eq!(set(Field::DayOfWeek, "5-7"), [0, 5, 6]);
        assert_eq!(set(Field::DayOfWeek, "FRI-SUN"), [0, 5, 6]);
        assert_eq!(set(Field::DayOfWeek, "MON-SUN"), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            set(Field::DayOfMonth, "*/2"),
            (1..=31).step_by(2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let reason = |field, text| {
            parse(field, text)
                .err()
                .map(|e| e.reason)
                .unwrap_or_default()
        };
        assert!(reason(Field::Minute, "60").contains("out of range"));
        assert!(reason(Field::DayOfMonth, "0").contains("1-31"));
        assert!(reason(Field::DayOfWeek, "8").contains("0-7"));
        assert!(reason(Field::Month, "JANUARY").contains("JAN-DEC"));
        assert!(reason(Field::Minute, "*/0").contains("step of 0"));
        assert!(reason(Field::Hour, "5-1").contains("backwards"));
        assert!(reason(Field::Hour, "1,,2").contains("empty item"));
        assert!(reason(Field::Hour, "MON").contains("not a number"));
        assert!(reason(Field::Hour, "*/x").contains("not a number"));
    }
}

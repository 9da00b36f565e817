//! A structured generator of cron expressions shared by the integration tests.
//!
//! Each generated [`Expr`] knows both its text and, computed here independently of the
//! crate's parser, the set of values every field selects. [`Expr::matches`] and
//! [`Expr::brute_force`] turn those sets into an oracle of the crate's documented grammar
//! and day rule (both day fields restricted: either matches; a day field written starting
//! with `*` counts as unrestricted).

#![allow(dead_code)]

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Timelike};
use proptest::prelude::*;

/// The six fields, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Second,
    Minute,
    Hour,
    Dom,
    Month,
    Dow,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Kind {
    pub const fn bounds(self) -> (u32, u32) {
        match self {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::Dom => (1, 31),
            Kind::Month => (1, 12),
            Kind::Dow => (0, 7),
        }
    }

    /// The name of `value`, when the field has names for it (`7` has none).
    fn name(self, value: u32) -> Option<&'static str> {
        match self {
            Kind::Month => MONTHS.get(value as usize - 1).copied(),
            Kind::Dow => DAYS.get(value as usize).copied(),
            _ => None,
        }
    }

    /// The name the crate uses for the field in error messages.
    pub const fn label(self) -> &'static str {
        match self {
            Kind::Second => "second",
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::Dom => "day-of-month",
            Kind::Month => "month",
            Kind::Dow => "day-of-week",
        }
    }
}

/// How a value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Number,
    /// With a leading zero: `05`.
    Padded,
    Upper,
    Lower,
    /// `Mon`.
    Title,
    /// `mOn`.
    Alternating,
}

/// One value as written.
#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub value: u32,
    pub style: Style,
}

impl Token {
    fn render(self, kind: Kind) -> String {
        let name = kind.name(self.value);
        match (self.style, name) {
            (Style::Padded, _) => format!("{:02}", self.value),
            (Style::Upper, Some(name)) => name.to_owned(),
            (Style::Lower, Some(name)) => name.to_ascii_lowercase(),
            (Style::Title, Some(name)) => name[..1].to_owned() + &name[1..].to_ascii_lowercase(),
            (Style::Alternating, Some(name)) => name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect(),
            _ => self.value.to_string(),
        }
    }

    fn is_name(self, kind: Kind) -> bool {
        !matches!(self.style, Style::Number | Style::Padded) && kind.name(self.value).is_some()
    }
}

/// One item of a comma-separated list.
#[derive(Clone, Debug)]
pub enum Item {
    /// `*`.
    Star,
    /// `*/n`.
    StarStep(u32),
    /// `5`, `MON`.
    Value(Token),
    /// `5/15`: from 5 to the end of the field, every 15 (a cronie extension croner refuses).
    ValueStep(Token, u32),
    /// `1-5`, `MON-FRI`.
    Range(Token, Token),
    /// `1-5/2`.
    RangeStep(Token, Token, u32),
}

impl Item {
    fn render(&self, kind: Kind) -> String {
        match self {
            Item::Star => "*".to_owned(),
            Item::StarStep(n) => format!("*/{n}"),
            Item::Value(t) => t.render(kind),
            Item::ValueStep(t, n) => format!("{}/{n}", t.render(kind)),
            Item::Range(a, b) => format!("{}-{}", a.render(kind), b.render(kind)),
            Item::RangeStep(a, b, n) => format!("{}-{}/{n}", a.render(kind), b.render(kind)),
        }
    }

    /// The values the item selects, as written (day-of-week 7 not yet folded into 0).
    fn values(&self, kind: Kind) -> Vec<u32> {
        let (low, high) = kind.bounds();
        let stepped = |from: u32, to: u32, step: u32| {
            let mut out = Vec::new();
            let mut n = u64::from(from);
            while n <= u64::from(to) {
                out.push(n as u32);
                n += u64::from(step);
            }
            out
        };
        match *self {
            Item::Star => (low..=high).collect(),
            Item::StarStep(n) => stepped(low, high, n),
            Item::Value(t) => vec![t.value],
            Item::ValueStep(t, n) => stepped(t.value, high, n),
            Item::Range(a, b) => (a.value..=b.value).collect(),
            Item::RangeStep(a, b, n) => stepped(a.value, b.value, n),
        }
    }
}

/// One field: a non-empty list of items.
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub kind: Kind,
    pub items: Vec<Item>,
}

impl FieldSpec {
    pub fn text(&self) -> String {
        self.items
            .iter()
            .map(|item| item.render(self.kind))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The selected values as a bit set; for day-of-week, 7 is Sunday (0).
    pub fn set(&self) -> u64 {
        let mut bits = 0u64;
        for item in &self.items {
            for v in item.values(self.kind) {
                let v = if self.kind == Kind::Dow && v == 7 {
                    0
                } else {
                    v
                };
                bits |= 1 << v;
            }
        }
        bits
    }

    pub fn starts_with_star(&self) -> bool {
        matches!(self.items[0], Item::Star | Item::StarStep(_))
    }

    pub fn is_exactly_star(&self) -> bool {
        self.items.len() == 1 && matches!(self.items[0], Item::Star)
    }

    /// Uses `5/15` somewhere.
    pub fn has_value_step(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::ValueStep(..)))
    }

    /// A bare `*` inside a list of several items (croner refuses `*,5`).
    pub fn has_star_in_list(&self) -> bool {
        self.items.len() > 1 && self.items.iter().any(|i| matches!(i, Item::Star))
    }

    /// A name that croner reads differently: a range ending in `SUN` (croner reads `-SUN`
    /// as `-7`, so `SUN-SUN` is every day for it; we read it as Sunday only).
    pub fn has_range_ending_in_sun(&self) -> bool {
        self.kind == Kind::Dow
            && self.items.iter().any(|i| match i {
                Item::Range(_, b) | Item::RangeStep(_, b, _) => {
                    b.is_name(Kind::Dow) && b.value == 0
                }
                _ => false,
            })
    }

    pub fn uses_names(&self) -> bool {
        self.items.iter().any(|i| match i {
            Item::Value(t) | Item::ValueStep(t, _) => t.is_name(self.kind),
            Item::Range(a, b) | Item::RangeStep(a, b, _) => {
                a.is_name(self.kind) || b.is_name(self.kind)
            }
            _ => false,
        })
    }

    /// Sunday written as 7 (`7`, `5-7`, `1-7/2`).
    pub fn uses_seven(&self) -> bool {
        self.kind == Kind::Dow
            && self.items.iter().any(|i| match i {
                Item::Value(t) | Item::ValueStep(t, _) => t.value == 7,
                Item::Range(_, b) | Item::RangeStep(_, b, _) => b.value == 7,
                _ => false,
            })
    }
}

/// A generated expression: 5 fields, or 6 with `second`.
#[derive(Clone, Debug)]
pub struct Expr {
    pub second: Option<FieldSpec>,
    pub minute: FieldSpec,
    pub hour: FieldSpec,
    pub dom: FieldSpec,
    pub month: FieldSpec,
    pub dow: FieldSpec,
}

/// The sets an [`Expr`] selects, computed from its structure.
#[derive(Clone, Copy, Debug)]
pub struct Sets {
    pub seconds: u64,
    pub minutes: u64,
    pub hours: u64,
    pub doms: u64,
    pub months: u64,
    pub dows: u64,
    /// Both day fields must match (one of them starts with `*`); otherwise either.
    pub days_and: bool,
}

fn has(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

fn members(bits: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |&v| has(bits, v))
}

fn month_length(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.unwrap().pred_opt().unwrap().day()
}

impl Sets {
    pub fn day_matches(&self, date: NaiveDate) -> bool {
        let by_month = has(self.doms, date.day());
        let by_week = has(self.dows, date.weekday().num_days_from_sunday());
        has(self.months, date.month())
            && if self.days_and {
                by_month && by_week
            } else {
                by_month || by_week
            }
    }

    pub fn matches(&self, t: NaiveDateTime) -> bool {
        t.nanosecond() == 0
            && self.day_matches(t.date())
            && has(self.hours, t.hour())
            && has(self.minutes, t.minute())
            && has(self.seconds, t.second())
    }

    /// Whether no date at all is selected: with the OR rule every month has every
    /// weekday; with AND, every existing (month, day) falls on every weekday in some year.
    pub fn never(&self) -> bool {
        self.days_and
            && !members(self.months).any(|m| {
                let longest = if m == 2 { 29 } else { month_length(2001, m) };
                members(self.doms).any(|d| d <= longest)
            })
    }

    /// The first `n` selected wall-clock times at or after `from`, by walking the calendar
    /// day by day and trying every (hour, minute, second) of the matching days.
    pub fn brute_force(&self, from: NaiveDateTime, n: usize) -> Vec<NaiveDateTime> {
        let mut out = Vec::new();
        let mut date = from.date();
        while date.year() <= 9999 {
            if self.day_matches(date) {
                // On the first day, times before `from` are left out.
                let first = if date == from.date() {
                    from.num_seconds_from_midnight() + u32::from(from.nanosecond() > 0)
                } else {
                    0
                };
                for h in members(self.hours) {
                    for m in members(self.minutes) {
                        for s in members(self.seconds) {
                            if h * 3600 + m * 60 + s >= first {
                                out.push(date.and_hms_opt(h, m, s).unwrap());
                                if out.len() == n {
                                    return out;
                                }
                            }
                        }
                    }
                }
            }
            date = match date.checked_add_days(Days::new(1)) {
                Some(d) => d,
                None => break,
            };
        }
        out
    }

    /// Roughly how many times a matching day fires.
    pub fn fires_per_day(&self) -> u32 {
        self.hours.count_ones() * self.minutes.count_ones() * self.seconds.count_ones()
    }
}

impl Expr {
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(second) = &self.second {
            parts.push(second.text());
        }
        for field in [&self.minute, &self.hour, &self.dom, &self.month, &self.dow] {
            parts.push(field.text());
        }
        parts.join(" ")
    }

    pub fn fields(&self) -> Vec<&FieldSpec> {
        self.second
            .iter()
            .chain([&self.minute, &self.hour, &self.dom, &self.month, &self.dow])
            .collect()
    }

    pub fn sets(&self) -> Sets {
        Sets {
            seconds: self.second.as_ref().map_or(1, FieldSpec::set),
            minutes: self.minute.set(),
            hours: self.hour.set(),
            doms: self.dom.set(),
            months: self.month.set(),
            dows: self.dow.set(),
            days_and: self.dom.starts_with_star() || self.dow.starts_with_star(),
        }
    }

    /// Follows real time across DST changes: the hour field starts with `*`.
    pub fn real_time(&self) -> bool {
        self.hour.starts_with_star()
    }

    /// A day field written `*/n` (or a list starting so) while the other day field is not
    /// exactly `*`: our spec counts it unrestricted, croner's OR mode counts it restricted.
    pub fn star_step_day(&self) -> bool {
        let odd = |f: &FieldSpec| f.starts_with_star() && !f.is_exactly_star();
        (odd(&self.dom) && !self.dow.is_exactly_star())
            || (odd(&self.dow) && !self.dom.is_exactly_star())
    }

    /// Written in the grammar croner shares with us (it refuses `5/15` and `*,5`, and
    /// reads a range ending in `SUN` as ending in 7).
    pub fn croner_syntax(&self) -> bool {
        self.fields()
            .iter()
            .all(|f| !f.has_value_step() && !f.has_star_in_list() && !f.has_range_ending_in_sun())
    }
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Which parts of the grammar to generate.
#[derive(Clone, Copy, Debug)]
pub struct Grammar {
    /// Also generate `5/15` and `*` inside lists.
    pub extensions: bool,
    /// Weight of day-field `*/n` items (0 to avoid them as the first item).
    pub day_star_steps: u32,
    /// Keep the hour, minute and second fields fairly dense or sparse (0-100: percentage
    /// of `*` in the second field; it is 0 when there is no second field).
    pub star_weight: u32,
    /// Chance (0-100) of a seconds field.
    pub seconds: u32,
}

impl Grammar {
    /// The reference corpus: everything croner also reads.
    pub const REFERENCE: Grammar = Grammar {
        extensions: false,
        day_star_steps: 2,
        star_weight: 35,
        seconds: 40,
    };
    /// The full grammar.
    pub const FULL: Grammar = Grammar {
        extensions: true,
        day_star_steps: 3,
        star_weight: 35,
        seconds: 40,
    };
}

fn token(kind: Kind) -> BoxedStrategy<Token> {
    let (low, high) = kind.bounds();
    let value: BoxedStrategy<u32> = match kind {
        // Lean on the end of the month and on leap days.
        Kind::Dom => prop_oneof![3 => low..=high, 2 => 28u32..=31].boxed(),
        Kind::Month => prop_oneof![3 => low..=high, 1 => Just(2u32)].boxed(),
        // Near the usual DST changes.
        Kind::Hour => prop_oneof![2 => low..=high, 1 => 0u32..=4].boxed(),
        _ => (low..=high).boxed(),
    };
    let style = if matches!(kind, Kind::Month | Kind::Dow) {
        prop_oneof![
            4 => Just(Style::Number),
            1 => Just(Style::Padded),
            2 => Just(Style::Upper),
            1 => Just(Style::Lower),
            1 => Just(Style::Title),
            1 => Just(Style::Alternating),
        ]
        .boxed()
    } else {
        prop_oneof![6 => Just(Style::Number), 1 => Just(Style::Padded)].boxed()
    };
    (value, style)
        .prop_map(|(value, style)| Token { value, style })
        .boxed()
}

fn step(kind: Kind) -> BoxedStrategy<u32> {
    let (low, high) = kind.bounds();
    let span = high - low + 1;
    prop_oneof![6 => 1..=span / 2 + 1, 1 => span - 1..=span + 5].boxed()
}

fn range(kind: Kind) -> impl Strategy<Value = (Token, Token)> {
    (token(kind), token(kind)).prop_map(move |(a, b)| {
        let (mut a, mut b) = if a.value <= b.value { (a, b) } else { (b, a) };
        // Numbers for a range ending in 0 (`SUN-SUN` reads differently in croner).
        if kind == Kind::Dow && b.value == 0 {
            b.style = Style::Number;
            a.style = Style::Number;
        }
        (a, b)
    })
}

fn item(kind: Kind, grammar: Grammar, first: bool) -> BoxedStrategy<Item> {
    let day = matches!(kind, Kind::Dom | Kind::Dow);
    let star_step_weight = if day && first {
        grammar.day_star_steps
    } else {
        2
    };
    let mut options: Vec<(u32, BoxedStrategy<Item>)> = vec![
        (4, token(kind).prop_map(Item::Value).boxed()),
        (3, range(kind).prop_map(|(a, b)| Item::Range(a, b)).boxed()),
        (
            2,
            (range(kind), step(kind))
                .prop_map(|((a, b), n)| Item::RangeStep(a, b, n))
                .boxed(),
        ),
    ];
    if star_step_weight > 0 {
        options.push((
            star_step_weight,
            step(kind).prop_map(Item::StarStep).boxed(),
        ));
    }
    if grammar.extensions {
        options.push((
            1,
            (token(kind), step(kind))
                .prop_map(|(t, n)| Item::ValueStep(t, n))
                .boxed(),
        ));
        if !first {
            options.push((1, Just(Item::Star).boxed()));
        }
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

pub fn field(kind: Kind, grammar: Grammar, star_weight: u32) -> BoxedStrategy<FieldSpec> {
    let items = (
        item(kind, grammar, true),
        prop::collection::vec(item(kind, grammar, false), 0..3),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect::<Vec<_>>());
    let restricted = prop_oneof![
        3 => items,
        2 => item(kind, grammar, true).prop_map(|i| vec![i]),
    ];
    let star = Just(vec![Item::Star]);
    let items: BoxedStrategy<Vec<Item>> = match (star_weight, 100 - star_weight.min(100)) {
        (0, _) => restricted.boxed(),
        (_, 0) => star.boxed(),
        (s, r) => prop_oneof![s => star, r => restricted].boxed(),
    };
    items
        .prop_map(move |items| FieldSpec { kind, items })
        .boxed()
}

pub fn expr(grammar: Grammar) -> BoxedStrategy<Expr> {
    let with_seconds = grammar.seconds;
    let second = prop_oneof![
        (100 - with_seconds) => Just(None),
        with_seconds => field(Kind::Second, grammar, grammar.star_weight).prop_map(Some),
    ];
    (
        second,
        field(Kind::Minute, grammar, 20),
        field(Kind::Hour, grammar, 35),
        field(Kind::Dom, grammar, 40),
        field(Kind::Month, grammar, 50),
        field(Kind::Dow, grammar, 45),
    )
        .prop_map(|(second, minute, hour, dom, month, dow)| Expr {
            second,
            minute,
            hour,
            dom,
            month,
            dow,
        })
        .boxed()
}

/// Expressions with a day field written `*/n` (or `*/n,...`) and the other day field
/// restricted: the cases where our rule (AND) and croner's default (OR) part ways.
pub fn star_step_day_expr() -> BoxedStrategy<Expr> {
    let grammar = Grammar::REFERENCE;
    let star_step_day = |kind| {
        (
            step(kind).prop_map(Item::StarStep),
            prop::collection::vec(item(kind, grammar, false), 0..2),
        )
            .prop_map(move |(first, rest)| FieldSpec {
                kind,
                items: std::iter::once(first).chain(rest).collect(),
            })
    };
    let restricted = |kind| field(kind, grammar, 0);
    let days = prop_oneof![
        (star_step_day(Kind::Dom), restricted(Kind::Dow)),
        (restricted(Kind::Dom), star_step_day(Kind::Dow)),
        (star_step_day(Kind::Dom), star_step_day(Kind::Dow)),
    ];
    (
        prop_oneof![3 => Just(None), 1 => field(Kind::Second, grammar, 40).prop_map(Some)],
        field(Kind::Minute, grammar, 20),
        field(Kind::Hour, grammar, 35),
        days,
        field(Kind::Month, grammar, 50),
    )
        .prop_map(|(second, minute, hour, (dom, dow), month)| Expr {
            second,
            minute,
            hour,
            dom,
            month,
            dow,
        })
        .boxed()
}

/// Expressions that never fire: both day fields combine with AND (one starts with `*`) and
/// no selected month has a selected day, such as `0 0 30 2 *` or `0 0 31 4,6 */2`.
pub fn never_expr() -> BoxedStrategy<Expr> {
    let grammar = Grammar::REFERENCE;
    let number = |value| Token {
        value,
        style: Style::Number,
    };
    let month_items = |months: Vec<u32>| {
        months
            .into_iter()
            .map(|m| {
                Item::Value(Token {
                    value: m,
                    style: Style::Upper,
                })
            })
            .collect::<Vec<_>>()
    };
    // The 31st in months of 30 days or fewer, or the 30th (and 31st) in February only.
    let days = prop_oneof![
        prop::sample::subsequence(vec![4u32, 6, 9, 11], 0..=4).prop_map(move |short| {
            let months = std::iter::once(2).chain(short).collect();
            (vec![Item::Value(number(31))], month_items(months))
        }),
        prop_oneof![
            Just(vec![Item::Value(number(30))]),
            Just(vec![Item::Value(number(30)), Item::Value(number(31))]),
            Just(vec![Item::Range(number(30), number(31))]),
        ]
        .prop_map(move |dom| (dom, month_items(vec![2]))),
    ];
    let dow = prop_oneof![
        Just(vec![Item::Star]),
        step(Kind::Dow).prop_map(|n| vec![Item::StarStep(n)]),
    ];
    (
        field(Kind::Minute, grammar, 20),
        field(Kind::Hour, grammar, 35),
        days,
        dow,
    )
        .prop_map(|(minute, hour, (dom, month), dow)| Expr {
            second: None,
            minute,
            hour,
            dom: FieldSpec {
                kind: Kind::Dom,
                items: dom,
            },
            month: FieldSpec {
                kind: Kind::Month,
                items: month,
            },
            dow: FieldSpec {
                kind: Kind::Dow,
                items: dow,
            },
        })
        .boxed()
}

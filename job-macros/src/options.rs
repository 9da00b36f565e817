//! The options of `#[job(...)]`: parsed, checked, each error at its token.

use std::time::Duration;

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitInt, LitStr, Meta, Token, UnOp};

use crate::flow::{self, FieldList, UniqueOption};

/// Every option, for the "expected one of" message and suggestions.
const KNOWN: &[&str] = &[
    "cron",
    "every",
    "timezone",
    "queue",
    "retries",
    "backoff",
    "timeout",
    "concurrency",
    "priority",
    "overlap",
    "unique",
    "limit",
    "rate",
    "per",
    "catch_up",
    "then",
    "on",
    "retry",
    "name",
];

/// The options as written, checked one by one.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) cron: Option<LitStr>,
    pub(crate) every: Option<(Span, Duration)>,
    pub(crate) timezone: Option<LitStr>,
    pub(crate) queue: Option<String>,
    pub(crate) retries: Option<u32>,
    pub(crate) backoff: Option<(Duration, Duration)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) concurrency: Option<u32>,
    pub(crate) priority: Option<i32>,
    /// `overlap`: its key's span, and whether a tick is skipped.
    pub(crate) overlap: Option<(Span, bool)>,
    pub(crate) unique: Option<UniqueOption>,
    pub(crate) limit: Option<u32>,
    pub(crate) rate: Option<job_schedule::Rate>,
    pub(crate) per: Option<FieldList>,
    pub(crate) name: Option<String>,
    pub(crate) catch_up: Option<(proc_macro2::Span, bool)>,
    /// The job that follows on success, as written.
    pub(crate) then: Option<LitStr>,
    /// The event source that starts the job.
    pub(crate) on: Option<String>,
    /// The retry policy: a path to a function.
    pub(crate) retry: Option<syn::ExprPath>,
    /// The span of the `timezone` key, for "timezone without cron".
    timezone_key: Option<Span>,
    /// The former flag `unique` (or `unique = true`/`false`) as written, and whether it was
    /// `false`: refused once the schedule is known, with what to write now.
    former_unique: Option<(proc_macro2::TokenStream, bool)>,
}

impl Parse for Options {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated(input)?;
        let mut options = Options::default();
        let mut seen: Vec<String> = Vec::new();
        let mut errors: Option<syn::Error> = None;
        for meta in metas {
            if let Err(error) = options.apply(&meta, &mut seen) {
                match &mut errors {
                    Some(all) => all.combine(error),
                    None => errors = Some(error),
                }
            }
        }
        if let Err(error) = options.check_combinations() {
            match &mut errors {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            }
        }
        match errors {
            Some(error) => Err(error),
            None => Ok(options),
        }
    }
}

impl Options {
    fn apply(&mut self, meta: &Meta, seen: &mut Vec<String>) -> syn::Result<()> {
        let path = meta.path();
        let Some(key) = path.get_ident().map(ToString::to_string) else {
            return Err(syn::Error::new_spanned(
                path,
                unknown_message(&quote::quote!(#path).to_string()),
            ));
        };
        if !KNOWN.contains(&key.as_str()) {
            return Err(syn::Error::new_spanned(path, unknown_message(&key)));
        }
        if seen.contains(&key) {
            return Err(syn::Error::new_spanned(
                path,
                format!("duplicate option `{key}`: give each option once"),
            ));
        }
        seen.push(key.clone());

        if key == "unique" {
            match meta {
                Meta::List(list) => self.unique = Some(flow::unique(list)?),
                Meta::Path(_) => self.former_unique = Some((quote::quote!(#meta), false)),
                Meta::NameValue(nv) => {
                    let off = matches!(
                        &nv.value,
                        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) if !b.value
                    );
                    self.former_unique = Some((quote::quote!(#meta), off));
                }
            }
            return Ok(());
        }

        let value = match meta {
            Meta::NameValue(nv) => &nv.value,
            _ => {
                return Err(syn::Error::new_spanned(
                    meta,
                    format!("option `{key}` needs a value: {}", example(&key)),
                ));
            }
        };
        match key.as_str() {
            "cron" => {
                let lit = string(value, &key)?;
                job_schedule::Cron::parse(&lit.value())
                    .map_err(|e| syn::Error::new_spanned(&lit, format!("{e}")))?;
                self.cron = Some(lit);
            }
            "every" => {
                let lit = string(value, &key)?;
                let every = job_schedule::Every::parse(&lit.value()).map_err(|e| {
                    syn::Error::new_spanned(
                        &lit,
                        format!("{e}; write a period such as \"30s\", \"15m\" or \"1h\""),
                    )
                })?;
                self.every = Some((path.span(), every.period()));
            }
            "timezone" => {
                let lit = string(value, &key)?;
                job_schedule::parse_zone(&lit.value())
                    .map_err(|e| syn::Error::new_spanned(&lit, e.to_string()))?;
                self.timezone_key = Some(path.span());
                self.timezone = Some(lit);
            }
            "then" => {
                let lit = string(value, &key)?;
                let text = lit.value();
                let valid = !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !text.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        format!(
                            "`then` names the next job by its function's name, in snake_case (such as `then = \"index_document\"`); `{text}` is not one"
                        ),
                    ));
                }
                self.then = Some(lit);
            }
            "on" => {
                let lit = string(value, &key)?;
                let text = lit.value();
                job_schedule::check_name(&text, job_schedule::NAME_MAX).map_err(|problem| {
                    syn::Error::new_spanned(
                        &lit,
                        format!("invalid event source `{text}`: {problem}"),
                    )
                })?;
                self.on = Some(text);
            }
            "retry" => match value {
                Expr::Path(path) => self.retry = Some(path.clone()),
                Expr::Lit(ExprLit {
                    lit: Lit::Int(count),
                    ..
                }) => {
                    return Err(syn::Error::new_spanned(
                        count,
                        format!(
                            "`retry` names a retry policy (a function `fn(&job_core::Failure) -> job_core::Retry`); for the number of retries, write `retries = {count}`"
                        ),
                    ));
                }
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "`retry` names a function `fn(&job_core::Failure) -> job_core::Retry` that decides how each failure is retried, such as `retry = by_error`",
                    ));
                }
            },
            "queue" | "name" => {
                let lit = string(value, &key)?;
                let text = lit.value();
                job_schedule::check_name(&text, job_schedule::NAME_MAX).map_err(|problem| {
                    syn::Error::new_spanned(&lit, format!("invalid {key} `{text}`: {problem}"))
                })?;
                if key == "queue" {
                    self.queue = Some(text);
                } else {
                    self.name = Some(text);
                }
            }
            "retries" => self.retries = Some(whole_number(value, &key, 0, 1000)?),
            "concurrency" => self.concurrency = Some(whole_number(value, &key, 1, 10_000)?),
            "priority" => self.priority = Some(priority(value)?),
            "limit" => self.limit = Some(whole_number(value, &key, 1, 1_000_000)?),
            "rate" => {
                let lit = string(value, &key)?;
                let rate = job_schedule::Rate::parse(&lit.value())
                    .map_err(|e| syn::Error::new_spanned(&lit, e.to_string()))?;
                self.rate = Some(rate);
            }
            "per" => self.per = Some(flow::per(value, path.span())?),
            "overlap" => {
                let lit = string(value, &key)?;
                let skip = match lit.value().as_str() {
                    "allow" => false,
                    "skip" => true,
                    other => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!(
                                "unknown overlap policy `{other}`: use \"skip\" (a tick is skipped while the previous run is still pending or running) or \"allow\" (runs may overlap, the default)"
                            ),
                        ));
                    }
                };
                self.overlap = Some((path.span(), skip));
            }
            "timeout" => {
                let lit = string(value, &key)?;
                let timeout = duration(&lit)?;
                if timeout.is_zero() {
                    return Err(syn::Error::new_spanned(
                        &lit,
                        "a timeout of 0 would fail every attempt; use a positive duration such as \"30s\"",
                    ));
                }
                self.timeout = Some(timeout);
            }
            "backoff" => {
                let lit = string(value, &key)?;
                self.backoff = Some(backoff(&lit)?);
            }
            "catch_up" => {
                let lit = string(value, &key)?;
                let once = match lit.value().as_str() {
                    "skip" => false,
                    "once" => true,
                    other => {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!(
                                "unknown catch-up policy `{other}`: use \"skip\" (forget ticks missed while no runner ran, the default) or \"once\" (run once at start-up for them)"
                            ),
                        ));
                    }
                };
                self.catch_up = Some((path.span(), once));
            }
            _ => unreachable!("every key in KNOWN is handled above"),
        }
        Ok(())
    }

    fn check_combinations(&self) -> syn::Result<()> {
        if let (Some(_), Some((span, _))) = (&self.cron, self.every) {
            return Err(syn::Error::new(
                span,
                "`every` and `cron` both schedule the job: keep one (a rate such as `every = \"15m\"`, or a cron expression)",
            ));
        }
        if let (None, Some(span)) = (&self.cron, self.timezone_key) {
            let hint = if self.every.is_some() {
                "`timezone` only applies to cron schedules: a rate (`every`) is the same in every zone; remove `timezone`"
            } else {
                "`timezone` only applies to cron jobs: add `cron = \"...\"` or remove `timezone`"
            };
            return Err(syn::Error::new(span, hint));
        }
        let scheduled = self.cron.is_some() || self.every.is_some();
        if let Some((meta, off)) = &self.former_unique {
            let message = if *off {
                "`unique = false` is the default, and `unique` is no longer a flag: remove it"
            } else if scheduled {
                "`unique` is no longer a flag: for a scheduled job whose tick is skipped while its previous run is still pending or running, write `overlap = \"skip\"`; `unique(...)` now means that tasks with equal keys count as one, such as `unique(for = \"1h\")` (a task pending, running or succeeded within the hour)"
            } else {
                "`unique` is no longer a flag: write `unique(by = [customer_id])` for tasks whose listed argument fields are equal to count as one while one is pending or running, `unique(by = args)` to compare the whole arguments, and add `for = \"1h\"` to count a task that succeeded within the hour too"
            };
            return Err(syn::Error::new_spanned(meta, message));
        }
        if !scheduled {
            if let Some((span, _)) = self.overlap {
                return Err(syn::Error::new(
                    span,
                    "`overlap` only applies to scheduled jobs (`cron` or `every`): it says what a tick does while the previous run is still pending or running; for an on-demand job, `unique(...)` makes tasks with equal arguments count as one",
                ));
            }
            if let Some((span, _)) = self.catch_up {
                return Err(syn::Error::new(
                    span,
                    "`catch_up` only applies to scheduled jobs: add `cron = \"...\"` or `every = \"...\"`, or remove `catch_up`",
                ));
            }
        }
        Ok(())
    }
}

fn unknown_message(key: &str) -> String {
    let mut message = format!(
        "unknown option `{key}`: expected one of {}",
        KNOWN.join(", ")
    );
    let close = KNOWN
        .iter()
        .map(|known| (edit_distance(key, known), known))
        .filter(|(distance, known)| *distance <= 2 || (*distance <= 3 && known.len() >= 6))
        .min();
    if let Some((_, close)) = close {
        message.push_str(&format!("; did you mean `{close}`?"));
    }
    message
}

fn example(key: &str) -> &'static str {
    match key {
        "cron" => "`cron = \"0 0 * * *\"`",
        "every" => "`every = \"15m\"`",
        "timezone" => "`timezone = \"Europe/Paris\"`",
        "queue" => "`queue = \"emails\"`",
        "retries" => "`retries = 5`",
        "backoff" => "`backoff = \"1s..10m\"`",
        "timeout" => "`timeout = \"30s\"`",
        "concurrency" => "`concurrency = 4`",
        "priority" => "`priority = 10`",
        "overlap" => "`overlap = \"skip\"`",
        "limit" => "`limit = 5`",
        "rate" => "`rate = \"100/1m\"`",
        "per" => "`per = customer_id` or `per = [customer_id, region]`",
        "unique" => "`unique(by = [customer_id])` or `unique(for = \"1h\")`",
        "retry" => "`retry = by_error` (a function `fn(&Failure) -> Retry`)",
        "catch_up" => "`catch_up = \"once\"`",
        "then" => "`then = \"index_document\"`",
        "on" => "`on = \"uploads\"`",
        _ => "`name = \"send_email\"`",
    }
}

fn string(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("option `{key}` takes a string: {}", example(key)),
        )),
    }
}

fn whole_number(value: &Expr, key: &str, min: u32, max: u32) -> syn::Result<u32> {
    let range = || {
        format!(
            "option `{key}` takes a whole number from {min} to {max}, such as {}",
            example(key)
        )
    };
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => match lit.base10_parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(syn::Error::new_spanned(lit, range())),
        },
        other => Err(syn::Error::new_spanned(other, range())),
    }
}

fn priority(value: &Expr) -> syn::Result<i32> {
    let message = "option `priority` takes a whole number (higher runs first), such as `priority = 10` or `priority = -5`";
    let (lit, negative): (&LitInt, bool) = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => (lit, false),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => (lit, true),
            other => return Err(syn::Error::new_spanned(other, message)),
        },
        other => return Err(syn::Error::new_spanned(other, message)),
    };
    let magnitude: i64 = lit
        .base10_parse()
        .map_err(|_| syn::Error::new_spanned(lit, message))?;
    let signed = if negative { -magnitude } else { magnitude };
    i32::try_from(signed).map_err(|_| syn::Error::new_spanned(value, message))
}

fn duration(lit: &LitStr) -> syn::Result<Duration> {
    job_schedule::parse_duration(&lit.value())
        .map_err(|e| syn::Error::new_spanned(lit, e.to_string()))
}

/// `"1s..10m"` (initial and maximum delay) or `"5s"` (initial delay, default maximum).
fn backoff(lit: &LitStr) -> syn::Result<(Duration, Duration)> {
    let text = lit.value();
    let fail = |why: String| syn::Error::new_spanned(lit, why);
    let read = |part: &str| {
        job_schedule::parse_duration(part).map_err(|e| {
            fail(format!(
                "{e}; a backoff is written \"INITIAL..MAX\", such as \"1s..10m\", or \"INITIAL\""
            ))
        })
    };
    let (initial, max) = match text.split_once("..") {
        Some((initial, max)) => (read(initial)?, read(max)?),
        None => {
            let initial = read(&text)?;
            (initial, initial.max(Duration::from_secs(3600)))
        }
    };
    if initial.is_zero() {
        return Err(fail(
            "a backoff must start above 0, such as \"1s..10m\"".to_owned(),
        ));
    }
    if max < initial {
        return Err(fail(format!(
            "the maximum delay is shorter than the initial delay in \"{text}\"; write the shorter one first, such as \"1s..10m\""
        )));
    }
    Ok((initial, max))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.as_bytes().iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

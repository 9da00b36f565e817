//! The flow-control options that name argument fields: `unique(by = [...], for = "...")`
//! and `per = [...]`, each error at its token.

use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, MetaList, Token};

/// Argument fields as written after `by =` or `per =`.
pub(crate) struct FieldList {
    /// The span of the key (`by` or `per`), for errors about the list as a whole.
    pub(crate) key: Span,
    /// The fields, in order, each once.
    pub(crate) fields: Vec<Ident>,
}

/// `unique(...)`.
pub(crate) struct UniqueOption {
    /// The fields of the key; `None`: the whole arguments.
    pub(crate) by: Option<FieldList>,
    /// How long a succeeded task still counts; zero: only while pending or running.
    pub(crate) period: Duration,
}

/// One `key = value` (or a bare `key`) inside `unique(...)`. The key may be a keyword
/// (`for`), which `syn::Meta` does not accept.
struct Entry {
    key: Ident,
    value: Option<Expr>,
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = input.call(Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Entry { key, value })
    }
}

/// The name a field is stored and looked up by: its Rust name, without `r#`.
pub(crate) fn field_name(field: &Ident) -> String {
    field.unraw().to_string()
}

/// Reads `unique(by = [a, b], for = "1h")`, `unique(by = args)` or `unique(for = "1h")`.
pub(crate) fn unique(list: &MetaList) -> syn::Result<UniqueOption> {
    let entries = list.parse_args_with(Punctuated::<Entry, Token![,]>::parse_terminated)?;
    if entries.is_empty() {
        return Err(syn::Error::new_spanned(
            list,
            "`unique()` needs `by` or `for`: `unique(by = [customer_id])` (tasks whose `customer_id` is equal count as one while one is pending or running), `unique(by = args)` (the whole arguments), or `unique(for = \"1h\")` (the whole arguments, and a task that succeeded within the hour counts too)",
        ));
    }
    let mut by: Option<Option<FieldList>> = None;
    let mut period: Option<Duration> = None;
    for entry in &entries {
        let key = entry.key.unraw().to_string();
        let key = match key.as_str() {
            key @ ("by" | "for") => key,
            other => {
                return Err(syn::Error::new_spanned(
                    &entry.key,
                    format!(
                        "unknown `unique` option `{other}`: expected `by` (the argument fields that make the key, or `args`) or `for` (how long a succeeded task still counts, such as `for = \"1h\"`)"
                    ),
                ));
            }
        };
        let seen = match key {
            "by" => by.is_some(),
            _ => period.is_some(),
        };
        if seen {
            return Err(syn::Error::new_spanned(
                &entry.key,
                format!("duplicate `{key}` in `unique(...)`: give it once"),
            ));
        }
        let Some(value) = &entry.value else {
            let example = if key == "by" {
                "`by = [customer_id]` or `by = args`"
            } else {
                "`for = \"1h\"`"
            };
            return Err(syn::Error::new_spanned(
                &entry.key,
                format!("`{key}` in `unique(...)` needs a value: {example}"),
            ));
        };
        if key == "by" {
            by = Some(fields(value, "by", entry.key.span())?);
        } else {
            period = Some(unique_period(value)?);
        }
    }
    Ok(UniqueOption {
        by: by.flatten(),
        period: period.unwrap_or(Duration::ZERO),
    })
}

/// Reads `per = field` or `per = [a, b]`.
pub(crate) fn per(value: &Expr, key: Span) -> syn::Result<FieldList> {
    fields(value, "per", key)?.ok_or_else(|| {
        syn::Error::new_spanned(
            value,
            "`per` names argument fields, not the whole arguments: list the fields that make the key, such as `per = customer_id` or `per = [customer_id, region]` (a field named `args` is written `per = [args]`)",
        )
    })
}

/// `for = "1h"` in `unique(...)`: a positive duration.
fn unique_period(value: &Expr) -> syn::Result<Duration> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(lit), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            "`for` in `unique(...)` takes a duration as a string, such as `for = \"1h\"`",
        ));
    };
    let period = job_schedule::parse_duration(&lit.value())
        .map_err(|e| syn::Error::new_spanned(lit, e.to_string()))?;
    if period.is_zero() {
        return Err(syn::Error::new_spanned(
            lit,
            "a task already counts while it is pending or running: leave `for` out for that, or give how long a succeeded task still counts, such as `for = \"1h\"`",
        ));
    }
    Ok(period)
}

/// A field list: `field`, `[a, b]`, or `args` (the whole arguments: `None`).
fn fields(value: &Expr, key: &str, key_span: Span) -> syn::Result<Option<FieldList>> {
    let whole = if key == "by" {
        " (or `by = args` for the whole arguments)"
    } else {
        ""
    };
    let list: Vec<&Expr> = match value {
        Expr::Path(_) => {
            let field = field(value, key)?;
            if field == "args" {
                return Ok(None);
            }
            vec![value]
        }
        Expr::Array(array) => {
            if array.elems.is_empty() {
                return Err(syn::Error::new_spanned(
                    value,
                    format!(
                        "`{key} = []` names no field: list the argument fields that make the key, such as `{key} = [customer_id]`{whole}"
                    ),
                ));
            }
            array.elems.iter().collect()
        }
        other => {
            return Err(syn::Error::new_spanned(
                other,
                format!(
                    "`{key}` names argument fields: write `{key} = customer_id` or `{key} = [customer_id, region]`{whole}"
                ),
            ));
        }
    };
    let mut fields: Vec<Ident> = Vec::new();
    for expr in list {
        let ident = field(expr, key)?;
        if fields.iter().any(|f| field_name(f) == field_name(&ident)) {
            return Err(syn::Error::new_spanned(
                &ident,
                format!("`{ident}` is listed twice in `{key}`: list each field once"),
            ));
        }
        fields.push(ident);
    }
    Ok(Some(FieldList {
        key: key_span,
        fields,
    }))
}

/// One field name: a plain identifier.
fn field(expr: &Expr, key: &str) -> syn::Result<Ident> {
    if let Expr::Path(path) = expr
        && path.qself.is_none()
        && path.attrs.is_empty()
        && let Some(ident) = path.path.get_ident()
    {
        return Ok(ident.clone());
    }
    Err(syn::Error::new_spanned(
        expr,
        format!(
            "`{key}` lists argument fields by their Rust names, such as `{key} = [customer_id, region]`; `{}` is not a field name",
            quote::quote!(#expr)
        ),
    ))
}

//! The shape of a job function: async, not generic, an optional argument and context.

use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

/// What the function takes, as the runner will call it.
pub(crate) struct Signature {
    /// The argument's type, when the job takes one.
    pub(crate) args: Option<Type>,
    /// Whether it takes a `JobContext`.
    pub(crate) takes_context: bool,
}

/// Checks the function and finds its parameters; `is_cron` refuses an argument.
pub(crate) fn check(function: &ItemFn, is_cron: bool) -> syn::Result<Signature> {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            sig.fn_token,
            "a job must be an `async fn`: add `async` before `fn`",
        ));
    }
    if let Some(constness) = &sig.constness {
        return Err(syn::Error::new_spanned(
            constness,
            "a job cannot be a `const fn`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(syn::Error::new_spanned(
            unsafety,
            "a job cannot be an `unsafe fn`: the runner calls it with no way to uphold its safety conditions",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new_spanned(
            abi,
            "a job cannot have an `extern` ABI",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "a job cannot be generic: the runner must know the concrete type of its arguments; use a concrete type",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "a job cannot be variadic",
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new_spanned(
            &sig.ident,
            "a job must return a `Result`, such as `-> JobResult` (an `Outcome` or a `JobError`)",
        ));
    }

    let mut args: Option<(Type, String)> = None;
    let mut context: Option<&FnArg> = None;
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "a job is a free function, not a method: move it out of the `impl` block and take what it needs from the arguments or `ctx.data()`",
                ));
            }
            FnArg::Typed(typed) => typed,
        };
        if is_context(&typed.ty) {
            if context.is_some() {
                return Err(syn::Error::new_spanned(
                    input,
                    "a job takes at most one `JobContext`",
                ));
            }
            context = Some(input);
            continue;
        }
        if let Type::Reference(reference) = &*typed.ty {
            let message = if is_context(&reference.elem) {
                "take the context by value: `ctx: JobContext`"
            } else {
                "job arguments are stored and decoded later, so they must be an owned type (`String`, not `&str`)"
            };
            return Err(syn::Error::new_spanned(&typed.ty, message));
        }
        if let Type::ImplTrait(_) = &*typed.ty {
            return Err(syn::Error::new_spanned(
                &typed.ty,
                "a job cannot take `impl Trait`: the runner must know the concrete type of its arguments",
            ));
        }
        if context.is_some() {
            return Err(syn::Error::new_spanned(
                input,
                "put the arguments first and the `JobContext` last: `async fn job(args: Args, ctx: JobContext)`",
            ));
        }
        if let Some((_, first)) = &args {
            return Err(syn::Error::new_spanned(
                input,
                format!(
                    "a job takes its arguments as one value: put `{first}` and `{}` in one struct that derives `Serialize` and `Deserialize`",
                    pattern_name(&typed.pat)
                ),
            ));
        }
        if is_cron {
            return Err(syn::Error::new_spanned(
                input,
                "a scheduled job (`cron` or `every`) takes no arguments (only an optional `ctx: JobContext`): each tick runs it with none; to run a job with arguments on a schedule, add a stored schedule with its arguments (`job-runner schedules add`)",
            ));
        }
        args = Some(((*typed.ty).clone(), pattern_name(&typed.pat)));
    }
    Ok(Signature {
        args: args.map(|(ty, _)| ty),
        takes_context: context.is_some(),
    })
}

/// Whether a type names `JobContext` (by any path).
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.path.segments.last().is_some_and(|segment| {
                segment.ident == "JobContext" && segment.arguments.is_empty()
            })
        }
        Type::Paren(inner) => is_context(&inner.elem),
        _ => false,
    }
}

fn pattern_name(pat: &Pat) -> String {
    match pat {
        Pat::Ident(ident) => ident.ident.to_string(),
        other => quote::quote!(#other).to_string(),
    }
}

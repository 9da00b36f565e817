//! The `#[job]` attribute. Use it through `job_core::job` (or `job_core::prelude::*`); the
//! code it generates names only `job_core` paths.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, parse_macro_input};

mod flow;
mod options;
mod signature;

use options::Options;

/// Turns an `async fn` into a registered background job.
///
/// ```ignore
/// use job_core::prelude::*;
///
/// /// Deletes sessions past their expiry; hourly at :00.
/// #[job(cron = "0 * * * *")]
/// async fn cleanup_expired_sessions(ctx: JobContext) -> JobResult {
///     let store = ctx.data::<SessionStore>()?;
///     Ok(Outcome::processed(store.delete_expired(ctx.now()).await?))
/// }
///
/// /// Copies one document; retried with backoff when the destination fails.
/// #[job(queue = "transfers", retries = 8, backoff = "5s..10m", timeout = "5m")]
/// async fn transfer_document(request: TransferRequest, ctx: JobContext) -> JobResult { ... }
///
/// // Typed enqueue, generated from the signature:
/// TransferDocument::enqueue(&jobs, request).delay(Duration::from_secs(30)).await?;
/// ```
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `cron = "0 0 * * *"` | run on this schedule (5 or 6 fields, `@daily`...) | on demand only |
/// | `every = "15m"` | run at every multiple of this period since the Unix epoch | on demand only |
/// | `timezone = "Europe/Paris"` | IANA zone the schedule is read in (cron jobs only) | `"UTC"` |
/// | `queue = "emails"` | the queue its tasks are stored in | `"default"` |
/// | `retries = 5` | retries after a failed attempt | `10` |
/// | `backoff = "1s..10m"` | first and longest delay between retries (doubling) | `"1s..1h"` |
/// | `timeout = "30s"` | longest time one attempt may run | none |
/// | `concurrency = 4` | tasks of this job one runner runs at once | `10` |
/// | `priority = 10` | higher runs first among due tasks | `0` |
/// | `overlap = "skip"` | a tick of a scheduled job is skipped while the previous run is still pending or running (`"allow"`: runs may overlap) | `"allow"` |
/// | `unique(by = [customer_id], for = "1h")` | tasks whose listed argument fields are equal count as one while one is pending or running, and, with `for`, for that long after one succeeded; `by = args` (or no `by`) compares the whole arguments | none |
/// | `limit = 5` | at most this many attempts of the job run at once across all runners (per key with `per`) | none |
/// | `rate = "100/1m"` | at most 100 attempts of the job start in any minute across all runners (per key with `per`) | none |
/// | `per = customer_id` | the argument fields (`per = [a, b]`) that make a task's key: `limit` and `rate` apply per key, and claims take keys in turn, so one busy key does not starve the others | no key |
/// | `then = "index_document"` | on success, run `index_document` with this job's output as its arguments (checked at compile time) | none |
/// | `on = "uploads"` | events of the source `uploads` start the job, their fields as its arguments | none |
/// | `retry = by_error` | a function `fn(&Failure) -> Retry` that decides how each failure is retried: after the backoff, after a delay it picks, or never | the error's [`retry_in`](../job_core/struct.JobError.html#method.retry_in), else the backoff |
/// | `catch_up = "once"` | a cron job runs once at start-up for ticks missed while no runner ran (`"skip"`: forget them) | `"skip"` |
/// | `name = "send_email"` | the job's name in storage, the CLI and the API | the function's name |
///
/// # Flow control
///
/// `overlap`, `unique`, `limit`, `rate` and `per` are stored in the job's `JobOptions`. The
/// fields named in `by` and `per` are the Rust names of fields of the argument type (a
/// misspelt one is a compile error at that name), and keys are made of their values as the
/// job decodes them, so `#[serde(rename)]` does not change them (see
/// `JobDescriptor::unique_key` and `JobDescriptor::partition_key`). The rules:
///
/// * `unique(...)` needs `by` or `for`: `unique(by = [a, b])`, `unique(by = args)`,
///   `unique(for = "1h")` (the whole arguments), `unique(by = [a], for = "1h")`. `for`
///   is a positive duration. A job without arguments may use `unique(for = ...)` or
///   `unique(by = args)`: all its tasks share one key.
/// * `per` alone, with neither `limit` nor `rate`, is allowed: claims still take keys in
///   turn (fairness between customers, say).
/// * `by` and `per` need a job with arguments, and so do not apply to scheduled jobs;
///   `overlap` applies only to scheduled jobs; `unique` on the whole arguments, `limit` and
///   `rate` apply to every job, the tasks of a schedule's ticks included.
/// * The former flag `unique` (`unique`, `unique = true`) is refused with what to write
///   now: `overlap = "skip"` for a scheduled job.
///
/// # The function
///
/// `async`, not generic. An on-demand job takes its arguments as one value that implements
/// `Serialize` and `Deserialize` (or none), then optionally a `JobContext`. A cron job takes
/// no arguments, only optionally the context. It returns `Result<T, E>` where `T` is `()` or
/// `Outcome` and `E` displays (`JobResult` is the usual choice).
///
/// # What it generates
///
/// The function stays as written. Next to it comes a unit struct named after it in
/// PascalCase (`transfer_document` gives `TransferDocument`) that implements
/// `job_core::Job`, with an inherent `enqueue` function typed by the job's arguments, and a
/// registration that the runner finds at start.
#[proc_macro_attribute]
pub fn job(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = parse_macro_input!(attr as Options);
    let function = parse_macro_input!(item as ItemFn);
    match expand(&options, &function) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // Keep the function so that other errors in it are still reported normally.
            let error = error.to_compile_error();
            quote!(#function #error).into()
        }
    }
}

fn expand(options: &Options, function: &ItemFn) -> syn::Result<TokenStream2> {
    let signature = signature::check(function, options.cron.is_some() || options.every.is_some())?;
    let fn_ident = &function.sig.ident;
    let vis = &function.vis;
    let struct_ident = Ident::new(
        &job_schedule::job_type_name(&fn_ident.to_string()),
        fn_ident.span(),
    );
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| fn_ident.to_string().trim_start_matches("r#").to_owned());

    if let Some(syn::Type::Path(path)) = &signature.args
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == struct_ident)
    {
        return Err(syn::Error::new_spanned(
            path,
            format!(
                "`#[job]` names the job type of `{fn_ident}` `{struct_ident}`, which is also the name of its argument type; rename the argument type (such as `{struct_ident}Args`) or the function"
            ),
        ));
    }
    let args_ty = match &signature.args {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let takes_args = signature.args.is_some();
    let call = match (takes_args, signature.takes_context) {
        (true, true) => quote!(#fn_ident(args, ctx)),
        (true, false) => quote!({ let _ = ctx; #fn_ident(args) }),
        (false, true) => quote!({ let () = args; #fn_ident(ctx) }),
        (false, false) => quote!({ let () = args; let _ = ctx; #fn_ident() }),
    };

    let option_fields = option_fields(options);
    let key_fields = key_fields(options, fn_ident, &signature.args, &args_ty)?;
    // What the job returns on success: the `T` of `Result<T, E>` or `JobResult<T>`.
    let ok_type = ok_type(&function.sig.output);
    let output_ty = match &ok_type {
        Some(ty) => quote!(#ty),
        None => quote!(::job_core::Outcome),
    };
    let passes_output = ok_type.as_ref().is_some_and(|ty| !is_outcome(ty));
    let next_step_check = match &options.then {
        None => quote!(),
        Some(lit) => {
            if ok_type.is_none() {
                return Err(syn::Error::new_spanned(
                    &function.sig.output,
                    "a job with `then` passes its success value to the next job: write the return type as `Result<T, E>` or `JobResult<T>`, where `T` is the next job's argument type",
                ));
            }
            let next = Ident::new(&job_schedule::job_type_name(&lit.value()), lit.span());
            quote_spanned!(lit.span()=>
                const _: () = ::job_core::__private::assert_next_step_takes::<#next, #output_ty>();
            )
        }
    };
    let docs = function.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let enqueue_doc = format!(
        "Enqueues job `{name}`; set `.delay(..)`, `.run_at(..)`, `.priority(..)` or `.unique_key(..)` on the result, then `.await` it."
    );
    let enqueue = if takes_args {
        quote! {
            #[doc = #enqueue_doc]
            #vis fn enqueue<'c>(
                client: &'c dyn ::job_core::JobClient,
                args: #args_ty,
            ) -> ::job_core::Enqueue<'c, Self> {
                ::job_core::Enqueue::new(client, args)
            }
        }
    } else {
        quote! {
            #[doc = #enqueue_doc]
            #vis fn enqueue<'c>(client: &'c dyn ::job_core::JobClient) -> ::job_core::Enqueue<'c, Self> {
                ::job_core::Enqueue::new(client, ())
            }
        }
    };
    let run_ident = format_ident!("__run_{}", fn_ident);
    // Spanned at the return type, so that an error type that does not display is reported there.
    let output_span = match &function.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => function.sig.ident.span(),
    };
    let finish = if passes_output {
        quote_spanned!(output_span=> ::job_core::__private::finish_output)
    } else {
        quote_spanned!(output_span=> ::job_core::__private::finish)
    };

    Ok(quote! {
        #function

        #(#docs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #struct_ident;

        impl #struct_ident {
            #enqueue
        }

        const _: () = {
            #[allow(non_snake_case)]
            fn #run_ident(
                ctx: ::job_core::JobContext,
                args: ::job_core::__private::serde_json::Value,
            ) -> ::job_core::BoxFuture<'static, ::core::result::Result<::job_core::Outcome, ::job_core::JobError>> {
                ::std::boxed::Box::pin(async move {
                    let args: #args_ty = ::job_core::__private::decode_args(#name, args)?;
                    #finish(#call.await)
                })
            }

            static DESCRIPTOR: ::job_core::JobDescriptor = ::job_core::JobDescriptor::__new(
                #name,
                ::job_core::JobOptions { #(#option_fields,)* ..::job_core::JobOptions::DEFAULT },
                ::job_core::__private::type_name::<#args_ty>,
                #takes_args,
                ::job_core::SourceLocation {
                    file: ::core::file!(),
                    line: ::core::line!(),
                    module_path: ::core::module_path!(),
                },
                #run_ident,
                ::job_core::__private::check_args::<#args_ty>,
                #key_fields,
            );

            ::job_core::__private::inventory::submit! {
                ::job_core::__private::Registration(&DESCRIPTOR)
            }

            #next_step_check

            impl ::job_core::Job for #struct_ident {
                type Args = #args_ty;
                type Output = #output_ty;

                fn descriptor() -> &'static ::job_core::JobDescriptor {
                    &DESCRIPTOR
                }
            }
        };
    })
}

/// The fields of `JobOptions` that the attribute sets.
fn option_fields(options: &Options) -> Vec<TokenStream2> {
    let duration = |d: std::time::Duration| {
        let millis = d.as_millis() as u64;
        quote!(::core::time::Duration::from_millis(#millis))
    };
    let mut fields = Vec::new();
    if let Some(cron) = &options.cron {
        let text = cron.value();
        fields.push(quote!(cron: ::core::option::Option::Some(#text)));
    }
    if let Some((_, every)) = options.every {
        let every = duration(every);
        fields.push(quote!(every: ::core::option::Option::Some(#every)));
    }
    if let Some(zone) = &options.timezone {
        let text = zone.value();
        fields.push(quote!(timezone: #text));
    }
    if let Some(queue) = &options.queue {
        fields.push(quote!(queue: #queue));
    }
    if let Some(retries) = options.retries {
        fields.push(quote!(retries: #retries));
    }
    if let Some((initial, max)) = options.backoff {
        let (initial, max) = (duration(initial), duration(max));
        fields.push(quote!(backoff: ::job_core::Backoff { initial: #initial, max: #max }));
    }
    if let Some(retry) = &options.retry {
        // The cast checks the function's signature, with the error at the path.
        fields.push(quote_spanned!(retry.span()=> retry: ::core::option::Option::Some(#retry as ::job_core::RetryFn)));
    }
    if let Some(timeout) = options.timeout {
        let timeout = duration(timeout);
        fields.push(quote!(timeout: ::core::option::Option::Some(#timeout)));
    }
    if let Some(concurrency) = options.concurrency {
        fields.push(quote!(concurrency: #concurrency));
    }
    if let Some(priority) = options.priority {
        fields.push(quote!(priority: #priority));
    }
    if let Some((_, skip)) = options.overlap {
        let policy = if skip { quote!(Skip) } else { quote!(Allow) };
        fields.push(quote!(overlap: ::job_core::Overlap::#policy));
    }
    if let Some(unique) = &options.unique {
        let by = field_names(unique.by.as_ref());
        let period = duration(unique.period);
        fields.push(quote!(unique: ::core::option::Option::Some(
            ::job_core::Unique { by: &[#(#by),*], period: #period }
        )));
    }
    if let Some(limit) = options.limit {
        fields.push(quote!(limit: ::core::option::Option::Some(#limit)));
    }
    if let Some(rate) = options.rate {
        let (count, per) = (rate.count, duration(rate.per));
        fields.push(quote!(rate: ::core::option::Option::Some(
            ::job_core::Rate { count: #count, per: #per }
        )));
    }
    if let Some(per) = &options.per {
        let names = field_names(Some(per));
        fields.push(quote!(per: &[#(#names),*]));
    }
    if let Some(then) = &options.then {
        let then = then.value();
        fields.push(quote!(then: ::core::option::Option::Some(#then)));
    }
    if let Some(on) = &options.on {
        fields.push(quote!(on: ::core::option::Option::Some(#on)));
    }
    if let Some((_, once)) = options.catch_up {
        let policy = if once { quote!(Once) } else { quote!(Skip) };
        fields.push(quote!(catch_up: ::job_core::CatchUp::#policy));
    }
    fields
}

/// The names of the fields of a list, as stored in `JobOptions`.
fn field_names(list: Option<&flow::FieldList>) -> Vec<String> {
    list.map(|list| list.fields.iter().map(flow::field_name).collect())
        .unwrap_or_default()
}

/// The function that reads the fields of the job's keys (`unique(by = ...)`, `per`) from its
/// arguments. Each field is read as `args.field` with the span of the name as written, so
/// that a field the argument type lacks is reported at that name by rustc.
fn key_fields(
    options: &Options,
    fn_ident: &Ident,
    args: &Option<syn::Type>,
    args_ty: &TokenStream2,
) -> syn::Result<TokenStream2> {
    let lists = [
        options
            .unique
            .as_ref()
            .and_then(|u| u.by.as_ref())
            .map(|l| ("by", l)),
        options.per.as_ref().map(|l| ("per", l)),
    ];
    let lists: Vec<(&str, &flow::FieldList)> = lists.into_iter().flatten().collect();
    if args.is_none()
        && let Some((key, list)) = lists.first()
    {
        let hint = if *key == "by" {
            "write `unique(for = \"...\")` or `unique(by = args)` (a job without arguments has one key)"
        } else {
            "remove `per`"
        };
        return Err(syn::Error::new(
            list.key,
            format!(
                "`{key}` names fields of the job's arguments, and `{fn_ident}` takes none: {hint}"
            ),
        ));
    }
    if lists.is_empty() {
        return Ok(quote!(::job_core::__private::whole_key::<#args_ty>));
    }
    // One arm per name; a name in both lists is read once, and checked at both.
    let mut arms = Vec::new();
    let mut checks = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for field in lists.iter().flat_map(|(_, list)| &list.fields) {
        let name = flow::field_name(field);
        if names.contains(&name) {
            checks.push(quote_spanned!(field.span()=> let _ = &(*args).#field;));
            continue;
        }
        arms.push(quote_spanned!(field.span()=>
            #name => ::core::option::Option::Some(
                ::job_core::__private::key_field(&(*args).#field)
            )
        ));
        names.push(name);
    }
    let keys_ident = format_ident!("__key_fields_{}", fn_ident);
    Ok(quote!({
        #[allow(non_snake_case)]
        fn #keys_ident(
            args: &::job_core::__private::serde_json::Value,
            fields: &[&str],
        ) -> ::core::result::Result<
            ::job_core::__private::serde_json::Value,
            ::job_core::__private::serde_json::Error,
        > {
            ::job_core::__private::key_fields::<#args_ty>(args, fields, |args: &#args_ty, field: &str| {
                #(#checks)*
                match field {
                    #(#arms,)*
                    _ => ::core::option::Option::None,
                }
            })
        }
        #keys_ident
    }))
}

/// The `T` of a return type written `Result<T, E>` or `JobResult<T>`; `None` for
/// `JobResult` alone (an `Outcome`) or a type this macro cannot see through.
fn ok_type(output: &syn::ReturnType) -> Option<syn::Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        return None;
    };
    let syn::Type::Path(path) = &**ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Type(ty) => Some(ty.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// Whether a success type is `()` or `Outcome`, which report records rather than pass a
/// value on.
fn is_outcome(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Tuple(tuple) => tuple.elems.is_empty(),
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Outcome"),
        _ => false,
    }
}

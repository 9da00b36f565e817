//! The keys of tasks (`unique(...)` and `per`): the Rust fields' values, in the order
//! listed, as canonical JSON, whatever the stored arguments' spelling or key order.

use job_core::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize)]
struct Address {
    zip: String,
    city: String,
}

#[derive(Serialize, Deserialize)]
struct Invoice {
    #[serde(rename = "customerId")]
    customer_id: u64,
    month: String,
    address: Address,
    #[serde(default)]
    note: Option<String>,
}

#[job(unique(by = [month, customer_id], for = "1d"), limit = 1, per = customer_id)]
async fn send_invoice(invoice: Invoice) -> JobResult {
    let _ = invoice;
    Ok(Outcome::none())
}

#[job(unique(by = args), per = [address, month])]
async fn archive_invoice(invoice: Invoice) -> JobResult {
    let _ = invoice;
    Ok(Outcome::none())
}

#[job(rate = "10/1s")]
async fn print_invoice(invoice: Invoice) -> JobResult {
    let _ = invoice;
    Ok(Outcome::none())
}

#[job(unique(for = "1h"))]
async fn rebuild_index() -> JobResult {
    Ok(Outcome::none())
}

fn invoice() -> serde_json::Value {
    json!({
        "month": "2026-03",
        "customerId": 7,
        "address": {"zip": "75001", "city": "Paris"},
        "note": "late"
    })
}

#[test]
fn keys_are_the_listed_fields_in_the_order_listed_even_when_renamed() {
    let descriptor = SendInvoice::descriptor();
    assert_eq!(
        descriptor.unique_key(&invoice()).unwrap().as_deref(),
        Some(r#"["2026-03",7]"#)
    );
    assert_eq!(
        descriptor.partition_key(&invoice()).unwrap().as_deref(),
        Some("[7]")
    );
}

#[test]
fn a_field_that_is_an_object_has_its_keys_sorted() {
    assert_eq!(
        ArchiveInvoice::descriptor()
            .partition_key(&invoice())
            .unwrap()
            .as_deref(),
        Some(r#"[{"city":"Paris","zip":"75001"},"2026-03"]"#)
    );
}

#[test]
fn the_whole_arguments_are_the_decoded_value_with_keys_sorted() {
    let descriptor = ArchiveInvoice::descriptor();
    assert_eq!(
        descriptor.unique_key(&invoice()).unwrap().as_deref(),
        Some(
            r#"{"address":{"city":"Paris","zip":"75001"},"customerId":7,"month":"2026-03","note":"late"}"#
        )
    );
    // A defaulted field left out and given as its default make the same key.
    let without_note = json!({
        "customerId": 7,
        "month": "2026-03",
        "address": {"city": "Paris", "zip": "75001"}
    });
    let with_null_note = json!({
        "address": {"zip": "75001", "city": "Paris"},
        "note": null,
        "month": "2026-03",
        "customerId": 7
    });
    assert_eq!(
        descriptor.unique_key(&without_note).unwrap(),
        descriptor.unique_key(&with_null_note).unwrap()
    );
    assert_ne!(
        descriptor.unique_key(&without_note).unwrap(),
        descriptor.unique_key(&invoice()).unwrap()
    );
}

#[test]
fn a_job_without_the_option_has_no_key() {
    let descriptor = PrintInvoice::descriptor();
    assert_eq!(descriptor.unique_key(&invoice()), Ok(None));
    assert_eq!(descriptor.partition_key(&invoice()), Ok(None));
    assert_eq!(SendInvoice::descriptor().options().limit, Some(1));
}

#[test]
fn a_job_without_arguments_has_one_key() {
    let descriptor = RebuildIndex::descriptor();
    assert_eq!(
        descriptor
            .unique_key(&serde_json::Value::Null)
            .unwrap()
            .as_deref(),
        Some("null")
    );
    assert_eq!(descriptor.partition_key(&serde_json::Value::Null), Ok(None));
    let error = descriptor.unique_key(&json!({"a": 1})).unwrap_err();
    assert_eq!(error.job, "rebuild_index");
    assert!(error.reason.contains("takes no arguments"), "{error}");
}

#[test]
fn arguments_that_do_not_decode_have_no_key() {
    let error = SendInvoice::descriptor()
        .unique_key(&json!({"customer_id": 7, "month": "2026-03"}))
        .unwrap_err();
    assert_eq!(error.job, "send_invoice");
    assert!(error.expected.ends_with("Invoice"), "{error}");
    assert!(error.reason.contains("customerId"), "{error}");
    assert!(
        SendInvoice::descriptor()
            .partition_key(&json!("not an invoice"))
            .is_err()
    );
}

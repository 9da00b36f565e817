//! An S3-style webhook: `POST /hooks/{source}` on the admin server takes the event
//! notifications that S3 and S3-compatible stores send (`Records[].s3.bucket.name`,
//! `Records[].s3.object.key`), authenticated by the source's own secret: an HMAC-SHA256 of
//! the body in `X-Jobs-Signature: sha256=<hex>`, or `Authorization: Bearer <secret>`.
//!
//! Each record is an event with the fields `bucket_name`, `object_key`, `size`, `etag` and
//! `event_name`; its id is the record's `sequencer` (or bucket, key and ETag), so a
//! notification sent twice starts its jobs once.

use hmac::{Hmac, Mac};
use job_core::Event;
use serde_json::Value;
use sha2::Sha256;

/// Whether the request carries the secret: a valid signature of `body`, or the secret as a
/// bearer token. Both are compared in constant time.
pub fn authentic(secret: &str, signature: Option<&str>, bearer: Option<&str>, body: &[u8]) -> bool {
    if let Some(hex) = signature.and_then(|s| s.strip_prefix("sha256=")) {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        let Some(given) = decode_hex(hex.trim()) else {
            return false;
        };
        return mac.verify_slice(&given).is_ok();
    }
    match bearer {
        Some(token) => crate::secret::matches(secret.as_bytes(), token.as_bytes()),
        None => false,
    }
}

/// The signature header value of `body` under `secret`, as a sender computes it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // Invariant: HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", crate::secret::hex(&bytes))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The events of an S3 notification body, or what is wrong with it.
pub fn events(source: &str, body: &[u8]) -> Result<Vec<Event>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let records = value["Records"]
        .as_array()
        .ok_or("expected an S3 event notification: an object with a `Records` array")?;
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let s3 = &record["s3"];
            let bucket = s3["bucket"]["name"]
                .as_str()
                .ok_or_else(|| format!("Records[{i}].s3.bucket.name is missing"))?;
            let raw_key = s3["object"]["key"]
                .as_str()
                .ok_or_else(|| format!("Records[{i}].s3.object.key is missing"))?;
            let key = url_decode(raw_key);
            let etag = s3["object"]["eTag"].as_str().unwrap_or_default();
            let id = match s3["object"]["sequencer"].as_str() {
                Some(sequencer) => format!("{bucket}/{key}/{sequencer}"),
                None => format!("{bucket}/{key}/{etag}"),
            };
            let mut fields = serde_json::Map::new();
            fields.insert("bucket_name".into(), bucket.into());
            fields.insert("object_key".into(), key.into());
            fields.insert("size".into(), s3["object"]["size"].clone());
            fields.insert("etag".into(), etag.into());
            fields.insert("event_name".into(), record["eventName"].clone());
            Ok(Event {
                id,
                source: source.to_owned(),
                kind: record["eventName"].as_str().unwrap_or("s3").to_owned(),
                fields,
            })
        })
        .collect()
}

/// S3 sends object keys URL-encoded, with `+` for spaces.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_bearers() {
        let body = br#"{"Records":[]}"#;
        let signature = sign("s3cret", body);
        assert!(authentic("s3cret", Some(&signature), None, body));
        assert!(!authentic("s3cret", Some(&signature), None, b"{}"));
        assert!(!authentic("other", Some(&signature), None, body));
        assert!(!authentic("s3cret", Some("sha256=zz"), None, body));
        assert!(authentic("s3cret", None, Some("s3cret"), body));
        assert!(!authentic("s3cret", None, Some("s3cre"), body));
        assert!(!authentic("s3cret", None, None, body));
    }

    #[test]
    fn s3_records_become_events() {
        let body = br#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"docs"},"object":{"key":"in/my+report%281%29.pdf","size":12,"eTag":"abc","sequencer":"0055"}}}]}"#;
        let parsed = events("s3", body).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].id, "docs/in/my report(1).pdf/0055");
        assert_eq!(parsed[0].fields["object_key"], "in/my report(1).pdf");
        assert_eq!(parsed[0].fields["bucket_name"], "docs");
        assert!(events("s3", b"{}").unwrap_err().contains("Records"));
        assert!(
            events("s3", br#"{"Records":[{"s3":{}}]}"#)
                .unwrap_err()
                .contains("bucket.name")
        );
    }
}

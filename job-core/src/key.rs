//! The canonical text of a task's key: JSON with object keys sorted, no spaces, so that
//! equal values always give equal text.

use std::fmt::Write;

use serde_json::Value;

/// `value` as compact JSON with the keys of every object, at every depth, sorted by their
/// UTF-8 bytes, whatever order the value holds them in (serde_json's `preserve_order`
/// feature, enabled by any crate of a build, keeps insertion order).
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// A value with no object inside: serde_json's own compact text.
fn write_scalar(value: &Value, out: &mut String) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_keys_are_sorted_at_every_depth() {
        let value = json!({
            "zeta": 1,
            "alpha": {"b": [true, null, {"y": 1.5, "x": "é\"q"}], "a": -2},
            "Beta": []
        });
        assert_eq!(
            canonical_json(&value),
            r#"{"Beta":[],"alpha":{"a":-2,"b":[true,null,{"x":"é\"q","y":1.5}]},"zeta":1}"#
        );
        assert_eq!(canonical_json(&json!([3, "x", null])), r#"[3,"x",null]"#);
        assert_eq!(canonical_json(&Value::Null), "null");
    }
}

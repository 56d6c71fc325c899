//! IAM-style policy documents compared by meaning, not by bytes: AWS returns them percent-encoded (IAM),
//! reorders keys, and turns one-element lists into scalars (or the reverse).

use serde_json::Value;

/// Parses a document as AWS returns it: JSON, possibly percent-encoded.
pub fn parse(document: &str) -> Option<Value> {
    serde_json::from_str(document)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(document)).ok())
}

pub fn equivalent(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// A canonical form: every string-or-list becomes a sorted list, statements are sorted, and `"Principal": "*"` is
/// `{"AWS": ["*"]}`.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            // Keys in sorted order, whichever order the map keeps, so that the text form sorts statements alike.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for (key, v) in keys.into_iter().map(|k| (k, &map[k])) {
                let v = match (key.as_str(), v) {
                    ("Principal" | "NotPrincipal", Value::String(s)) if s == "*" => serde_json::json!({"AWS": ["*"]}),
                    _ => normalize(v),
                };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            // Strings inside a list stay strings; only a lone string stands for a one-element list.
            let mut items: Vec<Value> = items
                .iter()
                .map(|item| {
                    if item.is_string() {
                        item.clone()
                    } else {
                        normalize(item)
                    }
                })
                .collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            Value::Array(items)
        }
        Value::String(s) => Value::Array(vec![Value::String(s.clone())]),
        other => other.clone(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_encoded_documents_parse() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse(encoded), Some(json!({"Version": "2012-10-17", "Statement": []})));
    }

    #[test]
    fn scalars_lists_order_and_principal_forms_do_not_matter() {
        let a = json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*"], "Principal": "*"},
            {"Effect": "Deny", "Action": ["s3:*"], "Resource": "*"}
        ]});
        let b = json!({"Statement": [
            {"Action": ["s3:*"], "Effect": "Deny", "Resource": ["*"]},
            {"Principal": {"AWS": "*"}, "Resource": "arn:aws:s3:::b/*", "Action": ["s3:GetObject"], "Effect": "Allow"}
        ]});
        assert!(equivalent(&a, &b));
        let c = json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]});
        assert!(!equivalent(&a, &c));
    }
}

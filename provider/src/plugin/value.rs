//! Terraform values as they cross the wire: msgpack (plans, state, config) and JSON (raw state in
//! `UpgradeResourceState`), with null and unknown kept apart from every known value.

use std::collections::BTreeMap;
use std::fmt;

/// A cty value without its type. Lists, sets and tuples share `List`; maps and objects share `Map`: the
/// schema, not the encoding, tells them apart, and nothing here needs to.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// Not known until apply (it depends on a resource not yet created).
    Unknown,
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

#[derive(Debug)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl Value {
    /// A state Terraform accepts after a failed or cancelled call: what is not known is null.
    pub fn known_or_null(self) -> Value {
        match self {
            Value::Unknown => Value::Null,
            Value::List(items) => Value::List(items.into_iter().map(Value::known_or_null).collect()),
            Value::Map(entries) => Value::Map(entries.into_iter().map(|(k, v)| (k, v.known_or_null())).collect()),
            other => other,
        }
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// True when the value, or anything inside it, is unknown.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(items) => items.iter().any(Value::has_unknown),
            Value::Map(entries) => entries.values().any(Value::has_unknown),
            _ => false,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// An attribute of an object; a missing attribute reads as null, as Terraform treats it.
    pub fn get(&self, attribute: &str) -> &Value {
        match self {
            Value::Map(entries) => entries.get(attribute).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    pub fn decode_msgpack(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut reader = bytes;
        let raw =
            rmpv::decode::read_value(&mut reader).map_err(|e| DecodeError(format!("invalid msgpack value: {e}")))?;
        if !reader.is_empty() {
            return Err(DecodeError(format!(
                "{} trailing bytes after msgpack value",
                reader.len()
            )));
        }
        from_msgpack(raw)
    }

    pub fn encode_msgpack(&self) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &to_msgpack(self)).expect("writing to a Vec cannot fail");
        out
    }

    pub fn decode_json(bytes: &[u8]) -> Result<Value, DecodeError> {
        let raw: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError(format!("invalid JSON value: {e}")))?;
        Ok(from_json(raw))
    }
}

/// The integer a number holds exactly, if any: cty writes such numbers as msgpack integers.
fn whole(n: f64) -> Option<i64> {
    (n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15).then_some(n as i64)
}

fn from_msgpack(raw: rmpv::Value) -> Result<Value, DecodeError> {
    Ok(match raw {
        rmpv::Value::Nil => Value::Null,
        // cty marks unknowns with extension 0 and refined unknowns with extension 12; any extension is unknown.
        rmpv::Value::Ext(..) => Value::Unknown,
        rmpv::Value::Boolean(b) => Value::Bool(b),
        rmpv::Value::Integer(i) => Value::Number(
            i.as_i64()
                .map(|v| v as f64)
                .or_else(|| i.as_u64().map(|v| v as f64))
                .ok_or_else(|| DecodeError("integer out of range".into()))?,
        ),
        rmpv::Value::F32(f) => Value::Number(f64::from(f)),
        rmpv::Value::F64(f) => Value::Number(f),
        rmpv::Value::String(s) => Value::String(
            s.into_str()
                .ok_or_else(|| DecodeError("string is not valid UTF-8".into()))?,
        ),
        rmpv::Value::Binary(b) => {
            Value::String(String::from_utf8(b).map_err(|_| DecodeError("binary is not valid UTF-8".into()))?)
        }
        rmpv::Value::Array(items) => Value::List(items.into_iter().map(from_msgpack).collect::<Result<_, _>>()?),
        rmpv::Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| match k {
                    rmpv::Value::String(s) => Ok((
                        s.into_str()
                            .ok_or_else(|| DecodeError("map key is not valid UTF-8".into()))?,
                        from_msgpack(v)?,
                    )),
                    other => Err(DecodeError(format!("map key is not a string: {other}"))),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn to_msgpack(value: &Value) -> rmpv::Value {
    match value {
        // The exact bytes cty writes for a wholly unknown value: fixext1, type 0, one zero byte.
        Value::Unknown => rmpv::Value::Ext(0, vec![0]),
        Value::Null => rmpv::Value::Nil,
        Value::Bool(b) => rmpv::Value::Boolean(*b),
        Value::Number(n) => match whole(*n) {
            Some(i) => rmpv::Value::from(i),
            None => rmpv::Value::F64(*n),
        },
        Value::String(s) => rmpv::Value::from(s.as_str()),
        Value::List(items) => rmpv::Value::Array(items.iter().map(to_msgpack).collect()),
        Value::Map(entries) => rmpv::Value::Map(
            entries
                .iter()
                .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_msgpack(v)))
                .collect(),
        ),
    }
}

fn from_json(raw: serde_json::Value) -> Value {
    match raw {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(entries) => Value::Map(entries.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn msgpack_round_trip_keeps_null_unknown_and_nesting() {
        let value = object(&[
            ("name", Value::string("nightly")),
            ("retention_days", Value::Number(35.0)),
            ("ratio", Value::Number(0.5)),
            ("enabled", Value::Bool(true)),
            ("kms_key_arn", Value::Null),
            ("function_arn", Value::Unknown),
            (
                "db_instance_identifiers",
                Value::List(vec![Value::string("a"), Value::Unknown]),
            ),
            ("tags", object(&[("team", Value::string("data"))])),
        ]);
        let bytes = value.encode_msgpack();
        assert_eq!(Value::decode_msgpack(&bytes).unwrap(), value);
    }

    #[test]
    fn unknown_is_written_as_cty_does() {
        assert_eq!(Value::Unknown.encode_msgpack(), vec![0xd4, 0x00, 0x00]);
    }

    #[test]
    fn refined_unknowns_and_other_extensions_read_as_unknown() {
        // A refined unknown string known not to be null: extension 12 carrying a msgpack map.
        let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3];
        assert_eq!(Value::decode_msgpack(&refined).unwrap(), Value::Unknown);
    }

    #[test]
    fn whole_numbers_are_written_as_integers() {
        assert_eq!(Value::Number(35.0).encode_msgpack(), vec![35]);
        assert_eq!(Value::Number(3650.0).encode_msgpack(), vec![0xcd, 0x0e, 0x42]);
        assert_eq!(
            Value::decode_msgpack(&[0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Value::Number(0.5)
        );
    }

    #[test]
    fn raw_json_state_decodes_without_unknowns() {
        let value = Value::decode_json(br#"{"name":"n","retention_days":35,"tags":{},"kms_key_arn":null}"#).unwrap();
        assert_eq!(value.get("name"), &Value::string("n"));
        assert_eq!(value.get("retention_days"), &Value::Number(35.0));
        assert_eq!(value.get("kms_key_arn"), &Value::Null);
        assert_eq!(value.get("missing"), &Value::Null);
        assert!(!value.has_unknown());
        assert_eq!(Value::decode_msgpack(&value.encode_msgpack()).unwrap(), value);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(Value::decode_msgpack(&[0x92, 0x01]).is_err(), "truncated array");
        assert!(Value::decode_msgpack(&[0x01, 0x02]).is_err());
        assert!(Value::decode_msgpack(&[0x81, 0x01, 0x02]).is_err());
        assert!(Value::decode_json(b"{").is_err());
    }
}

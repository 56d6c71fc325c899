//! Typed views of Terraform objects: each attribute is known, null or unknown (`Tf<T>`), and an object maps to a
//! Rust struct through [`tf_object!`](crate::tf_object).

use std::collections::{BTreeMap, BTreeSet};

use super::diag::{AttrPath, Diagnostics};
use super::value::Value;

/// One attribute as Terraform holds it. A collection with an unknown element is `Unknown` as a whole: nothing
/// here can be decided about it until apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Tf<T> {
    Unknown,
    #[default]
    Null,
    Known(T),
}

impl<T> Tf<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Tf::Known(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Tf::Unknown)
    }
}

/// A Rust type that a Terraform attribute converts to and from.
pub trait TfType: Sized {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics>;
    fn to_value(&self) -> Value;

    /// A resource's or data source's whole object (the root of the attribute paths).
    fn from_root(value: &Value) -> Result<Self, Diagnostics> {
        Self::from_known(value, &AttrPath::default())
    }
}

impl<T: TfType> Tf<T> {
    pub fn from_value(value: &Value, path: &AttrPath) -> Result<Tf<T>, Diagnostics> {
        Ok(match value {
            Value::Null => Tf::Null,
            v if v.has_unknown() => Tf::Unknown,
            v => Tf::Known(T::from_known(v, path)?),
        })
    }

    pub fn to_value(&self) -> Value {
        match self {
            Tf::Unknown => Value::Unknown,
            Tf::Null => Value::Null,
            Tf::Known(v) => v.to_value(),
        }
    }
}

fn type_error(path: &AttrPath, expected: &str, got: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.attribute_error(
        path.clone(),
        format!("Invalid value for {path}"),
        format!("{path} must be {expected}, got {got:?}."),
    );
    d
}

impl TfType for String {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(type_error(path, "a string", other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl TfType for bool {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(type_error(path, "a bool", other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

/// Every number this provider takes is a whole count (days, hours, megabytes), so a fraction is refused here
/// with the attribute named rather than rounded silently.
impl TfType for i64 {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        let number = match value {
            Value::Number(n) => Some(*n),
            // cty writes numbers that fit no int64 or float64 as decimal strings.
            Value::String(s) => s.parse::<f64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if n.fract() == 0.0 && n.abs() <= i64::MAX as f64 => Ok(n as i64),
            _ => Err(type_error(path, "a whole number", value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(*self as f64)
    }
}

impl TfType for BTreeSet<String> {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        match value {
            Value::List(items) => items.iter().map(|item| String::from_known(item, path)).collect(),
            other => Err(type_error(path, "a set of strings", other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::List(self.iter().map(|s| Value::String(s.clone())).collect())
    }
}

/// A list: of strings, or of objects (the blocks of a `List` nested block type, each at its index's path).
impl<T: TfType> TfType for Vec<T> {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        match value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_known(item, &path.index(i)))
                .collect(),
            other => Err(type_error(path, "a list", other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::List(self.iter().map(T::to_value).collect())
    }
}

impl TfType for BTreeMap<String, String> {
    fn from_known(value: &Value, path: &AttrPath) -> Result<Self, Diagnostics> {
        match value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), String::from_known(v, &path.key(k))?)))
                .collect(),
            other => Err(type_error(path, "a map of strings", other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Map(
            self.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

/// Declares a struct whose fields are the attributes of a Terraform object (field name = attribute name), with
/// `from_value` (collecting a diagnostic per ill-typed attribute) and `to_value` (writing every attribute, null
/// included, as Terraform requires of an object).
#[macro_export]
macro_rules! tf_object {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $crate::plugin::typed::Tf<$ty>,)*
        }

        impl $name {
            /// Reads the object at `at` (the empty path for a resource's root object).
            pub fn from_value(
                value: &$crate::plugin::value::Value,
                at: &$crate::plugin::diag::AttrPath,
            ) -> Result<Self, $crate::plugin::diag::Diagnostics> {
                let mut diagnostics = $crate::plugin::diag::Diagnostics::new();
                let object = Self {
                    $($field: $crate::plugin::typed::Tf::from_value(
                        value.get(stringify!($field)),
                        &at.attribute(stringify!($field)),
                    )
                    .unwrap_or_else(|d| {
                        diagnostics.extend(d);
                        $crate::plugin::typed::Tf::Unknown
                    }),)*
                };
                if diagnostics.has_errors() { Err(diagnostics) } else { Ok(object) }
            }

            // Not every object goes back to Terraform: the provider block is only ever read.
            #[allow(dead_code)]
            pub fn to_value(&self) -> $crate::plugin::value::Value {
                $crate::plugin::value::Value::Map(
                    [$((stringify!($field).to_string(), self.$field.to_value()),)*].into_iter().collect(),
                )
            }
        }

        impl $crate::plugin::typed::TfType for $name {
            fn from_known(
                value: &$crate::plugin::value::Value,
                path: &$crate::plugin::diag::AttrPath,
            ) -> Result<Self, $crate::plugin::diag::Diagnostics> {
                $name::from_value(value, path)
            }

            fn to_value(&self) -> $crate::plugin::value::Value {
                $name::to_value(self)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::tf_object! {
        pub struct Sample {
            pub name: String,
            pub days: i64,
            pub on: bool,
            pub ids: BTreeSet<String>,
            pub tags: BTreeMap<String, String>,
        }
    }

    #[test]
    fn object_round_trips_with_null_and_unknown() {
        let sample = Sample {
            name: Tf::Known("n".into()),
            days: Tf::Unknown,
            on: Tf::Null,
            ids: Tf::Known(["b".to_string(), "a".to_string()].into()),
            tags: Tf::Known([("k".to_string(), "v".to_string())].into()),
        };
        let value = sample.to_value();
        assert_eq!(value.get("on"), &Value::Null, "null attributes are written explicitly");
        assert_eq!(Sample::from_value(&value, &AttrPath::default()).unwrap(), sample);
    }

    #[test]
    fn partially_unknown_collection_is_unknown() {
        let value = Value::Map([("ids".to_string(), Value::List(vec![Value::string("a"), Value::Unknown]))].into());
        assert_eq!(
            Sample::from_value(&value, &AttrPath::default()).unwrap().ids,
            Tf::Unknown
        );
    }

    #[test]
    fn wrong_types_name_the_attribute() {
        let value = Value::Map(
            [
                ("days".to_string(), Value::Number(1.5)),
                ("name".to_string(), Value::Bool(true)),
            ]
            .into(),
        );
        let errors = Sample::from_value(&value, &AttrPath::default()).unwrap_err();
        let paths: Vec<String> = errors.0.iter().map(|d| d.path.as_ref().unwrap().to_string()).collect();
        assert_eq!(paths, ["name", "days"]);
        assert!(errors.0[1].detail.contains("whole number"));
    }

    #[test]
    fn decimal_string_numbers_are_accepted() {
        assert_eq!(i64::from_known(&Value::string("35"), &AttrPath::root("x")).unwrap(), 35);
    }
}

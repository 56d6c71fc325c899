//! Schemas as the provider declares them: attributes with their type, role, markdown description and default,
//! nested blocks; converted to the protocol's `Schema` for `GetProviderSchema`.

use super::diag::{AttrPath, Diagnostics};
use super::proto::tfplugin6 as pb;
use super::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum AttrType {
    String,
    Number,
    Bool,
    List(Box<AttrType>),
    Set(Box<AttrType>),
    Map(Box<AttrType>),
    /// An object of these attributes (the elements of a computed list of records).
    Object(Vec<(&'static str, AttrType)>),
}

impl AttrType {
    pub fn set_of_strings() -> AttrType {
        AttrType::Set(Box::new(AttrType::String))
    }

    pub fn list_of_strings() -> AttrType {
        AttrType::List(Box::new(AttrType::String))
    }

    pub fn map_of_strings() -> AttrType {
        AttrType::Map(Box::new(AttrType::String))
    }

    /// The cty type in its JSON form, as `Schema.Attribute.type` carries it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AttrType::String => "string".into(),
            AttrType::Number => "number".into(),
            AttrType::Bool => "bool".into(),
            AttrType::List(element) => serde_json::json!(["list", element.to_json()]),
            AttrType::Set(element) => serde_json::json!(["set", element.to_json()]),
            AttrType::Map(element) => serde_json::json!(["map", element.to_json()]),
            AttrType::Object(attributes) => {
                let attributes: serde_json::Map<String, serde_json::Value> = attributes
                    .iter()
                    .map(|(name, ty)| (name.to_string(), ty.to_json()))
                    .collect();
                serde_json::json!(["object", attributes])
            }
        }
    }
}

/// A check on an attribute's value that also says, for the docs and the schema, what it allows: the same value
/// checks and describes, so the two cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validator {
    /// A whole number from `min` to `max`.
    WholeRange { min: i64, max: i64 },
    /// One of these whole numbers (a service that takes only certain values).
    OneOf(&'static [i64]),
}

fn listed(values: &[i64]) -> String {
    values.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

impl Validator {
    pub fn describe(&self) -> String {
        match self {
            Validator::WholeRange { min, max } => format!("{min} to {max}"),
            Validator::OneOf(values) => format!("One of {}", listed(values)),
        }
    }

    /// The error for a known value it refuses; unknown and null values are judged once known.
    pub fn check(&self, attribute: &str, value: &Value) -> Option<String> {
        match (self, value) {
            (Validator::WholeRange { min, max }, Value::Number(n)) if n.fract() == 0.0 => {
                let n = *n as i64;
                (!(*min..=*max).contains(&n)).then(|| format!("{attribute} must be from {min} to {max}, got {n}."))
            }
            (Validator::OneOf(values), Value::Number(n)) => (n.fract() != 0.0 || !values.contains(&(*n as i64)))
                .then(|| format!("{attribute} must be one of {}, got {n}.", listed(values))),
            _ => None,
        }
    }
}

/// How an attribute's planned value follows from its prior one (terraform-plugin-framework's plan modifiers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanModifier {
    /// A change of the value plans a replacement.
    RequiresReplace,
    /// A computed value the configuration does not set keeps its prior value on update, instead of becoming
    /// unknown (the resource's hook may still derive a new one).
    UseStateForUnknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Required,
    Optional,
    /// Set by the user or, when left out, by the provider (a default, or a value found on create).
    OptionalComputed,
    Computed,
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub role: Role,
    pub sensitive: bool,
    pub deprecated: bool,
    /// Planned when the configuration leaves the attribute out; only for `OptionalComputed`.
    pub default: Option<Value>,
    pub modifiers: Vec<PlanModifier>,
    pub validators: Vec<Validator>,
    pub description: &'static str,
}

impl Attribute {
    fn new(name: &'static str, ty: AttrType, role: Role, description: &'static str) -> Attribute {
        Attribute {
            name,
            ty,
            role,
            sensitive: false,
            deprecated: false,
            default: None,
            modifiers: Vec::new(),
            validators: Vec::new(),
            description,
        }
    }

    pub fn required(name: &'static str, ty: AttrType, description: &'static str) -> Attribute {
        Attribute::new(name, ty, Role::Required, description)
    }

    pub fn optional(name: &'static str, ty: AttrType, description: &'static str) -> Attribute {
        Attribute::new(name, ty, Role::Optional, description)
    }

    pub fn optional_computed(name: &'static str, ty: AttrType, description: &'static str) -> Attribute {
        Attribute::new(name, ty, Role::OptionalComputed, description)
    }

    pub fn computed(name: &'static str, ty: AttrType, description: &'static str) -> Attribute {
        Attribute::new(name, ty, Role::Computed, description)
    }

    pub fn with_default(mut self, default: Value) -> Attribute {
        assert_eq!(
            self.role,
            Role::OptionalComputed,
            "{}: only an optional computed attribute has a default",
            self.name
        );
        self.default = Some(default);
        self
    }

    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }

    pub fn validated(mut self, validator: Validator) -> Attribute {
        self.validators.push(validator);
        self
    }

    /// The description with what the validators allow, as the schema and the docs show it.
    pub fn full_description(&self) -> String {
        let allowed: Vec<String> = self.validators.iter().map(Validator::describe).collect();
        if allowed.is_empty() {
            self.description.to_string()
        } else {
            format!("{} {}.", self.description, allowed.join("; "))
        }
    }

    /// Marks the attribute deprecated in the schema; the resource's validation says why, as a warning.
    pub fn deprecated(mut self) -> Attribute {
        self.deprecated = true;
        self
    }

    pub fn requires_replace(mut self) -> Attribute {
        self.modifiers.push(PlanModifier::RequiresReplace);
        self
    }

    pub fn use_state_for_unknown(mut self) -> Attribute {
        self.modifiers.push(PlanModifier::UseStateForUnknown);
        self
    }

    pub fn has(&self, modifier: PlanModifier) -> bool {
        self.modifiers.contains(&modifier)
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        pb::schema::Attribute {
            name: self.name.to_string(),
            r#type: self.ty.to_json().to_string().into_bytes(),
            nested_type: None,
            description: self.full_description(),
            required: self.role == Role::Required,
            optional: matches!(self.role, Role::Optional | Role::OptionalComputed),
            computed: matches!(self.role, Role::Computed | Role::OptionalComputed),
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
            write_only: false,
        }
    }
}

/// How often a nested block may appear, as Terraform's `NestingMode` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most once (`assume_role { ... }`); null when absent.
    Single,
    /// A list of blocks in the order written (`copy { ... } copy { ... }`), at most `max_items` (0: no limit);
    /// an empty list when absent. Terraform itself refuses more than `max_items`.
    List { max_items: usize },
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub name: &'static str,
    pub nesting: Nesting,
    pub block: Block,
}

impl NestedBlock {
    pub fn single(name: &'static str, block: Block) -> NestedBlock {
        NestedBlock {
            name,
            nesting: Nesting::Single,
            block,
        }
    }

    pub fn list(name: &'static str, max_items: usize, block: Block) -> NestedBlock {
        NestedBlock {
            name,
            nesting: Nesting::List { max_items },
            block,
        }
    }

    /// Each instance of the block in `value` with its path: none for a null or unknown value.
    fn instances<'v>(&self, value: &'v Value, at: &AttrPath) -> Vec<(AttrPath, &'v Value)> {
        match (self.nesting, value) {
            (Nesting::Single, Value::Map(_)) => vec![(at.clone(), value)],
            (Nesting::List { .. }, Value::List(items)) => {
                items.iter().enumerate().map(|(i, item)| (at.index(i), item)).collect()
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Block {
    pub description: &'static str,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    /// Every attribute's validators on a configuration, nested blocks' included: the part of validation the
    /// schema declares itself.
    pub fn validate(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        self.validate_at(config, &AttrPath::default(), &mut d);
        d
    }

    fn validate_at(&self, config: &Value, at: &AttrPath, d: &mut Diagnostics) {
        for attribute in &self.attributes {
            for validator in &attribute.validators {
                if let Some(message) = validator.check(attribute.name, config.get(attribute.name)) {
                    d.attribute_error(
                        at.attribute(attribute.name),
                        format!("Invalid {}", attribute.name),
                        message,
                    );
                }
            }
        }
        for nested in &self.blocks {
            for (path, instance) in nested.instances(config.get(nested.name), &at.attribute(nested.name)) {
                nested.block.validate_at(instance, &path, d);
            }
        }
    }

    /// The names of the attributes and of the nested block types: the members of the block's object.
    #[cfg(test)]
    pub fn members(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attributes
            .iter()
            .map(|a| a.name)
            .chain(self.blocks.iter().map(|b| b.name))
    }

    fn to_proto(&self, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self
                .blocks
                .iter()
                .map(|nested| {
                    let (nesting, max_items) = match nested.nesting {
                        Nesting::Single => (pb::schema::nested_block::NestingMode::Single, 0),
                        Nesting::List { max_items } => (pb::schema::nested_block::NestingMode::List, max_items),
                    };
                    pb::schema::NestedBlock {
                        type_name: nested.name.to_string(),
                        block: Some(nested.block.to_proto(0)),
                        nesting: nesting as i32,
                        min_items: 0,
                        max_items: max_items as i64,
                    }
                })
                .collect(),
            description: self.description.to_string(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

#[cfg(test)]
impl Schema {
    /// A resource's typed model (its default, as a value) has exactly the schema's attributes and blocks.
    pub fn assert_model_matches(&self, model: &Value) {
        let mut from_schema: Vec<&str> = self.block.members().collect();
        from_schema.sort();
        let Value::Map(entries) = model else {
            panic!("a model is an object")
        };
        let from_model: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(from_schema, from_model);
    }
}

impl Schema {
    /// An object with exactly the schema's attributes and block types: what a stored state lacks is null (an
    /// empty list for a list block, as Terraform holds absent blocks), what the schema no longer has is dropped.
    pub fn conform(&self, state: &Value) -> Value {
        let attributes = self
            .block
            .attributes
            .iter()
            .map(|a| (a.name.to_string(), state.get(a.name).clone()));
        let blocks = self.block.blocks.iter().map(|b| {
            let value = match (b.nesting, state.get(b.name)) {
                (Nesting::List { .. }, Value::Null) => Value::List(Vec::new()),
                (_, value) => value.clone(),
            };
            (b.name.to_string(), value)
        });
        Value::Map(attributes.chain(blocks).collect())
    }

    /// `state` with the static defaults filled in where it holds null (an imported skeleton, a state written
    /// before an attribute existed).
    pub fn with_defaults(&self, state: &Value) -> Value {
        let Value::Map(entries) = state else {
            return state.clone();
        };
        let mut entries = entries.clone();
        for attribute in &self.block.attributes {
            if let (Role::OptionalComputed, Some(default)) = (attribute.role, &attribute.default) {
                let entry = entries.entry(attribute.name.to_string()).or_insert(Value::Null);
                if entry.is_null() {
                    *entry = default.clone();
                }
            }
        }
        Value::Map(entries)
    }

    /// A stored state of schema `version` brought to this schema; a newer one is refused, naming `type_name`.
    pub fn upgrade(&self, type_name: &str, version: i64, state: &Value) -> (Value, Diagnostics) {
        let mut d = Diagnostics::new();
        if version > self.version {
            d.error(
                "State written by a newer provider",
                format!(
                    "This {type_name} state has schema version {version}; this provider knows up to {}. Upgrade \
                     the provider.",
                    self.version
                ),
            );
            return (Value::Null, d);
        }
        (self.conform(state), d)
    }

    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto(self.version)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_written_as_cty_json() {
        assert_eq!(AttrType::String.to_json().to_string(), r#""string""#);
        assert_eq!(AttrType::set_of_strings().to_json().to_string(), r#"["set","string"]"#);
        assert_eq!(AttrType::map_of_strings().to_json().to_string(), r#"["map","string"]"#);
        assert_eq!(
            AttrType::list_of_strings().to_json().to_string(),
            r#"["list","string"]"#
        );
        let records = AttrType::List(Box::new(AttrType::Object(vec![("id", AttrType::String)])));
        assert_eq!(records.to_json().to_string(), r#"["list",["object",{"id":"string"}]]"#);
    }

    #[test]
    fn roles_map_to_required_optional_computed_flags() {
        let flags = |a: Attribute| {
            let p = a.to_proto();
            (p.required, p.optional, p.computed)
        };
        assert_eq!(
            flags(Attribute::required("a", AttrType::String, "d")),
            (true, false, false)
        );
        assert_eq!(
            flags(Attribute::optional("a", AttrType::String, "d")),
            (false, true, false)
        );
        assert_eq!(
            flags(Attribute::optional_computed("a", AttrType::String, "d")),
            (false, true, true)
        );
        assert_eq!(
            flags(Attribute::computed("a", AttrType::String, "d")),
            (false, false, true)
        );
    }
}

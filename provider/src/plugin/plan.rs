//! The plan pipeline every resource shares, in the order terraform-plugin-framework uses: static defaults for
//! optional attributes left out, computed values (the prior one under `UseStateForUnknown`, else unknown), the
//! resource's own hook (what it can derive), then `RequiresReplace` (any difference from the prior value, unknown
//! included), after which the resource is planned anew, as a create: nothing carries over to its replacement.

use std::collections::BTreeMap;

use super::diag::{AttrPath, Diagnostics};
use super::schema::{PlanModifier, Role, Schema};
use super::typed::TfType;
use super::value::Value;
use super::{PlanRequest, Planned};

/// The resource's own step: fills what it can derive into `planned`, given the configuration.
type Hook<'a> = dyn Fn(&mut BTreeMap<String, Value>, &Value) + 'a;

fn plan(schema: &Schema, request: PlanRequest, hook: &Hook<'_>) -> Planned {
    let PlanRequest {
        prior,
        proposed,
        config,
    } = request;
    let Value::Map(proposed) = proposed else {
        // Destroy: nothing to plan beyond the null state.
        return Planned::default();
    };
    let mut planned = draft(schema, &prior, &proposed, &config, hook);
    let replace: Vec<AttrPath> = if prior.is_null() {
        Vec::new()
    } else {
        schema
            .block
            .attributes
            .iter()
            .filter(|a| {
                a.has(PlanModifier::RequiresReplace) && planned.get(a.name).unwrap_or(&Value::Null) != prior.get(a.name)
            })
            .map(|a| AttrPath::root(a.name))
            .collect()
    };
    if !replace.is_empty() {
        planned = draft(schema, &Value::Null, &proposed, &config, hook);
    }
    Planned {
        state: Value::Map(planned),
        requires_replace: replace,
        diagnostics: Diagnostics::new(),
    }
}

/// The pipeline with the hook written on the resource's model. Only the attributes the hook changes are written
/// back, so a value it does not touch keeps exactly what Terraform sent (a map with one unknown element stays
/// such a map rather than becoming unknown as a whole, which Terraform would refuse for a configured attribute).
pub fn plan_model<M: TfType>(schema: &Schema, request: PlanRequest, derive: &(dyn Fn(&mut M, &M) + '_)) -> Planned {
    plan(schema, request, &|planned, config| {
        let (Ok(mut draft), Ok(config)) = (M::from_root(&Value::Map(planned.clone())), M::from_root(config)) else {
            return;
        };
        let Value::Map(before) = draft.to_value() else { return };
        derive(&mut draft, &config);
        let Value::Map(after) = draft.to_value() else { return };
        for (attribute, value) in after {
            if before.get(&attribute) != Some(&value) {
                planned.insert(attribute, value);
            }
        }
    })
}

fn draft(
    schema: &Schema,
    prior: &Value,
    proposed: &BTreeMap<String, Value>,
    config: &Value,
    hook: &Hook<'_>,
) -> BTreeMap<String, Value> {
    let mut planned = proposed.clone();
    let updating = !prior.is_null();
    for attribute in &schema.block.attributes {
        let kept = || {
            if updating && attribute.has(PlanModifier::UseStateForUnknown) {
                prior.get(attribute.name).clone()
            } else {
                Value::Unknown
            }
        };
        let value = match attribute.role {
            Role::Required | Role::Optional => continue,
            Role::OptionalComputed if !config.get(attribute.name).is_null() => continue,
            Role::OptionalComputed => attribute.default.clone().unwrap_or_else(kept),
            Role::Computed => kept(),
        };
        planned.insert(attribute.name.to_string(), value);
    }
    hook(&mut planned, config);
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::schema::{AttrType, Attribute, Block};

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block {
                description: "",
                attributes: vec![
                    Attribute::required("name", AttrType::String, "").requires_replace(),
                    Attribute::optional_computed("size", AttrType::Number, "").with_default(Value::Number(3.0)),
                    Attribute::computed("arn", AttrType::String, "").use_state_for_unknown(),
                    Attribute::computed("etag", AttrType::String, ""),
                ],
                blocks: Vec::new(),
            },
        }
    }

    fn object(entries: &[(&str, Value)]) -> Value {
        Value::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn defaults_modifiers_and_the_hook_in_order() {
        let prior = object(&[
            ("name", Value::string("a")),
            ("size", Value::Number(3.0)),
            ("arn", Value::string("arn:a")),
            ("etag", Value::string("e1")),
        ]);
        let config = object(&[("name", Value::string("a")), ("size", Value::Null)]);
        let request = |prior: &Value, config: &Value| PlanRequest {
            prior: prior.clone(),
            proposed: config.clone(),
            config: config.clone(),
        };
        let update = plan(&schema(), request(&prior, &config), &|_, _| {});
        assert_eq!(update.state.get("size"), &Value::Number(3.0), "the static default");
        assert_eq!(update.state.get("arn"), &Value::string("arn:a"), "UseStateForUnknown");
        assert_eq!(
            update.state.get("etag"),
            &Value::Unknown,
            "computed without the modifier"
        );
        assert!(update.requires_replace.is_empty());

        let renamed = object(&[("name", Value::string("b")), ("size", Value::Null)]);
        let replace = plan(&schema(), request(&prior, &renamed), &|planned, _| {
            planned.insert("etag".into(), Value::string("derived"));
        });
        assert_eq!(replace.requires_replace, [AttrPath::root("name")]);
        // Planned anew: nothing of the replaced object carries over, what the hook derives does.
        assert_eq!(replace.state.get("arn"), &Value::Unknown);
        assert_eq!(replace.state.get("etag"), &Value::string("derived"));
    }
}

//! The `rdsbackup_policy` resource: the protocol-facing lifecycle (validate, plan, apply, read, upgrade,
//! import) composed from the schema, the validation rules, the planner and the AWS modules.

pub mod names;
mod plan;
pub mod schema;
mod validate;

use std::sync::Arc;

use crate::plugin::diag::Diagnostics;
use crate::plugin::schema::Schema;
use crate::plugin::typed::Tf;
use crate::plugin::value::Value;
use crate::plugin::{Outcome, PlanRequest, Planned, Resource};
use crate::provider::ProviderState;
use names::Location;

pub struct PolicyResource {
    schema: Schema,
    provider: Arc<ProviderState>,
}

impl PolicyResource {
    pub fn new(provider: Arc<ProviderState>) -> PolicyResource {
        PolicyResource {
            schema: schema::schema(),
            provider,
        }
    }

    fn location(&self) -> Option<Location> {
        let aws = self.provider.aws.get()?;
        Some(Location {
            partition: aws.partition.clone(),
            region: aws.region().to_string(),
            account_id: aws.account_id.clone(),
        })
    }

    /// An object with exactly the schema's attributes: what a stored state lacks is null, what the schema no
    /// longer has is dropped.
    fn conform(&self, state: &Value) -> Value {
        Value::Map(
            self.schema
                .block
                .attributes
                .iter()
                .map(|a| (a.name.to_string(), state.get(a.name).clone()))
                .collect(),
        )
    }
}

fn not_yet(action: &str) -> Outcome {
    let mut diagnostics = Diagnostics::new();
    diagnostics.error(
        format!("rdsbackup_policy cannot be {action} by this build"),
        "This build of the provider validates and plans policies; provisioning them on AWS is not part of it.",
    );
    Outcome {
        state: Value::Null,
        diagnostics,
    }
}

#[tonic::async_trait]
impl Resource for PolicyResource {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate::validate(config)
    }

    fn plan(&self, request: PlanRequest) -> Planned {
        let location = self.location();
        let default_tags = self
            .provider
            .aws
            .get()
            .map(|aws| aws.default_tags.clone())
            .unwrap_or_default();
        plan::plan(
            &self.schema,
            request,
            &plan::PlanContext {
                location: location.as_ref(),
                default_tags: &default_tags,
                code_sha256: None,
            },
        )
    }

    async fn apply(&self, prior: Value, planned: Value, _config: Value) -> Outcome {
        if planned.is_null() {
            return Outcome {
                state: prior,
                ..not_yet("destroyed")
            };
        }
        Outcome {
            state: prior,
            ..not_yet("created or updated")
        }
    }

    async fn read(&self, state: Value) -> Outcome {
        Outcome {
            state,
            diagnostics: Diagnostics::new(),
        }
    }

    fn upgrade(&self, version: i64, state: Value) -> Outcome {
        let mut diagnostics = Diagnostics::new();
        if version > self.schema.version {
            diagnostics.error(
                "State written by a newer provider",
                format!(
                    "This rdsbackup_policy state has schema version {version}; this provider knows up to {}. \
                     Upgrade the provider.",
                    self.schema.version
                ),
            );
            return Outcome {
                state: Value::Null,
                diagnostics,
            };
        }
        Outcome {
            state: self.conform(&state),
            diagnostics,
        }
    }

    /// The skeleton of an imported policy, its name; `ReadResource`, which Terraform calls next, fills in the rest.
    async fn import(&self, id: &str) -> Outcome {
        let mut diagnostics = Diagnostics::new();
        if let Err(message) = crate::rules::policy_name(id) {
            diagnostics.error(
                "Cannot import rdsbackup_policy",
                format!("Import takes the policy's name. {message}"),
            );
            return Outcome {
                state: Value::Null,
                diagnostics,
            };
        }
        let skeleton = schema::PolicyModel {
            name: Tf::Known(id.to_string()),
            id: Tf::Known(id.to_string()),
            ..Default::default()
        };
        Outcome {
            state: skeleton.to_value(),
            diagnostics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_conforms_stored_state_to_the_schema() {
        let resource = PolicyResource::new(Arc::new(ProviderState::default()));
        let stored = Value::decode_json(br#"{"name":"nightly","retired_attribute":1,"retention_days":7}"#).unwrap();
        let outcome = resource.upgrade(0, stored);
        assert!(outcome.diagnostics.0.is_empty());
        assert_eq!(outcome.state.get("name"), &Value::string("nightly"));
        assert_eq!(outcome.state.get("retention_days"), &Value::Number(7.0));
        let Value::Map(entries) = &outcome.state else {
            panic!("an object")
        };
        assert!(!entries.contains_key("retired_attribute"));
        assert_eq!(entries.len(), resource.schema().block.attributes.len());
        assert!(resource.upgrade(1, Value::Null).diagnostics.has_errors());
    }
}

//! The `rdsbackup_policy` resource: the protocol-facing lifecycle (validate, plan, apply, read, upgrade,
//! import) composed from the schema, the validation rules, the planner and the AWS modules.

mod iam_policy;
pub mod names;
mod plan;
mod quota;
mod refresh;
pub mod schema;
mod stack;
mod validate;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::aws::AwsSettings;
use crate::aws::bucket;
use crate::aws::cluster_members;
use crate::aws::function_code;
use crate::aws::logs_key;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::schema::Schema;
use crate::plugin::typed::Tf;
use crate::plugin::value::Value;
use crate::plugin::{Outcome, PlanRequest, Planned, Resource};
use crate::provider::ProviderState;
use names::Location;
use schema::PolicyModel;
use stack::Desired;

pub struct PolicyResource {
    schema: Schema,
    provider: Arc<ProviderState>,
}

fn location(aws: &AwsSettings) -> Location {
    Location {
        partition: aws.partition.clone(),
        region: aws.region().to_string(),
        account_id: aws.account_id.clone(),
    }
}

fn failure(summary: &str, detail: impl std::fmt::Display) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(summary, detail.to_string());
    d
}

impl PolicyResource {
    pub fn new(provider: Arc<ProviderState>) -> PolicyResource {
        PolicyResource {
            schema: schema::schema(),
            provider,
        }
    }

    fn aws(&self) -> Result<&AwsSettings, Diagnostics> {
        self.provider.aws.get().map(Arc::as_ref).ok_or_else(|| {
            failure(
                "Provider not configured",
                "The rdsbackup provider was not configured before use; this is a bug.",
            )
        })
    }

    fn plan_context<'a>(&self, location: Option<&'a Location>, aws: Option<&'a AwsSettings>) -> plan::PlanContext<'a> {
        static NO_TAGS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        plan::PlanContext {
            location,
            default_tags: aws.map_or(&NO_TAGS, |aws| &aws.default_tags),
            code_sha256: function_code::CODE_SHA256,
        }
    }

    async fn create_or_update(&self, prior: &Value, planned: Value, config: Value) -> Result<Outcome, Diagnostics> {
        let aws = self.aws()?;
        let here = location(aws);
        // Values the plan could not know (a name from another resource) are derived now, as planning would.
        let request = PlanRequest {
            prior: prior.clone(),
            proposed: planned,
            config,
        };
        let planned = plan::plan(&self.schema, request, &self.plan_context(Some(&here), Some(aws))).state;
        let model = PolicyModel::from_value(&planned, &AttrPath::default())?;
        let bucket = model.bucket_name.known().cloned().unwrap_or_default();
        let members = cluster_members::clusters_of(&aws.clients.rds, listed_instances(&model))
            .await
            .map_err(|e| failure(APPLY_FAILED, e))?;
        let desired = Desired::new(&model, &here, bucket, &members).map_err(|e| failure(APPLY_FAILED, e))?;
        if let Some((_, message)) = desired.limits_exceeded().into_iter().next() {
            return Err(failure(APPLY_FAILED, message));
        }
        // A key the log group cannot use would stop the apply half-way: checked when the key is new to the stack.
        if let Some(key) = &desired.kms_key_arn
            && prior.get("kms_key_arn") != &Value::string(key.clone())
            && let Some(refusal) = logs_key::refusal(&aws.clients.kms, key, &here.region)
                .await
                .map_err(|e| failure(APPLY_FAILED, e))?
        {
            return Err(failure(APPLY_FAILED, refusal));
        }
        Ok(match stack::converge(&aws.clients, &desired).await {
            Ok(()) => Outcome {
                state: planned,
                diagnostics: Diagnostics::new(),
            },
            // A failed create still records what it made, so that Terraform tracks it (and a second apply or a
            // destroy finishes it); a failed update keeps the prior state, and the next plan shows the rest.
            Err(e) => Outcome {
                state: if prior.is_null() {
                    planned.known_or_null()
                } else {
                    prior.clone()
                },
                diagnostics: failure(APPLY_FAILED, e),
            },
        })
    }

    /// Refuses a bucket holding records without `force_destroy` before deleting anything.
    async fn destroy(&self, prior: &Value) -> Result<Outcome, Diagnostics> {
        const FAILED: &str = "Cannot destroy rdsbackup_policy";
        let aws = self.aws()?;
        let here = location(aws);
        let model = PolicyModel::from_value(&self.schema.with_defaults(prior), &AttrPath::default())?;
        let bucket = refresh::bucket_name(&model, None, &here);
        // Destroy deletes the role whatever it grants: which clusters it names does not matter here.
        let desired = Desired::new(&model, &here, bucket, &BTreeSet::new()).map_err(|e| failure(FAILED, e))?;
        if model.force_destroy.known() != Some(&true)
            && !bucket::is_empty(&aws.clients.s3, &desired.bucket, &desired.account_id)
                .await
                .map_err(|e| failure(FAILED, e))?
        {
            return Err(failure(
                "Bucket not empty",
                format!(
                    "The bucket {} holds snapshot records, so nothing was deleted. Set force_destroy = true (and \
                     apply) to delete it with its records, or empty it first. RDS snapshots are never deleted by \
                     destroy either way.",
                    desired.bucket
                ),
            ));
        }
        stack::destroy(&aws.clients, &desired)
            .await
            .map_err(|e| failure(FAILED, e))?;
        Ok(Outcome {
            state: Value::Null,
            diagnostics: Diagnostics::new(),
        })
    }

    /// Reads every part of the stack concurrently. Arguments take the values found; `drift` lists what else
    /// differs; when nothing of the stack is left, the resource is gone.
    async fn refresh(&self, state: &Value) -> Result<Value, Diagnostics> {
        const FAILED: &str = "Cannot read rdsbackup_policy";
        let aws = self.aws()?;
        let here = location(aws);
        let recorded = PolicyModel::from_value(&self.schema.with_defaults(state), &AttrPath::default())?;
        // The function's environment names the bucket of an imported stack; read it first when the state cannot.
        let function_env = match recorded.bucket_name.known() {
            Some(_) => None,
            None => {
                let name = names::function_name(recorded.name.known().map_or("", String::as_str));
                let found = crate::aws::function::read(&aws.clients.lambda, &name).await;
                found.map_err(|e| failure(FAILED, e))?.map(|f| f.environment)
            }
        };
        let bucket = refresh::bucket_name(&recorded, function_env.as_ref(), &here);
        let no_members = BTreeSet::new();
        let describe = |model: &PolicyModel, members: &BTreeSet<String>| {
            Desired::new(model, &here, bucket.clone(), members).map_err(|e| failure(FAILED, e))
        };
        // Which clusters the listed instances belong to is read with the stack, not after it.
        let names = describe(&recorded, &no_members)?;
        let (observed, members) = tokio::join!(
            stack::observe(&aws.clients, &names),
            cluster_members::clusters_of(&aws.clients.rds, listed_instances(&recorded)),
        );
        let observed = observed.map_err(|e| failure(FAILED, e))?;
        let members = members.map_err(|e| failure(FAILED, e))?;
        if observed.nothing_left() {
            return Ok(Value::Null);
        }
        let mut found = refresh::reflect(&recorded, &observed, &here, &bucket, &aws.default_tags);
        // Drift is judged against the attributes as found, so a change already shown as an argument's change
        // (or an import) is not reported twice.
        found.drift = Tf::Known(observed.drift(&describe(&found, &members)?));
        Ok(found.to_value())
    }
}

fn listed_instances(model: &PolicyModel) -> &BTreeSet<String> {
    static NONE: BTreeSet<String> = BTreeSet::new();
    model.db_instance_identifiers.known().unwrap_or(&NONE)
}

const APPLY_FAILED: &str = "Cannot apply rdsbackup_policy";

#[tonic::async_trait]
impl Resource for PolicyResource {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate::validate(config)
    }

    async fn plan(&self, request: PlanRequest) -> Planned {
        let aws = self.provider.aws.get().map(Arc::as_ref);
        let here = aws.map(location);
        let prior = PolicyModel::from_value(&request.prior, &AttrPath::default()).ok();
        let mut planned = plan::plan(&self.schema, request, &self.plan_context(here.as_ref(), aws));
        if let Some(aws) = aws
            && !planned.diagnostics.has_errors()
            && let Ok(model) = PolicyModel::from_value(&planned.state, &AttrPath::default())
        {
            let prior = prior.filter(|_| planned.requires_replace.is_empty());
            planned
                .diagnostics
                .extend(quota::check(&aws.clients.rds, prior.as_ref(), &model).await);
        }
        planned
    }

    async fn apply(&self, prior: Value, planned: Value, config: Value) -> Outcome {
        let outcome = match planned {
            Value::Null => self.destroy(&prior).await,
            planned => self.create_or_update(&prior, planned, config).await,
        };
        outcome.unwrap_or_else(|diagnostics| Outcome {
            state: prior,
            diagnostics,
        })
    }

    async fn read(&self, state: Value) -> Outcome {
        match self.refresh(&state).await {
            Ok(found) => Outcome {
                state: found,
                diagnostics: Diagnostics::new(),
            },
            Err(diagnostics) => Outcome { state, diagnostics },
        }
    }

    /// The skeleton of an imported policy, its name; `ReadResource`, which Terraform calls next, reads the rest.
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
        let skeleton = PolicyModel {
            name: Tf::Known(id.to_string()),
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
        let (state, diagnostics) = resource.schema().upgrade("rdsbackup_policy", 0, &stored);
        assert!(diagnostics.0.is_empty());
        assert_eq!(state.get("name"), &Value::string("nightly"));
        assert_eq!(state.get("retention_days"), &Value::Number(7.0));
        let Value::Map(entries) = &state else {
            panic!("an object")
        };
        assert!(!entries.contains_key("retired_attribute"));
        assert_eq!(entries.len(), resource.schema().block.attributes.len());
        let (_, newer) = resource.schema().upgrade("rdsbackup_policy", 1, &Value::Null);
        assert!(newer.has_errors());
    }
}

//! The `rdsbackup_policy` resource: its lifecycle (validate, plan, create/update, delete, read, import) as a
//! [`TypedResource`], composed from the schema, the validation rules, the planner and the AWS modules.

mod dashboard;
pub(crate) mod iam_policy;
pub mod names;
pub(crate) mod plan;
mod quota;
mod refresh;
pub mod schema;
mod stack;
pub(crate) mod validate;

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::aws::AwsSettings;
use crate::aws::bucket;
use crate::aws::cluster_members;
use crate::aws::function_code;
use crate::aws::logs_key;
use crate::aws::subnet_group;
use crate::aws::vault_key;
use crate::plugin::diag::{AttrPath, Diagnostics, failure};
use crate::plugin::resource::{ApplyError, TypedResource};
use crate::plugin::schema::Schema;
use crate::plugin::typed::Tf;
use crate::provider::ProviderState;
use names::Location;
use schema::PolicyModel;
use stack::Desired;

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

    /// Create and update are one convergence: every step is idempotent, so the same code finishes a create that
    /// failed half-way and repairs what drifted.
    async fn converge(&self, prior: Option<&PolicyModel>, planned: PolicyModel) -> Result<PolicyModel, ApplyError> {
        let aws = self.aws()?;
        let here = Location::of(aws);
        let bucket = planned.bucket_name.known().cloned().unwrap_or_default();
        let members = cluster_members::clusters_of(&aws.clients.rds, listed_instances(&planned))
            .await
            .map_err(|e| failure(APPLY_FAILED, e))?;
        let desired = Desired::new(&planned, &here, bucket, &members).map_err(|e| failure(APPLY_FAILED, e))?;
        if let Some((_, message)) = desired.limits_exceeded().into_iter().next() {
            return Err(failure(APPLY_FAILED, message).into());
        }
        // A key the log group cannot use would stop the apply half-way: checked when the key is new to the stack.
        if let Some(key) = &desired.kms_key_arn
            && prior.and_then(|p| p.kms_key_arn.known()) != Some(key)
            && let Some(refusal) = logs_key::refusal(&aws.clients.kms, key, &here.region)
                .await
                .map_err(|e| failure(APPLY_FAILED, e))?
        {
            return Err(failure(APPLY_FAILED, refusal).into());
        }
        // Checked at plan time when known then; again here for a key that was not.
        if let Some(vault) = &desired.vault
            && prior.and_then(vault_of) != Some((&vault.account_id, &vault.kms_key_arn))
            && let Some(refusal) =
                vault_key::refusal(&aws.clients.kms, &vault.kms_key_arn, &vault.account_id, &here.partition)
                    .await
                    .map_err(|e| failure(APPLY_FAILED, e))?
        {
            return Err(failure(APPLY_FAILED, refusal).into());
        }
        stack::converge(&aws.clients, &desired)
            .await
            .map_err(|e| ApplyError::Partial(failure(APPLY_FAILED, e)))?;
        Ok(planned)
    }
}

/// The vault block's key policy, read when the block is new or changed: a key the vault account cannot use is
/// an error naming the statement to add.
async fn vault_key_check(
    aws: &AwsSettings,
    prior: Option<&PolicyModel>,
    planned: &PolicyModel,
    here: &Location,
) -> Diagnostics {
    let mut d = Diagnostics::new();
    let Some((account, key)) = vault_of(planned) else {
        return d;
    };
    if prior.and_then(vault_of) == Some((account, key)) {
        return d;
    }
    let at = AttrPath::root("vault").attribute("kms_key_arn");
    match vault_key::refusal(&aws.clients.kms, key, account, &here.partition).await {
        Ok(None) => {}
        Ok(Some(refusal)) => d.attribute_error(at, "Vault key not usable by the vault account", refusal),
        Err(e) => d.attribute_error(at, "Vault key could not be checked", e.to_string()),
    }
    d
}

/// The `restore_drill` block's subnet group, asked of RDS when it is new or another than before: a group RDS does
/// not know would fail every drill.
async fn drill_subnet_group_check(
    aws: &AwsSettings,
    prior: Option<&PolicyModel>,
    planned: &PolicyModel,
) -> Diagnostics {
    let mut d = Diagnostics::new();
    let Some(group) = subnet_group_of(planned) else {
        return d;
    };
    if prior.and_then(subnet_group_of) == Some(group) {
        return d;
    }
    let at = AttrPath::root("restore_drill").attribute("subnet_group_name");
    match subnet_group::exists(&aws.clients.rds, group).await {
        Ok(true) => {}
        Ok(false) => d.attribute_error(
            at,
            "Drill subnet group not found",
            format!(
                "restore_drill.subnet_group_name {group:?}: RDS has no DB subnet group of that name in {}, so every \
                 drill would fail to restore. Name an existing group (aws rds describe-db-subnet-groups), or leave \
                 the argument out to restore each database into its source's group.",
                aws.region()
            ),
        ),
        Err(e) => d.attribute_warning(at, "Drill subnet group not checked", e.to_string()),
    }
    d
}

fn subnet_group_of(model: &PolicyModel) -> Option<&String> {
    model.restore_drill.known()?.subnet_group_name.known()
}

/// The vault block's account and key, once both are known.
fn vault_of(model: &PolicyModel) -> Option<(&String, &String)> {
    let block = model.vault.known()?;
    Some((block.account_id.known()?, block.kms_key_arn.known()?))
}

fn listed_instances(model: &PolicyModel) -> &BTreeSet<String> {
    static NONE: BTreeSet<String> = BTreeSet::new();
    model.db_instance_identifiers.known().unwrap_or(&NONE)
}

const APPLY_FAILED: &str = "Cannot apply rdsbackup_policy";

#[tonic::async_trait]
impl TypedResource for PolicyResource {
    type Model = PolicyModel;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &PolicyModel) -> Diagnostics {
        validate::validate(config)
    }

    fn derive(&self, planned: &mut PolicyModel, config: &PolicyModel) {
        let aws = self.provider.aws.get().map(Arc::as_ref);
        let here = aws.map(Location::of);
        plan::derive(planned, config, &self.plan_context(here.as_ref(), aws));
    }

    /// The location's rules, then (when they pass) the account's snapshot quota, the vault's key and the drills'
    /// subnet group.
    async fn check_plan(&self, prior: Option<&PolicyModel>, planned: &PolicyModel) -> Diagnostics {
        let Some(aws) = self.provider.aws.get() else {
            return Diagnostics::new();
        };
        let here = Location::of(aws);
        let mut d = plan::check(planned, &here);
        if !d.has_errors() {
            let (quota, vault, subnet_group) = tokio::join!(
                quota::check(&aws.snapshot_quotas, &aws.clients.rds, prior, planned),
                vault_key_check(aws, prior, planned, &here),
                drill_subnet_group_check(aws, prior, planned)
            );
            d.extend(quota);
            d.extend(vault);
            d.extend(subnet_group);
        }
        d
    }

    async fn create(&self, planned: PolicyModel) -> Result<PolicyModel, ApplyError> {
        self.converge(None, planned).await
    }

    async fn update(&self, prior: PolicyModel, planned: PolicyModel) -> Result<PolicyModel, ApplyError> {
        self.converge(Some(&prior), planned).await
    }

    /// Refuses a bucket holding records without `force_destroy` before deleting anything.
    async fn delete(&self, prior: PolicyModel) -> Result<Diagnostics, Diagnostics> {
        const FAILED: &str = "Cannot destroy rdsbackup_policy";
        let aws = self.aws()?;
        let here = Location::of(aws);
        let bucket = refresh::bucket_name(&prior, None, &here);
        // Destroy deletes the role whatever it grants: which clusters it names does not matter here.
        let desired = Desired::new(&prior, &here, bucket, &BTreeSet::new()).map_err(|e| failure(FAILED, e))?;
        // Both checks at once (a round trip less before the first delete); the owner's refusal comes first.
        let must_be_empty = prior.force_destroy.known() != Some(&true);
        let (owner, empty) = tokio::join!(
            crate::stack::check_owner(
                &aws.clients,
                &desired.function,
                (rdsbackup_common::tags::POLICY, &desired.policy),
            ),
            async {
                if must_be_empty {
                    bucket::is_empty(&aws.clients.s3, &desired.bucket, &desired.account_id).await
                } else {
                    Ok(true)
                }
            }
        );
        owner.map_err(|e| failure(FAILED, e))?;
        if !empty.map_err(|e| failure(FAILED, e))? {
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
            .map(|()| Diagnostics::new())
            .map_err(|e| failure(FAILED, e))
    }

    /// Reads every part of the stack concurrently. Arguments take the values found; `drift` lists what else
    /// differs; when nothing of the stack is left, the resource is gone.
    async fn read(&self, recorded: PolicyModel) -> Result<Option<PolicyModel>, Diagnostics> {
        const FAILED: &str = "Cannot read rdsbackup_policy";
        let aws = self.aws()?;
        let here = Location::of(aws);
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
            return Ok(None);
        }
        let mut found = refresh::reflect(&recorded, &observed, &here, &bucket, &aws.default_tags);
        // Drift is judged against the attributes as found, so a change already shown as an argument's change
        // (or an import) is not reported twice.
        found.drift = Tf::Known(observed.drift(&describe(&found, &members)?));
        Ok(Some(found))
    }

    /// The skeleton of an imported policy, its name; `ReadResource`, which Terraform calls next, reads the rest.
    async fn import(&self, id: &str) -> Result<PolicyModel, Diagnostics> {
        if let Err(message) = crate::rules::policy_name(id) {
            return Err(failure(
                "Cannot import rdsbackup_policy",
                format!("Import takes the policy's name. {message}"),
            ));
        }
        Ok(PolicyModel {
            name: Tf::Known(id.to_string()),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::value::Value;

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
        assert_eq!(entries.len(), resource.schema().block.members().count());
        assert_eq!(
            state.get("copy"),
            &Value::List(vec![]),
            "no copy blocks: an empty list, as Terraform holds it"
        );
        let (_, newer) = resource.schema().upgrade("rdsbackup_policy", 1, &Value::Null);
        assert!(newer.has_errors());
    }
}

//! The `rdsbackup_vault` resource: its lifecycle (validate, plan, create/update, delete, read, import) as a
//! [`TypedResource`], composed as a policy's is, from the schema, the rules, the planner and the AWS parts.

mod iam_policy;
pub mod names;
mod plan;
mod refresh;
pub mod schema;
mod stack;
mod validate;

use std::sync::Arc;

use crate::aws::AwsSettings;
use crate::aws::function_code;
use crate::plugin::diag::{AttrPath, Diagnostics, failure};
use crate::plugin::resource::{ApplyError, TypedResource};
use crate::plugin::schema::Schema;
use crate::plugin::typed::Tf;
use crate::policy::names::Location;
use crate::policy::plan::PlanContext;
use crate::provider::ProviderState;
use schema::VaultModel;
use stack::Desired;

pub struct VaultResource {
    schema: Schema,
    provider: Arc<ProviderState>,
}

const APPLY_FAILED: &str = "Cannot apply rdsbackup_vault";

impl VaultResource {
    pub fn new(provider: Arc<ProviderState>) -> VaultResource {
        VaultResource {
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

    /// Create and update are one convergence, every step idempotent, as a policy's.
    async fn converge(&self, planned: VaultModel) -> Result<VaultModel, ApplyError> {
        let aws = self.aws()?;
        let here = Location::of(aws);
        let desired = Desired::new(&planned, &here).map_err(|e| failure(APPLY_FAILED, e))?;
        if let Some(message) = desired.limit_exceeded() {
            return Err(failure(APPLY_FAILED, message).into());
        }
        stack::converge(&aws.clients, &desired)
            .await
            .map_err(|e| ApplyError::Partial(failure(APPLY_FAILED, e)))?;
        Ok(planned)
    }
}

#[tonic::async_trait]
impl TypedResource for VaultResource {
    type Model = VaultModel;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &VaultModel) -> Diagnostics {
        validate::validate(config)
    }

    fn derive(&self, planned: &mut VaultModel, config: &VaultModel) {
        static NO_TAGS: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        let aws = self.provider.aws.get().map(Arc::as_ref);
        let here = aws.map(Location::of);
        let context = PlanContext {
            location: here.as_ref(),
            default_tags: aws.map_or(&NO_TAGS, |aws| &aws.default_tags),
            code_sha256: function_code::CODE_SHA256,
        };
        plan::derive(planned, config, &context);
    }

    /// The location's rules, then (when they pass, for a key new to the vault) the key itself.
    async fn check_plan(&self, prior: Option<&VaultModel>, planned: &VaultModel) -> Diagnostics {
        let Some(aws) = self.provider.aws.get() else {
            return Diagnostics::new();
        };
        let mut d = plan::check(planned, &Location::of(aws));
        if let Some(key) = planned.kms_key_arn.known()
            && !d.has_errors()
            && prior.and_then(|p| p.kms_key_arn.known()) != Some(key)
        {
            let at = AttrPath::root("kms_key_arn");
            match crate::aws::copy_key::refusal(&aws.clients.kms, key).await {
                Ok(None) => {}
                Ok(Some(refusal)) => d.attribute_error(at, "Vault key not usable", refusal),
                Err(e) => d.attribute_error(at, "Vault key could not be checked", e.to_string()),
            }
        }
        d
    }

    fn plan_destroy(&self, prior: &VaultModel) -> Diagnostics {
        plan::destroy_warning(prior)
    }

    async fn create(&self, planned: VaultModel) -> Result<VaultModel, ApplyError> {
        self.converge(planned).await
    }

    async fn update(&self, _prior: VaultModel, planned: VaultModel) -> Result<VaultModel, ApplyError> {
        self.converge(planned).await
    }

    /// Deletes every part but the vault copies (never touched) and, while it holds records, the bucket, which
    /// the warning names.
    async fn delete(&self, prior: VaultModel) -> Result<Diagnostics, Diagnostics> {
        const FAILED: &str = "Cannot destroy rdsbackup_vault";
        let aws = self.aws()?;
        let here = Location::of(aws);
        let desired = Desired::new(&prior, &here).map_err(|e| failure(FAILED, e))?;
        crate::stack::check_owner(
            &aws.clients,
            &desired.function,
            (rdsbackup_common::tags::VAULT, &desired.vault),
        )
        .await
        .map_err(|e| failure(FAILED, e))?;
        stack::destroy(&aws.clients, &desired)
            .await
            .map_err(|e| failure(FAILED, e))?;
        let mut warnings = Diagnostics::new();
        if !crate::aws::bucket::is_empty(&aws.clients.s3, &desired.bucket, &desired.account_id)
            .await
            .map_err(|e| failure(FAILED, e))?
        {
            warnings.warning(
                "Vault bucket kept",
                format!(
                    "The bucket {} still holds records{}, so it was kept (and is no longer managed): Object Lock \
                     keeps each record for retention_days. Applying a vault of the same name takes it back. The \
                     vault copies were not deleted either.",
                    desired.bucket,
                    if desired.force_destroy {
                        " that Object Lock protects"
                    } else {
                        ""
                    }
                ),
            );
        }
        Ok(warnings)
    }

    /// Reads every part of the stack concurrently; when nothing of it is left, the vault is gone.
    async fn read(&self, recorded: VaultModel) -> Result<Option<VaultModel>, Diagnostics> {
        const FAILED: &str = "Cannot read rdsbackup_vault";
        let aws = self.aws()?;
        let here = Location::of(aws);
        // An imported skeleton knows only the name: the parts are found by the names it gives (the function's
        // environment then tells the rest), so the other attributes need only be well formed here.
        let names = Desired::new(&skeleton_filled(&recorded), &here).map_err(|e| failure(FAILED, e))?;
        let observed = stack::observe(&aws.clients, &names)
            .await
            .map_err(|e| failure(FAILED, e))?;
        if observed.nothing_left() {
            return Ok(None);
        }
        let mut found = refresh::reflect(&recorded, &observed, &here, &aws.default_tags);
        let judged = Desired::new(&skeleton_filled(&found), &here).map_err(|e| failure(FAILED, e))?;
        found.drift = Tf::Known(observed.drift(&judged));
        Ok(Some(found))
    }

    async fn import(&self, id: &str) -> Result<VaultModel, Diagnostics> {
        if let Err(message) = crate::rules::policy_name(id) {
            return Err(failure(
                "Cannot import rdsbackup_vault",
                format!(
                    "Import takes the vault's name. {}",
                    message.replace("policy name", "vault name")
                ),
            ));
        }
        Ok(VaultModel {
            name: Tf::Known(id.to_string()),
            ..Default::default()
        })
    }
}

/// The attributes a stack's names need, with placeholders where a skeleton (import) has none yet.
fn skeleton_filled(model: &VaultModel) -> VaultModel {
    let mut m = model.clone();
    if m.source_account_ids.known().is_none() {
        m.source_account_ids = Tf::Known(Default::default());
    }
    if m.kms_key_arn.known().is_none() {
        m.kms_key_arn = Tf::Known(String::new());
    }
    m
}

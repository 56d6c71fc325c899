//! The `rdsbackup_vault` schema (../shared/CONTRACTS.md, "The vault account"): every attribute with its role,
//! default and the markdown description the registry docs are generated from; and the typed model.

use std::collections::{BTreeMap, BTreeSet};

use rdsbackup_common::limits;

use crate::plugin::schema::{AttrType, Attribute, Block, Schema, Validator};
use crate::plugin::value::Value;
use crate::tf_object;

pub const DEFAULT_SCHEDULE: &str = "rate(1 hour)";
/// A daily source backup (26 hours, as a policy's `max_backup_age_hours`) plus a day for the share and the copy.
pub const DEFAULT_MAX_COPY_AGE_HOURS: i64 = 50;

tf_object! {
    pub struct VaultModel {
        pub name: String,
        pub source_account_ids: BTreeSet<String>,
        pub kms_key_arn: String,
        pub retention_days: i64,
        pub min_snapshots: i64,
        pub schedule: String,
        pub max_copy_age_hours: i64,
        pub alarm_sns_topic_arn: String,
        pub deny_insecure_transport: bool,
        pub force_destroy: bool,
        pub tags: BTreeMap<String, String>,
        pub tags_all: BTreeMap<String, String>,
        pub id: String,
        pub account_id: String,
        pub bucket_name: String,
        pub function_name: String,
        pub role_arn: String,
        pub alarm_names: Vec<String>,
        pub lambda_code_sha256: String,
        pub drift: Vec<String>,
    }
}

fn ranged(attribute: Attribute, range: limits::Range) -> Attribute {
    attribute
        .with_default(Value::Number(range.default.into()))
        .validated(Validator::WholeRange {
            min: range.min.into(),
            max: range.max.into(),
        })
}

pub fn schema() -> Schema {
    use Attribute as A;
    Schema {
        version: 0,
        block: Block {
            description: "A vault in an account of its own: every snapshot that the listed source accounts share \
                          with it (the `vault` block of their `rdsbackup_policy`) is copied into this account under \
                          the vault's key, where no source account can delete or change it. The stack is a \
                          policy's: an S3 bucket for the copies' records with S3 Object Lock in compliance mode \
                          for `retention_days`, a least-privilege IAM role, the same embedded Lambda function \
                          started in vault mode, its log group, an EventBridge schedule, CloudWatch alarms \
                          (errors, and \"vault copy overdue\" per source account) notifying SNS, and a dashboard. \
                          `terraform destroy` deletes no vault copy, and leaves the bucket while it holds records \
                          (Object Lock keeps each for `retention_days`).",
            attributes: vec![
                A::required(
                    "name",
                    AttrType::String,
                    "Name of the vault, part of every AWS name it creates (`rdsbackup-vault-<name>`). The same \
                     rule as a policy's name: 2 to 24 lowercase letters, digits and single hyphens, starting with a \
                     letter and ending with a letter or digit. Changing it replaces the whole stack.",
                )
                .requires_replace(),
                A::required(
                    "source_account_ids",
                    AttrType::set_of_strings(),
                    "The 12-digit ids of the accounts whose shared snapshots the vault takes in (snapshots whose \
                     identifier starts with `rdsbackup-`). Snapshots shared by any other account are ignored.",
                ),
                A::required(
                    "kms_key_arn",
                    AttrType::String,
                    "ARN of the vault's own customer managed key, in this account and region: every vault copy \
                     and every record is encrypted with it.",
                ),
                ranged(
                    A::optional_computed(
                        "retention_days",
                        AttrType::Number,
                        "Vault copies are deleted once their data is older than this many days, `min_snapshots` \
                         permitting, per source account and database; records are locked (Object Lock, \
                         compliance mode) for as long.",
                    ),
                    limits::VAULT_RETENTION_DAYS,
                ),
                ranged(
                    A::optional_computed(
                        "min_snapshots",
                        AttrType::Number,
                        "Retention never leaves fewer vault copies of a source database, however old.",
                    ),
                    limits::VAULT_MIN_SNAPSHOTS,
                ),
                A::optional_computed(
                    "schedule",
                    AttrType::String,
                    "How often the vault collects shared snapshots: an EventBridge `rate(...)` or `cron(...)` \
                     expression, as a policy's `schedule`. Defaults to `rate(1 hour)`.",
                )
                .with_default(Value::string(DEFAULT_SCHEDULE)),
                A::optional_computed(
                    "max_copy_age_hours",
                    AttrType::Number,
                    "Each source account's \"vault copy overdue\" alarm fires when its newest vault copy is older \
                     than this (a source that stops sharing raises it). Defaults to 50: a daily backup plus a day \
                     for the share and the copy.",
                )
                .with_default(Value::Number(DEFAULT_MAX_COPY_AGE_HOURS as f64))
                .validated(Validator::WholeRange { min: 2, max: 168 }),
                A::optional_computed(
                    "alarm_sns_topic_arn",
                    AttrType::String,
                    "SNS topic the alarms notify. When unset the provider creates `rdsbackup-vault-<name>-alarms` \
                     and this attribute holds its ARN.",
                )
                .use_state_for_unknown(),
                A::optional_computed(
                    "deny_insecure_transport",
                    AttrType::Bool,
                    "Attach a bucket policy denying every request made without TLS (`aws:SecureTransport = \
                     false`). Defaults to `true`.",
                )
                .with_default(Value::Bool(true)),
                A::optional_computed(
                    "force_destroy",
                    AttrType::Bool,
                    "Let `terraform destroy` delete the records Object Lock no longer protects and then the bucket, \
                     if nothing is left. Without it a bucket holding records stays. Vault copies are never deleted \
                     by destroy either way. Defaults to `false`.",
                )
                .with_default(Value::Bool(false)),
                A::optional_computed(
                    "tags",
                    AttrType::map_of_strings(),
                    "Tags on every AWS resource the vault creates, on top of the provider's `default_tags`.",
                )
                .with_default(Value::Map(BTreeMap::new())),
                A::computed(
                    "tags_all",
                    AttrType::map_of_strings(),
                    "The tags applied: the provider's `default_tags` merged with `tags`.",
                )
                .use_state_for_unknown(),
                A::computed("id", AttrType::String, "The vault's name; `terraform import` takes it.")
                    .use_state_for_unknown(),
                A::computed(
                    "account_id",
                    AttrType::String,
                    "ID of the vault's AWS account: the `account_id` of the sources' `vault` blocks.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "bucket_name",
                    AttrType::String,
                    "The records bucket, `rdsbackup-vault-<name>-<account_id>`; each vault copy's record is \
                     `copies/<source account>/<db>/<vault copy identifier>.json`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "function_name",
                    AttrType::String,
                    "Name of the vault's function, `rdsbackup-vault-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "role_arn",
                    AttrType::String,
                    "ARN of the function's IAM role, `rdsbackup-vault-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "alarm_names",
                    AttrType::list_of_strings(),
                    "Names of the CloudWatch alarms, sorted: `rdsbackup-vault-<name>-copy-overdue-<account>` per \
                     source account and `rdsbackup-vault-<name>-errors`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "lambda_code_sha256",
                    AttrType::String,
                    "Base64 SHA-256 of the deployed function package, as Lambda's `CodeSha256`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "drift",
                    AttrType::list_of_strings(),
                    "Settings of the stack found changed outside Terraform at the last refresh, in words (Object \
                     Lock turned off, a deleted alarm, an edited role policy...). Plans set it back to empty: the \
                     update they show repairs each one.",
                )
                .use_state_for_unknown(),
            ],
            blocks: vec![],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::diag::AttrPath;
    use crate::plugin::schema::{PlanModifier, Role};

    #[test]
    fn model_and_schema_have_the_same_attributes() {
        schema().assert_model_matches(&VaultModel::default().to_value());
        assert!(VaultModel::from_value(&VaultModel::default().to_value(), &AttrPath::default()).is_ok());
    }

    #[test]
    fn contract_arguments_and_defaults() {
        let schema = schema();
        let attribute = |name: &str| schema.block.attributes.iter().find(|a| a.name == name).unwrap();
        let default = |name: &str| attribute(name).default.clone().unwrap();
        for required in ["name", "source_account_ids", "kms_key_arn"] {
            assert_eq!(attribute(required).role, Role::Required, "{required}");
        }
        assert_eq!(default("retention_days"), Value::Number(365.0));
        assert_eq!(default("min_snapshots"), Value::Number(7.0));
        assert_eq!(default("schedule"), Value::string("rate(1 hour)"));
        assert_eq!(default("deny_insecure_transport"), Value::Bool(true));
        assert_eq!(default("force_destroy"), Value::Bool(false));
        let replacing: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .filter(|a| a.has(PlanModifier::RequiresReplace))
            .map(|a| a.name)
            .collect();
        assert_eq!(replacing, ["name"]);
        for attribute in &schema.block.attributes {
            assert!(
                attribute.description.len() > 20,
                "{} needs a description",
                attribute.name
            );
        }
    }
}

//! The `rdsbackup_policy` schema (../shared/CONTRACTS.md): every attribute with its role, default and the
//! markdown description the registry docs are generated from; and the typed model of the same object.

use std::collections::{BTreeMap, BTreeSet};

use rdsbackup_common::limits;

use crate::aws::log_group;
use crate::plugin::schema::{AttrType, Attribute, Block, NestedBlock, Schema, Validator};
use crate::plugin::typed::Tf;
use crate::plugin::value::Value;
use crate::tf_object;

pub const DEFAULT_SCHEDULE: &str = "cron(0 3 * * ? *)";

tf_object! {
    pub struct PolicyModel {
        pub name: String,
        pub bucket_name: String,
        pub db_instance_identifiers: BTreeSet<String>,
        pub db_cluster_identifiers: BTreeSet<String>,
        pub selection_tags: BTreeMap<String, String>,
        pub schedule: String,
        pub enabled: bool,
        pub retention_days: i64,
        pub min_snapshots: i64,
        pub glacier_transition_days: i64,
        pub kms_key_arn: String,
        pub deny_insecure_transport: bool,
        pub force_destroy: bool,
        pub max_backup_age_hours: i64,
        pub alarm_sns_topic_arn: String,
        pub lambda_timeout_seconds: i64,
        pub lambda_memory_mb: i64,
        pub log_retention_days: i64,
        pub tags: BTreeMap<String, String>,
        pub tags_all: BTreeMap<String, String>,
        pub id: String,
        pub account_id: String,
        pub bucket_arn: String,
        pub role_arn: String,
        pub function_name: String,
        pub function_arn: String,
        pub log_group_name: String,
        pub schedule_rule_name: String,
        pub schedule_rule_arn: String,
        pub alarm_names: Vec<String>,
        pub lambda_code_sha256: String,
        pub drift: Vec<String>,
        pub copy: Vec<CopyModel>,
        pub vault: VaultModel,
        pub archive: ArchiveModel,
        pub restore_drill: RestoreDrillModel,
    }
}

tf_object! {
    /// The `restore_drill` block: scheduled restores of the newest snapshot into a throwaway database.
    pub struct RestoreDrillModel {
        pub schedule: String,
        pub db_identifiers: BTreeSet<String>,
        pub instance_class: String,
        pub subnet_group_name: String,
        pub vpc_security_group_ids: BTreeSet<String>,
        pub rto_target_minutes: i64,
    }
}

tf_object! {
    /// The `archive` block: snapshot exports to S3, moved to an archive storage class.
    pub struct ArchiveModel {
        pub every: String,
        pub kms_key_arn: String,
        pub storage_class: String,
        pub transition_days: i64,
        pub retention_days: i64,
    }
}

tf_object! {
    /// The `vault` block: the vault account every snapshot is shared with.
    pub struct VaultModel {
        pub account_id: String,
        pub kms_key_arn: String,
    }
}

tf_object! {
    /// One `copy` block: a destination region for copies of every snapshot.
    pub struct CopyModel {
        pub region: String,
        pub kms_key_arn: String,
        pub retention_days: i64,
        pub min_snapshots: i64,
    }
}

impl PolicyModel {
    /// The `copy` blocks' regions, once all are known.
    pub fn copy_regions(&self) -> Option<Vec<&str>> {
        match &self.copy {
            Tf::Null => Some(Vec::new()),
            Tf::Unknown => None,
            Tf::Known(blocks) => blocks.iter().map(|b| b.region.known().map(String::as_str)).collect(),
        }
    }
}

fn number(n: i64) -> Value {
    Value::Number(n as f64)
}

fn whole(min: i64, max: i64) -> Validator {
    Validator::WholeRange { min, max }
}

/// A setting whose range and default the Lambda shares (`rdsbackup_common::limits`).
trait Ranged {
    fn ranged(self, range: limits::Range) -> Self;
}

impl Ranged for Attribute {
    fn ranged(self, range: limits::Range) -> Attribute {
        self.with_default(number(range.default.into()))
            .validated(whole(range.min.into(), range.max.into()))
    }
}

pub fn schema() -> Schema {
    use Attribute as A;
    Schema {
        version: 0,
        block: Block {
            description: "A complete backup system for Amazon RDS: an encrypted S3 bucket for snapshot records, a \
                          least-privilege IAM role, the backup Lambda function and its log group, EventBridge \
                          rules (the backup schedule; RDS's events on the policy's snapshots and an hourly \
                          reconcile run, which finish pending work such as copies), and CloudWatch alarms \
                          (errors, backup overdue, copy overdue per `copy` block) notifying SNS. Snapshots and \
                          their copies are never deleted by `terraform destroy`.",
            attributes: vec![
                A::required(
                    "name",
                    AttrType::String,
                    "Name of the policy, part of every AWS name it creates (`rdsbackup-<name>`) and of every \
                     snapshot identifier. 2 to 24 lowercase letters, digits and single hyphens, starting with a letter and ending with a letter \
                     or digit. Changing it replaces the whole stack.",
                )
                .requires_replace(),
                A::optional_computed(
                    "bucket_name",
                    AttrType::String,
                    "S3 bucket for the snapshot metadata records. Defaults to `rdsbackup-<name>-<account_id>`. \
                     Changing it replaces the whole stack.",
                )
                .requires_replace()
                .use_state_for_unknown(),
                A::optional_computed(
                    "db_instance_identifiers",
                    AttrType::set_of_strings(),
                    "Identifiers of the RDS DB instances to back up.",
                )
                .with_default(Value::List(vec![])),
                A::optional_computed(
                    "db_cluster_identifiers",
                    AttrType::set_of_strings(),
                    "Identifiers of the Aurora DB clusters to back up.",
                )
                .with_default(Value::List(vec![])),
                A::optional_computed(
                    "selection_tags",
                    AttrType::map_of_strings(),
                    "Also back up every DB instance and cluster carrying all of these tags. At least one of \
                     `db_instance_identifiers`, `db_cluster_identifiers` and `selection_tags` must be non-empty.",
                )
                .with_default(Value::Map(BTreeMap::new())),
                A::optional_computed(
                    "schedule",
                    AttrType::String,
                    "When backups run: an EventBridge `cron(minutes hours day-of-month month day-of-week year)` \
                     expression (six fields, UTC) or `rate(value unit)`. Defaults to `cron(0 3 * * ? *)`, daily \
                     at 03:00 UTC.",
                )
                .with_default(Value::string(DEFAULT_SCHEDULE)),
                A::optional_computed(
                    "enabled",
                    AttrType::Bool,
                    "`false` pauses backups by disabling the schedule, without removing anything. Defaults to \
                     `true`.",
                )
                .with_default(Value::Bool(true)),
                A::optional_computed(
                    "retention_days",
                    AttrType::Number,
                    "Snapshots taken by this policy are deleted once older than this many days, `min_snapshots` \
                     permitting.",
                )
                .ranged(limits::RETENTION_DAYS),
                A::optional_computed(
                    "min_snapshots",
                    AttrType::Number,
                    "Retention never leaves fewer than this many snapshots of a database, however old.",
                )
                .ranged(limits::MIN_SNAPSHOTS),
                A::optional_computed(
                    "glacier_transition_days",
                    AttrType::Number,
                    "Deprecated in 0.2: records are about 1 KB, S3 does not transition objects under 128 KB, and \
                     Glacier's per-object overhead would make them dearer; the `archive` block is the way to \
                     Glacier. Noncurrent record versions of 128 KB or more move to GLACIER after this many days \
                     (the provider's lifecycle rule `rdsbackup-glacier`; rules of others are kept).",
                )
                .with_default(number(30))
                .validated(whole(1, 36500))
                .deprecated(),
                A::optional(
                    "kms_key_arn",
                    AttrType::String,
                    "ARN of a customer managed KMS key, in the provider's region, for the bucket and the log \
                     group. Defaults to SSE-KMS with the AWS managed key `aws/s3`.",
                ),
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
                    "Let `terraform destroy` delete the bucket with the records in it. Without it, destroying a \
                     policy whose bucket holds records fails before anything is deleted. RDS snapshots are never \
                     deleted either way. Defaults to `false`.",
                )
                .with_default(Value::Bool(false)),
                A::optional_computed(
                    "max_backup_age_hours",
                    AttrType::Number,
                    "The \"backup overdue\" alarm fires when a database's newest snapshot is older than this \
                     (CloudWatch alarms look back at most 7 days; the default, 26, is a daily schedule plus slack). \
                     Must exceed the schedule's interval.",
                )
                .with_default(number(26))
                .validated(whole(1, 168)),
                A::optional_computed(
                    "alarm_sns_topic_arn",
                    AttrType::String,
                    "SNS topic the alarms notify. When unset the provider creates `rdsbackup-<name>-alarms` and \
                     this attribute holds its ARN.",
                )
                .use_state_for_unknown(),
                A::optional_computed(
                    "lambda_timeout_seconds",
                    AttrType::Number,
                    "Timeout of the backup function.",
                )
                .with_default(number(300))
                .validated(whole(1, 900)),
                A::optional_computed(
                    "lambda_memory_mb",
                    AttrType::Number,
                    "Memory of the backup function in MB.",
                )
                .with_default(number(256))
                .validated(whole(128, 10240)),
                A::optional_computed(
                    "log_retention_days",
                    AttrType::Number,
                    "Retention of the function's log group in days, as CloudWatch Logs takes it.",
                )
                .with_default(number(30))
                .validated(Validator::OneOf(&log_group::RETENTION_DAYS)),
                A::optional_computed(
                    "tags",
                    AttrType::map_of_strings(),
                    "Tags on every AWS resource the policy creates, on top of the provider's `default_tags`.",
                )
                .with_default(Value::Map(BTreeMap::new())),
                A::computed(
                    "tags_all",
                    AttrType::map_of_strings(),
                    "The tags applied: the provider's `default_tags` merged with `tags`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "id",
                    AttrType::String,
                    "The policy's name; `terraform import` takes it.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "account_id",
                    AttrType::String,
                    "ID of the AWS account the stack lives in.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "bucket_arn",
                    AttrType::String,
                    "ARN of the S3 bucket holding the snapshot records.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "role_arn",
                    AttrType::String,
                    "ARN of the function's IAM role, `rdsbackup-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "function_name",
                    AttrType::String,
                    "Name of the backup function, `rdsbackup-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed("function_arn", AttrType::String, "ARN of the backup Lambda function.")
                .use_state_for_unknown(),
                A::computed(
                    "log_group_name",
                    AttrType::String,
                    "The function's log group, `/aws/lambda/rdsbackup-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "schedule_rule_name",
                    AttrType::String,
                    "Name of the EventBridge rule, `rdsbackup-<name>`.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "schedule_rule_arn",
                    AttrType::String,
                    "ARN of the EventBridge schedule rule.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "alarm_names",
                    AttrType::list_of_strings(),
                    "Names of the CloudWatch alarms, sorted: `rdsbackup-<name>-backup-overdue`, \
                     `rdsbackup-<name>-errors`, and `rdsbackup-<name>-copy-overdue-<region>` per `copy` block.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "drift",
                    AttrType::list_of_strings(),
                    "Settings of the stack found changed outside Terraform at the last refresh, in words (a \
                     deleted alarm, suspended bucket versioning, an edited role policy...). Plans set it back to \
                     empty: the update they show repairs each one. Settings that have an argument, such as \
                     `schedule`, show as a change of that argument instead.",
                )
                .use_state_for_unknown(),
                A::computed(
                    "lambda_code_sha256",
                    AttrType::String,
                    "Base64 SHA-256 of the deployed function package, as Lambda's `CodeSha256`. It changes only \
                     when a provider release changes the function.",
                )
                .use_state_for_unknown(),
            ],
            blocks: vec![copy_block(), vault_block(), archive_block(), restore_drill_block()],
        },
    }
}

fn copy_block() -> NestedBlock {
    use Attribute as A;
    let ranged = |attribute: A, range: limits::Range| attribute.validated(whole(range.min.into(), range.max.into()));
    NestedBlock::list(
        "copy",
        rdsbackup_common::copies::MAX_DESTINATIONS,
        Block {
            description: "Copy every snapshot of the policy into another region once it is available, under the \
                          same identifier, tagged `rdsbackup:policy`, `rdsbackup:db` and `rdsbackup:source` (the \
                          source snapshot's ARN), with retention of its own there. One block per region. Each \
                          destination gets the alarm `rdsbackup-<name>-copy-overdue-<region>`. Removing a block \
                          stops copying there and deletes no copy; `terraform destroy` deletes none either.",
            attributes: vec![
                A::required(
                    "region",
                    AttrType::String,
                    "The destination region, other than the provider's (the policy's own) and unique among the \
                     blocks.",
                ),
                A::optional(
                    "kms_key_arn",
                    AttrType::String,
                    "ARN of a KMS key in `region` the copies are encrypted with. RDS copies an encrypted snapshot \
                     to another region only onto a key of that region, so databases with encrypted storage need \
                     it; unencrypted snapshots are copied unencrypted without it.",
                ),
                ranged(
                    A::optional(
                        "retention_days",
                        AttrType::Number,
                        "Copies there are deleted once their data (the source snapshot) is older than this many \
                         days, `min_snapshots` permitting. Defaults to the policy's `retention_days`.",
                    ),
                    limits::RETENTION_DAYS,
                ),
                ranged(
                    A::optional(
                        "min_snapshots",
                        AttrType::Number,
                        "Retention there never leaves fewer copies of a database. Defaults to the policy's \
                         `min_snapshots`.",
                    ),
                    limits::MIN_SNAPSHOTS,
                ),
            ],
            blocks: vec![],
        },
    )
}

fn vault_block() -> NestedBlock {
    use Attribute as A;
    NestedBlock::single(
        "vault",
        Block {
            description: "Share every new snapshot of the policy with a vault account (an `rdsbackup_vault` there \
                          copies it under its own key, where no account of the policy can delete it). RDS shares a \
                          snapshot once it is available, through its `restore` attribute. A snapshot RDS cannot \
                          share as it is (encrypted with the AWS managed key, or with another key than \
                          `kms_key_arn`) is first copied onto `kms_key_arn` in the policy's region as \
                          `<identifier>-v`, tagged as the policy's; that copy is shared instead and ages out by the \
                          policy's retention, as a series of its own. Unencrypted snapshots are shared as they are. \
                          Each record gets `vault`: `account_id`, `shared_snapshot_identifier`, `status`. Removing \
                          the block stops sharing new snapshots; what was shared stays shared.",
            attributes: vec![
                A::required(
                    "account_id",
                    AttrType::String,
                    "The vault's 12-digit AWS account id: another account than the policy's.",
                ),
                A::required(
                    "kms_key_arn",
                    AttrType::String,
                    "ARN of a customer managed key of the policy's account and region (a key ARN, not an alias), \
                     whose key policy lets the vault account use it: `kms:CreateGrant`, `kms:Decrypt` and \
                     `kms:DescribeKey`, which RDS needs to copy a shared snapshot. The plan checks the key policy \
                     and says what statement to add when it does not.",
                ),
            ],
            blocks: vec![],
        },
    )
}

/// Defaults of the `archive` block (../shared/CONTRACTS.md), applied by the stack: a nested block's attributes
/// take no static default in the plan.
pub const ARCHIVE_EVERY: &str = "month";
pub const ARCHIVE_STORAGE_CLASS: &str = "DEEP_ARCHIVE";
pub const ARCHIVE_TRANSITION_DAYS: i64 = 0;
pub const ARCHIVE_RETENTION_DAYS: i64 = 2555;

fn archive_block() -> NestedBlock {
    use Attribute as A;
    NestedBlock::single(
        "archive",
        Block {
            description: "Export the data of the first available snapshot of each period (week or month) of each \
                          database to the policy's bucket, under `exports/<db>/<snapshot identifier>/` (Apache \
                          Parquet, through RDS's snapshot export), and move it to an archive storage class there: \
                          about $0.01 per GB exported, then $0.00099 per GB-month in DEEP_ARCHIVE against about \
                          $0.095 for snapshot storage. An export is an archive of the data, not a restorable \
                          database. RDS runs at most 5 exports per account at once; the rest wait for a later \
                          invocation. The export role `rdsbackup-<name>-export` may write only under `exports/`.",
            attributes: vec![
                A::optional(
                    "every",
                    AttrType::String,
                    "`week` or `month` (the default): the period of which the first available snapshot is \
                     exported, by the snapshot's slot in UTC; weeks start on Monday (ISO 8601).",
                ),
                A::required(
                    "kms_key_arn",
                    AttrType::String,
                    "ARN of a customer managed key of the policy's region the export is encrypted with (RDS \
                     requires one).",
                ),
                A::optional(
                    "storage_class",
                    AttrType::String,
                    "`DEEP_ARCHIVE` (the default), `GLACIER` or `GLACIER_IR`: where exports move after \
                     `transition_days`.",
                ),
                A::optional(
                    "transition_days",
                    AttrType::Number,
                    "Days an export stays in S3 Standard before the transition. Defaults to 0.",
                )
                .validated(whole(0, 3650)),
                A::optional(
                    "retention_days",
                    AttrType::Number,
                    "Exports are deleted after this many days (current and noncurrent versions). At least \
                     `transition_days` plus the class's minimum storage duration (90 days for GLACIER and \
                     GLACIER_IR, 180 for DEEP_ARCHIVE), which S3 charges for anyway. Defaults to 2555 (7 years).",
                )
                .validated(whole(1, 36500)),
            ],
            blocks: vec![],
        },
    )
}

fn restore_drill_block() -> NestedBlock {
    use Attribute as A;
    let rto = limits::RTO_TARGET_MINUTES;
    NestedBlock::single(
        "restore_drill",
        Block {
            description: "Prove the backups restore: on its own schedule (the rule `rdsbackup-<name>-drill`), restore                           each drilled database's newest available snapshot of the policy into a throwaway database                           `rdsbackup-drill-<h8>-<yyyymmddhhmm>` (tagged `rdsbackup:policy`, `rdsbackup:db`,                           `rdsbackup:drill = true`; backups and deletion protection off, not publicly accessible),                           measure the time until it is available, delete it without a final snapshot, and keep the                           evidence in `drills/<db>/<yyyymmddhhmm>.json` of the bucket (snapshot, start, available,                           deleted, `rto_seconds`, `status` `passed`, `over_target` or `failed`). The metric                           `RestoreDrillSeconds` and the alarm `rdsbackup-<name>-restore-drill` (a drill failed or                           missed `rto_target_minutes`) follow each drill. A drill costs the restored database's                           instance-hours (one instance of `instance_class` per drilled database, for the restore                           time plus at most an hour) and its storage for that time. Source databases are never                           touched; the function may delete only databases tagged as its drills.",
            attributes: vec![
                A::optional(
                    "schedule",
                    AttrType::String,
                    "When drills start, as `schedule` (EventBridge `cron(...)` or `rate(...)`, UTC). Defaults to \
                     `cron(0 5 ? * SUN *)`: Sundays at 05:00 UTC.",
                ),
                A::optional(
                    "db_identifiers",
                    AttrType::set_of_strings(),
                    "The databases to drill (instance or cluster identifiers), each one the policy selects. \
                     Defaults to every database the policy selects.",
                ),
                A::optional(
                    "instance_class",
                    AttrType::String,
                    "Class of the restored instance (`db.<family>.<size>`); a cluster gets one instance of it. \
                     Defaults to `db.t3.medium`.",
                ),
                A::optional(
                    "subnet_group_name",
                    AttrType::String,
                    "DB subnet group the restored database is placed in; plan refuses a group RDS does not know \
                     in the region. Defaults to the source database's group (its VPC).",
                ),
                A::optional(
                    "vpc_security_group_ids",
                    AttrType::set_of_strings(),
                    "VPC security groups of the restored database (`sg-...`). Defaults to none: the VPC's \
                     default security group, as RDS does.",
                ),
                A::optional(
                    "rto_target_minutes",
                    AttrType::Number,
                    "A drill whose database takes longer than this to become available is `over_target` and \
                     raises the drill alarm. 5 to 1440; defaults to 60.",
                )
                .validated(whole(rto.min.into(), rto.max.into())),
            ],
            blocks: vec![],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::diag::AttrPath;
    use crate::plugin::schema::Role;

    #[test]
    fn model_and_schema_have_the_same_attributes() {
        schema().assert_model_matches(&PolicyModel::default().to_value());
    }

    #[test]
    fn every_attribute_is_documented() {
        let schema = schema();
        let nested = schema.block.blocks.iter().flat_map(|b| &b.block.attributes);
        for attribute in schema.block.attributes.iter().chain(nested) {
            assert!(
                attribute.description.len() > 20,
                "{} needs a description",
                attribute.name
            );
        }
    }

    #[test]
    fn the_drill_block_states_the_shared_defaults() {
        use rdsbackup_common::drill;
        let schema = schema();
        let block = schema.block.blocks.iter().find(|b| b.name == "restore_drill").unwrap();
        let says = |name: &str, what: &str| {
            let a = block.block.attributes.iter().find(|a| a.name == name).unwrap();
            assert!(a.description.contains(what), "{name}: {}", a.description);
        };
        says("schedule", drill::DEFAULT_SCHEDULE);
        says("instance_class", drill::DEFAULT_INSTANCE_CLASS);
        let rto = limits::RTO_TARGET_MINUTES;
        says(
            "rto_target_minutes",
            &format!("{} to {}; defaults to {}", rto.min, rto.max, rto.default),
        );
    }

    #[test]
    fn contract_defaults() {
        let schema = schema();
        let attribute = |name: &str| schema.block.attributes.iter().find(|a| a.name == name).unwrap();
        let default = |name: &str| attribute(name).default.clone().unwrap();
        assert_eq!(default("schedule"), Value::string("cron(0 3 * * ? *)"));
        assert_eq!(default("retention_days"), number(35));
        assert_eq!(default("min_snapshots"), number(3));
        assert_eq!(default("glacier_transition_days"), number(30));
        assert_eq!(default("deny_insecure_transport"), Value::Bool(true));
        assert_eq!(default("force_destroy"), Value::Bool(false));
        assert_eq!(default("max_backup_age_hours"), number(26));
        assert_eq!(default("enabled"), Value::Bool(true));
        assert_eq!(default("lambda_timeout_seconds"), number(300));
        assert_eq!(default("lambda_memory_mb"), number(256));
        assert_eq!(default("log_retention_days"), number(30));
        assert_eq!(attribute("name").role, Role::Required);
        let replacing: Vec<&str> = schema
            .block
            .attributes
            .iter()
            .filter(|a| a.has(crate::plugin::schema::PlanModifier::RequiresReplace))
            .map(|a| a.name)
            .collect();
        assert_eq!(replacing, ["name", "bucket_name"]);
        assert!(PolicyModel::from_value(&PolicyModel::default().to_value(), &AttrPath::default()).is_ok());
    }
}

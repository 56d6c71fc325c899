//! The whole stack of one vault as AWS should hold it (`Desired`, derived from the vault's attributes), its parts
//! declared once (`stack_parts!`, as a policy's), and what is done to them: converge, observe, drift, destroy.
//! What differs from a policy's stack is said here once: the bucket has Object Lock in compliance mode for
//! `retention_days`, no lifecycle rule, and stays at destroy while it holds records; the function runs in vault
//! mode (its environment names the vault); one schedule rule; an overdue alarm per source account.

use std::collections::{BTreeMap, BTreeSet};

use rdsbackup_common::{env, metrics, tags};
use serde_json::json;

use super::iam_policy::{self, Grants};
use super::names;
use super::schema::VaultModel;
use crate::aws::alarms::{AlarmsSpec, Shape, TopicSpec};
use crate::aws::bucket::BucketSpec;
use crate::aws::dashboard::DashboardSpec;
use crate::aws::event_rule::{RuleSpec, Trigger};
use crate::aws::function::FunctionSpec;
use crate::aws::log_group::LogGroupSpec;
use crate::aws::role::RoleSpec;
use crate::policy::names::Location;
use crate::stack::{FunctionSettings, StackCore, need, small};

/// The vault function's settings, which have no argument: a run lists and copies at most 20 snapshots (RDS's
/// limit of copies in flight), well within these.
pub const MEMORY_MB: i32 = 256;
pub const TIMEOUT_SECONDS: i32 = 300;
/// The log group keeps what the vault did for a quarter (an audit looks back that far).
pub const LOG_RETENTION_DAYS: i32 = 90;

/// Every name, ARN and setting of a vault's stack. Built only from wholly known attributes; what every stack has
/// is its `core` (tagged `rdsbackup:vault`), which it derefs to.
pub struct Desired {
    pub core: StackCore,
    pub vault: String,
    pub bucket: String,
    pub rule: String,
    pub errors_alarm: String,
    pub kms_key_arn: String,
    pub source_accounts: BTreeSet<String>,
    pub retention_days: i32,
    pub schedule: String,
    pub threshold_hours: i32,
    pub deny_insecure_transport: bool,
    pub force_destroy: bool,
}

impl std::ops::Deref for Desired {
    type Target = StackCore;

    fn deref(&self) -> &StackCore {
        &self.core
    }
}

impl Desired {
    pub fn new(model: &VaultModel, here: &Location) -> Result<Desired, String> {
        let vault = need(&model.name, "name")?.clone();
        let source_accounts = need(&model.source_account_ids, "source_account_ids")?.clone();
        let kms_key_arn = need(&model.kms_key_arn, "kms_key_arn")?.clone();
        let retention_days = *need(&model.retention_days, "retention_days")?;
        let min_snapshots = *need(&model.min_snapshots, "min_snapshots")?;
        let bucket = names::bucket_name(&vault, &here.account_id);
        let log_group = names::log_group_name(&vault);
        let mut tags = model.tags_all.known().cloned().unwrap_or_default();
        tags.insert(tags::VAULT.to_string(), vault.clone());
        let environment = BTreeMap::from([
            (env::VAULT_NAME.to_string(), vault.clone()),
            (
                env::SOURCE_ACCOUNTS.to_string(),
                env::join_identifiers(&source_accounts),
            ),
            (env::BUCKET.to_string(), bucket.clone()),
            (env::BUCKET_OWNER.to_string(), here.account_id.clone()),
            (env::KMS_KEY_ARN.to_string(), kms_key_arn.clone()),
            (env::RETENTION_DAYS.to_string(), retention_days.to_string()),
            (env::MIN_SNAPSHOTS.to_string(), min_snapshots.to_string()),
        ]);
        let iam_policy = iam_policy::document(
            &Grants {
                vault: &vault,
                bucket: &bucket,
                log_group: &log_group,
                source_accounts: &source_accounts,
                kms_key_arn: &kms_key_arn,
            },
            here,
        );
        // CloudWatch Logs' own encryption for the log group: a customer key there would need a statement for the
        // Logs service in the vault key's policy, which the vault's copies do not.
        let core = StackCore::new(
            &names::stem(&vault),
            here,
            model.alarm_sns_topic_arn.known(),
            tags,
            FunctionSettings {
                memory_mb: MEMORY_MB,
                timeout_seconds: TIMEOUT_SECONDS,
                log_retention_days: LOG_RETENTION_DAYS,
                log_kms_key_arn: None,
                environment,
                iam_policy,
            },
        );
        Ok(Desired {
            core,
            rule: names::schedule_rule_name(&vault),
            errors_alarm: names::errors_alarm_name(&vault),
            retention_days: small(retention_days, "retention_days")?,
            schedule: need(&model.schedule, "schedule")?.clone(),
            threshold_hours: small(
                *need(&model.max_copy_age_hours, "max_copy_age_hours")?,
                "max_copy_age_hours",
            )?,
            deny_insecure_transport: *need(&model.deny_insecure_transport, "deny_insecure_transport")?,
            force_destroy: *need(&model.force_destroy, "force_destroy")?,
            kms_key_arn,
            source_accounts,
            bucket,
            vault,
        })
    }

    /// The inline policy over IAM's 10,240 characters (each source account adds its ARNs), refused before
    /// anything is made.
    pub fn limit_exceeded(&self) -> Option<String> {
        const POLICY_MAX: usize = 10_240;
        let size = self.iam_policy.to_string().len();
        (size > POLICY_MAX).then(|| {
            format!(
                "The vault role's inline policy would be {size} characters, over IAM's limit of {POLICY_MAX}: each \
                 source account adds its snapshot and key ARNs ({} listed). Split the accounts across vaults.",
                self.source_accounts.len()
            )
        })
    }

    pub fn bucket_spec(&self) -> BucketSpec<'_> {
        BucketSpec {
            name: &self.bucket,
            owner: &self.account_id,
            region: &self.region,
            partition: &self.partition,
            kms_key_arn: Some(&self.kms_key_arn),
            deny_insecure_transport: self.deny_insecure_transport,
            glacier_transition_days: None,
            exports: None,
            object_lock_days: Some(self.retention_days),
            keep_records: !self.force_destroy,
            tags: &self.tags,
        }
    }

    /// The scheduled event goes to the function unchanged, as a policy's.
    pub fn schedule_spec(&self) -> RuleSpec<'_> {
        RuleSpec {
            rule_arn: self.rule_arn(&self.rule),
            rule_name: self.rule.clone(),
            name_prefix: &self.rule,
            trigger: Trigger::Schedule(self.schedule.clone()),
            enabled: true,
            reflected: true,
            description: "rdsbackup: runs the vault function on the vault's schedule",
            permission_id: "rdsbackup-schedule",
            function_name: &self.function,
            function_arn: &self.function_arn,
            tags: &self.tags,
            wanted: true,
            owner: (tags::VAULT, &self.vault),
        }
    }

    /// The function's errors, and per source account "vault copy overdue": its newest copy
    /// (`NewestVaultCopyAgeHours`) older than `max_copy_age_hours`, or no report at all.
    pub fn alarms_spec(&self) -> AlarmsSpec<'_> {
        let mut alarms = vec![(
            self.errors_alarm.clone(),
            Shape::function_errors(
                &self.function,
                &self.topic_arn,
                format!(
                    "rdsbackup vault {}: the vault function failed; its log group holds the failed copies and why.",
                    self.vault
                ),
            ),
        )];
        alarms.extend(self.source_accounts.iter().map(|account| {
            (
                names::overdue_alarm_name(&self.vault, account),
                Shape::age_over(
                    metrics::NEWEST_VAULT_COPY_AGE_HOURS,
                    vec![
                        (metrics::DIMENSION_VAULT.to_string(), self.vault.clone()),
                        (metrics::DIMENSION_SOURCE_ACCOUNT.to_string(), account.clone()),
                    ],
                    self.threshold_hours,
                    true,
                    &self.topic_arn,
                    format!(
                        "rdsbackup vault {}: no vault copy from account {account} newer than {} hours: the source \
                         stopped sharing, or the vault stopped copying.",
                        self.vault, self.threshold_hours
                    ),
                ),
            )
        }));
        AlarmsSpec {
            alarms,
            name_prefix: names::alarm_name_prefix(&self.vault),
            stale_prefixes: vec![names::overdue_alarm_prefix(&self.vault)],
            owner: (tags::VAULT, &self.vault),
            reflected: None,
            tags: &self.tags,
        }
    }

    pub fn dashboard_spec(&self) -> DashboardSpec<'_> {
        let search = format!(
            "SEARCH('{{{},{},{}}} MetricName=\"{}\" {}=\"{}\"', 'Maximum', 3600)",
            metrics::NAMESPACE,
            metrics::DIMENSION_VAULT,
            metrics::DIMENSION_SOURCE_ACCOUNT,
            metrics::NEWEST_VAULT_COPY_AGE_HOURS,
            metrics::DIMENSION_VAULT,
            self.vault
        );
        let widgets = vec![
            json!({
                "title": "Newest vault copy per source account (hours)",
                "metrics": [[{"expression": search, "id": "ages"}]],
                "annotations": {"horizontal": [{"label": "vault copy overdue", "value": self.threshold_hours}]},
                "stat": "Maximum",
            }),
            json!({
                "title": "Run duration (ms) and errors",
                "metrics": [
                    ["AWS/Lambda", "Duration", "FunctionName", self.function, {"stat": "Maximum"}],
                    ["AWS/Lambda", "Errors", "FunctionName", self.function, {"stat": "Sum", "yAxis": "right"}],
                ],
                "stat": "Maximum",
            }),
        ];
        DashboardSpec {
            name: &self.dashboard,
            body: crate::aws::dashboard::grid(widgets, &self.region),
        }
    }
}

crate::aws::part::stack_parts! {
    Desired;
    bucket: BucketSpec = bucket_spec => 3,
    role: RoleSpec = role_spec => 2,
    log_group: LogGroupSpec = log_group_spec => 2,
    function: FunctionSpec = function_spec => 1,
    topic: TopicSpec = topic_spec => 2,
    schedule: RuleSpec = schedule_spec => 0,
    alarms: AlarmsSpec = alarms_spec => 0,
    dashboard: DashboardSpec = dashboard_spec => 0,
}

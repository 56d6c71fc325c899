//! What every stack (a policy's, a vault's) has alike: the function with its role, log group and alarm topic,
//! named from one stem (`rdsbackup-<stem>`), in one location, with one set of tags. Each stack's `Desired`
//! holds a `StackCore` and derefs to it, so that the parts these specs describe are said once.

use std::collections::BTreeMap;

use crate::aws::alarms::TopicSpec;
use crate::aws::function::FunctionSpec;
use crate::aws::function_code;
use crate::aws::log_group::LogGroupSpec;
use crate::aws::role::RoleSpec;
use crate::policy::names::{self, Location};

/// A wholly known attribute's value, or the error naming it (a stack is built only from known values).
pub fn need<'a, T>(value: &'a crate::plugin::typed::Tf<T>, attribute: &str) -> Result<&'a T, String> {
    value.known().ok_or_else(|| format!("{attribute} is not known"))
}

/// A whole number as AWS's APIs take it.
pub fn small(value: i64, attribute: &str) -> Result<i32, String> {
    i32::try_from(value).map_err(|_| format!("{attribute} is out of range"))
}

pub struct StackCore {
    pub role: String,
    pub role_arn: String,
    pub function: String,
    pub function_arn: String,
    pub log_group: String,
    pub log_group_arn: String,
    pub topic: String,
    pub topic_arn: String,
    /// The topic is the provider's own (no topic given by ARN), created and deleted with the stack.
    pub managed_topic: bool,
    pub dashboard: String,
    pub region: String,
    pub partition: String,
    pub account_id: String,
    pub memory_mb: i32,
    pub timeout_seconds: i32,
    pub log_retention_days: i32,
    /// The log group's key: `None` for CloudWatch Logs' own encryption.
    pub log_kms_key_arn: Option<String>,
    pub environment: BTreeMap<String, String>,
    /// The resource's tags with the owner tag that marks what the stack owns.
    pub tags: BTreeMap<String, String>,
    pub iam_policy: serde_json::Value,
}

/// The settings of a stack's function and log group.
pub struct FunctionSettings {
    pub memory_mb: i32,
    pub timeout_seconds: i32,
    pub log_retention_days: i32,
    pub log_kms_key_arn: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub iam_policy: serde_json::Value,
}

impl StackCore {
    /// The names of `stem`'s stack at `here`; `topic_arn` is the configured topic, the stack's own when unset.
    pub fn new(
        stem: &str,
        here: &Location,
        topic_arn: Option<&String>,
        tags: BTreeMap<String, String>,
        settings: FunctionSettings,
    ) -> StackCore {
        let log_group = names::log_group_name(stem);
        let own_topic = here.alarm_topic_arn(stem);
        StackCore {
            role: names::role_name(stem),
            role_arn: here.role_arn(stem),
            function: names::function_name(stem),
            function_arn: here.function_arn(stem),
            log_group_arn: format!(
                "arn:{}:logs:{}:{}:log-group:{log_group}",
                here.partition, here.region, here.account_id
            ),
            log_group,
            topic: names::alarm_topic_name(stem),
            managed_topic: topic_arn.is_none_or(|arn| *arn == own_topic),
            topic_arn: topic_arn.cloned().unwrap_or(own_topic),
            dashboard: names::dashboard_name(stem),
            region: here.region.clone(),
            partition: here.partition.clone(),
            account_id: here.account_id.clone(),
            memory_mb: settings.memory_mb,
            timeout_seconds: settings.timeout_seconds,
            log_retention_days: settings.log_retention_days,
            log_kms_key_arn: settings.log_kms_key_arn,
            environment: settings.environment,
            tags,
            iam_policy: settings.iam_policy,
        }
    }

    pub fn rule_arn(&self, rule: &str) -> String {
        format!(
            "arn:{}:events:{}:{}:rule/{rule}",
            self.partition, self.region, self.account_id
        )
    }

    pub fn role_spec(&self) -> RoleSpec<'_> {
        RoleSpec {
            name: &self.role,
            arn: &self.role_arn,
            trust: crate::aws::role::trust_policy(),
            description: "Runs the rdsbackup function: RDS snapshots, their records and retention.",
            policy: &self.iam_policy,
            tags: &self.tags,
        }
    }

    pub fn log_group_spec(&self) -> LogGroupSpec<'_> {
        LogGroupSpec {
            name: &self.log_group,
            arn: &self.log_group_arn,
            retention_days: self.log_retention_days,
            kms_key_arn: self.log_kms_key_arn.as_deref(),
            tags: &self.tags,
        }
    }

    /// The embedded function, the same binary for every stack: its environment says what it is.
    pub fn function_spec(&self) -> FunctionSpec<'_> {
        FunctionSpec {
            name: &self.function,
            arn: &self.function_arn,
            role_arn: &self.role_arn,
            zip: function_code::ZIP,
            code_sha256: function_code::CODE_SHA256,
            memory_mb: self.memory_mb,
            timeout_seconds: self.timeout_seconds,
            environment: &self.environment,
            tags: &self.tags,
        }
    }

    pub fn topic_spec(&self) -> TopicSpec<'_> {
        TopicSpec {
            name: &self.topic,
            arn: &self.topic_arn,
            owned: self.managed_topic,
            tags: &self.tags,
        }
    }
}

/// Refuses to destroy a stack whose function is another stack's: parts are deleted by name, and a policy named
/// `vault-<x>` has vault `<x>`'s names (a failed create of one may sit in state beside the other). The function
/// carries its stack's owner tag (`rdsbackup:policy` or `rdsbackup:vault`); one that carries another's means
/// none of the names are this stack's to delete.
pub async fn check_owner(
    aws: &crate::aws::settings::Clients,
    function: &str,
    (key, owner): (&str, &str),
) -> Result<(), String> {
    let found = crate::aws::function::read(&aws.lambda, function)
        .await
        .map_err(|e| e.to_string())?;
    match found {
        Some(f) if f.tags.get(key).map(String::as_str) != Some(owner) => Err(format!(
            "the function {function} is not this stack's (it carries {}), so none of its parts were deleted: \
             they belong to another policy or vault of the same AWS names. Remove this resource from the state \
             (terraform state rm) instead.",
            f.tags
                .iter()
                .filter(|(k, _)| k.starts_with("rdsbackup:"))
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

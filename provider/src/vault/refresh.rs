//! Turning what was found on AWS back into the vault's attributes. Settings that have an argument take the value
//! found (from the function's environment, the schedule rule, the alarms, the bucket), so a change made outside
//! Terraform shows in the plan as a change of that argument; what has no argument is reported in `drift`.

use std::collections::BTreeMap;

use rdsbackup_common::{env, tags};

use super::names;
use super::schema::VaultModel;
use super::stack::Observed;
use crate::aws::event_rule::Trigger;
use crate::plugin::typed::Tf;
use crate::policy::names::Location;

/// The attributes as AWS holds them; parts not found keep their recorded values.
pub fn reflect(
    model: &VaultModel,
    observed: &Observed,
    here: &Location,
    default_tags: &BTreeMap<String, String>,
) -> VaultModel {
    let mut m = model.clone();
    let name = model.name.known().cloned().unwrap_or_default();
    let number = |found: Option<&String>| found.and_then(|v| v.parse::<i64>().ok());
    if let Some(function) = &observed.function {
        let environment = &function.environment;
        if let Some(accounts) = environment.get(env::SOURCE_ACCOUNTS) {
            m.source_account_ids = Tf::Known(env::split_identifiers(accounts));
        }
        if let Some(key) = environment.get(env::KMS_KEY_ARN) {
            m.kms_key_arn = Tf::Known(key.clone());
        }
        if let Some(days) = number(environment.get(env::RETENTION_DAYS)) {
            m.retention_days = Tf::Known(days);
        }
        if let Some(count) = number(environment.get(env::MIN_SNAPSHOTS)) {
            m.min_snapshots = Tf::Known(count);
        }
        m.lambda_code_sha256 = Tf::Known(function.code_sha256.clone());
        let (own, all) = crate::aws::tags::reflect(&function.tags, tags::VAULT, model.tags.known(), default_tags);
        m.tags = Tf::Known(own);
        m.tags_all = Tf::Known(all);
    }
    if let Some(bucket) = &observed.bucket {
        m.deny_insecure_transport = Tf::Known(bucket.denies_insecure_transport());
    }
    if let Some(schedule) = &observed.schedule
        && let Some(Trigger::Schedule(expression)) = &schedule.trigger
    {
        m.schedule = Tf::Known(expression.clone());
    }
    if let Some(alarms) = &observed.alarms {
        let errors = names::errors_alarm_name(&name);
        if let Some(topic) = alarms.topic_arn(&errors) {
            m.alarm_sns_topic_arn = Tf::Known(topic);
        }
        let first_overdue = m
            .source_account_ids
            .known()
            .and_then(|accounts| accounts.first())
            .map(|account| names::overdue_alarm_name(&name, account));
        if let Some(hours) = first_overdue.and_then(|alarm| alarms.threshold_hours(&alarm)) {
            m.max_copy_age_hours = Tf::Known(hours);
        }
    }
    if let Some(role) = &observed.role {
        m.role_arn = Tf::Known(role.arn.clone());
    }
    m.id = Tf::Known(name.clone());
    m.account_id = Tf::Known(here.account_id.clone());
    m.bucket_name = Tf::Known(names::bucket_name(&name, &here.account_id));
    m.function_name = Tf::Known(names::function_name(&name));
    m.alarm_names = Tf::Known(names::alarm_names(
        &name,
        m.source_account_ids.known().into_iter().flatten(),
    ));
    if m.role_arn.known().is_none() {
        m.role_arn = Tf::Known(here.vault_role_arn(&name));
    }
    if m.alarm_sns_topic_arn.known().is_none() {
        m.alarm_sns_topic_arn = Tf::Known(here.vault_alarm_topic_arn(&name));
    }
    if m.lambda_code_sha256.known().is_none() {
        m.lambda_code_sha256 = Tf::Known(String::new());
    }
    if m.tags_all.known().is_none() {
        m.tags_all = Tf::Known(default_tags.clone());
    }
    m
}

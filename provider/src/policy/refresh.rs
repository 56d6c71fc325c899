//! Turning what was found on AWS back into the policy's attributes. Settings that have an argument (schedule,
//! retention, memory, log retention, ...) take the value found, so a change made outside Terraform shows in the
//! plan as a change of that argument; what has no argument is reported in `drift`.

use std::collections::BTreeMap;

use rdsbackup_common::{archive, copies, drill, env, tags, vault};

use super::names::{self, Location};
use super::schema::{
    ARCHIVE_EVERY, ARCHIVE_RETENTION_DAYS, ARCHIVE_STORAGE_CLASS, ARCHIVE_TRANSITION_DAYS, ArchiveModel, CopyModel,
    PolicyModel, RestoreDrillModel, VaultModel,
};
use super::stack::Observed;
use crate::aws::event_rule::Trigger;
use crate::plugin::typed::Tf;

/// The bucket a stack uses: recorded in state, else in the function's environment (import), else the default.
pub fn bucket_name(model: &PolicyModel, function_env: Option<&BTreeMap<String, String>>, here: &Location) -> String {
    model
        .bucket_name
        .known()
        .cloned()
        .or_else(|| function_env.and_then(|e| e.get(env::BUCKET)).cloned())
        .unwrap_or_else(|| names::default_bucket_name(model.name.known().map_or("", String::as_str), &here.account_id))
}

/// The attributes as AWS holds them; parts not found keep their recorded values.
pub fn reflect(
    model: &PolicyModel,
    observed: &Observed,
    here: &Location,
    bucket: &str,
    default_tags: &BTreeMap<String, String>,
) -> PolicyModel {
    let mut m = model.clone();
    let name = model.name.known().cloned().unwrap_or_default();
    let set = |target: &mut Tf<i64>, found: Option<i64>| {
        if let Some(v) = found {
            *target = Tf::Known(v);
        }
    };
    if let Some(function) = &observed.function {
        let env = &function.environment;
        if let Some(v) = env.get(env::DB_INSTANCES) {
            m.db_instance_identifiers = Tf::Known(env::split_identifiers(v));
        }
        if let Some(v) = env.get(env::DB_CLUSTERS) {
            m.db_cluster_identifiers = Tf::Known(env::split_identifiers(v));
        }
        if let Some(Ok(tags)) = env.get(env::SELECTION_TAGS).map(|v| serde_json::from_str(v)) {
            m.selection_tags = Tf::Known(tags);
        }
        set(
            &mut m.retention_days,
            env.get(env::RETENTION_DAYS).and_then(|v| v.parse().ok()),
        );
        set(
            &mut m.min_snapshots,
            env.get(env::MIN_SNAPSHOTS).and_then(|v| v.parse().ok()),
        );
        if let Ok(found) = copies::from_env(env.get(env::COPIES).map_or("", String::as_str)) {
            m.copy = Tf::Known(copy_blocks(model, &m, &found));
        }
        if let Ok(found) = vault::from_env(env.get(env::VAULT).map_or("", String::as_str)) {
            m.vault = found.map_or(Tf::Null, |v| {
                Tf::Known(VaultModel {
                    account_id: Tf::Known(v.account_id),
                    kms_key_arn: Tf::Known(v.kms_key_arn),
                })
            });
        }
        if let Ok(found) = archive::from_env(env.get(env::ARCHIVE).map_or("", String::as_str)) {
            m.archive = found.map_or(Tf::Null, |a| Tf::Known(archive_block(model, &a)));
        }
        set(&mut m.lambda_memory_mb, function.memory_mb.map(i64::from));
        set(&mut m.lambda_timeout_seconds, function.timeout_seconds.map(i64::from));
        m.lambda_code_sha256 = Tf::Known(function.code_sha256.clone());
        let (own, all) = crate::aws::tags::reflect(&function.tags, tags::POLICY, model.tags.known(), default_tags);
        m.tags = Tf::Known(own);
        m.tags_all = Tf::Known(all);
    }
    if let Some(found) = &observed.bucket {
        m.kms_key_arn = found.kms_key_arn().map_or(Tf::Null, Tf::Known);
        m.deny_insecure_transport = Tf::Known(found.denies_insecure_transport());
        set(
            &mut m.glacier_transition_days,
            found.glacier_transition_days().map(i64::from),
        );
    }
    if let Some(group) = &observed.log_group {
        set(&mut m.log_retention_days, group.retention_days.map(i64::from));
    }
    if let Some(schedule) = &observed.schedule {
        if let Some(Trigger::Schedule(expression)) = &schedule.trigger {
            m.schedule = Tf::Known(expression.clone());
        }
        m.enabled = Tf::Known(schedule.enabled);
    }
    let overdue = names::overdue_alarm_name(&name);
    if let Some(alarms) = &observed.alarms {
        set(&mut m.max_backup_age_hours, alarms.threshold_hours(&overdue));
        if let Some(topic) = alarms.topic_arn(&overdue) {
            m.alarm_sns_topic_arn = Tf::Known(topic);
        }
    }
    if let Some(role) = &observed.role {
        m.role_arn = Tf::Known(role.arn.clone());
    }

    m.id = Tf::Known(name.clone());
    m.account_id = Tf::Known(here.account_id.clone());
    m.bucket_name = Tf::Known(bucket.to_string());
    m.bucket_arn = Tf::Known(here.bucket_arn(bucket));
    m.function_name = Tf::Known(names::function_name(&name));
    m.function_arn = Tf::Known(
        observed
            .function
            .as_ref()
            .map_or_else(|| here.function_arn(&name), |f| f.arn.clone()),
    );
    m.log_group_name = Tf::Known(names::log_group_name(&name));
    m.schedule_rule_name = Tf::Known(names::schedule_rule_name(&name));
    m.schedule_rule_arn = Tf::Known(here.schedule_rule_arn(&name));
    if let Some(function) = &observed.function
        && let Ok(found) = drill::from_env(function.environment.get(env::DRILL).map_or("", String::as_str))
    {
        let schedule = observed.drill_rule.as_ref().and_then(|rule| match &rule.trigger {
            Some(Trigger::Schedule(expression)) => Some(expression.clone()),
            _ => None,
        });
        m.restore_drill = found.map_or(Tf::Null, |d| Tf::Known(drill_block(model, &d, schedule)));
    }
    m.alarm_names = Tf::Known(names::alarm_names(
        &name,
        m.copy_regions().unwrap_or_default(),
        names::WithAlarms {
            archive: m.archive.known().is_some(),
            drill: m.restore_drill.known().is_some(),
        },
    ));
    if m.role_arn.known().is_none() {
        m.role_arn = Tf::Known(here.role_arn(&name));
    }
    if m.alarm_sns_topic_arn.known().is_none() {
        m.alarm_sns_topic_arn = Tf::Known(here.alarm_topic_arn(&name));
    }
    if m.lambda_code_sha256.known().is_none() {
        m.lambda_code_sha256 = Tf::Known(String::new());
    }
    if m.tags_all.known().is_none() {
        m.tags_all = Tf::Known(default_tags.clone());
    }
    m
}

/// The `copy` blocks as the function's environment holds them. The environment has every default resolved; a
/// block that left `retention_days` or `min_snapshots` out (in the recorded state, or on import) keeps it out
/// while the value found is the policy's, so that an unchanged configuration plans no change.
fn copy_blocks(recorded: &PolicyModel, found: &PolicyModel, destinations: &[copies::Destination]) -> Vec<CopyModel> {
    let recorded_block = |region: &str| {
        recorded.copy.known().and_then(|blocks| {
            blocks
                .iter()
                .find(|b| b.region.known().map(String::as_str) == Some(region))
        })
    };
    let inherited = |value: u32, own: Option<&Tf<i64>>, policy: &Tf<i64>| {
        let defaulted = own.is_none_or(|v| matches!(v, Tf::Null));
        if defaulted && policy.known() == Some(&i64::from(value)) {
            Tf::Null
        } else {
            Tf::Known(i64::from(value))
        }
    };
    destinations
        .iter()
        .map(|d| {
            let before = recorded_block(&d.region);
            CopyModel {
                region: Tf::Known(d.region.clone()),
                kms_key_arn: d.kms_key_arn.clone().map_or(Tf::Null, Tf::Known),
                retention_days: inherited(
                    d.retention_days,
                    before.map(|b| &b.retention_days),
                    &found.retention_days,
                ),
                min_snapshots: inherited(d.min_snapshots, before.map(|b| &b.min_snapshots), &found.min_snapshots),
            }
        })
        .collect()
}

/// The `archive` block as the function's environment holds it, defaults resolved; an argument the recorded block
/// left out (or an import) stays out while the value found is its default, so that an unchanged configuration
/// plans no change.
fn archive_block(recorded: &PolicyModel, found: &archive::Archive) -> ArchiveModel {
    let before = recorded.archive.known();
    let every = match found.every {
        archive::Every::Week => "week",
        archive::Every::Month => "month",
    };
    ArchiveModel {
        every: kept(every.to_string(), ARCHIVE_EVERY.to_string(), before.map(|b| &b.every)),
        kms_key_arn: Tf::Known(found.kms_key_arn.clone()),
        storage_class: kept(
            found.storage_class.as_str().to_string(),
            ARCHIVE_STORAGE_CLASS.to_string(),
            before.map(|b| &b.storage_class),
        ),
        transition_days: kept(
            i64::from(found.transition_days),
            ARCHIVE_TRANSITION_DAYS,
            before.map(|b| &b.transition_days),
        ),
        retention_days: kept(
            i64::from(found.retention_days),
            ARCHIVE_RETENTION_DAYS,
            before.map(|b| &b.retention_days),
        ),
    }
}

/// A block's argument as found: null while the recorded block left it out (or on import) and the value found is
/// its default, so that an unchanged configuration plans no change.
fn kept<T: Clone + PartialEq>(value: T, default: T, recorded: Option<&Tf<T>>) -> Tf<T> {
    let left_out = recorded.is_none_or(|v| matches!(v, Tf::Null));
    if left_out && value == default {
        Tf::Null
    } else {
        Tf::Known(value)
    }
}

/// The `restore_drill` block as the function's environment and the drill rule hold it (the rule, the schedule;
/// a rule not found keeps the recorded schedule, and its absence is drift).
fn drill_block(recorded: &PolicyModel, found: &drill::Settings, schedule: Option<String>) -> RestoreDrillModel {
    let before = recorded.restore_drill.known();
    let schedule = schedule
        .or_else(|| before.and_then(|b| b.schedule.known().cloned()))
        .unwrap_or_else(|| drill::DEFAULT_SCHEDULE.to_string());
    RestoreDrillModel {
        schedule: kept(
            schedule,
            drill::DEFAULT_SCHEDULE.to_string(),
            before.map(|b| &b.schedule),
        ),
        db_identifiers: kept(
            found.db_identifiers.clone(),
            Default::default(),
            before.map(|b| &b.db_identifiers),
        ),
        instance_class: kept(
            found.instance_class.clone(),
            drill::DEFAULT_INSTANCE_CLASS.to_string(),
            before.map(|b| &b.instance_class),
        ),
        subnet_group_name: found.subnet_group_name.clone().map_or(Tf::Null, Tf::Known),
        vpc_security_group_ids: kept(
            found.vpc_security_group_ids.clone(),
            Default::default(),
            before.map(|b| &b.vpc_security_group_ids),
        ),
        rto_target_minutes: kept(
            i64::from(found.rto_target_minutes),
            i64::from(rdsbackup_common::limits::RTO_TARGET_MINUTES.default),
            before.map(|b| &b.rto_target_minutes),
        ),
    }
}

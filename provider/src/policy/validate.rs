//! `terraform validate` for `rdsbackup_policy`: every rule of the contract, each error on the attribute it is
//! about. Values not known yet are checked once they are (Terraform validates again before apply).

use std::collections::{BTreeMap, BTreeSet};

use super::schema::PolicyModel;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::typed::Tf;
use crate::provider::validate_tags;
use crate::schedule::{self, Schedule};
use crate::{rules, schedule::ScheduleError};

pub fn validate(model: &PolicyModel) -> Diagnostics {
    let mut d = Diagnostics::new();
    check(&mut d, "name", &model.name, |n| rules::policy_name(n));
    check(&mut d, "bucket_name", &model.bucket_name, |n| rules::bucket_name(n));
    check(&mut d, "kms_key_arn", &model.kms_key_arn, |a| rules::kms_key_arn(a));
    check(&mut d, "alarm_sns_topic_arn", &model.alarm_sns_topic_arn, |a| {
        rules::sns_topic_arn(a)
    });
    check_ids(&mut d, "db_instance_identifiers", &model.db_instance_identifiers);
    check_ids(&mut d, "db_cluster_identifiers", &model.db_cluster_identifiers);
    check(&mut d, "schedule", &model.schedule, |s| {
        schedule::parse(s).map(drop).map_err(|e: ScheduleError| e.to_string())
    });

    // Ranges and value lists are the schema's own validators (plugin::schema::Validator), run before this.

    if let Some(tags) = model.tags.known() {
        validate_tags(&mut d, &AttrPath::root("tags"), tags);
    }
    if let Some(tags) = model.selection_tags.known() {
        check_selection_tags(&mut d, tags);
    }
    if !matches!(model.glacier_transition_days, Tf::Null) {
        d.attribute_warning(
            AttrPath::root("glacier_transition_days"),
            "Deprecated attribute",
            "glacier_transition_days is deprecated since 0.2 and moves nothing of value: records are about 1 KB, S3 \
             does not transition objects under 128 KB by default, and Glacier's 40 KB per-object overhead would make \
             them dearer. Remove it; to keep snapshot data in Glacier, use the archive block.",
        );
    }
    check_something_selected(&mut d, model);
    check_overdue_threshold(&mut d, model);
    check_copies(&mut d, model);
    check_vault(&mut d, model);
    check_archive(&mut d, model);
    check_restore_drill(&mut d, model);
    d
}

/// The `restore_drill` block: a schedule, the forms of class, subnet group, security groups, and drilled
/// databases the policy selects. With `selection_tags` a database may be selected by its
/// tags, which only RDS knows: the function reports a drilled database it does not select.
fn check_restore_drill(d: &mut Diagnostics, model: &PolicyModel) {
    let Some(block) = model.restore_drill.known() else {
        return;
    };
    let at = AttrPath::root("restore_drill");
    let one = |d: &mut Diagnostics, attribute: &str, value: &Tf<String>, rule: fn(&str) -> rules::Check| {
        if let Some(Err(message)) = value.known().map(|v| rule(v)) {
            d.attribute_error(
                at.attribute(attribute),
                format!("Invalid restore_drill {attribute}"),
                message,
            );
        }
    };
    one(d, "schedule", &block.schedule, |s| {
        schedule::parse(s).map(drop).map_err(|e| e.to_string())
    });
    one(d, "instance_class", &block.instance_class, rules::instance_class);
    one(
        d,
        "subnet_group_name",
        &block.subnet_group_name,
        rules::subnet_group_name,
    );
    if let Some(runs) = block.schedule.known().and_then(|s| schedule::runs_per_day_at_most(s))
        && runs > 1.0
    {
        d.attribute_warning(
            at.attribute("schedule"),
            "Frequent restore drills",
            format!(
                "This schedule starts drills up to {runs:.0} times a day: each drill restores every drilled database \
                 into a new instance, billed by the hour. Weekly (the default) is usual."
            ),
        );
    }
    for group in block.vpc_security_group_ids.known().into_iter().flatten() {
        if let Err(message) = rules::security_group_id(group) {
            d.attribute_error(
                at.attribute("vpc_security_group_ids"),
                "Invalid restore_drill vpc_security_group_ids",
                message,
            );
        }
    }
    let Some(drilled) = block.db_identifiers.known() else {
        return;
    };
    // Left out, a selection is empty (its default); not known yet, it is judged once known.
    if [
        matches!(model.db_instance_identifiers, Tf::Unknown),
        matches!(model.db_cluster_identifiers, Tf::Unknown),
        matches!(model.selection_tags, Tf::Unknown),
    ]
    .contains(&true)
    {
        return;
    }
    let empty = BTreeSet::new();
    let instances = model.db_instance_identifiers.known().unwrap_or(&empty);
    let clusters = model.db_cluster_identifiers.known().unwrap_or(&empty);
    let tags_empty = model.selection_tags.known().is_none_or(BTreeMap::is_empty);
    for db in drilled {
        if let Err(message) = rules::db_identifier(db) {
            d.attribute_error(
                at.attribute("db_identifiers"),
                "Invalid restore_drill db_identifiers",
                message,
            );
        } else if tags_empty && !instances.contains(db) && !clusters.contains(db) {
            d.attribute_error(
                at.attribute("db_identifiers"),
                "Invalid restore_drill db_identifiers",
                format!(
                    "{db:?} is not selected by the policy: a drill restores the policy's own snapshots, so drill only \
                     databases listed in db_instance_identifiers or db_cluster_identifiers (or selected by \
                     selection_tags)."
                ),
            );
        }
    }
}

/// The `archive` block: a period and a storage class S3 and this provider know, a key ARN, and a retention that
/// outlasts the transition by the class's minimum storage duration (S3 charges that long for an object deleted
/// sooner, so a shorter retention pays for storage it does not get).
fn check_archive(d: &mut Diagnostics, model: &PolicyModel) {
    use rdsbackup_common::archive::StorageClass;
    let Some(block) = model.archive.known() else { return };
    let at = AttrPath::root("archive");
    if let Some(every) = block.every.known()
        && !["week", "month"].contains(&every.as_str())
    {
        d.attribute_error(
            at.attribute("every"),
            "Invalid archive every",
            format!("{every:?} is not a period: use \"week\" or \"month\"."),
        );
    }
    let class = match block.storage_class.known() {
        None => StorageClass::parse(super::schema::ARCHIVE_STORAGE_CLASS),
        Some(name) => {
            let class = StorageClass::parse(name);
            if class.is_none() {
                let allowed: Vec<&str> = StorageClass::ALL.iter().map(|c| c.as_str()).collect();
                d.attribute_error(
                    at.attribute("storage_class"),
                    "Invalid archive storage_class",
                    format!(
                        "{name:?} is not an archive storage class: use one of {}.",
                        allowed.join(", ")
                    ),
                );
            }
            class
        }
    };
    if let Some(Err(message)) = block.kms_key_arn.known().map(|k| rules::kms_key_arn(k)) {
        d.attribute_error(at.attribute("kms_key_arn"), "Invalid archive kms_key_arn", message);
    }
    let transition = match &block.transition_days {
        Tf::Null => Some(super::schema::ARCHIVE_TRANSITION_DAYS),
        other => other.known().copied(),
    };
    let retention = match &block.retention_days {
        Tf::Null => Some(super::schema::ARCHIVE_RETENTION_DAYS),
        other => other.known().copied(),
    };
    if let (Some(class), Some(transition), Some(retention)) = (class, transition, retention) {
        let least = transition + i64::from(class.minimum_days());
        if retention < least {
            d.attribute_error(
                at.attribute("retention_days"),
                "Invalid archive retention_days",
                format!(
                    "retention_days ({retention}) must be at least transition_days ({transition}) plus {}'s minimum \
                     storage duration of {} days, {least} in all: S3 charges for that minimum however soon an \
                     export is deleted.",
                    class.as_str(),
                    class.minimum_days()
                ),
            );
        }
    }
}

/// The `vault` block: a 12-digit account, and a key ARN (not an alias: the Lambda compares a snapshot's key with
/// it, and RDS names keys by ARN). That the account is not the policy's and the key is of its account and region
/// is the plan's to say, once the provider's location is known.
fn check_vault(d: &mut Diagnostics, model: &PolicyModel) {
    let Some(block) = model.vault.known() else { return };
    let at = AttrPath::root("vault");
    if let Some(account) = block.account_id.known()
        && let Err(message) = rules::account_id(account)
    {
        d.attribute_error(at.attribute("account_id"), "Invalid vault account_id", message);
    }
    if let Some(key) = block.kms_key_arn.known() {
        let problem = rules::kms_key_arn(key).err().or_else(|| {
            key.contains(":alias/").then(|| {
                format!(
                    "{key:?} is an alias: name the key by its key ARN (arn:aws:kms:<region>:<account id>:key/<key \
                     id>), which is how RDS names the key of a snapshot."
                )
            })
        });
        if let Some(message) = problem {
            d.attribute_error(at.attribute("kms_key_arn"), "Invalid vault kms_key_arn", message);
        }
    }
}

/// Each `copy` block: a region name (outside GovCloud, where RDS needs a presigned URL this provider does not
/// make), once only, at most five blocks, and a key of that very region. That the region is not the policy's
/// own is the plan's to say (`plan::check`), once the provider's region is known.
fn check_copies(d: &mut Diagnostics, model: &PolicyModel) {
    let Some(blocks) = model.copy.known() else { return };
    let max = rdsbackup_common::copies::MAX_DESTINATIONS;
    if blocks.len() > max {
        d.attribute_error(
            AttrPath::root("copy"),
            "Too many copy blocks",
            format!(
                "A policy copies into at most {max} regions; it has {} copy blocks.",
                blocks.len()
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = AttrPath::root("copy").index(i);
        let Some(region) = block.region.known() else { continue };
        let problem = match rules::region(region) {
            Err(message) => Some(message),
            Ok(()) if region.starts_with("us-gov-") => Some(format!(
                "{region:?} is an AWS GovCloud (US) region: RDS copies there only with a presigned URL, which this \
                 provider does not make yet."
            )),
            Ok(()) if !seen.insert(region.clone()) => {
                Some(format!("{region} has more than one copy block: each region takes one."))
            }
            Ok(()) => None,
        };
        if let Some(message) = problem {
            d.attribute_error(at.attribute("region"), "Invalid copy region", message);
        }
        if let Some(key) = block.kms_key_arn.known() {
            let problem = rules::kms_key_arn(key).err().or_else(|| {
                rules::arn_region(key, "kms").filter(|r| r != region).map(|r| {
                    format!(
                        "{key:?} is a key in {r}, but this block copies into {region}: RDS encrypts a copy only \
                         with a key of the destination region."
                    )
                })
            });
            if let Some(message) = problem {
                d.attribute_error(at.attribute("kms_key_arn"), "Invalid copy kms_key_arn", message);
            }
        }
    }
}

/// An error on `attribute` when its value is known and breaks `rule`.
pub(crate) fn check<T>(d: &mut Diagnostics, attribute: &str, value: &Tf<T>, rule: impl FnOnce(&T) -> rules::Check) {
    if let Some(Err(message)) = value.known().map(rule) {
        d.attribute_error(AttrPath::root(attribute), format!("Invalid {attribute}"), message);
    }
}

fn check_ids(d: &mut Diagnostics, attribute: &str, ids: &Tf<BTreeSet<String>>) {
    for id in ids.known().into_iter().flatten() {
        if let Err(message) = rules::db_identifier(id) {
            d.attribute_error(AttrPath::root(attribute), format!("Invalid {attribute}"), message);
        }
    }
}

/// Selection tags are matched against tags already on databases, which may carry any key AWS allows, `aws:`
/// ones included: only the length limits apply.
fn check_selection_tags(d: &mut Diagnostics, tags: &BTreeMap<String, String>) {
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
            d.attribute_error(
                AttrPath::root("selection_tags").key(key),
                "Invalid selection_tags",
                format!("tag {key:?}: keys must be 1 to 128 characters and values at most 256."),
            );
        }
    }
}

fn check_something_selected(d: &mut Diagnostics, model: &PolicyModel) {
    let empty_set = |v: &Tf<BTreeSet<String>>| matches!(v, Tf::Null) || v.known().is_some_and(BTreeSet::is_empty);
    let empty_map =
        |v: &Tf<BTreeMap<String, String>>| matches!(v, Tf::Null) || v.known().is_some_and(BTreeMap::is_empty);
    if empty_set(&model.db_instance_identifiers)
        && empty_set(&model.db_cluster_identifiers)
        && empty_map(&model.selection_tags)
    {
        d.attribute_error(
            AttrPath::root("db_instance_identifiers"),
            "Nothing to back up",
            "Set at least one of db_instance_identifiers, db_cluster_identifiers or selection_tags.",
        );
    }
}

/// A threshold shorter than the schedule's period would raise "backup overdue" between every two runs. Only
/// `rate(...)` has a fixed period; for cron expressions the user knows best.
fn check_overdue_threshold(d: &mut Diagnostics, model: &PolicyModel) {
    let Some(Ok(Schedule::Rate(rate))) = model.schedule.known().map(|s| schedule::parse(s)) else {
        return;
    };
    let hours = model.max_backup_age_hours.known().copied().unwrap_or(26);
    if model.max_backup_age_hours.is_unknown() {
        return;
    }
    if (hours as u64) * 60 <= rate.period_minutes() {
        d.attribute_error(
            AttrPath::root("max_backup_age_hours"),
            "Invalid max_backup_age_hours",
            format!(
                "max_backup_age_hours ({hours}) must exceed the schedule's period ({} minutes), or the backup \
                 overdue alarm would fire between every two runs.",
                rate.period_minutes()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::diag::Severity;
    use crate::plugin::value::Value;

    fn config(entries: &[(&str, Value)]) -> Value {
        let mut value = PolicyModel::default().to_value();
        let Value::Map(map) = &mut value else { unreachable!() };
        map.insert("name".into(), Value::string("nightly"));
        map.insert(
            "db_instance_identifiers".into(),
            Value::List(vec![Value::string("orders")]),
        );
        for (k, v) in entries {
            map.insert(k.to_string(), v.clone());
        }
        value
    }

    /// As the server validates: the schema's validators, then the resource's own rules.
    fn errors(entries: &[(&str, Value)]) -> Vec<(String, String)> {
        let config = config(entries);
        let mut d = super::super::schema::schema().block.validate(&config);
        d.extend(own_rules(&config));
        d.0.into_iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.path.map(|p| p.to_string()).unwrap_or_default(), d.detail))
            .collect()
    }

    /// As the typed resource interface does: an ill-typed attribute is its own error, else the rules run.
    fn own_rules(config: &Value) -> Diagnostics {
        PolicyModel::from_value(config, &AttrPath::default()).map_or_else(|d| d, |model| validate(&model))
    }

    fn n(v: i64) -> Value {
        Value::Number(v as f64)
    }

    #[test]
    fn a_minimal_configuration_is_valid() {
        assert_eq!(own_rules(&config(&[])).0, vec![]);
    }

    #[test]
    fn setting_glacier_transition_days_warns_that_it_is_deprecated() {
        let found = own_rules(&config(&[("glacier_transition_days", n(30))])).0;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Warning);
        assert_eq!(found[0].path, Some(AttrPath::root("glacier_transition_days")));
        assert!(found[0].detail.contains("archive block"), "{}", found[0].detail);
    }

    #[test]
    fn five_field_cron_is_rejected_on_schedule() {
        let found = errors(&[("schedule", Value::string("cron(0 3 * * *)"))]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "schedule");
        assert!(found[0].1.contains("6 fields"), "{}", found[0].1);
    }

    #[test]
    fn out_of_range_numbers_name_the_attribute_and_the_range() {
        for (attribute, bad, range) in [
            ("retention_days", 0, "1 to 3650"),
            ("retention_days", 3651, "1 to 3650"),
            ("min_snapshots", 101, "1 to 100"),
            ("lambda_timeout_seconds", 901, "1 to 900"),
            ("lambda_memory_mb", 64, "128 to 10240"),
            ("glacier_transition_days", 0, "1 to 36500"),
            ("max_backup_age_hours", 169, "1 to 168"),
        ] {
            let found = errors(&[(attribute, n(bad))]);
            assert_eq!(found.len(), 1, "{attribute}: {found:?}");
            assert_eq!(found[0].0, attribute);
            assert!(found[0].1.contains(range), "{}", found[0].1);
        }
        let found = errors(&[("log_retention_days", n(31))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "log_retention_days");
        assert!(found[0].1.contains("one of 1, 3, 5, 7, 14, 30"), "{}", found[0].1);
        assert!(errors(&[("log_retention_days", n(30))]).is_empty());
    }

    #[test]
    fn names_arns_ids_and_tags_are_checked() {
        let found = errors(&[
            ("name", Value::string("Nightly")),
            ("bucket_name", Value::string("Bad_Bucket")),
            ("kms_key_arn", Value::string("alias/backups")),
            ("alarm_sns_topic_arn", Value::string("topic")),
            ("db_cluster_identifiers", Value::List(vec![Value::string("aurora--1")])),
            (
                "tags",
                Value::Map([("aws:owner".to_string(), Value::string("x"))].into()),
            ),
        ]);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "name",
                "bucket_name",
                "kms_key_arn",
                "alarm_sns_topic_arn",
                "db_cluster_identifiers",
                "tags[\"aws:owner\"]"
            ]
        );
    }

    #[test]
    fn something_must_be_selected() {
        let found = errors(&[("db_instance_identifiers", Value::List(vec![]))]);
        assert!(found[0].1.contains("at least one of"), "{found:?}");
        assert_eq!(
            errors(&[
                ("db_instance_identifiers", Value::Null),
                (
                    "selection_tags",
                    Value::Map([("backup".to_string(), Value::string("daily"))].into())
                ),
            ]),
            vec![]
        );
        // A selection coming from another resource is judged once known.
        assert_eq!(errors(&[("db_instance_identifiers", Value::Unknown)]), vec![]);
    }

    #[test]
    fn overdue_threshold_must_exceed_a_rate_schedule() {
        let found = errors(&[
            ("schedule", Value::string("rate(2 days)")),
            ("max_backup_age_hours", n(26)),
        ]);
        assert_eq!(found[0].0, "max_backup_age_hours");
        assert_eq!(
            errors(&[
                ("schedule", Value::string("rate(2 days)")),
                ("max_backup_age_hours", n(50))
            ]),
            vec![]
        );
        assert_eq!(
            errors(&[("schedule", Value::string("rate(2 days)"))]),
            vec![(
                "max_backup_age_hours".to_string(),
                "max_backup_age_hours (26) must exceed the schedule's period (2880 minutes), or the backup overdue \
             alarm would fire between every two runs."
                    .to_string()
            )]
        );
    }

    fn copy(region: &str, key: Option<&str>, retention_days: Option<i64>) -> Value {
        Value::Map(
            [
                ("region".to_string(), Value::string(region)),
                ("kms_key_arn".to_string(), key.map_or(Value::Null, Value::string)),
                ("retention_days".to_string(), retention_days.map_or(Value::Null, n)),
                ("min_snapshots".to_string(), Value::Null),
            ]
            .into(),
        )
    }

    #[test]
    fn copy_blocks_are_checked_where_they_are_wrong() {
        let west_key = "arn:aws:kms:us-west-2:123456789012:key/k";
        let valid = Value::List(vec![
            copy("us-west-2", Some(west_key), None),
            copy("eu-west-1", None, Some(90)),
        ]);
        assert_eq!(errors(&[("copy", valid)]), vec![]);
        let found = errors(&[(
            "copy",
            Value::List(vec![
                copy("us-west-2", Some("arn:aws:kms:eu-west-1:123456789012:key/k"), None),
                copy("us-west-2", None, Some(0)),
                copy("mars-1", None, None),
                copy("us-gov-west-1", None, None),
                copy("eu-west-1", Some("alias/backups"), None),
                copy("eu-west-2", None, None),
            ]),
        )]);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "copy[1].retention_days",
                "copy",
                "copy[0].kms_key_arn",
                "copy[1].region",
                "copy[2].region",
                "copy[3].region",
                "copy[4].kms_key_arn",
            ]
        );
        assert!(found[0].1.contains("1 to 3650"), "{}", found[0].1);
        assert!(found[1].1.contains("at most 5"), "{}", found[1].1);
        assert!(found[2].1.contains("destination region"), "{}", found[2].1);
        assert!(found[3].1.contains("more than one"), "{}", found[3].1);
        assert!(found[5].1.contains("GovCloud"), "{}", found[5].1);
    }

    #[test]
    fn unknown_values_are_not_rejected() {
        assert_eq!(
            errors(&[
                ("schedule", Value::Unknown),
                ("name", Value::Unknown),
                ("retention_days", Value::Unknown)
            ]),
            vec![]
        );
    }

    #[test]
    fn fractions_are_rejected_with_the_attribute() {
        let found = errors(&[("retention_days", Value::Number(1.5))]);
        assert_eq!(found[0].0, "retention_days");
        assert!(found[0].1.contains("whole number"));
    }
}

//! `terraform validate` for `rdsbackup_vault`: every rule of the contract, each error on the attribute it is
//! about. Values not known yet are checked once they are. Ranges are the schema's own validators.

use super::schema::{DEFAULT_MAX_COPY_AGE_HOURS, VaultModel};
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::typed::Tf;
use crate::policy::validate::check;
use crate::provider::validate_tags;
use crate::rules;
use crate::schedule::{self, Schedule, ScheduleError};

pub fn validate(model: &VaultModel) -> Diagnostics {
    let mut d = Diagnostics::new();
    check(&mut d, "name", &model.name, |n| {
        rules::policy_name(n).map_err(|m| m.replace("policy name", "vault name"))
    });
    check(&mut d, "kms_key_arn", &model.kms_key_arn, |a| rules::kms_key_arn(a));
    check(&mut d, "alarm_sns_topic_arn", &model.alarm_sns_topic_arn, |a| {
        rules::sns_topic_arn(a)
    });
    check(&mut d, "schedule", &model.schedule, |s| {
        schedule::parse(s).map(drop).map_err(|e: ScheduleError| e.to_string())
    });
    if let Some(accounts) = model.source_account_ids.known() {
        let at = AttrPath::root("source_account_ids");
        if accounts.is_empty() {
            d.attribute_error(
                at.clone(),
                "Invalid source_account_ids",
                "List at least one source account: the vault takes in only what listed accounts share.",
            );
        }
        for account in accounts {
            if let Err(message) = rules::account_id(account) {
                d.attribute_error(at.clone(), "Invalid source_account_ids", message);
            }
        }
    }
    if let Some(tags) = model.tags.known() {
        validate_tags(&mut d, &AttrPath::root("tags"), tags);
    }
    check_overdue_threshold(&mut d, model);
    d
}

/// A source's newest copy is at best a schedule's period old when the vault runs: an overdue threshold within
/// one period would fire between runs.
fn check_overdue_threshold(d: &mut Diagnostics, model: &VaultModel) {
    // Left out, the threshold is its default (which validate does not see applied yet).
    let hours = match &model.max_copy_age_hours {
        Tf::Known(hours) => Some(*hours),
        Tf::Null => Some(DEFAULT_MAX_COPY_AGE_HOURS),
        Tf::Unknown => None,
    };
    let (Some(Ok(Schedule::Rate(rate))), Some(hours)) = (model.schedule.known().map(|s| schedule::parse(s)), hours)
    else {
        return;
    };
    if (hours as u64) * 60 <= rate.period_minutes() {
        d.attribute_error(
            AttrPath::root("max_copy_age_hours"),
            "Invalid max_copy_age_hours",
            format!(
                "max_copy_age_hours ({hours}) must exceed the schedule's period ({} minutes), or the vault copy \
                 overdue alarms would fire between every two runs.",
                rate.period_minutes()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn valid() -> VaultModel {
        VaultModel {
            name: Tf::Known("central".into()),
            source_account_ids: Tf::Known(BTreeSet::from(["111111111111".to_string()])),
            kms_key_arn: Tf::Known(
                "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            ),
            schedule: Tf::Known("rate(1 hour)".into()),
            max_copy_age_hours: Tf::Known(50),
            ..VaultModel::default()
        }
    }

    fn errors_on(model: &VaultModel) -> Vec<String> {
        validate(model)
            .0
            .iter()
            .map(|d| {
                format!(
                    "{}: {}",
                    d.path.as_ref().map(|a| a.to_string()).unwrap_or_default(),
                    d.detail
                )
            })
            .collect()
    }

    #[test]
    fn a_valid_vault_passes() {
        assert_eq!(errors_on(&valid()), Vec::<String>::new());
    }

    #[test]
    fn each_rule_names_its_attribute_and_what_is_allowed() {
        let cases: [(&str, VaultModel, &str); 6] = [
            (
                "name",
                VaultModel {
                    name: Tf::Known("Vault".into()),
                    ..valid()
                },
                "not a valid vault name",
            ),
            (
                "source_account_ids",
                VaultModel {
                    source_account_ids: Tf::Known(BTreeSet::from(["1234".to_string()])),
                    ..valid()
                },
                "12 digits",
            ),
            (
                "source_account_ids",
                VaultModel {
                    source_account_ids: Tf::Known(BTreeSet::new()),
                    ..valid()
                },
                "at least one source account",
            ),
            (
                "kms_key_arn",
                VaultModel {
                    kms_key_arn: Tf::Known("my-key".into()),
                    ..valid()
                },
                "not a KMS key ARN",
            ),
            (
                "schedule",
                VaultModel {
                    schedule: Tf::Known("hourly".into()),
                    ..valid()
                },
                "",
            ),
            (
                "max_copy_age_hours",
                VaultModel {
                    schedule: Tf::Known("rate(3 days)".into()),
                    ..valid()
                },
                "must exceed the schedule's period",
            ),
        ];
        for (attribute, model, words) in cases {
            let errors = errors_on(&model);
            assert_eq!(errors.len(), 1, "{attribute}: {errors:?}");
            assert!(errors[0].starts_with(attribute), "{errors:?}");
            assert!(errors[0].contains(words), "{errors:?}");
        }
    }

    #[test]
    fn unknown_values_wait() {
        let model = VaultModel {
            source_account_ids: Tf::Unknown,
            kms_key_arn: Tf::Unknown,
            ..valid()
        };
        assert!(validate(&model).0.is_empty());
    }
}

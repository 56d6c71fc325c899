//! `rdsbackup_vault`'s own plan step: every computed attribute known in the plan when it can be (names and ARNs
//! derive from the name, the account and the region; tags merge with the provider's), and the checks that only
//! the provider's location can decide.

use super::names;
use super::schema::VaultModel;
use super::stack::Desired;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::typed::Tf;
use crate::policy::names::Location;
use crate::policy::plan::{PlanContext, tags_all};
use crate::rules;

pub fn derive(planned: &mut VaultModel, config: &VaultModel, context: &PlanContext<'_>) {
    if let Some(name) = config.name.known() {
        planned.id = Tf::Known(name.clone());
        planned.function_name = Tf::Known(names::function_name(name));
        planned.alarm_names = match planned.source_account_ids.known() {
            Some(accounts) => Tf::Known(names::alarm_names(name, accounts)),
            None => Tf::Unknown,
        };
        if let Some(here) = context.location {
            planned.account_id = Tf::Known(here.account_id.clone());
            planned.role_arn = Tf::Known(here.vault_role_arn(name));
            planned.bucket_name = Tf::Known(names::bucket_name(name, &here.account_id));
            if config.alarm_sns_topic_arn == Tf::Null {
                planned.alarm_sns_topic_arn = Tf::Known(here.vault_alarm_topic_arn(name));
            }
        }
    }
    planned.tags_all = tags_all(context.default_tags, &planned.tags);
    planned.lambda_code_sha256 = Tf::Known(context.code_sha256.to_string());
    planned.drift = Tf::Known(Vec::new());
}

/// The vault is another account than its sources; its key is its own, in its region (RDS copies onto a key of
/// the copy's region, and a key of another account would put the copies in that account's power); the topic is
/// of its region; the role's policy fits IAM's limit.
pub fn check(planned: &VaultModel, here: &Location) -> Diagnostics {
    let mut d = Diagnostics::new();
    if planned
        .source_account_ids
        .known()
        .is_some_and(|accounts| accounts.contains(&here.account_id))
    {
        d.attribute_error(
            AttrPath::root("source_account_ids"),
            "Invalid source_account_ids",
            format!(
                "{} is the vault's own account (the provider's): a vault takes in what other accounts share; the \
                 snapshots of this account are no safer in it.",
                here.account_id
            ),
        );
    }
    if let Some(key) = planned.kms_key_arn.known() {
        let region = rules::arn_region(key, "kms");
        let account = rules::arn_account(key, "kms");
        if region.is_some_and(|r| r != here.region) || account.is_some_and(|a| a != here.account_id) {
            d.attribute_error(
                AttrPath::root("kms_key_arn"),
                "Invalid kms_key_arn",
                format!(
                    "{key} is not a key of the vault's account {} in its region {}: RDS copies onto a key of the \
                     copy's region, and a key of another account would leave the copies in that account's power.",
                    here.account_id, here.region
                ),
            );
        }
    }
    if let Some(region) = planned
        .alarm_sns_topic_arn
        .known()
        .and_then(|arn| rules::arn_region(arn, "sns"))
        .filter(|r| *r != here.region)
    {
        d.attribute_error(
            AttrPath::root("alarm_sns_topic_arn"),
            "Invalid alarm_sns_topic_arn",
            format!(
                "alarm_sns_topic_arn is in {region}, but the provider manages {}: CloudWatch alarms notify topics \
                 of their own region.",
                here.region
            ),
        );
    }
    if let Ok(desired) = Desired::new(planned, here)
        && let Some(message) = desired.limit_exceeded()
    {
        d.attribute_error(
            AttrPath::root("source_account_ids"),
            "Too many source accounts",
            message,
        );
    }
    d
}

/// What a destroy leaves: every vault copy, and the bucket while it holds records.
pub fn destroy_warning(prior: &VaultModel) -> Diagnostics {
    let mut d = Diagnostics::new();
    let bucket = prior.bucket_name.known().map_or("the vault's bucket", String::as_str);
    let bucket_fate = if prior.force_destroy.known() == Some(&true) {
        format!(
            "force_destroy deletes the records Object Lock no longer protects; {bucket} stays while any record is \
             locked."
        )
    } else {
        format!("{bucket} stays while it holds records (set force_destroy to delete those Object Lock lets go).")
    };
    d.warning(
        "Destroying a vault keeps its copies",
        format!(
            "terraform destroy deletes the vault's function, role, schedule, alarms and dashboard, and no vault \
             copy: the RDS snapshots in this account stay, under the vault's key, until someone deletes them. \
             {bucket_fate}"
        ),
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn planned(accounts: &[&str], key: &str) -> VaultModel {
        VaultModel {
            name: Tf::Known("central".into()),
            source_account_ids: Tf::Known(accounts.iter().map(|a| a.to_string()).collect::<BTreeSet<_>>()),
            kms_key_arn: Tf::Known(key.into()),
            retention_days: Tf::Known(365),
            min_snapshots: Tf::Known(7),
            schedule: Tf::Known("rate(1 hour)".into()),
            max_copy_age_hours: Tf::Known(50),
            deny_insecure_transport: Tf::Known(true),
            force_destroy: Tf::Known(false),
            ..VaultModel::default()
        }
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/k";

    #[test]
    fn derives_the_contracts_names_into_the_plan() {
        let here = Location::example();
        let config = planned(&["111111111111"], KEY);
        let mut model = config.clone();
        let context = PlanContext {
            location: Some(&here),
            default_tags: &BTreeMap::new(),
            code_sha256: "c2hh",
        };
        derive(&mut model, &config, &context);
        assert_eq!(model.id, Tf::Known("central".into()));
        assert_eq!(model.account_id, Tf::Known("123456789012".into()));
        assert_eq!(
            model.bucket_name,
            Tf::Known("rdsbackup-vault-central-123456789012".into())
        );
        assert_eq!(model.function_name, Tf::Known("rdsbackup-vault-central".into()));
        assert_eq!(
            model.alarm_names,
            Tf::Known(vec![
                "rdsbackup-vault-central-copy-overdue-111111111111".into(),
                "rdsbackup-vault-central-errors".into()
            ])
        );
        assert_eq!(
            model.alarm_sns_topic_arn,
            Tf::Known("arn:aws:sns:eu-west-1:123456789012:rdsbackup-vault-central-alarms".into())
        );
    }

    #[test]
    fn refuses_its_own_account_a_foreign_key_and_too_many_sources() {
        let here = Location::example();
        assert!(check(&planned(&["111111111111"], KEY), &here).0.is_empty());
        let own = check(&planned(&["123456789012"], KEY), &here);
        assert!(own.0[0].detail.contains("the vault's own account"), "{own:?}");
        let foreign = check(
            &planned(&["111111111111"], "arn:aws:kms:eu-west-1:111111111111:key/k"),
            &here,
        );
        assert_eq!(foreign.0[0].path, Some(AttrPath::root("kms_key_arn")));
        let other_region = check(
            &planned(&["111111111111"], "arn:aws:kms:us-east-1:123456789012:key/k"),
            &here,
        );
        assert_eq!(other_region.0.len(), 1);
        let many: Vec<String> = (0..60).map(|i| format!("{:012}", 100_000_000_000u64 + i)).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let too_many = check(&planned(&refs, KEY), &here);
        assert!(
            too_many.0[0].detail.contains("Split the accounts across vaults"),
            "{too_many:?}"
        );
    }
}

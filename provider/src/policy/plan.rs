//! `rdsbackup_policy`'s own plan step: every computed attribute known in the plan when it can be (names and
//! ARNs derive from the name, the account and the region; tags merge with the provider's), and the checks of the
//! planned stack that only the provider's location can decide. Defaults, kept values and replacement on `name`
//! and `bucket_name` are the schema's, run by the plan pipeline (`plugin::plan`).

use std::collections::BTreeMap;

use super::names::{self, Location};
use super::schema::PolicyModel;
use super::stack::Desired;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::typed::Tf;
use crate::rules;

/// What the provider knows beyond the configuration: where the stack goes, the tags every resource gets and
/// the hash of the function package embedded in this build.
pub struct PlanContext<'a> {
    pub location: Option<&'a Location>,
    pub default_tags: &'a BTreeMap<String, String>,
    pub code_sha256: &'a str,
}

/// What derives from the name, the account and the region, the tags, the embedded function's hash, and the
/// drift this plan's apply repairs. Optional computed names left out of the configuration take the provider's
/// own (the default bucket, the created topic), so that removing them from the configuration goes back to those.
pub fn derive(planned: &mut PolicyModel, config: &PolicyModel, context: &PlanContext<'_>) {
    if let Some(name) = config.name.known() {
        planned.id = Tf::Known(name.clone());
        planned.function_name = Tf::Known(names::function_name(name));
        planned.log_group_name = Tf::Known(names::log_group_name(name));
        planned.schedule_rule_name = Tf::Known(names::schedule_rule_name(name));
        planned.alarm_names = match (planned.copy_regions(), &planned.archive, &planned.restore_drill) {
            (_, Tf::Unknown, _) | (_, _, Tf::Unknown) | (None, _, _) => Tf::Unknown,
            (Some(regions), archive, drill) => Tf::Known(names::alarm_names(
                name,
                regions,
                names::WithAlarms {
                    archive: archive.known().is_some(),
                    drill: drill.known().is_some(),
                },
            )),
        };
        if let Some(here) = context.location {
            planned.account_id = Tf::Known(here.account_id.clone());
            planned.role_arn = Tf::Known(here.role_arn(name));
            planned.function_arn = Tf::Known(here.function_arn(name));
            planned.schedule_rule_arn = Tf::Known(here.schedule_rule_arn(name));
            if config.bucket_name == Tf::Null {
                planned.bucket_name = Tf::Known(names::default_bucket_name(name, &here.account_id));
            }
            if config.alarm_sns_topic_arn == Tf::Null {
                planned.alarm_sns_topic_arn = Tf::Known(here.alarm_topic_arn(name));
            }
            if let Some(bucket) = planned.bucket_name.known() {
                planned.bucket_arn = Tf::Known(here.bucket_arn(bucket));
            }
        }
    }
    planned.tags_all = tags_all(context.default_tags, &planned.tags);
    planned.lambda_code_sha256 = Tf::Known(context.code_sha256.to_string());
    planned.drift = Tf::Known(Vec::new());
}

/// `default_tags` merged with `tags`, the resource's own winning; unknown while `tags` is.
pub(crate) fn tags_all(
    default_tags: &BTreeMap<String, String>,
    tags: &Tf<BTreeMap<String, String>>,
) -> Tf<BTreeMap<String, String>> {
    match tags {
        Tf::Unknown => Tf::Unknown,
        Tf::Null => Tf::Known(default_tags.clone()),
        Tf::Known(own) => {
            let mut all = default_tags.clone();
            all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            Tf::Known(all)
        }
    }
}

/// What the plan can refuse once the provider's location is known, rather than fail halfway through the apply.
pub fn check(planned: &PolicyModel, here: &Location) -> Diagnostics {
    let mut d = Diagnostics::new();
    check_region(&mut d, planned, here);
    check_vault(&mut d, planned, here);
    check_limits(&mut d, planned, here);
    d
}

/// The vault is another account (a vault in the policy's own account is no safer than the snapshots), and its
/// key one of the policy's account and region: RDS copies a snapshot onto a key of its own region, and the
/// policy's account must own the key to share what it encrypts.
fn check_vault(d: &mut Diagnostics, planned: &PolicyModel, here: &Location) {
    let Some(block) = planned.vault.known() else { return };
    let at = AttrPath::root("vault");
    if block.account_id.known() == Some(&here.account_id) {
        d.attribute_error(
            at.attribute("account_id"),
            "Invalid vault account_id",
            format!(
                "{} is the policy's own account (the provider's): the vault must be another account, which no \
                 credential of this one can reach.",
                here.account_id
            ),
        );
    }
    let Some(key) = block.kms_key_arn.known() else { return };
    let region = rules::arn_region(key, "kms");
    let account = rules::arn_account(key, "kms");
    if region.is_some_and(|r| r != here.region) || account.is_some_and(|a| a != here.account_id) {
        d.attribute_error(
            at.attribute("kms_key_arn"),
            "Invalid vault kms_key_arn",
            format!(
                "{key} is not a key of the policy's account {} in its region {}: RDS copies a snapshot onto a key \
                 of its own region, and shares only what its own account's key encrypts.",
                here.account_id, here.region
            ),
        );
    }
}

/// AWS's size limits, judged on the planned stack once its values are known (the clusters of listed members,
/// read at apply, are checked again there before anything changes).
fn check_limits(d: &mut Diagnostics, planned: &PolicyModel, here: &Location) {
    let Some(bucket) = planned.bucket_name.known().cloned() else {
        return;
    };
    let Ok(desired) = Desired::new(planned, here, bucket, &Default::default()) else {
        return;
    };
    for (attribute, message) in desired.limits_exceeded() {
        d.attribute_error(AttrPath::root(attribute), "Too many databases for one policy", message);
    }
}

/// S3 only encrypts with a KMS key of its own region, and CloudWatch alarms only notify topics of theirs; a copy
/// goes to another region than the policy's.
fn check_region(d: &mut Diagnostics, planned: &PolicyModel, here: &Location) {
    for (i, block) in planned.copy.known().into_iter().flatten().enumerate() {
        if block.region.known() == Some(&here.region) {
            d.attribute_error(
                AttrPath::root("copy").index(i).attribute("region"),
                "Invalid copy region",
                format!(
                    "{} is the policy's own region (the provider's): a copy block names another region, where the \
                     copies survive the loss of this one.",
                    here.region
                ),
            );
        }
    }
    // RDS exports with a key of the snapshot's region.
    if let Some(key) = planned.archive.known().and_then(|a| a.kms_key_arn.known())
        && let Some(region) = rules::arn_region(key, "kms").filter(|r| *r != here.region)
    {
        d.attribute_error(
            AttrPath::root("archive").attribute("kms_key_arn"),
            "Invalid archive kms_key_arn",
            format!(
                "the key is in {region}, but the snapshots are in {}: RDS exports with a key of their region.",
                here.region
            ),
        );
    }
    for (attribute, value, service) in [
        ("kms_key_arn", &planned.kms_key_arn, "kms"),
        ("alarm_sns_topic_arn", &planned.alarm_sns_topic_arn, "sns"),
    ] {
        let Some(arn) = value.known() else { continue };
        if let Some(region) = rules::arn_region(arn, service).filter(|r| *r != here.region) {
            d.attribute_error(
                AttrPath::root(attribute),
                format!("Invalid {attribute}"),
                format!(
                    "{attribute} is in {region}, but the provider manages {}: use one in the same region.",
                    here.region
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::plan::plan_model;
    use crate::plugin::value::Value;
    use crate::plugin::{PlanRequest, Planned};
    use crate::policy::schema::schema;

    fn here() -> Location {
        Location::example()
    }

    fn object(entries: &[(&str, Value)]) -> Value {
        let mut value = PolicyModel::default().to_value();
        let Value::Map(map) = &mut value else { unreachable!() };
        for (k, v) in entries {
            map.insert(k.to_string(), v.clone());
        }
        value
    }

    fn run(prior: Value, config: Value, location: Option<&Location>) -> Planned {
        let no_tags = BTreeMap::from([("owner".to_string(), "platform".to_string())]);
        let context = PlanContext {
            location,
            default_tags: &no_tags,
            code_sha256: "c2hh",
        };
        // Terraform's proposal: the configuration, with optional computed attributes left out taking prior values.
        let mut proposed = config.clone();
        if let (Value::Map(p), Value::Map(old)) = (&mut proposed, &prior) {
            for attribute in schema().block.attributes {
                if p.get(attribute.name).is_none_or(Value::is_null)
                    && attribute.role != crate::plugin::schema::Role::Optional
                {
                    p.insert(
                        attribute.name.to_string(),
                        old.get(attribute.name).cloned().unwrap_or(Value::Null),
                    );
                }
            }
        }
        let mut planned = plan_model(
            &schema(),
            PlanRequest {
                prior,
                proposed,
                config,
            },
            &|planned, config| derive(planned, config, &context),
        );
        if let (Some(here), Ok(model)) = (location, PolicyModel::from_value(&planned.state, &AttrPath::default())) {
            planned.diagnostics.extend(check(&model, here));
        }
        planned
    }

    fn basic() -> Value {
        object(&[
            ("name", Value::string("nightly")),
            ("db_instance_identifiers", Value::List(vec![Value::string("orders")])),
        ])
    }

    #[test]
    fn create_fills_defaults_and_derives_names_and_arns() {
        let planned = run(Value::Null, basic(), Some(&here()));
        let state = &planned.state;
        assert!(planned.requires_replace.is_empty());
        assert_eq!(state.get("schedule"), &Value::string("cron(0 3 * * ? *)"));
        assert_eq!(state.get("retention_days"), &Value::Number(35.0));
        assert_eq!(state.get("kms_key_arn"), &Value::Null);
        assert_eq!(state.get("id"), &Value::string("nightly"));
        assert_eq!(
            state.get("bucket_name"),
            &Value::string("rdsbackup-nightly-123456789012")
        );
        assert_eq!(
            state.get("bucket_arn"),
            &Value::string("arn:aws:s3:::rdsbackup-nightly-123456789012")
        );
        assert_eq!(
            state.get("function_arn"),
            &Value::string("arn:aws:lambda:eu-west-1:123456789012:function:rdsbackup-nightly")
        );
        assert_eq!(
            state.get("alarm_sns_topic_arn"),
            &Value::string("arn:aws:sns:eu-west-1:123456789012:rdsbackup-nightly-alarms")
        );
        assert_eq!(state.get("lambda_code_sha256"), &Value::string("c2hh"));
        assert_eq!(
            state.get("tags_all"),
            &Value::Map([("owner".to_string(), Value::string("platform"))].into())
        );
        assert!(!state.has_unknown(), "{state:?}");
    }

    #[test]
    fn without_a_location_account_dependent_values_are_unknown() {
        let state = run(Value::Null, basic(), None).state;
        assert_eq!(state.get("function_name"), &Value::string("rdsbackup-nightly"));
        assert_eq!(state.get("bucket_name"), &Value::Unknown);
        assert_eq!(state.get("role_arn"), &Value::Unknown);
    }

    #[test]
    fn unknown_name_leaves_derived_values_unknown() {
        let config = object(&[
            ("name", Value::Unknown),
            ("selection_tags", Value::Map([("b".into(), Value::string("y"))].into())),
        ]);
        let state = run(Value::Null, config, Some(&here())).state;
        assert_eq!(state.get("id"), &Value::Unknown);
        assert_eq!(state.get("function_arn"), &Value::Unknown);
    }

    #[test]
    fn an_unchanged_update_plans_the_prior_state() {
        let prior = run(Value::Null, basic(), Some(&here())).state;
        let planned = run(prior.clone(), basic(), Some(&here()));
        assert!(planned.requires_replace.is_empty());
        assert_eq!(planned.state, prior);
    }

    #[test]
    fn update_in_place_keeps_computed_values() {
        let prior = run(Value::Null, basic(), Some(&here())).state;
        let mut config = basic();
        let Value::Map(map) = &mut config else { unreachable!() };
        map.insert("retention_days".into(), Value::Number(7.0));
        map.insert(
            "tags".into(),
            Value::Map([("owner".to_string(), Value::string("dba"))].into()),
        );
        let planned = run(prior.clone(), config, Some(&here()));
        assert!(planned.requires_replace.is_empty());
        assert_eq!(planned.state.get("retention_days"), &Value::Number(7.0));
        assert_eq!(planned.state.get("bucket_name"), prior.get("bucket_name"));
        assert_eq!(
            planned.state.get("tags_all"),
            &Value::Map([("owner".to_string(), Value::string("dba"))].into())
        );
    }

    #[test]
    fn removing_an_attribute_returns_it_to_its_default() {
        let mut config = basic();
        let Value::Map(map) = &mut config else { unreachable!() };
        map.insert("retention_days".into(), Value::Number(7.0));
        let prior = run(Value::Null, config, Some(&here())).state;
        let planned = run(prior, basic(), Some(&here()));
        assert_eq!(planned.state.get("retention_days"), &Value::Number(35.0));
    }

    #[test]
    fn name_and_configured_bucket_changes_force_replacement() {
        let prior = run(Value::Null, basic(), Some(&here())).state;
        let renamed = object(&[
            ("name", Value::string("weekly")),
            ("db_instance_identifiers", Value::List(vec![Value::string("orders")])),
        ]);
        let planned = run(prior.clone(), renamed, Some(&here()));
        // The default bucket name follows the policy name, so both force the replacement.
        assert_eq!(
            planned.requires_replace,
            [AttrPath::root("name"), AttrPath::root("bucket_name")]
        );
        assert_eq!(
            planned.state.get("bucket_name"),
            &Value::string("rdsbackup-weekly-123456789012")
        );

        let mut rebucketed = basic();
        let Value::Map(map) = &mut rebucketed else {
            unreachable!()
        };
        map.insert("bucket_name".into(), Value::string("other-bucket"));
        let planned = run(prior, rebucketed, Some(&here()));
        assert_eq!(planned.requires_replace, [AttrPath::root("bucket_name")]);
        assert_eq!(
            planned.state.get("bucket_arn"),
            &Value::string("arn:aws:s3:::other-bucket")
        );
    }

    #[test]
    fn unsetting_a_custom_topic_goes_back_to_the_created_one() {
        let mut config = basic();
        let Value::Map(map) = &mut config else { unreachable!() };
        map.insert(
            "alarm_sns_topic_arn".into(),
            Value::string("arn:aws:sns:eu-west-1:123456789012:pager"),
        );
        let prior = run(Value::Null, config, Some(&here())).state;
        let planned = run(prior, basic(), Some(&here()));
        assert_eq!(
            planned.state.get("alarm_sns_topic_arn"),
            &Value::string("arn:aws:sns:eu-west-1:123456789012:rdsbackup-nightly-alarms")
        );
        assert!(planned.requires_replace.is_empty());
    }

    #[test]
    fn destroy_plans_null() {
        let prior = run(Value::Null, basic(), Some(&here())).state;
        let planned = plan_model(
            &schema(),
            PlanRequest {
                prior,
                proposed: Value::Null,
                config: Value::Null,
            },
            &|_: &mut PolicyModel, _: &PolicyModel| panic!("nothing to derive for a destroy"),
        );
        assert_eq!(planned.state, Value::Null);
    }

    #[test]
    fn identifier_lists_beyond_the_policy_and_environment_limits_are_refused_at_plan() {
        let many: Vec<Value> = (0..300)
            .map(|i| Value::string(format!("orders-database-{i:03}")))
            .collect();
        let config = object(&[
            ("name", Value::string("nightly")),
            ("db_instance_identifiers", Value::List(many)),
        ]);
        let planned = run(Value::Null, config, Some(&here()));
        let found: Vec<_> = planned.diagnostics.0.iter().map(|d| d.detail.clone()).collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("over IAM's limit of 10240"), "{}", found[0]);
        assert!(found[1].contains("over Lambda's limit of 4096"), "{}", found[1]);
        assert_eq!(
            planned.diagnostics.0[0].path,
            Some(AttrPath::root("db_instance_identifiers"))
        );
        assert!(run(Value::Null, basic(), Some(&here())).diagnostics.0.is_empty());
    }

    #[test]
    fn keys_and_topics_of_another_region_are_refused() {
        let mut config = basic();
        let Value::Map(map) = &mut config else { unreachable!() };
        map.insert(
            "kms_key_arn".into(),
            Value::string("arn:aws:kms:us-east-1:123456789012:key/abc"),
        );
        let planned = run(Value::Null, config, Some(&here()));
        let d = &planned.diagnostics.0;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, Some(AttrPath::root("kms_key_arn")));
        assert!(d[0].detail.contains("us-east-1"));
    }
}

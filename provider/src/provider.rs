//! The provider block: its schema, its validation, and turning it into AWS settings on `ConfigureProvider`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::aws::{AssumeRole, AwsSettings, Service};
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::schema::{AttrType, Attribute, Block, NestedBlock, Schema};
use crate::plugin::typed::Tf;
use crate::plugin::value::Value;
use crate::plugin::{DataSource, Provider, Resource};
use crate::policy::PolicyResource;
use crate::rules;
use crate::tf_object;

pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/rdsbackup/rdsbackup";

tf_object! {
    pub struct AssumeRoleModel {
        pub role_arn: String,
        pub session_name: String,
        pub external_id: String,
    }
}

tf_object! {
    pub struct EndpointsModel {
        pub s3: String,
        pub rds: String,
        pub iam: String,
        pub lambda: String,
        pub events: String,
        pub cloudwatch: String,
        pub logs: String,
        pub sns: String,
        pub sts: String,
        pub kms: String,
        pub tagging: String,
    }
}

tf_object! {
    pub struct ProviderModel {
        pub region: String,
        pub profile: String,
        pub default_tags: BTreeMap<String, String>,
        pub assume_role: AssumeRoleModel,
        pub endpoints: EndpointsModel,
    }
}

impl EndpointsModel {
    fn entries(&self) -> [(Service, &Tf<String>); 11] {
        [
            (Service::S3, &self.s3),
            (Service::Rds, &self.rds),
            (Service::Iam, &self.iam),
            (Service::Lambda, &self.lambda),
            (Service::Events, &self.events),
            (Service::CloudWatch, &self.cloudwatch),
            (Service::Logs, &self.logs),
            (Service::Sns, &self.sns),
            (Service::Sts, &self.sts),
            (Service::Kms, &self.kms),
            (Service::Tagging, &self.tagging),
        ]
    }
}

pub fn schema() -> Schema {
    let endpoint =
        |service: Service| Attribute::optional(service.attribute(), AttrType::String, service.endpoint_description());
    Schema {
        version: 0,
        block: Block {
            description: "Configures the AWS account and region in which `rdsbackup_policy` resources are managed. \
                          Credentials come from the standard AWS chain (environment, shared config and credentials \
                          files, SSO, container and instance roles).",
            attributes: vec![
                Attribute::optional(
                    "region",
                    AttrType::String,
                    "AWS region, such as `eu-west-1`. Defaults to the standard AWS chain (`AWS_REGION`, the \
                     profile's `region`).",
                ),
                Attribute::optional(
                    "profile",
                    AttrType::String,
                    "Named profile of the shared AWS config and credentials files. Defaults to `AWS_PROFILE`, \
                     else `default`.",
                ),
                Attribute::optional(
                    "default_tags",
                    AttrType::map_of_strings(),
                    "Tags added to every AWS resource the provider creates. A resource's own `tags` win on a key \
                     present in both.",
                ),
            ],
            blocks: vec![
                NestedBlock::single(
                    "assume_role",
                    Block {
                        description: "Assume this IAM role (with the credentials of the chain) and act in its \
                                      account: one provider block per account.",
                        attributes: vec![
                            Attribute::required(
                                "role_arn",
                                AttrType::String,
                                "ARN of the role to assume, `arn:aws:iam::<account id>:role/<name>`.",
                            ),
                            Attribute::optional(
                                "session_name",
                                AttrType::String,
                                "Session name recorded in CloudTrail. Defaults to `terraform-provider-rdsbackup`.",
                            ),
                            Attribute::optional(
                                "external_id",
                                AttrType::String,
                                "External ID the role's trust policy requires, if any.",
                            )
                            .sensitive(),
                        ],
                        blocks: vec![],
                    },
                ),
                NestedBlock::single(
                    "endpoints",
                    Block {
                        description: "Custom endpoint URLs per service, for LocalStack, moto or VPC endpoints. With \
                                      a custom S3 endpoint, S3 is addressed path-style. `AWS_ENDPOINT_URL` and \
                                      `AWS_ENDPOINT_URL_<SERVICE>` are honoured too.",
                        attributes: Service::ALL.into_iter().map(endpoint).collect(),
                        blocks: vec![],
                    },
                ),
            ],
        },
    }
}

fn validate(config: &Value) -> Diagnostics {
    let mut d = Diagnostics::new();
    let model = match ProviderModel::from_value(config, &AttrPath::default()) {
        Ok(model) => model,
        Err(errors) => return errors,
    };
    if let Some(region) = model.region.known()
        && let Err(message) = rules::region(region)
    {
        d.attribute_error(AttrPath::root("region"), "Invalid region", message);
    }
    if let Some(tags) = model.default_tags.known() {
        validate_tags(&mut d, &AttrPath::root("default_tags"), tags);
    }
    if let Some(assume) = model.assume_role.known() {
        let at = AttrPath::root("assume_role");
        if let Some(Err(message)) = assume.role_arn.known().map(|arn| rules::iam_role_arn(arn)) {
            d.attribute_error(at.attribute("role_arn"), "Invalid role ARN", message);
        }
        if let Some(name) = assume.session_name.known() {
            let ok = (2..=64).contains(&name.len())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !ok {
                d.attribute_error(
                    at.attribute("session_name"),
                    "Invalid session name",
                    "session_name must be 2 to 64 characters: letters, digits and + = , . @ _ -.",
                );
            }
        }
        if let Some(id) = assume.external_id.known() {
            let ok = (2..=1224).contains(&id.len())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c));
            if !ok {
                d.attribute_error(
                    at.attribute("external_id"),
                    "Invalid external ID",
                    "external_id must be 2 to 1224 characters: letters, digits and + = , . @ : / _ -.",
                );
            }
        }
    }
    if let Some(endpoints) = model.endpoints.known() {
        if endpoints.tagging.known().is_some() {
            d.attribute_warning(
                AttrPath::root("endpoints").attribute("tagging"),
                "Endpoint not used",
                "endpoints.tagging configures nothing: no call of this provider goes to the Resource Groups Tagging \
                 API. It is accepted so that configurations written for the contract's endpoint list stay valid.",
            );
        }
        for (service, url) in endpoints.entries() {
            if let Some(Err(message)) = url.known().map(|u| rules::endpoint_url(u)) {
                d.attribute_error(
                    AttrPath::root("endpoints").attribute(service.attribute()),
                    "Invalid endpoint",
                    message,
                );
            }
        }
    }
    d
}

/// The settings that decide which account and endpoint the plan is made in, and are not known yet. A block with
/// any attribute not known yet is not known as a whole.
fn unknown_settings(model: &ProviderModel) -> Vec<String> {
    [
        ("region", model.region.is_unknown()),
        ("profile", model.profile.is_unknown()),
        ("default_tags", model.default_tags.is_unknown()),
        ("assume_role", model.assume_role.is_unknown()),
        ("endpoints", model.endpoints.is_unknown()),
    ]
    .into_iter()
    .filter(|(_, unknown)| *unknown)
    .map(|(name, _)| name.to_string())
    .collect()
}

/// Tag maps are checked key by key so the error points at the offending entry.
pub fn validate_tags(d: &mut Diagnostics, at: &AttrPath, tags: &BTreeMap<String, String>) {
    if tags.len() > 40 {
        d.attribute_error(
            at.clone(),
            "Too many tags",
            "At most 40 tags fit every AWS service the policy uses.",
        );
    }
    for (key, value) in tags {
        if let Err(message) = rules::tag_key(key).and_then(|()| rules::tag_value(key, value)) {
            d.attribute_error(at.key(key), "Invalid tag", message);
        }
    }
}

/// What the provider holds once configured, shared with its resources.
#[derive(Default)]
pub struct ProviderState {
    pub aws: OnceLock<Arc<AwsSettings>>,
}

pub struct RdsbackupProvider {
    schema: Schema,
    state: Arc<ProviderState>,
    resources: BTreeMap<&'static str, Arc<dyn Resource>>,
    data_sources: BTreeMap<&'static str, Arc<dyn DataSource>>,
}

impl RdsbackupProvider {
    pub fn new() -> RdsbackupProvider {
        let state = Arc::new(ProviderState::default());
        let policy: Arc<dyn Resource> = Arc::new(PolicyResource::new(state.clone()));
        let vault: Arc<dyn Resource> = Arc::new(crate::vault::VaultResource::new(state.clone()));
        let snapshots: Arc<dyn DataSource> = Arc::new(crate::snapshots::SnapshotsDataSource::new(state.clone()));
        let coverage: Arc<dyn DataSource> = Arc::new(crate::coverage::CoverageDataSource::new(state.clone()));
        RdsbackupProvider {
            schema: schema(),
            resources: BTreeMap::from([("rdsbackup_policy", policy), ("rdsbackup_vault", vault)]),
            data_sources: BTreeMap::from([("rdsbackup_coverage", coverage), ("rdsbackup_snapshots", snapshots)]),
            state,
        }
    }
}

#[tonic::async_trait]
impl Provider for RdsbackupProvider {
    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn resources(&self) -> &BTreeMap<&'static str, Arc<dyn Resource>> {
        &self.resources
    }

    fn data_sources(&self) -> &BTreeMap<&'static str, Arc<dyn DataSource>> {
        &self.data_sources
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        validate(config)
    }

    async fn configure(&self, _terraform_version: &str, config: &Value) -> Diagnostics {
        let validated = validate(config);
        if validated.has_errors() {
            return validated;
        }
        // Its warnings were shown by ValidateProviderConfig already.
        let mut d = Diagnostics::new();
        let model = ProviderModel::from_value(config, &AttrPath::default()).unwrap_or_default();
        let unknown = unknown_settings(&model);
        if !unknown.is_empty() {
            d.error(
                "Provider configuration depends on values not known yet",
                format!(
                    "{} must be known at plan time: they cannot come from resources created in the same run. \
                     Planning without them would show the names and ARNs of another account or endpoint.",
                    unknown.join(", ")
                ),
            );
            return d;
        }
        let endpoints: BTreeMap<Service, String> = model
            .endpoints
            .known()
            .map(|e| {
                e.entries()
                    .into_iter()
                    .filter_map(|(s, url)| Some((s, url.known()?.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let assume_role = model.assume_role.known().and_then(|a| {
            Some(AssumeRole {
                role_arn: a.role_arn.known()?.clone(),
                session_name: a.session_name.known().cloned(),
                external_id: a.external_id.known().cloned(),
            })
        });
        let settings = AwsSettings::load(
            model.region.known().cloned(),
            model.profile.known().cloned(),
            assume_role,
            endpoints,
            model.default_tags.known().cloned().unwrap_or_default(),
        )
        .await;
        match settings {
            Ok(settings) => {
                tracing::info!(region = %settings.region(), "provider configured");
                // Terraform configures a provider instance once; a second call keeps the first settings.
                let _ = self.state.aws.set(Arc::new(settings));
            }
            Err(message) => d.error("Cannot configure AWS", message),
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn config(entries: &[(&str, Value)]) -> Value {
        let mut model = ProviderModel::default().to_value();
        if let Value::Map(map) = &mut model {
            for (k, v) in entries {
                map.insert(k.to_string(), v.clone());
            }
        }
        model
    }

    fn paths(d: &Diagnostics) -> Vec<String> {
        d.0.iter()
            .map(|d| d.path.as_ref().map(ToString::to_string).unwrap_or_default())
            .collect()
    }

    #[test]
    fn empty_configuration_is_valid() {
        assert!(validate(&config(&[])).0.is_empty());
    }

    #[test]
    fn errors_point_at_the_attribute() {
        let assume = AssumeRoleModel {
            role_arn: Tf::Known("arn:aws:iam::1:role/x".into()),
            session_name: Tf::Known("a b".into()),
            external_id: Tf::Null,
        };
        let endpoints = EndpointsModel {
            s3: Tf::Known("localhost:5000".into()),
            ..Default::default()
        };
        let d = validate(&config(&[
            ("region", Value::string("eu-west")),
            ("assume_role", assume.to_value()),
            ("endpoints", endpoints.to_value()),
            (
                "default_tags",
                Value::Map([("aws:x".to_string(), Value::string("y"))].into()),
            ),
        ]));
        assert_eq!(
            paths(&d),
            [
                "region",
                "default_tags[\"aws:x\"]",
                "assume_role.role_arn",
                "assume_role.session_name",
                "endpoints.s3"
            ]
        );
    }

    #[test]
    fn settings_that_choose_the_account_must_be_known_to_configure() {
        let assume = AssumeRoleModel {
            role_arn: Tf::Unknown,
            session_name: Tf::Null,
            external_id: Tf::Unknown,
        };
        let endpoints = EndpointsModel {
            rds: Tf::Unknown,
            ..Default::default()
        };
        let model = ProviderModel::from_value(
            &config(&[("assume_role", assume.to_value()), ("endpoints", endpoints.to_value())]),
            &AttrPath::default(),
        )
        .unwrap();
        assert_eq!(unknown_settings(&model), ["assume_role", "endpoints"]);
        assert!(unknown_settings(&ProviderModel::default()).is_empty());
    }

    #[test]
    fn the_unused_tagging_endpoint_warns() {
        let endpoints = EndpointsModel {
            tagging: Tf::Known("http://localhost:5000".into()),
            ..Default::default()
        };
        let found = validate(&config(&[("endpoints", endpoints.to_value())])).0;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, crate::plugin::diag::Severity::Warning);
        assert_eq!(found[0].path, Some(AttrPath::root("endpoints").attribute("tagging")));
    }

    #[test]
    fn unknown_values_are_not_rejected() {
        assert!(validate(&config(&[("region", Value::Unknown)])).0.is_empty());
    }

    #[test]
    fn every_service_of_the_contract_has_an_endpoint() {
        let names: BTreeSet<&str> = Service::ALL.iter().map(|s| s.attribute()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        assert_eq!(
            names,
            [
                "cloudwatch",
                "events",
                "iam",
                "kms",
                "lambda",
                "logs",
                "rds",
                "s3",
                "sns",
                "sts",
                "tagging"
            ]
        );
    }
}

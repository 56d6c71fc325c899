//! The AWS configuration every call of a provider instance shares: region, credentials (possibly of an assumed
//! role), per-service endpoints, the account the credentials act in, and the default tags.

use std::collections::BTreeMap;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use rdsbackup_common::requests;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    S3,
    Rds,
    Iam,
    Lambda,
    Events,
    CloudWatch,
    Logs,
    Sns,
    Sts,
    Kms,
    Tagging,
}

impl Service {
    pub const ALL: [Service; 11] = [
        Service::S3,
        Service::Rds,
        Service::Iam,
        Service::Lambda,
        Service::Events,
        Service::CloudWatch,
        Service::Logs,
        Service::Sns,
        Service::Sts,
        Service::Kms,
        Service::Tagging,
    ];

    /// The attribute of the `endpoints` block that overrides this service's endpoint.
    pub fn attribute(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::Rds => "rds",
            Service::Iam => "iam",
            Service::Lambda => "lambda",
            Service::Events => "events",
            Service::CloudWatch => "cloudwatch",
            Service::Logs => "logs",
            Service::Sns => "sns",
            Service::Sts => "sts",
            Service::Kms => "kms",
            Service::Tagging => "tagging",
        }
    }

    pub fn endpoint_description(self) -> &'static str {
        match self {
            Service::S3 => "Endpoint URL for Amazon S3 (addressed path-style when set).",
            Service::Rds => "Endpoint URL for Amazon RDS.",
            Service::Iam => "Endpoint URL for AWS IAM.",
            Service::Lambda => "Endpoint URL for AWS Lambda.",
            Service::Events => "Endpoint URL for Amazon EventBridge.",
            Service::CloudWatch => "Endpoint URL for Amazon CloudWatch (alarms).",
            Service::Logs => "Endpoint URL for Amazon CloudWatch Logs.",
            Service::Sns => "Endpoint URL for Amazon SNS.",
            Service::Sts => "Endpoint URL for AWS STS (caller identity and `assume_role`).",
            Service::Kms => "Endpoint URL for AWS KMS.",
            Service::Tagging => {
                "Accepted for the contract's endpoint list; no call of this provider uses the Resource Groups \
                 Tagging API yet, so setting it changes nothing (and `terraform validate` warns)."
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub rds: aws_sdk_rds::Client,
    pub kms: aws_sdk_kms::Client,
    pub rule_reads: std::sync::Arc<super::event_rule::SharedReads>,
}

#[derive(Clone, Debug)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
}

pub struct AwsSettings {
    pub clients: Clients,
    region: String,
    pub account_id: String,
    pub partition: String,
    pub default_tags: BTreeMap<String, String>,
    pub snapshot_quotas: super::account_quota::Memo,
}

impl AwsSettings {
    pub async fn load(
        region: Option<String>,
        profile: Option<String>,
        assume_role: Option<AssumeRole>,
        endpoints: BTreeMap<Service, String>,
        default_tags: BTreeMap<String, String>,
    ) -> Result<AwsSettings, String> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .app_name(AppName::new("terraform-provider-rdsbackup").expect("a valid app name"))
            .http_client(super::in_flight::client())
            .retry_config(RetryConfig::standard().with_max_attempts(requests::max_attempts()))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(requests::attempt_timeout())
                    .build(),
            );
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let base = loader.load().await;
        let region = base
            .region()
            .map(|r| r.to_string())
            .ok_or("No AWS region: set region in the provider block, or AWS_REGION, or a region in the profile.")?;
        let sdk = match assume_role {
            None => base,
            Some(role) => {
                let sts = with_endpoint(&base, endpoints.get(&Service::Sts));
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.role_arn).session_name(
                    role.session_name
                        .unwrap_or_else(|| "terraform-provider-rdsbackup".into()),
                );
                if let Some(external_id) = role.external_id {
                    builder = builder.external_id(external_id);
                }
                let credentials = builder.configure(&sts).build().await;
                base.to_builder()
                    .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                        credentials,
                    ))
                    .build()
            }
        };
        let identity = aws_sdk_sts::Client::new(&with_endpoint(&sdk, endpoints.get(&Service::Sts)))
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Cannot find the AWS account of these credentials (sts:GetCallerIdentity): {}",
                    aws_sdk_sts::error::DisplayErrorContext(&e)
                )
            })?;
        let arn = identity.arn().unwrap_or_default();
        let clients = clients(&sdk, &endpoints);
        Ok(AwsSettings {
            clients,
            account_id: identity.account().unwrap_or_default().to_string(),
            partition: arn
                .split(':')
                .nth(1)
                .filter(|p| !p.is_empty())
                .unwrap_or("aws")
                .to_string(),
            region,
            default_tags,
            snapshot_quotas: Default::default(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

/// One client per service, sharing the credentials cache and the HTTP client (one pool, a bound on requests in
/// flight) of the SDK configuration.
fn clients(sdk: &SdkConfig, endpoints: &BTreeMap<Service, String>) -> Clients {
    let config = |service| with_endpoint(sdk, endpoints.get(&service));
    let custom_s3 = endpoints.contains_key(&Service::S3)
        || sdk.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    // Local endpoints (moto, LocalStack) serve buckets under the path, not as virtual hosts.
    let s3 = aws_sdk_s3::config::Builder::from(&config(Service::S3))
        .force_path_style(custom_s3)
        .build();
    Clients {
        s3: aws_sdk_s3::Client::from_conf(s3),
        iam: aws_sdk_iam::Client::new(&config(Service::Iam)),
        lambda: aws_sdk_lambda::Client::new(&config(Service::Lambda)),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config(Service::Logs)),
        events: aws_sdk_eventbridge::Client::new(&config(Service::Events)),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config(Service::CloudWatch)),
        sns: aws_sdk_sns::Client::new(&config(Service::Sns)),
        rds: aws_sdk_rds::Client::new(&config(Service::Rds)),
        kms: aws_sdk_kms::Client::new(&config(Service::Kms)),
        rule_reads: Default::default(),
    }
}

fn with_endpoint(sdk: &SdkConfig, endpoint: Option<&String>) -> SdkConfig {
    match endpoint {
        Some(url) => sdk.to_builder().endpoint_url(url).build(),
        None => sdk.clone(),
    }
}

//! The backup function: `provided.al2023`, handler `bootstrap`, code embedded in the provider. Creation retries
//! while IAM has not yet propagated the new role to Lambda; updates wait until the function is ready again.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State};

use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::{Part, expect_arn};
use super::retry;
use super::settings::Clients;
use super::tags::{self, TagChange};

pub const RUNTIME: &str = "provided.al2023";
pub const HANDLER: &str = "bootstrap";

pub struct FunctionSpec<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    pub role_arn: &'a str,
    pub zip: &'a [u8],
    pub code_sha256: &'a str,
    pub memory_mb: i32,
    pub timeout_seconds: i32,
    pub environment: &'a BTreeMap<String, String>,
    pub tags: &'a BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Function {
    pub arn: String,
    pub code_sha256: String,
    pub memory_mb: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub environment: BTreeMap<String, String>,
    runtime: Option<String>,
    handler: Option<String>,
    role: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// What differs between the function found and the spec: the one comparison that drift describes and ensure
/// applies.
#[derive(Debug, PartialEq)]
enum Change {
    Code,
    /// The settings `UpdateFunctionConfiguration` sets; `drift` names those without an argument of their own
    /// (memory and timeout show as their arguments' change instead).
    Configuration {
        drift: Vec<String>,
    },
    Tags(TagChange),
}

fn changes(found: &Function, spec: &FunctionSpec) -> Vec<Change> {
    let name = spec.name;
    let mut changes = Vec::new();
    if found.code_sha256 != spec.code_sha256 {
        changes.push(Change::Code);
    }
    let mut drift = Vec::new();
    for (what, value, wanted) in [
        ("runtime", found.runtime.as_deref(), RUNTIME),
        ("handler", found.handler.as_deref(), HANDLER),
        ("role", found.role.as_deref(), spec.role_arn),
    ] {
        if value != Some(wanted) {
            drift.push(format!("function {name}: {what} is {}", value.unwrap_or("unset")));
        }
    }
    if &found.environment != spec.environment {
        drift.push(format!("function {name}: environment differs"));
    }
    let reflected_differ =
        found.memory_mb != Some(spec.memory_mb) || found.timeout_seconds != Some(spec.timeout_seconds);
    if !drift.is_empty() || reflected_differ {
        changes.push(Change::Configuration { drift });
    }
    if let Some(change) = tags::change(&found.tags, spec.tags) {
        changes.push(Change::Tags(change));
    }
    changes
}

impl Change {
    fn describe(&self, name: &str) -> Vec<String> {
        match self {
            Change::Code => vec![format!("function {name}: code differs from this provider's")],
            Change::Configuration { drift } => drift.clone(),
            Change::Tags(_) => vec![format!("function {name}: tags differ")],
        }
    }
}

impl Part for FunctionSpec<'_> {
    type Found = Function;

    fn missing(&self) -> String {
        format!("function {} is missing", self.name)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Function>> {
        read(&aws.lambda, self.name).await
    }

    fn drift(&self, found: &Function) -> Vec<String> {
        changes(found, self)
            .iter()
            .flat_map(|c| c.describe(self.name))
            .collect()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        expect_arn(
            "lambda:GetFunction/CreateFunction",
            &ensure(&aws.lambda, self).await?,
            self.arn,
        )
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        delete(&aws.lambda, self.name).await
    }
}

pub async fn read(lambda: &Client, name: &str) -> Result<Option<Function>> {
    let Some(out) = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(failed("lambda:GetFunction", name))
        .or_absent(&["ResourceNotFoundException"])?
    else {
        return Ok(None);
    };
    let Some(config) = out.configuration() else {
        return Ok(None);
    };
    Ok(Some(Function {
        arn: config.function_arn().unwrap_or_default().to_string(),
        code_sha256: config.code_sha256().unwrap_or_default().to_string(),
        memory_mb: config.memory_size(),
        timeout_seconds: config.timeout(),
        environment: config
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        runtime: config.runtime().map(|r| r.as_str().to_string()),
        handler: config.handler().map(str::to_string),
        role: config.role().map(str::to_string),
        tags: out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }))
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(spec.environment.clone().into_iter().collect()))
        .build()
}

/// Creates or converges the function; returns its ARN.
async fn ensure(lambda: &Client, spec: &FunctionSpec<'_>) -> Result<String> {
    let name = spec.name;
    let current = match read(lambda, name).await? {
        Some(current) => current,
        None => match create(lambda, spec).await {
            Ok(arn) => return Ok(arn),
            // An earlier attempt made it and its answer was lost (the SDK retried into the conflict): what is
            // there is judged and converged like any function found.
            Err(e) if e.is("ResourceConflictException") => read(lambda, name).await?.ok_or(e)?,
            Err(e) => return Err(e),
        },
    };
    tags::claim(&current.tags, spec.tags, &format!("function {name}"))?;
    for change in changes(&current, spec) {
        match change {
            Change::Code => {
                lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(spec.zip))
                    .architectures(Architecture::X8664)
                    .send()
                    .await
                    .map_err(failed("lambda:UpdateFunctionCode", name))?;
                wait_until_ready(lambda, name).await?;
            }
            Change::Configuration { .. } => {
                lambda
                    .update_function_configuration()
                    .function_name(name)
                    .role(spec.role_arn)
                    .runtime(Runtime::from(RUNTIME))
                    .handler(HANDLER)
                    .memory_size(spec.memory_mb)
                    .timeout(spec.timeout_seconds)
                    .environment(environment(spec))
                    .send()
                    .await
                    .map_err(failed("lambda:UpdateFunctionConfiguration", name))?;
                wait_until_ready(lambda, name).await?;
            }
            Change::Tags(change) => {
                let arn = &current.arn;
                change
                    .apply(
                        |keys| async move {
                            lambda
                                .untag_resource()
                                .resource(arn)
                                .set_tag_keys(Some(keys))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("lambda:UntagResource", name))
                        },
                        |set| async move {
                            lambda
                                .tag_resource()
                                .resource(arn)
                                .set_tags(Some(set.into_iter().collect()))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("lambda:TagResource", name))
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(current.arn)
}

/// A role created moments ago is not yet visible to Lambda: `CreateFunction` says it "cannot be assumed" for
/// up to a few seconds (rarely a minute). Retried with backoff for about two minutes, nothing else is.
async fn create(lambda: &Client, spec: &FunctionSpec<'_>) -> Result<String> {
    let name = spec.name;
    let created = retry::until(
        retry::Backoff {
            first: Duration::from_millis(500),
            max: Duration::from_secs(10),
            total: Duration::from_secs(120),
        },
        |e: &AwsError| e.is("InvalidParameterValueException") && e.message.contains("cannot be assumed"),
        || async {
            lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::from(RUNTIME))
                .handler(HANDLER)
                .architectures(Architecture::X8664)
                .role(spec.role_arn)
                .code(FunctionCode::builder().zip_file(Blob::new(spec.zip)).build())
                .description("rdsbackup: snapshots RDS databases, records them, prunes by retention")
                .memory_size(spec.memory_mb)
                .timeout(spec.timeout_seconds)
                .environment(environment(spec))
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(failed("lambda:CreateFunction", name))
        },
    )
    .await?;
    wait_until_ready(lambda, name).await?;
    created
        .function_arn()
        .map(str::to_string)
        .ok_or_else(|| AwsError::new(format!("lambda:CreateFunction on {name} returned no ARN")))
}

/// Lambda refuses further changes while a function is `Pending` or an update is `InProgress`.
async fn wait_until_ready(lambda: &Client, name: &str) -> Result<()> {
    let what = format!("function {name} ready for changes");
    retry::wait_until(&what, Duration::from_secs(1), Duration::from_secs(300), || async {
        let config = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(failed("lambda:GetFunctionConfiguration", name))?;
        if config.state() == Some(&State::Failed) {
            return Err(AwsError::new(format!(
                "function {name} failed to become active: {}",
                config.state_reason().unwrap_or("no reason given")
            )));
        }
        let pending = config.state() == Some(&State::Pending)
            || config.last_update_status() == Some(&LastUpdateStatus::InProgress);
        Ok((!pending).then_some(()))
    })
    .await
}

async fn delete(lambda: &Client, name: &str) -> Result<()> {
    lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
        .map_err(failed("lambda:DeleteFunction", name))
        .or_absent(&["ResourceNotFoundException"])
        .map(drop)
}

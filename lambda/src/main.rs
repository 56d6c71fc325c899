//! The backup run deployed by terraform-provider-rdsbackup as the `bootstrap` of a `provided.al2023` Lambda: an
//! EventBridge scheduled event in, snapshots, records, retention and metrics out. See `run` for one run.
//!
//! `bootstrap --once` runs one backup outside Lambda, with the same environment: the event (or nothing, for
//! "now") on stdin, the output object as the last line of stdout. The quick start uses it against moto, which
//! cannot invoke functions without Docker.

mod aws_error;
mod collect;
mod config;
mod copies;
mod drills;
mod event;
mod exports;
mod init_error;
mod metrics;
mod records;
mod retention;
mod run;
mod select;
mod slot;
mod snapshot;
mod vault;

use std::io::Read;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_runtime::{LambdaEvent, service_fn};
use rdsbackup_common::requests;
use serde_json::Value;
use tracing::level_filters::LevelFilter;

use crate::config::Config;
use crate::run::Clients;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    let lookup = |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    // A vault's function: the same binary, started by its environment.
    if let Some(vault) = config::VaultConfig::from_lookup(lookup) {
        let vault = match vault {
            Ok(vault) => vault,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                init_error::report("Runtime.InvalidConfiguration", &e.to_string());
                return Err(e.into());
            }
        };
        let clients = sdk_clients(&[]).await;
        if std::env::args().nth(1).as_deref() == Some("--once") {
            let output = collect::handle(&clients, &vault, stdin_event()?)
                .await
                .map_err(|failed| failed.0)?;
            println!("{}", serde_json::to_string(&output)?);
            return Ok(());
        }
        let state = Arc::new((clients, vault));
        return lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let state = state.clone();
            async move { collect::handle(&state.0, &state.1, event.payload).await }
        }))
        .await;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            init_error::report("Runtime.InvalidConfiguration", &e.to_string());
            return Err(e.into());
        }
    };
    let clients = sdk_clients(&config.copies).await;
    if std::env::args().nth(1).as_deref() == Some("--once") {
        return run_once(&clients, &config).await;
    }
    let state = Arc::new((clients, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let state = state.clone();
        async move { run::handle(&state.0, &state.1, event.payload).await }
    }))
    .await
}

async fn sdk_clients(copies: &[rdsbackup_common::copies::Destination]) -> Clients {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(requests::max_attempts()))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(requests::attempt_timeout())
                .build(),
        )
        .load()
        .await;
    // Local endpoints (moto, LocalStack) serve buckets under the path: there is no DNS for virtual hosts there.
    let path_style =
        std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(path_style)
        .build();
    // Built once, like every client: one per copy destination, since RDS takes a copy in the destination region.
    let away = copies
        .iter()
        .map(|d| {
            let conf = aws_sdk_rds::config::Builder::from(&sdk)
                .region(aws_config::Region::new(d.region.clone()))
                .build();
            aws_sdk_rds::Client::from_conf(conf)
        })
        .collect();
    Clients {
        rds: aws_sdk_rds::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(s3),
        away,
    }
}

/// The event of a run outside Lambda: stdin, or nothing for "now".
fn stdin_event() -> Result<Value, lambda_runtime::Error> {
    let mut event = String::new();
    std::io::stdin().read_to_string(&mut event)?;
    Ok(if event.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(&event)?
    })
}

async fn run_once(clients: &Clients, config: &Config) -> Result<(), lambda_runtime::Error> {
    let output = run::handle(clients, config, stdin_event()?)
        .await
        .map_err(|failed| failed.0)?;
    println!("{}", serde_json::to_string(&output)?);
    Ok(())
}

/// JSON lines on stdout, which Lambda sends to CloudWatch Logs; `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging
/// controls) sets the level.
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_max_level(level)
        .with_writer(std::io::stdout)
        .init();
}

//! How hard the provider and the Lambda try each AWS request: one policy for both.

use std::time::Duration;

/// Throttling on RDS and IAM is common in accounts with many databases: retry more than the SDK's default 3
/// times, with its exponential backoff and jitter. `AWS_MAX_ATTEMPTS`, the SDKs' own variable, overrides it.
pub const MAX_ATTEMPTS: u32 = 10;

/// Without a limit on each attempt, a connection that stalls after the request was sent (a half-open TCP
/// connection, a proxy that drops the answer) would hold `terraform apply` or the run for ever; with one, the SDK
/// retries the attempt. A minute leaves room for the largest request, the function's upload of its package.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most AWS requests a provider process has in flight at once (its refreshes of every resource queue
/// behind them): see the provider's `aws/in_flight.rs` for why.
pub const PROVIDER_IN_FLIGHT: usize = 32;

/// Overrides [`ATTEMPT_TIMEOUT`], in seconds (a slow network or proxy; the fault tests' short timeouts).
pub const ATTEMPT_TIMEOUT_ENV: &str = "RDSBACKUP_AWS_ATTEMPT_TIMEOUT_SECONDS";

/// The attempts per request: `AWS_MAX_ATTEMPTS` when it holds a whole number from 1, else [`MAX_ATTEMPTS`].
pub fn max_attempts() -> u32 {
    std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(MAX_ATTEMPTS)
}

/// The limit on each attempt: [`ATTEMPT_TIMEOUT_ENV`] when it holds a positive number of seconds, else
/// [`ATTEMPT_TIMEOUT`].
pub fn attempt_timeout() -> Duration {
    std::env::var(ATTEMPT_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(ATTEMPT_TIMEOUT, Duration::from_secs_f64)
}

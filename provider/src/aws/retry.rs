//! Retrying what AWS reports as "not yet": eventual consistency after a write (a new IAM role not yet usable
//! by Lambda, a rule not yet visible). Throttling is the SDK's own retry policy's job, not this.

use std::future::Future;
use std::time::Duration;

use super::error::{AwsError, Result};

pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Give up once this much time has passed.
    pub total: Duration,
}

/// Runs `op` until it succeeds, fails with an error `retryable` rejects, or the backoff's time is up.
pub async fn until<T, F, Fut>(backoff: Backoff, retryable: impl Fn(&AwsError) -> bool, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + backoff.total;
    let mut delay = backoff.first;
    loop {
        match op().await {
            Err(e) if retryable(&e) && tokio::time::Instant::now() + delay < deadline => {
                tracing::debug!(error = %e, delay_ms = delay.as_millis() as u64, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
            }
            done => return done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn quick() -> Backoff {
        Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(2),
            total: Duration::from_secs(5),
        }
    }

    fn not_yet() -> AwsError {
        AwsError {
            message: "role cannot be assumed".into(),
            code: Some("InvalidParameterValueException".into()),
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_until_success() {
        let calls = Cell::new(0);
        let result = until(
            quick(),
            |e| e.is("InvalidParameterValueException"),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 3 { Err(not_yet()) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn other_errors_end_at_once() {
        let calls = Cell::new(0);
        let result: Result<()> = until(
            quick(),
            |e| e.is("Throttling"),
            || {
                calls.set(calls.get() + 1);
                async { Err(not_yet()) }
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn gives_up_when_time_is_up() {
        let backoff = Backoff {
            first: Duration::from_millis(5),
            max: Duration::from_millis(5),
            total: Duration::from_millis(20),
        };
        let calls = Cell::new(0);
        let result: Result<()> = until(
            backoff,
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err(not_yet()) }
            },
        )
        .await;
        assert!(result.is_err());
        assert!((2..=5).contains(&calls.get()), "{}", calls.get());
    }
}

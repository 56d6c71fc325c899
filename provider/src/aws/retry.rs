//! Retrying what AWS reports as "not yet" (eventual consistency after a write: a new IAM role not yet usable by
//! Lambda) and waiting for a state (a function `Active`). Throttling is the SDK's own retry policy's job, not
//! this. Both end when Terraform stops the provider: the server drops the call's future, sleeps included.

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

/// Polls `check` every `every` until it answers `Some`, fails, or `total` has passed; `what` names the wait in
/// the error.
pub async fn wait_until<T, F, Fut>(what: &str, every: Duration, total: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + total;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        if tokio::time::Instant::now() + every > deadline {
            return Err(AwsError::new(format!(
                "{what}: still not so after {} s",
                total.as_secs()
            )));
        }
        tokio::time::sleep(every).await;
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

    #[tokio::test]
    async fn waits_until_the_state_is_reached_or_time_is_up() {
        let polls = Cell::new(0);
        let ready = wait_until("ready", Duration::from_millis(1), Duration::from_secs(5), || async {
            polls.set(polls.get() + 1);
            Ok((polls.get() == 3).then_some("done"))
        })
        .await;
        assert_eq!(ready.unwrap(), "done");
        let never = wait_until(
            "function f active",
            Duration::from_millis(1),
            Duration::from_millis(5),
            || async { Ok(None::<()>) },
        )
        .await;
        assert!(
            never
                .unwrap_err()
                .message
                .starts_with("function f active: still not so")
        );
    }
}

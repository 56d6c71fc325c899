//! What every AWS part of a stack offers, so that a stack declares its parts once and reads, judges, converges and
//! deletes them all the same way. A part is its spec (what AWS should hold); what it reads back is its `Found`.

use std::future::Future;

use super::error::{AwsError, Result};
use super::settings::Clients;

pub trait Part: Sync {
    type Found: Send;

    /// Whether the stack owns the part. One it does not own (a topic given by ARN) is neither read, made nor
    /// deleted; another part may still refer to it.
    fn owned(&self) -> bool {
        true
    }

    /// The drift line for a part that is not there.
    fn missing(&self) -> String;

    /// `None` when the part does not exist.
    fn read(&self, aws: &Clients) -> impl Future<Output = Result<Option<Self::Found>>> + Send;

    /// Each difference between `found` and the spec, in words: the same list of changes `ensure` applies.
    fn drift(&self, found: &Self::Found) -> Vec<String>;

    /// Creates the part or applies the changes it needs; idempotent, so a retried apply continues.
    fn ensure(&self, aws: &Clients) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the part, tolerating its absence.
    fn delete(&self, aws: &Clients) -> impl Future<Output = Result<()>> + Send;
}

/// The ARN AWS answered with is the one every other part was planned against; anything else (a role of that
/// name under another path) would leave the stack pointing at the wrong thing.
pub fn expect_arn(operation: &str, got: &str, expected: &str) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(AwsError::new(format!(
            "{operation} returned {got}, expected {expected}"
        )))
    }
}

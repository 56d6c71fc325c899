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

    /// Whether the configuration wants the part now. One that is owned but not wanted (the export role once the
    /// `archive` block is removed) is read, reported if found, and deleted by converge when it is there.
    fn wanted(&self) -> bool {
        true
    }

    /// The drift line for a part that is not there.
    fn missing(&self) -> String;

    /// The drift line for a part found that is not wanted.
    fn left_over(&self) -> String {
        String::from("a part the configuration no longer has is left over")
    }

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

/// A part's state when the stack owns it; `None` (neither read nor reported) when it does not.
pub async fn read_owned<P: Part>(part: &P, aws: &Clients) -> Result<Option<P::Found>> {
    if part.owned() { part.read(aws).await } else { Ok(None) }
}

/// Declares a stack's parts once, in dependency order, each with the method of the stack's desired state that
/// gives its spec and, after `=>`, the wave of destroy it is deleted in; converge goes down the list (the log group
/// before the function, so Lambda never creates one without retention; the function before the rule that targets
/// it). Destroy deletes wave 0 first, the parts of a wave together: a part goes only once every part that refers
/// to it is gone (the rules and alarms before the function and the topic, the function before its role, its log
/// group and the bucket), so on AWS a destroy waits for a few deletes in a row, not for every one. From the list
/// come `Observed` (each part as found), `observe` (every part read concurrently: a refresh costs the longest
/// chain of calls, not their sum), `nothing_left`, `drift`, `converge` and `destroy`. Used by a policy's and a
/// vault's stack alike, in a module of their own.
macro_rules! stack_parts {
    ($desired:ty; $($part:ident: $spec:ident = $method:ident => $wave:literal,)*) => {
        /// Every part of the stack as found; `None` where a part does not exist (or is not the stack's own).
        pub struct Observed {
            $(pub $part: Option<<$spec<'static> as $crate::aws::part::Part>::Found>,)*
        }

        impl Observed {
            pub fn nothing_left(&self) -> bool {
                true $(&& self.$part.is_none())*
            }

            /// Each managed setting found different from `desired`, in words; missing parts included.
            pub fn drift(&self, desired: &$desired) -> Vec<String> {
                use $crate::aws::part::Part as _;
                let mut drift = Vec::new();
                $(
                    let spec = desired.$method();
                    if spec.owned() {
                        match (&self.$part, spec.wanted()) {
                            (Some(found), true) => drift.extend(spec.drift(found)),
                            (None, true) => drift.push(spec.missing()),
                            (Some(_), false) => drift.push(spec.left_over()),
                            (None, false) => {}
                        }
                    }
                )*
                drift
            }
        }

        pub async fn observe(
            aws: &$crate::aws::settings::Clients,
            desired: &$desired,
        ) -> $crate::aws::error::Result<Observed> {
            $(let $part = desired.$method();)*
            let ($($part,)*) = tokio::join!($($crate::aws::part::read_owned(&$part, aws),)*);
            Ok(Observed { $($part: $part?,)* })
        }

        /// Creates what is missing and repairs what differs, in dependency order, each step idempotent.
        pub async fn converge(
            aws: &$crate::aws::settings::Clients,
            desired: &$desired,
        ) -> $crate::aws::error::Result<()> {
            use $crate::aws::part::Part as _;
            $(
                let spec = desired.$method();
                if spec.owned() {
                    if spec.wanted() {
                        spec.ensure(aws).await?;
                    } else if spec.read(aws).await?.is_some() {
                        spec.delete(aws).await?;
                    }
                }
            )*
            Ok(())
        }

        /// Deletes every part the stack owns, wave by wave, tolerating parts already gone. RDS snapshots are
        /// never touched. The bucket goes last, as its wave says (the caller checks beforehand what must stop a
        /// destroy).
        pub async fn destroy(
            aws: &$crate::aws::settings::Clients,
            desired: &$desired,
        ) -> $crate::aws::error::Result<()> {
            use $crate::aws::part::Part as _;
            type Step<'a> = std::pin::Pin<
                Box<dyn std::future::Future<Output = $crate::aws::error::Result<()>> + Send + 'a>,
            >;
            let last: usize = 0 $(.max($wave))*;
            for wave in 0..=last {
                let mut steps: Vec<Step<'_>> = Vec::new();
                $(
                    if $wave == wave {
                        steps.push(Box::pin(async move {
                            let spec = desired.$method();
                            if spec.owned() { spec.delete(aws).await } else { Ok(()) }
                        }));
                    }
                )*
                // Every delete of a wave ends before an error stops the destroy: none is cut off half-way.
                for deleted in futures_util::future::join_all(steps).await {
                    deleted?;
                }
            }
            Ok(())
        }
    };
}

pub(crate) use stack_parts;

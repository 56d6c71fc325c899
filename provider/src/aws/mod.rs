//! AWS side of the provider, free of gRPC: settings resolved from the provider block and the standard
//! environment, and one module per AWS concern the policy provisions, each with its read, ensure (create or
//! converge) and delete.

pub mod account_quota;
pub mod alarms;
pub mod bucket;
pub mod cluster_members;
pub mod error;
pub mod function;
pub mod function_code;
pub mod log_group;
pub mod logs_key;
mod policy_document;
mod retry;
pub mod role;
pub mod schedule_rule;
pub mod settings;

use std::collections::BTreeMap;

pub use settings::{AssumeRole, AwsSettings, Service};

/// Tag keys found on a resource that the wanted tags no longer have: tagging calls only add and overwrite, so
/// these must be removed by an untagging call.
pub fn stale_tag_keys(found: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> Vec<String> {
    found.keys().filter(|key| !wanted.contains_key(*key)).cloned().collect()
}

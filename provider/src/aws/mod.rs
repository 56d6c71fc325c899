//! AWS side of the provider, free of gRPC: settings resolved from the provider block and the standard
//! environment, and one module per AWS concern the policy provisions, each with its read, ensure (create or
//! converge) and delete.

pub mod account_quota;
pub mod alarms;
pub mod bucket;
pub mod cluster_members;
mod coalesce;
pub mod copy_key;
pub mod dashboard;
pub mod error;
pub mod event_rule;
pub mod function;
pub mod function_code;
mod in_flight;
pub mod key_policy;
pub mod log_group;
pub mod logs_key;
pub mod part;
mod policy_document;
mod retry;
pub mod role;
pub mod settings;
pub mod subnet_group;
pub mod tags;
pub mod vault_key;

pub use settings::{AssumeRole, AwsSettings, Service};

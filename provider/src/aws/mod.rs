//! AWS side of the provider, free of gRPC: settings resolved from the provider block and the standard
//! environment, and one module per AWS concern the policy provisions.

mod settings;

pub use settings::{AssumeRole, AwsSettings, Service};

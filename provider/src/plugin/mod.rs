//! The Terraform plugin protocol, free of AWS: go-plugin handshake and TLS, hclog logging, values, schemas,
//! diagnostics, the plan pipeline, the typed resource and data source interfaces, and the gRPC service that
//! dispatches to a [`Provider`], its [`Resource`]s and its [`DataSource`]s.

pub mod data_source;
pub mod diag;
pub mod handshake;
pub mod log;
pub mod plan;
pub mod proto;
pub mod resource;
pub mod schema;
pub mod server;
mod tls;
pub mod typed;
pub mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use data_source::DataSource;
use diag::{AttrPath, Diagnostics};
use schema::Schema;
use value::Value;

/// What `PlanResourceChange` hands the resource: prior state (null on create), Terraform's proposal (config
/// merged with prior state; null on destroy) and the configuration itself.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub prior: Value,
    pub proposed: Value,
    pub config: Value,
}

#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<AttrPath>,
    pub diagnostics: Diagnostics,
}

/// A new state with the diagnostics of the call that produced it. A failed apply still returns the state of
/// what exists, so that Terraform keeps tracking it.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub state: Value,
    pub diagnostics: Diagnostics,
}

#[tonic::async_trait]
pub trait Resource: Send + Sync + 'static {
    fn schema(&self) -> &Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn plan(&self, request: PlanRequest) -> Planned;
    async fn apply(&self, prior: Value, planned: Value, config: Value) -> Outcome;
    /// Returns a null state when the object is gone.
    async fn read(&self, state: Value) -> Outcome;
    async fn import(&self, id: &str) -> Outcome;
}

#[tonic::async_trait]
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> &Schema;
    fn resources(&self) -> &BTreeMap<&'static str, Arc<dyn Resource>>;
    fn data_sources(&self) -> &BTreeMap<&'static str, Arc<dyn DataSource>>;
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn configure(&self, terraform_version: &str, config: &Value) -> Diagnostics;
}

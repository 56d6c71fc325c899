//! Data sources: the dynamic interface the server dispatches to, and the typed one a data source implements
//! (its model, its own rules, its read), joined by a blanket implementation as for resources.

use super::Outcome;
use super::diag::{AttrPath, Diagnostics};
use super::schema::Schema;
use super::typed::TfType;
use super::value::Value;

#[tonic::async_trait]
pub trait DataSource: Send + Sync + 'static {
    fn schema(&self) -> &Schema;
    fn validate(&self, config: &Value) -> Diagnostics;
    /// The configuration with every computed attribute filled in.
    async fn read(&self, config: Value) -> Outcome;
}

#[tonic::async_trait]
pub trait TypedDataSource: Send + Sync + 'static {
    type Model: TfType + Send + Sync + 'static;

    fn schema(&self) -> &Schema;
    /// Rules beyond the schema's validators (which run first); values not known yet are skipped.
    fn validate(&self, config: &Self::Model) -> Diagnostics;
    async fn read(&self, config: Self::Model) -> Result<Self::Model, Diagnostics>;
}

#[tonic::async_trait]
impl<D: TypedDataSource> DataSource for D {
    fn schema(&self) -> &Schema {
        TypedDataSource::schema(self)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match D::Model::from_known(config, &AttrPath::default()) {
            Ok(config) => TypedDataSource::validate(self, &config),
            Err(d) => d,
        }
    }

    async fn read(&self, config: Value) -> Outcome {
        let found = match D::Model::from_known(&config, &AttrPath::default()) {
            Ok(config) => TypedDataSource::read(self, config).await,
            Err(d) => Err(d),
        };
        match found {
            Ok(found) => Outcome {
                state: found.to_value(),
                diagnostics: Diagnostics::new(),
            },
            Err(diagnostics) => Outcome {
                state: Value::Null,
                diagnostics,
            },
        }
    }
}

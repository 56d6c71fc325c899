//! Data sources: the dynamic interface the server dispatches to, and the typed one a data source implements
//! (its model, its own rules, its read), joined by a blanket implementation as for resources.

use super::Outcome;
use super::diag::Diagnostics;
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
        match D::Model::from_root(config) {
            Ok(config) => TypedDataSource::validate(self, &config),
            Err(d) => d,
        }
    }

    async fn read(&self, config: Value) -> Outcome {
        let found = match D::Model::from_root(&config) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::diag::AttrPath;
    use crate::plugin::schema::{AttrType, Attribute, Block};
    use crate::plugin::typed::Tf;

    crate::tf_object! {
        pub struct Echo {
            pub name: String,
            pub greeting: String,
        }
    }

    struct Greeter(Schema);

    #[tonic::async_trait]
    impl TypedDataSource for Greeter {
        type Model = Echo;

        fn schema(&self) -> &Schema {
            &self.0
        }

        fn validate(&self, config: &Echo) -> Diagnostics {
            let mut d = Diagnostics::new();
            if config.name.known().is_some_and(String::is_empty) {
                d.attribute_error(AttrPath::root("name"), "Invalid name", "name must not be empty.");
            }
            d
        }

        async fn read(&self, mut config: Echo) -> Result<Echo, Diagnostics> {
            let name = config.name.known().cloned().unwrap_or_default();
            config.greeting = Tf::Known(format!("hello {name}"));
            Ok(config)
        }
    }

    fn greeter() -> Greeter {
        Greeter(Schema {
            version: 0,
            block: Block {
                description: "",
                attributes: vec![
                    Attribute::required("name", AttrType::String, ""),
                    Attribute::computed("greeting", AttrType::String, ""),
                ],
                blocks: Vec::new(),
            },
        })
    }

    fn config(name: Value) -> Value {
        Value::Map([("name".to_string(), name), ("greeting".to_string(), Value::Null)].into())
    }

    #[tokio::test]
    async fn the_typed_read_fills_computed_attributes_and_rules_name_the_attribute() {
        let source: &dyn DataSource = &greeter();
        let read = source.read(config(Value::string("ops"))).await;
        assert!(read.diagnostics.0.is_empty());
        assert_eq!(read.state.get("greeting"), &Value::string("hello ops"));
        let refused = source.validate(&config(Value::string("")));
        assert_eq!(refused.0[0].path, Some(AttrPath::root("name")));
        let ill_typed = source.validate(&config(Value::Bool(true)));
        assert!(ill_typed.has_errors());
    }
}

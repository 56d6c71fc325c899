//! The typed resource interface: a resource states its model type, its own rules, its plan hook and its
//! create/read/update/delete/import; the blanket [`Resource`] implementation owns the rest (converting values,
//! the plan pipeline, which state a failed apply leaves), as terraform-plugin-framework's server does.

use super::diag::Diagnostics;
use super::plan as pipeline;
use super::schema::Schema;
use super::typed::TfType;
use super::value::Value;
use super::{Outcome, PlanRequest, Planned, Resource};

/// Why an apply failed, and so which state Terraform keeps.
pub enum ApplyError {
    /// Nothing was changed: the prior state stands (null for a create).
    Untouched(Diagnostics),
    /// Part of a create was made: the planned state, what is known of it, is recorded so that Terraform tracks it
    /// and a second apply or a destroy finishes it. A failed update keeps the prior state either way; the next
    /// plan shows what is left.
    Partial(Diagnostics),
}

impl From<Diagnostics> for ApplyError {
    fn from(d: Diagnostics) -> ApplyError {
        ApplyError::Untouched(d)
    }
}

#[tonic::async_trait]
pub trait TypedResource: Send + Sync + 'static {
    type Model: TfType + Clone + Send + Sync + 'static;

    fn schema(&self) -> &Schema;

    /// The resource's rules beyond the schema's validators (which run first); values not known yet are skipped.
    fn validate(&self, config: &Self::Model) -> Diagnostics;

    /// What the resource derives into the plan after defaults and computed values (names, ARNs, merged tags).
    /// Run again at apply, where values the plan could not know may be known.
    fn derive(&self, planned: &mut Self::Model, config: &Self::Model);

    /// Checks of the whole planned object, errors or warnings, that may ask AWS. `prior` is `None` for a create
    /// or a replacement.
    async fn check_plan(&self, prior: Option<&Self::Model>, planned: &Self::Model) -> Diagnostics;

    /// Warnings for a planned destroy: what it will leave behind. Nothing by default.
    fn plan_destroy(&self, _prior: &Self::Model) -> Diagnostics {
        Diagnostics::new()
    }

    async fn create(&self, planned: Self::Model) -> Result<Self::Model, ApplyError>;
    async fn update(&self, prior: Self::Model, planned: Self::Model) -> Result<Self::Model, ApplyError>;
    /// `Ok` holds warnings about what was left (the resource is gone from state either way).
    async fn delete(&self, prior: Self::Model) -> Result<Diagnostics, Diagnostics>;
    /// `None` when the object is gone.
    async fn read(&self, state: Self::Model) -> Result<Option<Self::Model>, Diagnostics>;
    /// The state Terraform's `ReadResource`, called next, starts from.
    async fn import(&self, id: &str) -> Result<Self::Model, Diagnostics>;
}

/// A stored state as a model: static defaults fill what it holds null (an imported skeleton, a state written
/// before an attribute existed).
fn stored<R: TypedResource>(resource: &R, state: &Value) -> Result<R::Model, Diagnostics> {
    R::Model::from_root(&resource.schema().with_defaults(state))
}

fn failed(state: Value, diagnostics: Diagnostics) -> Outcome {
    Outcome { state, diagnostics }
}

#[tonic::async_trait]
impl<R: TypedResource> Resource for R {
    fn schema(&self) -> &Schema {
        TypedResource::schema(self)
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        match R::Model::from_root(config) {
            Ok(config) => TypedResource::validate(self, &config),
            Err(d) => d,
        }
    }

    async fn plan(&self, request: PlanRequest) -> Planned {
        let prior = R::Model::from_root(&request.prior).ok();
        let destroying = request.proposed.is_null();
        let mut planned = pipeline::plan_model(TypedResource::schema(self), request, &|planned, config| {
            self.derive(planned, config)
        });
        if destroying {
            if let Some(prior) = &prior {
                planned.diagnostics.extend(self.plan_destroy(prior));
            }
            return planned;
        }
        if planned.state.is_null() || planned.diagnostics.has_errors() {
            return planned;
        }
        if let Ok(model) = R::Model::from_root(&planned.state) {
            let prior = prior.filter(|_| planned.requires_replace.is_empty());
            planned
                .diagnostics
                .extend(self.check_plan(prior.as_ref(), &model).await);
        }
        planned
    }

    async fn apply(&self, prior: Value, planned: Value, config: Value) -> Outcome {
        if planned.is_null() {
            let deleted = match stored(self, &prior) {
                Ok(model) => self.delete(model).await,
                Err(d) => Err(d),
            };
            return match deleted {
                Ok(warnings) => Outcome {
                    state: Value::Null,
                    diagnostics: warnings,
                },
                Err(d) => failed(prior, d),
            };
        }
        let (mut planned_model, config) = match (R::Model::from_root(&planned), R::Model::from_root(&config)) {
            (Ok(planned), Ok(config)) => (planned, config),
            (Err(d), _) | (_, Err(d)) => return failed(prior, d),
        };
        self.derive(&mut planned_model, &config);
        let creating = prior.is_null();
        let applied = if creating {
            self.create(planned_model.clone()).await
        } else {
            match stored(self, &prior) {
                Ok(prior_model) => self.update(prior_model, planned_model.clone()).await,
                Err(d) => Err(ApplyError::Untouched(d)),
            }
        };
        match applied {
            Ok(state) => Outcome {
                state: state.to_value(),
                diagnostics: Diagnostics::new(),
            },
            Err(ApplyError::Partial(d)) if creating => failed(planned_model.to_value().known_or_null(), d),
            Err(ApplyError::Partial(d) | ApplyError::Untouched(d)) => failed(prior, d),
        }
    }

    async fn read(&self, state: Value) -> Outcome {
        let found = match stored(self, &state) {
            Ok(model) => TypedResource::read(self, model).await,
            Err(d) => Err(d),
        };
        match found {
            Ok(found) => Outcome {
                state: found.map_or(Value::Null, |m| m.to_value()),
                diagnostics: Diagnostics::new(),
            },
            Err(d) => failed(state, d),
        }
    }

    async fn import(&self, id: &str) -> Outcome {
        match TypedResource::import(self, id).await {
            Ok(skeleton) => Outcome {
                state: skeleton.to_value(),
                diagnostics: Diagnostics::new(),
            },
            Err(d) => failed(Value::Null, d),
        }
    }
}

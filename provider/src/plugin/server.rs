//! The `tfplugin6.Provider` gRPC service: decodes requests, dispatches to the [`Provider`] and its resources,
//! encodes answers. Every failure becomes a diagnostic: a gRPC error status would only show Terraform users an
//! opaque "Unsupported plugin method" or transport error.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::diag::{AttrPath, Diagnostic, Diagnostics, Severity, Step};
use super::proto::tfplugin6 as pb;
use super::proto::tfplugin6::provider_server;
use super::value::Value;
use super::{DataSource, Outcome, PlanRequest, Provider, Resource};

pub struct ProviderService<P> {
    provider: Arc<P>,
    /// Set by `StopProvider` (Ctrl-C): calls in flight end at once, their waits and retries dropped.
    stopped: tokio::sync::watch::Sender<bool>,
}

const STOPPED: &str = "Stopped";
const STOPPED_DETAIL: &str = "Terraform asked the provider to stop, so the operation was cancelled where it was. What \
                              it made is in the state; apply again to finish.";

impl<P: Provider> ProviderService<P> {
    pub fn new(provider: Arc<P>) -> ProviderService<P> {
        ProviderService {
            provider,
            stopped: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Runs `work` unless and until Terraform asks the provider to stop; `None` when stopped.
    async fn until_stopped<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let mut stopped = self.stopped.subscribe();
        tokio::select! {
            done = work => Some(done),
            _ = stopped.wait_for(|stopped| *stopped) => None,
        }
    }

    pub fn into_server(self) -> provider_server::ProviderServer<ProviderService<P>> {
        // Plans and states of a policy are a few kilobytes; the default 4 MB limit is never the constraint, but
        // Terraform sends the whole schema set back and forth, so stay generous like go-plugin does.
        provider_server::ProviderServer::new(self)
            .max_decoding_message_size(256 << 20)
            .max_encoding_message_size(256 << 20)
    }

    fn resource(&self, type_name: &str) -> Result<&Arc<dyn Resource>, Diagnostics> {
        find(self.provider.resources(), "resource type", type_name)
    }

    fn data_source(&self, type_name: &str) -> Result<&Arc<dyn DataSource>, Diagnostics> {
        find(self.provider.data_sources(), "data source", type_name)
    }
}

fn offered<T: ?Sized>(kinds: &BTreeMap<&'static str, Arc<T>>) -> String {
    match kinds.keys().copied().collect::<Vec<_>>().join(", ") {
        none if none.is_empty() => "none".to_string(),
        names => names,
    }
}

fn find<'a, T: ?Sized>(
    kinds: &'a BTreeMap<&'static str, Arc<T>>,
    what: &str,
    type_name: &str,
) -> Result<&'a Arc<T>, Diagnostics> {
    kinds.get(type_name).ok_or_else(|| {
        let mut d = Diagnostics::new();
        d.error(
            format!("Unknown {what} {type_name}"),
            format!("This provider offers the {what}s: {}.", offered(kinds)),
        );
        d
    })
}

fn decode(value: Option<&pb::DynamicValue>, what: &str) -> Result<Value, Diagnostics> {
    let Some(value) = value else { return Ok(Value::Null) };
    let decoded = if !value.msgpack.is_empty() {
        Value::decode_msgpack(&value.msgpack)
    } else if !value.json.is_empty() {
        Value::decode_json(&value.json)
    } else {
        Ok(Value::Null)
    };
    decoded.map_err(|e| {
        let mut d = Diagnostics::new();
        d.error(
            format!("Terraform sent a {what} this provider cannot read"),
            e.to_string(),
        );
        d
    })
}

fn encode(value: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: value.encode_msgpack(),
        json: Vec::new(),
    })
}

fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.path.as_ref().map(attribute_path),
    }
}

fn attribute_path(path: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: path
            .0
            .iter()
            .map(|step| pb::attribute_path::Step {
                selector: Some(match step {
                    Step::Attribute(name) => Selector::AttributeName(name.clone()),
                    Step::Key(key) => Selector::ElementKeyString(key.clone()),
                    Step::Index(index) => Selector::ElementKeyInt(*index as i64),
                }),
            })
            .collect(),
    }
}

fn unsupported(what: &str) -> Vec<pb::Diagnostic> {
    let mut d = Diagnostics::new();
    d.error(
        format!("{what} are not supported"),
        "This provider offers managed resources and data sources only.",
    );
    diagnostics(d)
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl<P: Provider> provider_server::Provider for ProviderService<P> {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Answer<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .provider
                .resources()
                .keys()
                .map(|name| pb::get_metadata::ResourceMetadata {
                    type_name: name.to_string(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Answer<pb::get_provider_schema::Response> {
        tracing::debug!("serving the provider schema");
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(self.provider.schema().to_proto()),
            resource_schemas: self
                .provider
                .resources()
                .iter()
                .map(|(name, resource)| (name.to_string(), resource.schema().to_proto()))
                .collect(),
            data_source_schemas: self
                .provider
                .data_sources()
                .iter()
                .map(|(name, source)| (name.to_string(), source.schema().to_proto()))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Answer<pb::validate_provider_config::Response> {
        let d = match decode(request.get_ref().config.as_ref(), "provider configuration") {
            Ok(config) => self.provider.validate(&config),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_provider_config::Response {
            diagnostics: diagnostics(d),
        }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Answer<pb::validate_resource_config::Response> {
        let request = request.into_inner();
        let d = match (
            self.resource(&request.type_name),
            decode(request.config.as_ref(), "configuration"),
        ) {
            (Ok(resource), Ok(config)) => {
                let mut d = resource.schema().block.validate(&config);
                d.extend(resource.validate(&config));
                d
            }
            (Err(d), _) | (_, Err(d)) => d,
        };
        Ok(Response::new(pb::validate_resource_config::Response {
            diagnostics: diagnostics(d),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Answer<pb::validate_data_resource_config::Response> {
        let request = request.into_inner();
        let d = match (
            self.data_source(&request.type_name),
            decode(request.config.as_ref(), "configuration"),
        ) {
            (Ok(source), Ok(config)) => {
                let mut d = source.schema().block.validate(&config);
                d.extend(source.validate(&config));
                d
            }
            (Err(d), _) | (_, Err(d)) => d,
        };
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: diagnostics(d),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Answer<pb::upgrade_resource_state::Response> {
        let request = request.into_inner();
        let raw = request.raw_state.map(|raw| pb::DynamicValue {
            msgpack: Vec::new(),
            json: raw.json,
        });
        let outcome = match (self.resource(&request.type_name), decode(raw.as_ref(), "stored state")) {
            (Ok(resource), Ok(state)) => {
                let (state, diagnostics) = resource.schema().upgrade(&request.type_name, request.version, &state);
                Outcome { state, diagnostics }
            }
            (Err(d), _) | (_, Err(d)) => return Ok(Response::new(error_upgrade(d))),
        };
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: encode(&outcome.state),
            diagnostics: diagnostics(outcome.diagnostics),
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Answer<pb::configure_provider::Response> {
        let request = request.into_inner();
        let d = match decode(request.config.as_ref(), "provider configuration") {
            Ok(config) => self.provider.configure(&request.terraform_version, &config).await,
            Err(d) => d,
        };
        Ok(Response::new(pb::configure_provider::Response {
            diagnostics: diagnostics(d),
        }))
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Answer<pb::read_resource::Response> {
        let request = request.into_inner();
        let (state, d) = match (
            self.resource(&request.type_name),
            decode(request.current_state.as_ref(), "state"),
        ) {
            (Ok(resource), Ok(state)) => match self.until_stopped(resource.read(state.clone())).await {
                Some(outcome) => (outcome.state, outcome.diagnostics),
                None => {
                    let mut d = Diagnostics::new();
                    d.error(STOPPED, STOPPED_DETAIL);
                    (state, d)
                }
            },
            (Err(d), _) | (_, Err(d)) => (Value::Null, d),
        };
        Ok(Response::new(pb::read_resource::Response {
            new_state: encode(&state),
            diagnostics: diagnostics(d),
            private: request.private,
            deferred: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Answer<pb::plan_resource_change::Response> {
        let request = request.into_inner();
        let decoded = (|| {
            Ok::<_, Diagnostics>(PlanRequest {
                prior: decode(request.prior_state.as_ref(), "prior state")?,
                proposed: decode(request.proposed_new_state.as_ref(), "proposed state")?,
                config: decode(request.config.as_ref(), "configuration")?,
            })
        })();
        let planned = match (self.resource(&request.type_name), decoded) {
            (Ok(resource), Ok(plan)) => resource.plan(plan).await,
            (Err(d), _) | (_, Err(d)) => {
                return Ok(Response::new(pb::plan_resource_change::Response {
                    diagnostics: diagnostics(d),
                    ..Default::default()
                }));
            }
        };
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: encode(&planned.state),
            requires_replace: planned.requires_replace.iter().map(attribute_path).collect(),
            planned_private: request.prior_private,
            diagnostics: diagnostics(planned.diagnostics),
            legacy_type_system: false,
            deferred: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Answer<pb::apply_resource_change::Response> {
        let request = request.into_inner();
        let decoded = (|| {
            Ok::<_, Diagnostics>((
                decode(request.prior_state.as_ref(), "prior state")?,
                decode(request.planned_state.as_ref(), "planned state")?,
                decode(request.config.as_ref(), "configuration")?,
            ))
        })();
        let outcome = match (self.resource(&request.type_name), decoded) {
            (Ok(resource), Ok((prior, planned, config))) => {
                let work = resource.apply(prior.clone(), planned.clone(), config);
                self.until_stopped(work).await.unwrap_or_else(|| {
                    let mut diagnostics = Diagnostics::new();
                    diagnostics.error(STOPPED, STOPPED_DETAIL);
                    // A create cancelled half-way keeps what the plan knew, so that Terraform tracks (and the next
                    // apply or a destroy finishes) whatever was made; anything else keeps the prior state.
                    let state = match (&prior, &planned) {
                        (Value::Null, Value::Null) => Value::Null,
                        (Value::Null, planned) => planned.clone().known_or_null(),
                        (prior, _) => prior.clone(),
                    };
                    Outcome { state, diagnostics }
                })
            }
            (Err(d), _) | (_, Err(d)) => {
                return Ok(Response::new(pb::apply_resource_change::Response {
                    diagnostics: diagnostics(d),
                    ..Default::default()
                }));
            }
        };
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: encode(&outcome.state),
            private: request.planned_private,
            diagnostics: diagnostics(outcome.diagnostics),
            legacy_type_system: false,
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Answer<pb::import_resource_state::Response> {
        let request = request.into_inner();
        let resource = match self.resource(&request.type_name) {
            Ok(resource) => resource,
            Err(d) => {
                return Ok(Response::new(pb::import_resource_state::Response {
                    diagnostics: diagnostics(d),
                    ..Default::default()
                }));
            }
        };
        let outcome = resource.import(&request.id).await;
        let imported = if outcome.diagnostics.has_errors() || outcome.state.is_null() {
            Vec::new()
        } else {
            vec![pb::import_resource_state::ImportedResource {
                type_name: request.type_name,
                state: encode(&outcome.state),
                private: Vec::new(),
            }]
        };
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diagnostics(outcome.diagnostics),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        _: Request<pb::move_resource_state::Request>,
    ) -> Answer<pb::move_resource_state::Response> {
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: unsupported("Moves from other resource types"),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Answer<pb::read_data_source::Response> {
        let request = request.into_inner();
        let outcome = match (
            self.data_source(&request.type_name),
            decode(request.config.as_ref(), "configuration"),
        ) {
            (Ok(source), Ok(config)) => self.until_stopped(source.read(config)).await.unwrap_or_else(|| {
                let mut diagnostics = Diagnostics::new();
                diagnostics.error(STOPPED, STOPPED_DETAIL);
                Outcome {
                    state: Value::Null,
                    diagnostics,
                }
            }),
            (Err(diagnostics), _) | (_, Err(diagnostics)) => Outcome {
                state: Value::Null,
                diagnostics,
            },
        };
        Ok(Response::new(pb::read_data_source::Response {
            state: encode(&outcome.state),
            diagnostics: diagnostics(outcome.diagnostics),
            deferred: None,
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        _: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Answer<pb::validate_ephemeral_resource_config::Response> {
        Ok(Response::new(pb::validate_ephemeral_resource_config::Response {
            diagnostics: unsupported("Ephemeral resources"),
        }))
    }

    async fn open_ephemeral_resource(
        &self,
        _: Request<pb::open_ephemeral_resource::Request>,
    ) -> Answer<pb::open_ephemeral_resource::Response> {
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: unsupported("Ephemeral resources"),
            ..Default::default()
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        _: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Answer<pb::renew_ephemeral_resource::Response> {
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: unsupported("Ephemeral resources"),
            ..Default::default()
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        _: Request<pb::close_ephemeral_resource::Request>,
    ) -> Answer<pb::close_ephemeral_resource::Response> {
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: unsupported("Ephemeral resources"),
        }))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Answer<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(&self, request: Request<pb::call_function::Request>) -> Answer<pb::call_function::Response> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("the rdsbackup provider has no function {}", request.get_ref().name),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Answer<pb::stop_provider::Response> {
        tracing::info!("Terraform asked the provider to stop");
        self.stopped.send_replace(true);
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: false,
        move_resource_state: false,
    }
}

fn error_upgrade(d: Diagnostics) -> pb::upgrade_resource_state::Response {
    pb::upgrade_resource_state::Response {
        upgraded_state: None,
        diagnostics: diagnostics(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::RdsbackupProvider;
    use provider_server::Provider as _;

    #[tokio::test]
    async fn stop_provider_cancels_work_in_flight() {
        let service = ProviderService::new(Arc::new(RdsbackupProvider::new()));
        // Work that would wait for ever (a waiter, a retry loop) ends as soon as Terraform asks to stop.
        let (cancelled, stopped) = tokio::join!(service.until_stopped(std::future::pending::<()>()), async {
            tokio::task::yield_now().await;
            service.stop_provider(Request::new(pb::stop_provider::Request {})).await
        });
        assert!(cancelled.is_none());
        assert!(stopped.unwrap().into_inner().error.is_empty());
    }
}

//! One connection pool for every AWS client of a provider process, and at most [`PROVIDER_IN_FLIGHT`] requests in flight on
//! it. Terraform refreshes every resource at once and each policy reads its thirty-odd parts concurrently: ten
//! policies would put some 340 requests on the wire at the same moment, over as many new TLS connections. AWS
//! answers such a burst with throttling on its low-rate reads (CloudWatch's `DescribeAlarms` and `GetDashboard`,
//! Logs' `DescribeLogGroups`, Lambda's `GetPolicy`: ten or so per second), which the SDK's retries then spread
//! over seconds; a local endpoint answers it more slowly than the same requests queued. A request waits for a
//! slot before each attempt; the SDK's retries and timeouts are unchanged.

use std::sync::Arc;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rdsbackup_common::requests::PROVIDER_IN_FLIGHT;
use tokio::sync::Semaphore;

/// The SDK's own HTTPS client (hyper 1, rustls on AWS-LC, `HTTPS_PROXY` and `NO_PROXY` from the environment),
/// shared by every client and bounded to [`PROVIDER_IN_FLIGHT`] requests in flight: enough to keep every part of
/// a few policies' refresh in flight at once (its longest chain is three requests), few enough that a module of
/// many policies queues here rather than at AWS's rate limits.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(Bounded {
        inner: sdk_default(),
        slots: Arc::new(Semaphore::new(PROVIDER_IN_FLIGHT)),
    })
}

/// What the SDK builds for each client when given none (`default_https_client` in aws-smithy-runtime, which
/// is not public): built here once, so that every client shares its pool.
fn sdk_default() -> SharedHttpClient {
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[derive(Debug)]
struct Bounded {
    inner: SharedHttpClient,
    slots: Arc<Semaphore>,
}

impl HttpClient for Bounded {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BoundedConnector {
            inner: self.inner.http_connector(settings, components),
            slots: self.slots.clone(),
        })
    }
}

#[derive(Debug)]
struct BoundedConnector {
    inner: SharedHttpConnector,
    slots: Arc<Semaphore>,
}

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, slots) = (self.inner.clone(), self.slots.clone());
        HttpConnectorFuture::new(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _slot = slots.acquire_owned().await.expect("the semaphore is never closed");
            inner.call(request).await
        })
    }
}

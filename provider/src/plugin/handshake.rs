//! The go-plugin side of starting a provider: magic cookie, protocol negotiation, AutoMTLS, the handshake line
//! on stdout, the health and controller services, and shutdown. Also `--debug`, which serves on a unix socket
//! for a debugger-attached process and prints the `TF_REATTACH_PROVIDERS` value instead.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

use super::Provider;
use super::proto::controller::Empty;
use super::proto::controller::grpc_controller_server::{GrpcController, GrpcControllerServer};
use super::server::ProviderService;
use super::tls;

pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
const PROTOCOL_VERSION: u32 = 6;
/// go-plugin's own protocol version, the first field of the handshake line.
const CORE_PROTOCOL_VERSION: u32 = 1;

/// How long in-flight calls get to finish after `GRPCController.Shutdown`: Terraform kills the process 2 s after
/// asking, so end well before.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

pub fn launched_by_terraform() -> bool {
    std::env::var(MAGIC_COOKIE_KEY).as_deref() == Ok(MAGIC_COOKIE_VALUE)
}

/// Checks that Terraform offers protocol 6 among `PLUGIN_PROTOCOL_VERSIONS` (absent means "whatever you speak").
pub fn negotiate(offered: Option<&str>) -> Result<u32, String> {
    let Some(offered) = offered.filter(|s| !s.trim().is_empty()) else {
        return Ok(PROTOCOL_VERSION);
    };
    if offered.split(',').any(|v| v.trim().parse() == Ok(PROTOCOL_VERSION)) {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(format!(
            "Terraform offers plugin protocol versions {offered}, but this provider speaks only protocol \
             {PROTOCOL_VERSION}: use Terraform 1.0 or newer"
        ))
    }
}

pub fn handshake_line(address: SocketAddr, certificate_der: Option<&[u8]>) -> String {
    let certificate = certificate_der
        .map(|der| base64::engine::general_purpose::STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|tcp|{address}|grpc|{certificate}")
}

/// Serves the provider for Terraform until Terraform shuts it down.
pub async fn serve<P: Provider>(provider: Arc<P>) -> Result<(), String> {
    negotiate(std::env::var("PLUGIN_PROTOCOL_VERSIONS").ok().as_deref())?;
    ignore_interrupts();
    let listener = bind(port_range()).await?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = Arc::new(Notify::new());
    let router = router(provider, shutdown.clone()).await;

    let client_cert = std::env::var("PLUGIN_CLIENT_CERT")
        .ok()
        .filter(|pem| !pem.trim().is_empty());
    let served = match client_cert {
        Some(pem) => {
            let identity = tls::generate_identity()?;
            let certificate = identity.certificate.to_vec();
            let config = tls::server_config(identity, &pem)?;
            announce(&handshake_line(address, Some(&certificate)))?;
            let incoming = tls_incoming(listener, tokio_rustls::TlsAcceptor::from(config));
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped(shutdown)))
        }
        None => {
            // TF_DISABLE_PLUGIN_TLS: Terraform sends no certificate and expects plaintext.
            tracing::warn!("serving without TLS: Terraform sent no client certificate");
            announce(&handshake_line(address, None))?;
            let incoming = TcpListenerStream::new(listener).map(|accepted| {
                if let Ok(stream) = &accepted {
                    no_delay(stream);
                }
                accepted
            });
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped(shutdown)))
        }
    };
    finish(served).await
}

/// `--debug`: plaintext on a unix socket, for a provider started under a debugger; Terraform reattaches to it.
pub async fn serve_debug<P: Provider>(provider: Arc<P>, provider_address: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("terraform-provider-rdsbackup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let socket = dir.join("plugin.sock");
    let _ = std::fs::remove_file(&socket);
    let listener =
        tokio::net::UnixListener::bind(&socket).map_err(|e| format!("cannot bind {}: {e}", socket.display()))?;
    let reattach = serde_json::json!({
        provider_address: {
            "Protocol": "grpc",
            "ProtocolVersion": PROTOCOL_VERSION,
            "Pid": std::process::id(),
            "Test": true,
            "Addr": { "Network": "unix", "String": socket.to_string_lossy() },
        }
    });
    announce(&format!(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the \
         following:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n"
    ))?;
    let shutdown = Arc::new(Notify::new());
    let router = router(provider, shutdown.clone()).await;
    let until = {
        let shutdown = shutdown.clone();
        async move {
            // Ctrl-C in the debugger's terminal, or a plain kill: either way the socket folder is removed.
            let terminated = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut terminate) => drop(terminate.recv().await),
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.notified() => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = terminated => {}
            }
        }
    };
    let result = router
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), until)
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| e.to_string())
}

async fn router<P: Provider>(provider: Arc<P>, shutdown: Arc<Notify>) -> Router {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    // go-plugin's clients check the health of the service named "plugin".
    health_reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    Server::builder()
        .add_service(health)
        .add_service(GrpcControllerServer::new(Controller { shutdown }))
        .add_service(ProviderService::new(provider).into_server())
}

/// Completes TLS handshakes off the accept loop, so one slow or failed client never holds up the others.
fn tls_incoming(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> ReceiverStream<std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::error!(error = %e, "accepting a connection failed");
                    continue;
                }
            };
            no_delay(&stream);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let _ = sender.send(Ok(tls)).await;
                    }
                    Err(e) => tracing::warn!(error = %e, %peer, "TLS handshake with a client failed"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// Answers leave at once: with Nagle's algorithm an answer's last small segment waits for Terraform's delayed
/// ACK, 40 ms per call (tonic sets this only on listeners it makes itself).
fn no_delay(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!(error = %e, "cannot set TCP_NODELAY");
    }
}

async fn stopped(shutdown: Arc<Notify>) {
    shutdown.notified().await;
}

async fn finish(served: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>) -> Result<(), String> {
    match served.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes the one thing this process ever prints on stdout.
/// One write of the whole text: a reader that stops at the line it wants must not make a later write fail.
fn announce(line: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the handshake: {e}"))
}

/// `PLUGIN_MIN_PORT`..=`PLUGIN_MAX_PORT` when Terraform sets them, else any free port.
fn port_range() -> Option<(u16, u16)> {
    let port = |name| std::env::var(name).ok()?.parse::<u16>().ok();
    match (port("PLUGIN_MIN_PORT"), port("PLUGIN_MAX_PORT")) {
        (Some(min), Some(max)) if min <= max && min > 0 => Some((min, max)),
        _ => None,
    }
}

async fn bind(range: Option<(u16, u16)>) -> Result<TcpListener, String> {
    let ports: Vec<u16> = match range {
        Some((min, max)) => (min..=max).collect(),
        None => vec![0],
    };
    for port in ports {
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            return Ok(listener);
        }
    }
    Err(format!("no free loopback port in {range:?}"))
}

/// Ctrl-C in the terminal reaches the whole process group; Terraform answers it with `StopProvider` and a
/// graceful end, so the provider must not die of the signal itself (go-plugin servers ignore it too).
fn ignore_interrupts() {
    if let Ok(mut interrupts) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        tokio::spawn(async move {
            while interrupts.recv().await.is_some() {
                tracing::debug!("ignoring an interrupt: Terraform stops the provider itself");
            }
        });
    }
}

struct Controller {
    shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!("Terraform asked the plugin to shut down");
        self.shutdown.notify_one();
        // Graceful shutdown waits for Terraform to close its connection, which it may never do: exit anyway
        // once in-flight calls had their grace period.
        tokio::spawn(async {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            std::process::exit(0);
        });
        Ok(Response::new(Empty {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_6_is_chosen_when_offered() {
        assert_eq!(negotiate(Some("5,6")), Ok(6));
        assert_eq!(negotiate(Some("6")), Ok(6));
        assert_eq!(negotiate(None), Ok(6));
        let refused = negotiate(Some("4,5")).unwrap_err();
        assert!(refused.contains("protocol 6"), "{refused}");
    }

    #[test]
    fn handshake_line_carries_the_certificate_in_unpadded_base64() {
        let address: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(handshake_line(address, None), "1|6|tcp|127.0.0.1:41234|grpc|");
        let line = handshake_line(address, Some(&[0xff; 100]));
        let certificate = line.rsplit('|').next().unwrap();
        assert!(!certificate.ends_with('='));
        assert_eq!(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(certificate)
                .unwrap(),
            vec![0xff; 100]
        );
    }
}

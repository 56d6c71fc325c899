//! A small HTTP proxy in front of moto that fails chosen AWS calls, for testing what an apply leaves behind when
//! a call fails halfway. One request per connection (it answers `Connection: close`), which every SDK handles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    /// Requests whose head or body contains this text fail with `AccessDeniedException`: a permanent error, so
    /// the SDK does not retry it, as a missing permission would be.
    fail_on: Mutex<Option<String>>,
    failed: AtomicUsize,
    stopped: AtomicBool,
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_string(),
            fail_on: Mutex::new(None),
            failed: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        FaultProxy { endpoint, state }
    }

    /// From now on, fail every request mentioning `operation` (e.g. `PutRule`); `None` lets everything through.
    pub fn fail_on(&self, operation: Option<&str>) {
        *self.state.fail_on.lock().unwrap() = operation.map(str::to_string);
    }

    /// How many requests were failed on purpose.
    pub fn failed(&self) -> usize {
        self.state.failed.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

fn serve(client: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    let fail_on = state.fail_on.lock().unwrap().clone();
    if let Some(operation) = fail_on {
        let text = format!("{}{}", String::from_utf8_lossy(&head), String::from_utf8_lossy(&body));
        if text.contains(&operation) {
            state.failed.fetch_add(1, Ordering::Relaxed);
            let message =
                format!(r#"{{"__type":"AccessDeniedException","message":"injected failure of {operation}"}}"#);
            write!(
                client,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                 x-amzn-ErrorType: AccessDeniedException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
                message.len()
            )?;
            return Ok(());
        }
    }
    let mut upstream = TcpStream::connect(&state.upstream)?;
    upstream.write_all(&head)?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    client.write_all(&response)?;
    Ok(())
}

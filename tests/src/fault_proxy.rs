//! A small HTTP proxy in front of moto that makes AWS behave as moto cannot: it fails chosen calls with the
//! error AWS would give, rewrites responses (a database `backing-up`, a snapshot still `creating`), and records
//! every request that passes, for checking them against the role's policy. One request per connection (it
//! answers `Connection: close`), which every SDK handles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::percent_decode;

pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
}

/// What to do with a request that matches a rule.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer in place of the endpoint; the request never reaches it.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Forward, then replace every `from` with `to` in the response body.
    Rewrite { from: String, to: String },
    /// Answer with the AWS error `code` at `status`, in the protocol of the request's service (query XML, S3's
    /// XML, JSON with `__type`, Lambda's REST JSON): the request never reaches the endpoint.
    Error { status: u16, code: &'static str },
    /// The service's own throttling answer: S3's 503 `SlowDown` (the only one a bodiless HEAD can carry), Lambda's
    /// 429 `TooManyRequestsException`, `Throttling` / `ThrottlingException` at 400 for the others.
    Throttle,
    /// Forward, then close the connection without an answer: the write happened, its answer was lost.
    Drop,
    /// Forward, then hold the answer this long before closing without it: the client's attempt timeout fires
    /// first, after the endpoint did the work.
    Hang(std::time::Duration),
}

impl Fault {
    /// An error of an AWS query-protocol service (RDS, IAM, SNS, CloudWatch) as it sends one.
    pub fn query_error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Respond {
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        }
    }

    /// An S3 error as S3 sends one.
    pub fn s3_error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Respond {
            status,
            content_type: "application/xml",
            body: format!(
                "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
            ),
        }
    }

    pub fn rewrite(from: &str, to: &str) -> Fault {
        Fault::Rewrite {
            from: from.into(),
            to: to.into(),
        }
    }
}

/// The AWS error `code` at `status` as the service of `request` sends errors.
fn error_response(request: &Request, status: u16, code: &str) -> Vec<u8> {
    let message = format!("injected {code}");
    let (content_type, extra, body) = if request.header("x-amz-target").is_some() {
        let content_type = request
            .header("content-type")
            .unwrap_or("application/x-amz-json-1.1")
            .to_string();
        (
            content_type,
            String::new(),
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else if request.service() == Some("s3") {
        (
            "application/xml".to_string(),
            String::new(),
            format!("<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"),
        )
    } else if request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        (
            "text/xml".to_string(),
            String::new(),
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        )
    } else {
        // REST JSON (Lambda): the error's type travels in a header.
        (
            "application/json".to_string(),
            format!("x-amzn-ErrorType: {code}\r\n"),
            format!(r#"{{"message":"{message}"}}"#),
        )
    };
    format!(
        "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One request as it passed the proxy, with the response the client got.
#[derive(Clone, Debug)]
pub struct Request {
    /// The request line and headers.
    pub head: String,
    pub body: Vec<u8>,
    /// The whole response, status line to body.
    pub response: Vec<u8>,
    /// When it had arrived, and when its answer was due to the client (after the added latency): which
    /// requests waited for which.
    pub arrived: std::time::Instant,
    pub answered: std::time::Instant,
}

impl Request {
    pub fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or_default()
    }

    /// The path and query of the request line.
    pub fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn response_text(&self) -> String {
        String::from_utf8_lossy(&self.response).into_owned()
    }

    /// The AWS service the request was signed for (`rds`, `s3`...), from its SigV4 credential scope.
    pub fn service(&self) -> Option<&str> {
        let credential = self.header("authorization")?.split("Credential=").nth(1)?;
        credential.split('/').nth(3)
    }

    /// The region the request was signed for, from its SigV4 credential scope.
    pub fn region(&self) -> Option<&str> {
        let credential = self.header("authorization")?.split("Credential=").nth(1)?;
        credential.split('/').nth(2)
    }

    /// The decoded parameters of a query-protocol request (`Action=CreateDBSnapshot&...`).
    pub fn form(&self) -> Vec<(String, String)> {
        self.body_text()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| {
                (
                    percent_decode(&k.replace('+', " ")),
                    percent_decode(&v.replace('+', " ")),
                )
            })
            .collect()
    }

    /// What the request does, the same whatever its parameters: `iam:CreateRole` (query), `events:PutRule`
    /// (JSON target), `s3:PUT /bucket?policy` and `lambda:GET /2015-03-31/functions/name` (REST: the method, the
    /// path and the query's keys).
    pub fn signature(&self) -> String {
        let service = self.service().unwrap_or("unknown");
        if let Some((_, action)) = self.form().into_iter().find(|(k, _)| k == "Action") {
            return format!("{service}:{action}");
        }
        if let Some(target) = self.header("x-amz-target") {
            return format!("{service}:{}", target.rsplit('.').next().unwrap_or(target));
        }
        let (path, query) = self.target().split_once('?').unwrap_or((self.target(), ""));
        let mut keys: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split('=').next().unwrap_or(pair))
            .filter(|key| *key != "x-id")
            .collect();
        keys.sort();
        let query = if keys.is_empty() {
            String::new()
        } else {
            format!("?{}", keys.join("&"))
        };
        format!("{service}:{} {path}{query}", self.method())
    }

    /// The operation's name where the request says it (query and JSON protocols); REST requests name only a
    /// method and a path.
    pub fn operation(&self) -> Option<String> {
        let signature = self.signature();
        let (service, operation) = signature.split_once(':')?;
        (!operation.contains(' ')).then(|| format!("{service}:{operation}"))
    }

    fn contains(&self, text: &str) -> bool {
        self.head.contains(text) || self.body_text().contains(text)
    }
}

struct Rule {
    /// Every one of these must occur in the request's head or body.
    all_of: Vec<String>,
    /// Or, when set, the request's signature must be this.
    signature: Option<String>,
    /// Matching requests to let through before the rule applies.
    skip: usize,
    /// A signature rule, once applied, applies to that very request only (its target and body, which the SDK
    /// sends again on a retry), not to a concurrent request of the same signature.
    pinned: Option<(String, Vec<u8>)>,
    fault: Fault,
    /// How many more requests it applies to; `None` for every one.
    remaining: Option<usize>,
}

struct State {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    requests: Mutex<Vec<Request>>,
    faulted: AtomicUsize,
    stopped: AtomicBool,
    /// Added to every answer (`add_latency`), in milliseconds.
    latency_ms: AtomicUsize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Counts a request in flight from when it has arrived until its answer is written (or it fails).
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn enter(state: &'a State) -> InFlight<'a> {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FaultProxy {
    /// Proxies to `upstream` (`host:port`).
    /// `env` with its AWS endpoint replaced by this proxy's: a process run with it talks to AWS through the proxy.
    pub fn env_through(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_ENDPOINT_URL" => (k.clone(), self.endpoint.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect()
    }

    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream: upstream.trim_start_matches("http://").to_string(),
            rules: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            faulted: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            latency_ms: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
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

    /// Applies `fault` to every request containing all of `all_of` (e.g. `["Action=CreateDBSnapshot",
    /// "DBInstanceIdentifier=orders"]`), until `clear`.
    pub fn inject(&self, all_of: &[&str], fault: Fault) {
        self.push(all_of, fault, None);
    }

    /// Applies `fault` to the next `times` matching requests only.
    pub fn inject_times(&self, all_of: &[&str], fault: Fault, times: usize) {
        self.push(all_of, fault, Some(times));
    }

    /// Applies `fault` to `times` requests of this signature (`Request::signature`) after letting `skip` through:
    /// the `skip`-th occurrence of a request, and as many of the SDK's retries of that same request (same target
    /// and body) as `times` says.
    pub fn inject_at(&self, signature: &str, skip: usize, fault: Fault, times: usize) {
        self.state.rules.lock().unwrap().push(Rule {
            all_of: Vec::new(),
            signature: Some(signature.to_string()),
            skip,
            pinned: None,
            fault,
            remaining: Some(times),
        });
    }

    fn push(&self, all_of: &[&str], fault: Fault, remaining: Option<usize>) {
        self.state.rules.lock().unwrap().push(Rule {
            signature: None,
            skip: 0,
            pinned: None,
            all_of: all_of.iter().map(|s| s.to_string()).collect(),
            fault,
            remaining,
        });
    }

    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Forgets rules, recorded requests and the count of faulted ones, for a proxy used again.
    pub fn reset(&self) {
        self.clear();
        self.state.requests.lock().unwrap().clear();
        self.state.faulted.store(0, Ordering::Relaxed);
        self.state.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// Holds every answer this long before sending it, as a distant endpoint would: requests then overlap.
    pub fn add_latency(&self, latency: std::time::Duration) {
        self.state
            .latency_ms
            .store(latency.as_millis() as usize, Ordering::Relaxed);
    }

    /// The most requests that were in flight at once (arrived, not yet answered) since the start or `reset`.
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }

    /// From now on, fail every request mentioning `operation` (e.g. `PutRule`) with `AccessDeniedException`, a
    /// permanent error the SDK does not retry, as a missing permission would be; `None` lets everything through.
    pub fn fail_on(&self, operation: Option<&str>) {
        self.clear();
        if let Some(operation) = operation {
            let body = format!(r#"{{"__type":"AccessDeniedException","message":"injected failure of {operation}"}}"#);
            self.inject(
                &[operation],
                Fault::Respond {
                    status: 400,
                    content_type: "application/x-amz-json-1.1",
                    body,
                },
            );
        }
    }

    /// How many requests a rule applied to.
    pub fn failed(&self) -> usize {
        self.state.faulted.load(Ordering::Relaxed)
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// The fault of the first rule matching `request`, using up one of its applications.
fn fault_for(state: &State, request: &Request) -> Option<Fault> {
    let mut rules = state.rules.lock().unwrap();
    let signature = request.signature();
    let matches = |r: &Rule| match (&r.signature, &r.pinned) {
        (Some(_), Some((target, body))) => target == request.target() && *body == request.body,
        (Some(wanted), None) => *wanted == signature,
        (None, _) => r.all_of.iter().all(|text| request.contains(text)),
    };
    let index = rules.iter().position(|r| r.remaining != Some(0) && matches(r))?;
    let rule = &mut rules[index];
    if rule.skip > 0 {
        rule.skip -= 1;
        return None;
    }
    if rule.signature.is_some() && rule.pinned.is_none() {
        rule.pinned = Some((request.target().to_string(), request.body.clone()));
    }
    if let Some(remaining) = &mut rule.remaining {
        *remaining -= 1;
    }
    state.faulted.fetch_add(1, Ordering::Relaxed);
    Some(rule.fault.clone())
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
    let in_flight = InFlight::enter(state);
    let mut request = Request {
        head: String::from_utf8_lossy(&head).into_owned(),
        body: body.clone(),
        response: Vec::new(),
        arrived: std::time::Instant::now(),
        answered: std::time::Instant::now(),
    };
    let fault = fault_for(state, &request);
    let response = match &fault {
        Some(Fault::Respond {
            status,
            content_type,
            body,
        }) => format!(
            "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        Some(Fault::Error { status, code }) => error_response(&request, *status, code),
        Some(Fault::Throttle) => {
            let (status, code) = if request.service() == Some("s3") {
                (503, "SlowDown")
            } else if request.service() == Some("lambda") {
                (429, "TooManyRequestsException")
            } else if request.header("x-amz-target").is_some() {
                (400, "ThrottlingException")
            } else {
                (400, "Throttling")
            };
            error_response(&request, status, code)
        }
        _ => {
            let mut upstream = TcpStream::connect(&state.upstream)?;
            upstream.write_all(&head)?;
            upstream.write_all(&body)?;
            let mut response = Vec::new();
            upstream.read_to_end(&mut response)?;
            match &fault {
                Some(Fault::Rewrite { from, to }) => rewrite(&response, from, to),
                Some(Fault::Drop) => {
                    request.response = response;
                    request.answered = std::time::Instant::now();
                    state.requests.lock().unwrap().push(request);
                    return Ok(());
                }
                Some(Fault::Hang(hold)) => {
                    std::thread::sleep(*hold);
                    request.response = response;
                    request.answered = std::time::Instant::now();
                    state.requests.lock().unwrap().push(request);
                    return Ok(());
                }
                _ => response,
            }
        }
    };
    // Recorded before it is answered: a caller that has its answer finds its request among `requests()`.
    let latency = state.latency_ms.load(Ordering::Relaxed) as u64;
    request.response = response.clone();
    request.answered = std::time::Instant::now() + std::time::Duration::from_millis(latency);
    state.requests.lock().unwrap().push(request);
    if latency > 0 {
        std::thread::sleep(std::time::Duration::from_millis(latency));
    }
    // Answered from here: the client may send its next request as soon as it reads this one's answer.
    drop(in_flight);
    let mut client = client;
    client.write_all(&response)?;
    Ok(())
}

/// The response with `from` replaced by `to` in its body, its framing made `Content-Length` again.
fn rewrite(response: &[u8], from: &str, to: &str) -> Vec<u8> {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut body = response[split + 4..].to_vec();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    let body = String::from_utf8_lossy(&body).replace(from, to);
    let mut out: String = head
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-length:") && !l.starts_with("transfer-encoding:")
        })
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.push_str(&body);
    out.into_bytes()
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..end]).split(';').next().unwrap().trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

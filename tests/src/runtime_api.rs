//! The Lambda Runtime API on a free loopback port, and the real compiled `bootstrap` run against it: the way
//! Lambda itself runs a `provided.al2023` function, without Docker or an emulator to install. The fixture serves
//! `GET /runtime/invocation/next` (long-polling until a test hands in an event), and collects what the function
//! posts to `/invocation/{id}/response`, `/invocation/{id}/error` and `/init/error`.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const PREFIX: &str = "/2018-06-01/runtime";
/// Generous: only a hung function gets near it, and then the test fails with the function's output.
const WAIT: Duration = Duration::from_secs(180);
pub const FUNCTION_NAME: &str = "rdsbackup-test";

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    /// The error body (`errorType`, `errorMessage`) of `/invocation/{id}/error`.
    Error(Value),
}

#[derive(Default)]
struct State {
    events: VecDeque<(String, Value)>,
    answers: HashMap<String, Answer>,
    init_error: Option<Value>,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

pub struct RuntimeApi {
    pub address: String,
    shared: Shared,
}

static REQUEST_IDS: AtomicUsize = AtomicUsize::new(0);

impl RuntimeApi {
    /// Serves until the test process ends; a blocked `next` holds only its own thread.
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
        let address = listener.local_addr().unwrap().to_string();
        let shared: Shared = Arc::default();
        let serving = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = serving.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        RuntimeApi { address, shared }
    }

    /// Hands `event` to the function and waits for its answer.
    pub fn invoke(&self, event: &Value, function: &mut Function) -> Answer {
        let id = format!("req-{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed));
        let (lock, ready) = &*self.shared;
        lock.lock().unwrap().events.push_back((id.clone(), event.clone()));
        ready.notify_all();
        let deadline = Instant::now() + WAIT;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(answer) = state.answers.remove(&id) {
                return answer;
            }
            if let Some(error) = &state.init_error {
                panic!("the function failed to start: {error}\n{}", function.output());
            }
            if let Some(status) = function.exited() {
                panic!("the function exited ({status}) before answering\n{}", function.output());
            }
            assert!(
                Instant::now() < deadline,
                "no answer in {WAIT:?}\n{}",
                function.output()
            );
            state = ready.wait_timeout(state, Duration::from_millis(200)).unwrap().0;
        }
    }

    /// Waits for the function to report a failed start, and returns the error it posted.
    pub fn init_error(&self, function: &mut Function) -> Value {
        let (lock, ready) = &*self.shared;
        let deadline = Instant::now() + WAIT;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(error) = state.init_error.take() {
                return error;
            }
            // The function waits for the API to accept its report before exiting: gone without one, it sent none.
            if function.exited().is_some() {
                panic!(
                    "the function exited without reporting an init error\n{}",
                    function.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no init error in {WAIT:?}\n{}",
                function.output()
            );
            state = ready.wait_timeout(state, Duration::from_millis(200)).unwrap().0;
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    // Keep-alive: the runtime client reuses its connection.
    while let Some((method, path, body)) = read_request(&mut reader) {
        let (lock, ready) = &**shared;
        let reply = match (method.as_str(), path.strip_prefix(PREFIX).unwrap_or_default()) {
            ("GET", "/invocation/next") => {
                let mut state = lock.lock().unwrap();
                let (id, event) = loop {
                    if let Some(next) = state.events.pop_front() {
                        break next;
                    }
                    state = ready.wait(state).unwrap();
                };
                drop(state);
                let deadline_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 300_000;
                let headers = [
                    format!("Lambda-Runtime-Aws-Request-Id: {id}"),
                    format!("Lambda-Runtime-Deadline-Ms: {deadline_ms}"),
                    format!(
                        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
                    ),
                    "Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".to_string(),
                ];
                respond(&mut writer, "200 OK", &headers, event.to_string().as_bytes())
            }
            ("POST", "/init/error") => {
                lock.lock().unwrap().init_error = Some(json_or_text(&body));
                ready.notify_all();
                respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#)
            }
            ("POST", rest) if rest.starts_with("/invocation/") => {
                let mut parts = rest["/invocation/".len()..].splitn(2, '/');
                let (id, kind) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let answer = match kind {
                    "response" => Some(Answer::Response(json_or_text(&body))),
                    "error" => Some(Answer::Error(json_or_text(&body))),
                    _ => None,
                };
                match answer {
                    Some(answer) => {
                        lock.lock().unwrap().answers.insert(id.to_string(), answer);
                        ready.notify_all();
                        respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#)
                    }
                    None => respond(&mut writer, "404 Not Found", &[], b"{}"),
                }
            }
            _ => respond(&mut writer, "404 Not Found", &[], b"{}"),
        };
        if reply.is_err() {
            return;
        }
    }
}

fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// One HTTP/1.1 request: method, path and body (`Content-Length` or chunked), or None once the peer is gone.
fn read_request(reader: &mut impl BufRead) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some((method, path, body))
}

fn respond(writer: &mut impl Write, status: &str, headers: &[String], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

/// The backup Lambda's `bootstrap`, as the provider's build script built it for `x86_64-unknown-linux-musl`: the
/// very binary the provider zips and embeds. It sits in `<target>/lambda`, beside the profile folders holding
/// this test executable (`<target>/<profile>/deps/<test>`).
/// `bootstrap --once`: one run outside Lambda with exactly `env`, `event` on stdin; the output object (the last
/// line of stdout) of a run that succeeded.
pub fn run_once(env: &[(String, String)], event: &Value) -> Value {
    let (succeeded, stdout, stderr) = run_once_as_is(env, event);
    assert!(succeeded, "{stdout}{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// `bootstrap --once` started with `event` on stdin and left running: a test can kill it mid-run, as Lambda ends
/// an invocation at its timeout or a crash.
pub fn spawn_once(env: &[(String, String)], event: &Value) -> std::process::Child {
    let mut once = Command::new(bootstrap_binary())
        .arg("--once")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut once.stdin.take().unwrap(), event.to_string().as_bytes()).unwrap();
    once
}

/// `bootstrap --once` whatever its outcome: whether it succeeded, its stdout (log lines, metrics, and the output
/// object last when it succeeded) and its stderr (the error when it did not).
pub fn run_once_as_is(env: &[(String, String)], event: &Value) -> (bool, String, String) {
    let run = spawn_once(env, event).wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (run.status.success(), text(&run.stdout), text(&run.stderr))
}

pub fn bootstrap_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe.ancestors().nth(3).expect("<target>/<profile>/deps/<test>");
    let binary = target.join("lambda/x86_64-unknown-linux-musl/release/bootstrap");
    assert!(
        binary.is_file(),
        "{} is missing: it is built by the provider's build script, so run the tests with `cargo test --workspace` \
         (not with RDSBACKUP_LAMBDA_ZIP set, which skips that build)",
        binary.display()
    );
    binary
}

/// The running function: the `bootstrap` process with Lambda's environment, killed when dropped.
pub struct Function {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Function {
    /// Starts `bootstrap` against `api` with the given environment on top of what Lambda always sets; nothing is
    /// inherited from the test's own environment but `PATH`.
    pub fn start(api: &RuntimeApi, env: &[(String, String)]) -> Function {
        let mut child = Command::new(bootstrap_binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.address.as_str()),
                ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/rdsbackup-test"),
                ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]0123456789abcdef"),
            ])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bootstrap starts");
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        Function { child, output }
    }

    /// Everything the function printed so far (its logs and metrics), one line each.
    pub fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// The lines once the function has logged the end of `runs` runs: its stdout is read by a thread of its own,
    /// which may lag behind the answer the Runtime API already has.
    pub fn lines_after_runs(&self, runs: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let lines = self.lines();
            let finished = lines.iter().filter(|l| l.contains("\"run finished")).count();
            if finished >= runs || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        format!("--- function output\n{}", self.lines().join("\n"))
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

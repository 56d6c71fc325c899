//! Reports a failed start to the Lambda Runtime API (`/runtime/init/error`), so that the invocation fails with
//! our message instead of a bare "Runtime exited". `lambda_runtime` offers this only for SnapStart, and the
//! request is small enough to write by hand over the loopback connection the API always is.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub fn report(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    if let Err(e) = post(&api, error_type, message) {
        tracing::error!(error = %e, "could not report the init error to the runtime API");
    }
}

fn post(api: &str, error_type: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string();
    let mut stream = TcpStream::connect(api)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // The API answers 202; any answer will do, waiting for it only makes sure the report arrived before exit.
    let mut answer = [0u8; 64];
    let _ = stream.read(&mut answer)?;
    Ok(())
}

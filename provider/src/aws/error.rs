//! Errors of AWS calls, carrying the operation and the resource so the user reads what failed, not just a code.

use std::fmt;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub message: String,
    /// The AWS error code, e.g. `NoSuchBucket`, when the service returned one.
    pub code: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    pub fn new(message: impl Into<String>) -> AwsError {
        AwsError {
            message: message.into(),
            code: None,
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// `client.op().send().await.map_err(failed("s3:CreateBucket", bucket))?`
pub fn failed<E>(operation: &'static str, resource: impl fmt::Display) -> impl FnOnce(E) -> AwsError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    move |error| AwsError {
        code: error.code().map(str::to_string),
        message: format!("{operation} on {resource}: {}", DisplayErrorContext(&error)),
    }
}

pub type Result<T> = std::result::Result<T, AwsError>;

/// For reads and deletes that tolerate what is already gone: an error with one of `codes` means "absent".
pub trait OrAbsent<T> {
    fn or_absent(self, codes: &[&str]) -> Result<Option<T>>;
}

impl<T> OrAbsent<T> for Result<T> {
    fn or_absent(self, codes: &[&str]) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(e) if codes.iter().any(|code| e.is(code)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

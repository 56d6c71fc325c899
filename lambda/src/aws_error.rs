//! Short, readable errors from AWS calls for the output and the logs: the service's code and message, not the
//! SDK's debug dump of the whole HTTP response.

use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub fn describe<E, R>(operation: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => {
            let code = service.code().unwrap_or("UnknownError");
            match service.message().filter(|m| !m.is_empty()) {
                Some(message) => format!("{operation}: {code}: {message}"),
                None => format!("{operation}: {code}"),
            }
        }
        // Timeouts and connection failures: the chain of causes says what happened.
        None => format!("{operation}: {}", DisplayErrorContext(error)),
    }
}

//! Whether a vault's own key can take its copies: it exists, is enabled, is symmetric (RDS encrypts with no
//! other kind) and is customer managed (RDS cannot share a snapshot on an AWS managed key, so copies on one could
//! never be shared back to restore in a workload account). Checked at plan time: otherwise the bucket and the
//! function would be made and every copy fail in the vault's runs.

use aws_sdk_kms::Client;
use aws_sdk_kms::types::{KeyManagerType, KeySpec, KeyState};

use super::error::{OrAbsent, Result, failed};

/// `Ok(None)` when the key can take the vault's copies, `Ok(Some(why))` when it cannot.
pub async fn refusal(kms: &Client, key: &str) -> Result<Option<String>> {
    let described = kms
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(failed("kms:DescribeKey", key))
        .or_absent(&["NotFoundException"])?;
    let Some(metadata) = described.as_ref().and_then(|d| d.key_metadata()) else {
        return Ok(Some(format!(
            "kms_key_arn {key} does not exist in the vault's account and region: create the vault's key there \
             (a customer managed symmetric key) and name it by its ARN."
        )));
    };
    let problem = if metadata.key_state() != Some(&KeyState::Enabled) {
        Some(format!(
            "is {}: enable it, or name another key",
            metadata.key_state().map_or("not enabled", |s| s.as_str())
        ))
    } else if metadata.key_manager() == Some(&KeyManagerType::Aws) {
        Some(
            "is an AWS managed key: RDS cannot share a snapshot encrypted with one, so no vault copy could be \
             shared back to restore in a workload account; use a customer managed key"
                .to_string(),
        )
    } else if metadata.key_spec().is_some_and(|s| *s != KeySpec::SymmetricDefault) {
        Some("is not a symmetric encryption key (SYMMETRIC_DEFAULT), the only kind RDS encrypts with".to_string())
    } else {
        None
    };
    Ok(problem.map(|p| format!("kms_key_arn {key} {p}.")))
}

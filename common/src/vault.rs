//! The `vault` block of a policy, as the provider writes it into the function's environment (`env::VAULT`, a JSON
//! object) and the Lambda reads it back.

use serde::{Deserialize, Serialize};

/// Where the policy's snapshots are shared: the vault's account, and the key of the policy's account that a
/// snapshot must be encrypted with (or be unencrypted) to be shared with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultTarget {
    pub account_id: String,
    pub kms_key_arn: String,
}

impl VaultTarget {
    /// Whether a snapshot encrypted with `snapshot_key` (`None`: unencrypted) can be shared as it is. RDS cannot
    /// share one on the AWS managed key; one on another customer managed key is copied too, since only the
    /// block's key is known (checked by the provider) to let the vault account use it.
    pub fn shareable_as_is(&self, encrypted: bool, snapshot_key: Option<&str>) -> bool {
        !encrypted || snapshot_key == Some(self.kms_key_arn.as_str())
    }
}

/// The value of `env::VAULT`.
pub fn to_env(target: &VaultTarget) -> String {
    serde_json::to_string(target).expect("a vault target serializes")
}

/// Reads `to_env`'s form; an empty value means no vault.
pub fn from_env(value: &str) -> Result<Option<VaultTarget>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(value).map(Some).map_err(|e| {
        format!(
            "must be a JSON object such as {{\"account_id\":\"210987654321\",\"kms_key_arn\":\
             \"arn:aws:kms:eu-west-1:123456789012:key/k\"}}: {e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_round_trips_and_says_what_needs_a_copy_first() {
        let target = VaultTarget {
            account_id: "210987654321".into(),
            kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/k".into(),
        };
        assert_eq!(from_env(&to_env(&target)).unwrap(), Some(target.clone()));
        assert_eq!(from_env("").unwrap(), None);
        assert!(from_env("210987654321").unwrap_err().contains("JSON object"));
        assert!(target.shareable_as_is(false, None));
        assert!(target.shareable_as_is(true, Some("arn:aws:kms:eu-west-1:123456789012:key/k")));
        assert!(!target.shareable_as_is(true, Some("arn:aws:kms:eu-west-1:123456789012:key/aws-rds")));
        assert!(!target.shareable_as_is(true, None));
    }
}

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

/// The account that shares a snapshot with the vault and the snapshot's identifier there, from its ARN
/// (`arn:<partition>:rds:<region>:<account>:snapshot:<id>` or `...:cluster-snapshot:<id>`): RDS lists a shared
/// snapshot under its ARN, and the ARN, not a tag the sharing account could set, says whose it is.
pub fn shared_source(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "rds", _, account, "snapshot" | "cluster-snapshot", id]
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() =>
        {
            Some((account, id))
        }
        _ => None,
    }
}

/// Whether the vault takes in a shared snapshot: shared by one of its `source_account_ids` and named as a
/// policy names its snapshots (`rdsbackup-`). Anything else shared with the account is not the vault's.
pub fn takes(source_accounts: &std::collections::BTreeSet<String>, arn: &str) -> bool {
    shared_source(arn).is_some_and(|(account, id)| source_accounts.contains(account) && id.starts_with("rdsbackup-"))
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

    #[test]
    fn the_vault_takes_only_its_sources_snapshots_named_by_a_policy() {
        let arn = "arn:aws:rds:eu-west-1:111111111111:snapshot:rdsbackup-nightly-db-a-202611280300-9ca323f5";
        assert_eq!(
            shared_source(arn),
            Some(("111111111111", "rdsbackup-nightly-db-a-202611280300-9ca323f5"))
        );
        let cluster =
            "arn:aws-us-gov:rds:us-gov-west-1:111111111111:cluster-snapshot:rdsbackup-n-c-202611280300-01234567";
        assert_eq!(shared_source(cluster).map(|(a, _)| a), Some("111111111111"));
        let sources = ["111111111111".to_string()].into();
        assert!(takes(&sources, arn));
        assert!(takes(&sources, cluster));
        assert!(!takes(&sources, &arn.replace("111111111111", "222222222222")));
        assert!(!takes(
            &sources,
            &arn.replace(":snapshot:rdsbackup-", ":snapshot:manual-")
        ));
        for not_an_arn in [
            "rdsbackup-nightly-db-a",
            "arn:aws:rds:eu-west-1:1111:snapshot:rdsbackup-x",
            "arn:aws:s3:::b",
        ] {
            assert_eq!(shared_source(not_an_arn), None, "{not_an_arn}");
        }
    }
}

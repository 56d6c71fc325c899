//! Whether the vault account may use the `vault` block's key: RDS lets an account copy a snapshot shared with it
//! only when the key it is encrypted with lets that account `kms:CreateGrant`, `kms:Decrypt` and
//! `kms:DescribeKey`, which only the key policy can grant to another account. Checked at plan time, so a key the
//! vault cannot use is refused before a snapshot is shared in vain.

use aws_sdk_kms::Client;

use super::error::Result;
use super::key_policy::{self, Principal};

/// What RDS needs of the key for a shared snapshot, in the account that copies it.
pub const VAULT_ACTIONS: [&str; 3] = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"];

/// `Ok(None)` when the key policy lets `account` use the key, `Ok(Some(why))` with the statement to add when not.
pub async fn refusal(kms: &Client, key: &str, account: &str, partition: &str) -> Result<Option<String>> {
    let document = key_policy::read(kms, key, key).await?;
    if key_policy::allows(&document, &Principal::Account(account), &VAULT_ACTIONS) {
        return Ok(None);
    }
    let statement = serde_json::json!({
        "Sid": "AllowTheVaultAccountToCopySharedSnapshots",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
        "Action": VAULT_ACTIONS,
        "Resource": "*"
    });
    Ok(Some(format!(
        "vault.kms_key_arn {key}: its key policy does not let the vault account {account} use it ({}), so the \
         vault could not copy the snapshots shared with it. Add this statement to the key policy: {statement}",
        VAULT_ACTIONS.join(", ")
    )))
}

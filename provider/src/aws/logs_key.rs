//! Whether CloudWatch Logs may use a customer managed key: it encrypts a log group as the service principal
//! `logs.<region>.amazonaws.com`, which only the key policy can allow (IAM policies cannot grant a service
//! principal). Checked before anything of a stack is created, so a key that would stop the apply at the log
//! group, after the bucket and the role exist, is refused first.

use aws_sdk_kms::Client;
use serde_json::Value;

use super::error::{Result, failed};
use super::key_policy::{self, Principal};

/// What Logs does with the key, as AWS's key policy example for log groups grants it.
const LOGS_ACTIONS: [&str; 6] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
];

/// `Ok(None)` when the key policy lets Logs use the key, `Ok(Some(why))` when it does not.
pub async fn refusal(kms: &Client, key: &str, region: &str) -> Result<Option<String>> {
    // GetKeyPolicy takes a key ARN or id, not an alias: resolve one first.
    let key_id = if key.contains(":alias/") {
        kms.describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(failed("kms:DescribeKey", key))?
            .key_metadata()
            .map(|m| m.arn().unwrap_or(m.key_id()).to_string())
            .unwrap_or_else(|| key.to_string())
    } else {
        key.to_string()
    };
    let document = key_policy::read(kms, &key_id, key).await?;
    let principal = format!("logs.{region}.amazonaws.com");
    Ok((!allows(&document, &principal)).then(|| {
        format!(
            "kms_key_arn {key}: its key policy does not allow {principal} (CloudWatch Logs) {}, so the log group \
             /aws/lambda/rdsbackup-<name> could not be encrypted with it; nothing was created or changed. Add to the key policy \
             a statement allowing the service principal {principal} kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, \
             kms:GenerateDataKey* and kms:Describe* (AWS's example conditions it on \
             kms:EncryptionContext:aws:logs:arn), or leave kms_key_arn unset.",
            LOGS_ACTIONS.join(", ")
        )
    }))
}

fn allows(document: &Value, principal: &str) -> bool {
    key_policy::allows(document, &Principal::Service(principal), &LOGS_ACTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOGS: &str = "logs.eu-west-1.amazonaws.com";

    #[test]
    fn the_documented_statement_allows_logs() {
        let document = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": LOGS},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:*"}}}
        ]});
        assert!(allows(&document, LOGS));
    }

    #[test]
    fn the_default_key_policy_or_a_partial_grant_does_not() {
        let default = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}});
        assert!(!allows(&default, LOGS));
        let partial = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": LOGS}, "Action": ["kms:Encrypt*", "kms:Decrypt*"], "Resource": "*"}]});
        assert!(!allows(&partial, LOGS));
        let other_region = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!allows(&other_region, LOGS));
    }
}

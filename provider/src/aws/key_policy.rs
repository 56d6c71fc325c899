//! Reading a KMS key policy and judging whether it lets a principal use the key: what the plan checks before a
//! stack depends on a key another principal must use (CloudWatch Logs for the log group, the vault account for
//! shared snapshots), since only the key policy can grant that.

use aws_sdk_kms::Client;
use serde_json::Value;

use super::error::{Result, failed};
use super::policy_document;

/// Who must be allowed.
pub enum Principal<'a> {
    /// A service principal such as `logs.eu-west-1.amazonaws.com`.
    Service(&'a str),
    /// An account, named in a key policy as `<id>` or `arn:<partition>:iam::<id>:root`.
    Account(&'a str),
}

/// The key's default policy; `key_id` a key ARN or id (not an alias), `shown` the name errors give it.
pub async fn read(kms: &Client, key_id: &str, shown: &str) -> Result<Value> {
    let policy = kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
        .map_err(failed("kms:GetKeyPolicy", shown))?;
    Ok(policy.policy().and_then(policy_document::parse).unwrap_or(Value::Null))
}

/// Some Allow statement names the principal (or any principal) for each of `actions`. Conditions are not
/// judged: they are the key owner's to narrow.
pub fn allows(document: &Value, principal: &Principal, actions: &[&str]) -> bool {
    let statements = match &document["Statement"] {
        Value::Array(statements) => statements.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    let strings = |value: &Value| -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        }
    };
    let names = |statement: &Value| match &statement["Principal"] {
        Value::String(any) => any == "*",
        principals => {
            let aws = strings(&principals["AWS"]);
            aws.iter().any(|s| s == "*")
                || match principal {
                    Principal::Service(name) => strings(&principals["Service"]).iter().any(|s| s == name),
                    Principal::Account(id) => aws
                        .iter()
                        .any(|s| s == id || (s.starts_with("arn:") && s.ends_with(&format!(":iam::{id}:root")))),
                }
        }
    };
    actions.iter().all(|action| {
        statements.iter().any(|statement| {
            statement["Effect"] == "Allow"
                && names(statement)
                && strings(&statement["Action"])
                    .iter()
                    .any(|pattern| glob(pattern, action))
        })
    })
}

/// IAM's action matching: case-insensitive, `*` any run of characters, `?` one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_ascii_lowercase().chars().collect(),
        text.to_ascii_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_are_named_by_id_or_root_arn_and_actions_by_pattern() {
        let actions = ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"];
        let vault = Principal::Account("210987654321");
        let by_root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:Describe*"], "Resource": "*"}]});
        assert!(allows(&by_root, &vault, &actions));
        let by_id =
            json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": ["210987654321"]}, "Action": "kms:*"}});
        assert!(allows(&by_id, &vault, &actions));
        let other = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*"}});
        assert!(!allows(&other, &vault, &actions));
        let partial =
            json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "210987654321"}, "Action": "kms:Decrypt"}});
        assert!(!allows(&partial, &vault, &actions));
        let denied = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "kms:*"}});
        assert!(!allows(&denied, &vault, &actions));
        assert!(glob("kms:GenerateDataKey*", "kms:GenerateDataKey"));
        assert!(!glob("kms:Encrypt", "kms:EncryptX"));
    }
}

//! The vault function's inline policy, least privilege: it lists snapshots (describe calls on `*`), copies only
//! what a listed source account shares (its `rdsbackup-` snapshots, by ARN in that account) into the vault's own
//! names (`rdsbackup-vault-*`) tagged as this vault's, deletes only copies tagged `rdsbackup:vault = <name>`,
//! uses the sources' keys only through RDS for the copy, the vault key only through RDS (copies) and S3
//! (records), writes only records under `copies/` of its bucket (deleting none) and its pending markers under
//! `pending/`, and logs only to its log group. It names no
//! resource of a source account other than what that account shares and its keys' grants for RDS.

use std::collections::BTreeSet;

use rdsbackup_common::identifier::VAULT_COPY_PREFIX;
use rdsbackup_common::{PENDING_PREFIX, VAULT_RECORDS_PREFIX, tags};
use serde_json::{Value, json};

use crate::policy::iam_policy::{key_statement, logs_statement};
use crate::policy::names::Location;

pub struct Grants<'a> {
    pub vault: &'a str,
    pub bucket: &'a str,
    pub log_group: &'a str,
    pub source_accounts: &'a BTreeSet<String>,
    pub kms_key_arn: &'a str,
}

pub fn document(grants: &Grants, here: &Location) -> Value {
    let rds_of = |account: &str, kind: &str, id: &str| {
        format!("arn:{}:rds:{}:{account}:{kind}:{id}", here.partition, here.region)
    };
    let own = |kind: &str| rds_of(&here.account_id, kind, &format!("{VAULT_COPY_PREFIX}*"));
    let shared = |kind: &str| -> Vec<String> {
        grants
            .source_accounts
            .iter()
            .map(|account| rds_of(account, kind, "rdsbackup-*"))
            .collect()
    };
    let via_rds = format!("rds.{}.amazonaws.com", here.region);
    let own_tagged = |sid: &str, action: &str, kind: &str| {
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": action,
            "Resource": own(kind),
            "Condition": {"StringEquals": {format!("rds:{kind}-tag/{}", tags::VAULT): grants.vault}}
        })
    };
    let source_keys: Vec<String> = grants
        .source_accounts
        .iter()
        .map(|account| format!("arn:{}:kms:{}:{account}:key/*", here.partition, here.region))
        .collect();
    let bucket_arn = here.bucket_arn(grants.bucket);
    let statements = vec![
        json!({
            "Sid": "Describe",
            "Effect": "Allow",
            "Action": ["rds:DescribeDBClusterSnapshots", "rds:DescribeDBSnapshots"],
            "Resource": "*"
        }),
        // A copy is authorized on its source (a listed account's shared snapshot) and its target (the vault's
        // own name), both named here.
        json!({
            "Sid": "CopySharedInstanceSnapshots",
            "Effect": "Allow",
            "Action": "rds:CopyDBSnapshot",
            "Resource": shared("snapshot").into_iter().chain([own("snapshot")]).collect::<Vec<_>>()
        }),
        json!({
            "Sid": "CopySharedClusterSnapshots",
            "Effect": "Allow",
            "Action": "rds:CopyDBClusterSnapshot",
            "Resource": shared("cluster-snapshot").into_iter().chain([own("cluster-snapshot")]).collect::<Vec<_>>()
        }),
        // Tagging only as this vault's, and only what is untagged (a new copy) or this vault's already: otherwise
        // the role could claim another vault's copy by tagging it, and then delete it.
        json!({
            "Sid": "TagOwnCopies",
            "Effect": "Allow",
            "Action": "rds:AddTagsToResource",
            "Resource": [own("snapshot"), own("cluster-snapshot")],
            "Condition": {
                "StringEquals": {format!("aws:RequestTag/{}", tags::VAULT): grants.vault},
                "StringEqualsIfExists": {
                    format!("rds:snapshot-tag/{}", tags::VAULT): grants.vault,
                    format!("rds:cluster-snapshot-tag/{}", tags::VAULT): grants.vault
                }
            }
        }),
        own_tagged("DeleteOwnInstanceCopies", "rds:DeleteDBSnapshot", "snapshot"),
        own_tagged(
            "DeleteOwnClusterCopies",
            "rds:DeleteDBClusterSnapshot",
            "cluster-snapshot",
        ),
        // RDS reads a shared snapshot through a grant on its source account's key, made in the caller's name
        // and limited to RDS here; the source's key policy must allow it too (the source's plan checks that).
        json!({
            "Sid": "SourceKeyGrants",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": source_keys,
            "Condition": {
                "StringEquals": {"kms:ViaService": via_rds},
                "Bool": {"kms:GrantIsForAWSResource": "true"}
            }
        }),
        json!({
            "Sid": "SourceKeyUse",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": source_keys,
            "Condition": {"StringEquals": {"kms:ViaService": via_rds}}
        }),
        key_statement(
            "VaultKeyCopies".into(),
            json!(["kms:CreateGrant", "kms:DescribeKey"]),
            grants.kms_key_arn,
            Some(via_rds.clone()),
        ),
        key_statement(
            "VaultKeyRecords".into(),
            json!(["kms:Decrypt", "kms:GenerateDataKey"]),
            grants.kms_key_arn,
            Some(format!("s3.{}.amazonaws.com", here.region)),
        ),
        // Records are written and (once their copy settles) rewritten, never deleted: no DeleteObject there.
        json!({
            "Sid": "Records",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": format!("{bucket_arn}/{VAULT_RECORDS_PREFIX}*")
        }),
        json!({
            "Sid": "PendingRecords",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": format!("{bucket_arn}/{PENDING_PREFIX}*")
        }),
        // With it S3 answers a missing record with 404 rather than 403; the run lists `pending/` with it.
        json!({
            "Sid": "ListRecords",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn
        }),
        logs_statement(grants.log_group, here),
    ];
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document_for(accounts: &[&str]) -> Value {
        let source_accounts: BTreeSet<String> = accounts.iter().map(|a| a.to_string()).collect();
        document(
            &Grants {
                vault: "central",
                bucket: "rdsbackup-vault-central-123456789012",
                log_group: "/aws/lambda/rdsbackup-vault-central",
                source_accounts: &source_accounts,
                kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/k",
            },
            &Location::example(),
        )
    }

    #[test]
    fn destructive_actions_only_on_the_vaults_own_tagged_copies() {
        let doc = document_for(&["111111111111", "222222222222"]);
        for statement in doc["Statement"].as_array().unwrap() {
            let text = statement.to_string();
            if statement["Resource"] == "*" {
                assert_eq!(statement["Sid"], "Describe", "only describe calls may use *");
            }
            if statement["Action"].to_string().contains("s3:DeleteObject") {
                assert_eq!(
                    statement["Resource"], "arn:aws:s3:::rdsbackup-vault-central-123456789012/pending/*",
                    "only the pending markers: {text}"
                );
            } else if statement["Action"].to_string().contains("Delete") {
                assert_eq!(
                    statement["Resource"].as_str().unwrap().split(':').nth(4),
                    Some("123456789012"),
                    "deletes only in the vault's account: {text}"
                );
                assert!(
                    text.contains("rdsbackup-vault-*") && text.contains("rdsbackup:vault"),
                    "{text}"
                );
                assert!(text.contains("\"central\""), "{text}");
            }
            if text.contains("111111111111") {
                let actions = statement["Action"].to_string();
                assert!(
                    ["rds:CopyDB", "kms:CreateGrant", "kms:Decrypt"]
                        .iter()
                        .any(|a| actions.contains(a)),
                    "a source account is named only to copy what it shares and to read it through RDS: {text}"
                );
            }
        }
        let copy = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "CopySharedInstanceSnapshots")
            .unwrap();
        assert_eq!(
            copy["Resource"],
            json!([
                "arn:aws:rds:eu-west-1:111111111111:snapshot:rdsbackup-*",
                "arn:aws:rds:eu-west-1:222222222222:snapshot:rdsbackup-*",
                "arn:aws:rds:eu-west-1:123456789012:snapshot:rdsbackup-vault-*"
            ])
        );
    }

    #[test]
    fn thirty_source_accounts_fit_iams_inline_policy_limit() {
        let accounts: Vec<String> = (0..30).map(|i| format!("{:012}", 100_000_000_000u64 + i)).collect();
        let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
        let size = document_for(&refs).to_string().len();
        assert!(size <= 10_240, "{size} characters for 30 source accounts");
    }
}

//! The function's role proven against what the run does, not assumed: a policy with listed instances, a listed
//! Aurora member, a cluster and tag selection is applied by Terraform; the deployed function's own environment
//! then runs backups, a retried event, retention, a record repair and a pending record's settlement through the
//! fault proxy, which records every AWS request. Each request is evaluated against the role's inline policy as
//! IAM does (action, resource ARN, the condition keys the request carries) by a maintained evaluator
//! (tests/iam, iam-simulate), and destructive requests beyond the policy's own are shown denied. moto's own IAM
//! enforcement ignores resources and conditions for RDS, so it could prove none of this. The generated
//! documents also pass a maintained IAM linter (parliament). The vault's function's role is proven the same way,
//! in the vault account its runs act in, against shares of other accounts; the `archive` block's export step as
//! well, and its export role's inline policy by synthetic checks (moto records nothing RDS does as that role).

use std::collections::BTreeMap;
use std::process::Command;

use rdsbackup_common::archive::{EXPORTS_PREFIX, MARKERS_PREFIX};
use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{PENDING_PREFIX, VAULT_RECORDS_PREFIX, tags, vault_record_key};
use rdsbackup_tests::accounts::{Account, account, role_arn};
use rdsbackup_tests::fault_proxy::{Fault, FaultProxy, Request};
use rdsbackup_tests::{
    Aws, MOTO_ACCOUNT, Moto, Terraform, acceptance, clock_minute, databases, percent_decode, repo_root, rfc3339,
};
use serde_json::{Value, json};

const POLICY: &str = "nightly";
const REGION: &str = "us-east-1";

fn config(copy_key: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{POLICY}"
  db_instance_identifiers = ["orders", "reports-1"]
  db_cluster_identifiers  = ["analytics"]
  selection_tags          = {{ backup = "nightly" }}
  retention_days          = 1
  min_snapshots           = 1
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
  copy {{
    region      = "us-west-2"
    kms_key_arn = "{copy_key}"
  }}
  copy {{
    region = "eu-west-1"
  }}
}}
"#
    )
}

/// One IAM authorization a request needs.
#[derive(Debug, Clone)]
struct Check {
    action: String,
    resource: String,
    context: BTreeMap<String, Value>,
}

fn check(action: &str, resource: String, context: BTreeMap<String, Value>) -> Check {
    Check {
        action: action.into(),
        resource,
        context,
    }
}

fn rds_arn(kind: &str, id: &str) -> String {
    rds_arn_in(REGION, kind, id)
}

fn rds_arn_in(region: &str, kind: &str, id: &str) -> String {
    rds_arn_of(MOTO_ACCOUNT, region, kind, id)
}

fn rds_arn_of(account: &str, region: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:rds:{region}:{account}:{kind}:{id}")
}

/// `(identifier, tags)` of every snapshot element (`element` = `DBSnapshot` or `DBClusterSnapshot`) in the
/// recorded responses: what RDS said the tags were, for the requests that act on them later.
fn snapshot_tags(requests: &[Request], element: &str, id_field: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for response in requests.iter().map(Request::response_text) {
        for part in response.split(&format!("<{element}>")).skip(1) {
            let Some(id) = between(part, &format!("<{id_field}>"), &format!("</{id_field}>")) else {
                continue;
            };
            let mut tags = BTreeMap::new();
            for tag in part.split("<Tag>").skip(1) {
                if let (Some(k), Some(v)) = (between(tag, "<Key>", "</Key>"), between(tag, "<Value>", "</Value>")) {
                    tags.insert(k.to_string(), v.to_string());
                }
            }
            found.insert(id.to_string(), tags);
        }
    }
    found
}

/// The KMS key of every encrypted snapshot in the recorded responses, by the snapshot's ARN: what RDS uses
/// when it copies a snapshot another account shares. A key given by id is named by ARN in the snapshot's account
/// and region.
fn snapshot_keys(requests: &[Request]) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for response in requests.iter().map(Request::response_text) {
        for (element, arn_field) in [
            ("DBSnapshot", "DBSnapshotArn"),
            ("DBClusterSnapshot", "DBClusterSnapshotArn"),
        ] {
            for part in response.split(&format!("<{element}>")).skip(1) {
                let part = part.split(&format!("</{element}>")).next().unwrap_or_default();
                // moto names a key on unencrypted cluster snapshots too; RDS only on encrypted ones.
                let encrypted = part.contains("<Encrypted>true</Encrypted>")
                    || part.contains("<StorageEncrypted>true</StorageEncrypted>");
                let (Some(arn), Some(key), true) = (
                    between(part, &format!("<{arn_field}>"), &format!("</{arn_field}>")),
                    between(part, "<KmsKeyId>", "</KmsKeyId>"),
                    encrypted,
                ) else {
                    continue;
                };
                let key = if key.starts_with("arn:") {
                    key.to_string()
                } else {
                    let parts: Vec<&str> = arn.split(':').collect();
                    format!("arn:aws:kms:{}:{}:key/{key}", parts[3], parts[4])
                };
                found.insert(arn.to_string(), key);
            }
        }
    }
    found
}

/// A header of the response the client got.
fn response_header(request: &Request, name: &str) -> Option<String> {
    let response = request.response_text();
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

fn tag_context(prefix: &str, tags: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    tags.iter().map(|(k, v)| (format!("{prefix}/{k}"), json!(v))).collect()
}

/// The tags a create request asks for, as `aws:RequestTag/...` and `aws:TagKeys`.
fn request_tags(form: &[(String, String)]) -> BTreeMap<String, Value> {
    let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut context = BTreeMap::new();
    let mut keys = Vec::new();
    for n in 1.. {
        let Some(key) = value(&format!("Tags.Tag.{n}.Key")) else {
            break;
        };
        let tag_value = value(&format!("Tags.Tag.{n}.Value")).unwrap_or_default();
        context.insert(format!("aws:RequestTag/{key}"), json!(tag_value));
        keys.push(key);
    }
    context.insert("aws:TagKeys".into(), json!(keys));
    context
}

/// What the recorded responses said of the snapshots that later requests act on.
struct Described {
    instance_snapshots: BTreeMap<String, BTreeMap<String, String>>,
    cluster_snapshots: BTreeMap<String, BTreeMap<String, String>>,
    /// Snapshot ARN to the ARN of its KMS key, for the encrypted ones.
    keys: BTreeMap<String, String>,
}

/// The principal the requests are made as: the function's role in its account.
struct Principal<'a> {
    account: &'a str,
    role: String,
}

impl Principal<'_> {
    fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.role)
    }
}

/// What KMS checks when RDS uses a key in the caller's name, through a grant for the resource it makes.
fn via_rds(region: &str, grant: bool) -> BTreeMap<String, Value> {
    let mut context = BTreeMap::from([(
        "kms:ViaService".to_string(),
        json!(format!("rds.{region}.amazonaws.com")),
    )]);
    if grant {
        context.insert("kms:GrantIsForAWSResource".into(), json!("true"));
    }
    context
}

/// What IAM checks for one recorded request made in `account`; panics on a request this proof does not know,
/// so that a new call of the run cannot go unproven.
fn checks_of(
    request: &Request,
    account: &str,
    database_tags: &BTreeMap<&str, BTreeMap<String, String>>,
    described: &Described,
) -> Vec<Check> {
    let none = BTreeMap::new();
    let Described {
        instance_snapshots,
        cluster_snapshots,
        keys,
    } = described;
    let region = request.region().unwrap_or(REGION).to_string();
    let rds_arn = |kind: &str, id: &str| rds_arn_of(account, &region, kind, id);
    match request.service() {
        Some("rds") => {
            let form = request.form();
            let value = |key: &str| {
                form.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let action = value("Action");
            match action.as_str() {
                "DescribeDBInstances"
                | "DescribeDBClusters"
                | "DescribeDBSnapshots"
                | "DescribeDBClusterSnapshots"
                | "DescribeExportTasks" => vec![check(&format!("rds:{action}"), "*".into(), BTreeMap::new())],
                // An export: authorized on the snapshot exported (with its tags); the role RDS's export service
                // assumes is passed to that service; and RDS uses the key in the caller's name through a grant it
                // creates, for which StartExportTask's API reference names kms:CreateGrant and kms:DescribeKey.
                "StartExportTask" => {
                    let source = value("SourceArn");
                    let parts: Vec<&str> = source.split(':').collect();
                    let (kind, id) = (parts.get(5).copied(), parts.get(6).copied().unwrap_or_default());
                    let tags = match kind {
                        Some("snapshot") => {
                            tag_context("rds:snapshot-tag", instance_snapshots.get(id).unwrap_or(&none))
                        }
                        Some("cluster-snapshot") => {
                            tag_context("rds:cluster-snapshot-tag", cluster_snapshots.get(id).unwrap_or(&none))
                        }
                        _ => BTreeMap::new(),
                    };
                    let key = value("KmsKeyId");
                    vec![
                        check("rds:StartExportTask", source, tags),
                        check(
                            "iam:PassRole",
                            value("IamRoleArn"),
                            BTreeMap::from([("iam:PassedToService".to_string(), json!("export.rds.amazonaws.com"))]),
                        ),
                        check("kms:CreateGrant", key.clone(), via_rds(&region, true)),
                        check("kms:DescribeKey", key, via_rds(&region, false)),
                    ]
                }
                "CreateDBSnapshot" | "CreateDBClusterSnapshot" => {
                    let (source, target, db_field, id_field, tag_prefix) = if action == "CreateDBSnapshot" {
                        (
                            "db",
                            "snapshot",
                            "DBInstanceIdentifier",
                            "DBSnapshotIdentifier",
                            "rds:db-tag",
                        )
                    } else {
                        (
                            "cluster",
                            "cluster-snapshot",
                            "DBClusterIdentifier",
                            "DBClusterSnapshotIdentifier",
                            "rds:cluster-tag",
                        )
                    };
                    let db = value(db_field);
                    let snapshot = rds_arn(target, &value(id_field));
                    vec![
                        check(
                            &format!("rds:{action}"),
                            rds_arn(source, &db),
                            tag_context(tag_prefix, database_tags.get(db.as_str()).unwrap_or(&none)),
                        ),
                        check(&format!("rds:{action}"), snapshot.clone(), request_tags(&form)),
                        check("rds:AddTagsToResource", snapshot, request_tags(&form)),
                    ]
                }
                "CopyDBSnapshot" | "CopyDBClusterSnapshot" => {
                    let (kind, field) = if action == "CopyDBSnapshot" {
                        ("snapshot", "DBSnapshotIdentifier")
                    } else {
                        ("cluster-snapshot", "DBClusterSnapshotIdentifier")
                    };
                    // Authorized on the source (an ARN at home, or in the account that shares it) and on the target
                    // in the destination region.
                    let source = value(&format!("Source{field}"));
                    let target = rds_arn(kind, &value(&format!("Target{field}")));
                    let mut checks = vec![
                        check(&format!("rds:{action}"), source.clone(), BTreeMap::new()),
                        check(&format!("rds:{action}"), target.clone(), request_tags(&form)),
                        check("rds:AddTagsToResource", target, request_tags(&form)),
                    ];
                    // RDS uses the destination key through a grant it creates in the caller's name.
                    let key = value("KmsKeyId");
                    if !key.is_empty() {
                        checks.push(check("kms:CreateGrant", key.clone(), via_rds(&region, true)));
                        checks.push(check("kms:DescribeKey", key, via_rds(&region, false)));
                    }
                    // A snapshot another account shares encrypted: RDS reads it with that account's key, through a
                    // grant made in the caller's name, which the caller's own policy must allow as well (a key of
                    // another account is used only if both its key policy and the caller's policy allow it).
                    let shared_by = source.split(':').nth(4).filter(|owner| *owner != account);
                    if let (Some(_), Some(source_key)) = (shared_by, keys.get(&source)) {
                        checks.push(check("kms:CreateGrant", source_key.clone(), via_rds(&region, true)));
                        checks.push(check("kms:Decrypt", source_key.clone(), via_rds(&region, false)));
                        checks.push(check("kms:DescribeKey", source_key.clone(), via_rds(&region, false)));
                    }
                    checks
                }
                // Sharing with the vault account: authorized on the snapshot, with its tags.
                "ModifyDBSnapshotAttribute" => {
                    let id = value("DBSnapshotIdentifier");
                    let tags = instance_snapshots.get(&id).unwrap_or(&none);
                    vec![check(
                        "rds:ModifyDBSnapshotAttribute",
                        rds_arn("snapshot", &id),
                        tag_context("rds:snapshot-tag", tags),
                    )]
                }
                "ModifyDBClusterSnapshotAttribute" => {
                    let id = value("DBClusterSnapshotIdentifier");
                    let tags = cluster_snapshots.get(&id).unwrap_or(&none);
                    vec![check(
                        "rds:ModifyDBClusterSnapshotAttribute",
                        rds_arn("cluster-snapshot", &id),
                        tag_context("rds:cluster-snapshot-tag", tags),
                    )]
                }
                "DeleteDBSnapshot" => {
                    let id = value("DBSnapshotIdentifier");
                    let tags = instance_snapshots.get(&id).unwrap_or(&none);
                    vec![check(
                        "rds:DeleteDBSnapshot",
                        rds_arn("snapshot", &id),
                        tag_context("rds:snapshot-tag", tags),
                    )]
                }
                "DeleteDBClusterSnapshot" => {
                    let id = value("DBClusterSnapshotIdentifier");
                    let tags = cluster_snapshots.get(&id).unwrap_or(&none);
                    vec![check(
                        "rds:DeleteDBClusterSnapshot",
                        rds_arn("cluster-snapshot", &id),
                        tag_context("rds:cluster-snapshot-tag", tags),
                    )]
                }
                // A drill's restore: authorized on the new database (with the request's tags), on the snapshot
                // restored (with its tags) and on the subnet group it names; tagging on create needs
                // AddTagsToResource on the new database.
                "RestoreDBInstanceFromDBSnapshot" | "RestoreDBClusterFromSnapshot" => {
                    let instance = action == "RestoreDBInstanceFromDBSnapshot";
                    let (target, snapshot) = if instance {
                        (
                            rds_arn("db", &value("DBInstanceIdentifier")),
                            value("DBSnapshotIdentifier"),
                        )
                    } else {
                        (
                            rds_arn("cluster", &value("DBClusterIdentifier")),
                            value("SnapshotIdentifier"),
                        )
                    };
                    let (kind, tags) = if instance {
                        ("snapshot", instance_snapshots.get(&snapshot))
                    } else {
                        ("cluster-snapshot", cluster_snapshots.get(&snapshot))
                    };
                    let mut on_snapshot = request_tags(&form);
                    on_snapshot.extend(tag_context(&format!("rds:{kind}-tag"), tags.unwrap_or(&none)));
                    let mut checks = vec![
                        check(&format!("rds:{action}"), target.clone(), request_tags(&form)),
                        check(&format!("rds:{action}"), rds_arn(kind, &snapshot), on_snapshot),
                        check("rds:AddTagsToResource", target, request_tags(&form)),
                    ];
                    let subnet_group = value("DBSubnetGroupName");
                    if !subnet_group.is_empty() {
                        checks.push(check(
                            &format!("rds:{action}"),
                            rds_arn("subgrp", &subnet_group),
                            request_tags(&form),
                        ));
                    }
                    checks
                }
                // A drilled cluster's instance: authorized on the new instance and on the cluster it joins.
                "CreateDBInstance" => {
                    let target = rds_arn("db", &value("DBInstanceIdentifier"));
                    vec![
                        check("rds:CreateDBInstance", target.clone(), request_tags(&form)),
                        check(
                            "rds:CreateDBInstance",
                            rds_arn("cluster", &value("DBClusterIdentifier")),
                            request_tags(&form),
                        ),
                        check("rds:AddTagsToResource", target, request_tags(&form)),
                    ]
                }
                "DeleteDBInstance" => {
                    let id = value("DBInstanceIdentifier");
                    vec![check(
                        "rds:DeleteDBInstance",
                        rds_arn("db", &id),
                        tag_context("rds:db-tag", database_tags.get(id.as_str()).unwrap_or(&none)),
                    )]
                }
                "DeleteDBCluster" => {
                    let id = value("DBClusterIdentifier");
                    vec![check(
                        "rds:DeleteDBCluster",
                        rds_arn("cluster", &id),
                        tag_context("rds:cluster-tag", database_tags.get(id.as_str()).unwrap_or(&none)),
                    )]
                }
                other => panic!("the proof does not know the RDS call {other}: add how IAM authorizes it"),
            }
        }
        Some("s3") => {
            let (path, query) = request.target().split_once('?').unwrap_or((request.target(), ""));
            let path = path.trim_start_matches('/');
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            let bucket_arn = format!("arn:aws:s3:::{bucket}");
            match (request.method(), key.is_empty()) {
                ("GET", true) if query.contains("list-type=2") => {
                    let prefix = query
                        .split('&')
                        .find_map(|p| p.strip_prefix("prefix="))
                        .unwrap_or_default()
                        .replace("%2F", "/");
                    vec![check(
                        "s3:ListBucket",
                        bucket_arn,
                        BTreeMap::from([("s3:prefix".to_string(), json!(prefix))]),
                    )]
                }
                ("GET", false) => {
                    let mut checks = vec![check("s3:GetObject", format!("{bucket_arn}/{key}"), BTreeMap::new())];
                    // An object under SSE-KMS on a named key: S3 has KMS decrypt its data key in the caller's name.
                    if let Some(kms_key) = response_header(request, "x-amz-server-side-encryption-aws-kms-key-id") {
                        checks.push(check(
                            "kms:Decrypt",
                            kms_key,
                            BTreeMap::from([(
                                "kms:ViaService".to_string(),
                                json!(format!("s3.{region}.amazonaws.com")),
                            )]),
                        ));
                    }
                    checks
                }
                ("PUT", false) => {
                    let mut checks = vec![check("s3:PutObject", format!("{bucket_arn}/{key}"), BTreeMap::new())];
                    // SSE-KMS onto a named key: S3 asks KMS for a data key in the caller's name.
                    if let Some(kms_key) = request.header("x-amz-server-side-encryption-aws-kms-key-id") {
                        checks.push(check(
                            "kms:GenerateDataKey",
                            kms_key.to_string(),
                            BTreeMap::from([(
                                "kms:ViaService".to_string(),
                                json!(format!("s3.{region}.amazonaws.com")),
                            )]),
                        ));
                    }
                    checks
                }
                ("DELETE", false) => vec![check("s3:DeleteObject", format!("{bucket_arn}/{key}"), BTreeMap::new())],
                (method, _) => panic!("the proof does not know the S3 call {method} /{path}?{query}"),
            }
        }
        other => panic!("the proof does not know requests to {other:?}: {}", request.head),
    }
}

/// The policy's function's role in moto's own account.
fn policy_principal() -> Principal<'static> {
    Principal {
        account: MOTO_ACCOUNT,
        role: format!("rdsbackup-{POLICY}"),
    }
}

/// Evaluates each check against the policy's role with the maintained evaluator in tests/iam.
fn evaluate(policy: &Value, checks: &[Check]) -> Vec<String> {
    evaluate_as(&policy_principal(), policy, checks)
}

/// Evaluates each check made as `principal` against `policy` with the maintained evaluator in tests/iam.
fn evaluate_as(principal: &Principal, policy: &Value, checks: &[Check]) -> Vec<String> {
    let input = json!({
        "account": principal.account,
        "principal": principal.arn(),
        "policy": policy,
        "requests": checks
            .iter()
            .map(|c| json!({"action": c.action, "resource": c.resource, "context": c.context}))
            .collect::<Vec<_>>(),
    });
    let file = std::env::temp_dir().join(format!("rdsbackup-iam-{}-{}.json", std::process::id(), unique()));
    std::fs::write(&file, input.to_string()).unwrap();
    let run = Command::new("node")
        .arg(repo_root().join("tests/iam/simulate.mjs"))
        .arg(&file)
        .output()
        .expect("node on PATH (scripts/setup installs the evaluator's package)");
    let _ = std::fs::remove_file(&file);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let results: Vec<Value> = serde_json::from_slice(&run.stdout).unwrap();
    results
        .iter()
        .map(|r| match &r["result"] {
            Value::String(result) => result.clone(),
            _ => panic!("the evaluator could not evaluate: {r}"),
        })
        .collect()
}

/// A number no other call in this process gets: the tests of this file run in parallel and share temp_dir.
fn unique() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn lint(documents: &[(&str, &Value)]) {
    let dir = std::env::temp_dir().join(format!("rdsbackup-lint-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<_> = documents
        .iter()
        .map(|(name, document)| {
            let file = dir.join(format!("{name}.json"));
            std::fs::write(&file, serde_json::to_string_pretty(document).unwrap()).unwrap();
            file
        })
        .collect();
    let run = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("tests/iam/lint.py"))
        .args(&files)
        .output()
        .expect("the venv of scripts/setup");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let found: BTreeMap<String, Vec<Value>> = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "the linter did not run: {stdout}{}",
            String::from_utf8_lossy(&run.stderr)
        )
    });
    // parliament 1.6.4 wants s3:GetObjectAttributes (which `s3:GetObject*` covers) on an access point as well as
    // on the object, where AWS names either (duo-labs/parliament#255): a false positive for every policy, dropped
    // only where it is the finding's sole detail, until tests/iam/lint.py drops it with the other two.
    let parliament_255 = |finding: &Value| {
        finding["issue"] == "RESOURCE_MISMATCH"
            && finding["detail"].as_array().is_some_and(|detail| {
                !detail.is_empty()
                    && detail.iter().all(|d| {
                        d["action"] == "s3:GetObjectAttributes" && d["required_format"] == "arn:*:s3:*:*:accesspoint/*"
                    })
            })
    };
    let left: BTreeMap<&String, Vec<&Value>> = found
        .iter()
        .map(|(file, findings)| (file, findings.iter().filter(|f| !parliament_255(f)).collect::<Vec<_>>()))
        .filter(|(_, findings)| !findings.is_empty())
        .collect();
    assert!(
        left.is_empty() && (run.status.success() || found.values().any(|f| !f.is_empty())),
        "parliament found problems in the generated documents: {}{}",
        serde_json::to_string(&left).unwrap(),
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Applies the configuration, lints the role's inline policy and returns it with the deployed function's own
/// environment, talking to AWS through a fresh fault proxy that records every request.
async fn deploy(
    tf: &Terraform,
    aws: &Aws,
    c: &rdsbackup_tests::Clients,
    moto: &rdsbackup_tests::Moto,
) -> (Value, Vec<(String, String)>, FaultProxy) {
    tf.run(&["apply", "-auto-approve"]).success();
    let role = format!("rdsbackup-{POLICY}");
    let inline = c
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("rdsbackup")
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(&percent_decode(inline.policy_document())).unwrap();
    // parliament reads identity policies only; the trust policy is the provider's constant, checked by its tests.
    lint(&[("inline", &policy)]);
    let proxy = FaultProxy::start(&moto.endpoint);
    let mut env = rdsbackup_tests::deployed_env(aws, c, &role).await;
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = proxy.endpoint.clone();
        }
    }
    (policy, env, proxy)
}

/// The checks of the recorded requests that `policy` does not allow, in words.
fn denials(
    policy: &Value,
    requests: &[Request],
    database_tags: &BTreeMap<&str, BTreeMap<String, String>>,
) -> (Vec<Check>, Vec<String>) {
    denials_as(&policy_principal(), policy, requests, database_tags)
}

/// The checks of the requests recorded as made by `principal` that `policy` does not allow, in words.
fn denials_as(
    principal: &Principal,
    policy: &Value,
    requests: &[Request],
    database_tags: &BTreeMap<&str, BTreeMap<String, String>>,
) -> (Vec<Check>, Vec<String>) {
    let described = Described {
        instance_snapshots: snapshot_tags(requests, "DBSnapshot", "DBSnapshotIdentifier"),
        cluster_snapshots: snapshot_tags(requests, "DBClusterSnapshot", "DBClusterSnapshotIdentifier"),
        keys: snapshot_keys(requests),
    };
    let checks: Vec<Check> = requests
        .iter()
        .flat_map(|r| checks_of(r, principal.account, database_tags, &described))
        .collect();
    let results = evaluate_as(principal, policy, &checks);
    let denied = checks
        .iter()
        .zip(&results)
        .filter(|(_, result)| *result != "Allowed")
        .map(|(c, result)| format!("{result}: {} on {} with {:?}", c.action, c.resource, c.context))
        .collect();
    (checks, denied)
}

fn run_once(env: &[(String, String)], time: &str) -> Value {
    let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time});
    rdsbackup_tests::runtime_api::run_once(env, &event)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_role_allows_every_request_of_the_run_and_no_destructive_one_beyond_its_own() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the proof records requests through the local fault proxy");
        return;
    }
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    let nightly = [("backup", "nightly")];
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::instance(&c.rds, "tagged", "postgres", None, &nightly).await;
    databases::cluster(&c.rds, "reports", &[]).await;
    databases::instance(&c.rds, "reports-1", "aurora-postgresql", Some("reports"), &[]).await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    databases::cluster(&c.rds, "ledger", &nightly).await;
    let selected = BTreeMap::from([("backup".to_string(), "nightly".to_string())]);
    let database_tags: BTreeMap<&str, BTreeMap<String, String>> =
        BTreeMap::from([("tagged", selected.clone()), ("ledger", selected.clone())]);

    // The us-west-2 copies go onto a key of that region.
    let west_kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&aws.sdk_config().await)
            .region(aws_sdk_kms::config::Region::new("us-west-2"))
            .build(),
    );
    let copy_key = west_kms.create_key().send().await.unwrap();
    let copy_key = copy_key.key_metadata().unwrap().arn().unwrap().to_string();
    let tf = Terraform::new(&config(&copy_key), &aws);
    let (policy, env, proxy) = deploy(&tf, &aws, &c, moto).await;
    let bucket = env.iter().find(|(k, _)| k == "RDSBACKUP_BUCKET").unwrap().1.clone();

    let start = clock_minute();
    // A snapshot still creating: its record gets a pending marker, settled by the next run.
    proxy.inject_times(
        &["Action=CreateDBSnapshot"],
        Fault::rewrite("<Status>available</Status>", "<Status>creating</Status>"),
        1,
    );
    let first = run_once(&env, &rfc3339(start));
    assert_eq!(first["created"].as_array().unwrap().len(), 5, "{first}");
    run_once(&env, &rfc3339(start + 60));
    // A lost record, repaired by a retried event of the same slot.
    let later = rfc3339(start + 3 * 24 * 3600);
    let third = run_once(&env, &later);
    let at_home = third["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d.as_str().unwrap().contains('/'))
        .count();
    assert_eq!(at_home, 5, "retention ran: {third}");
    let record = third["created"][0].as_str().unwrap();
    let db = if record.contains("-analytics-") {
        "analytics"
    } else {
        "ledger"
    };
    let _ =
        c.s3.delete_object()
            .bucket(&bucket)
            .key(rdsbackup_common::record_key(db, record))
            .send()
            .await;
    let retried = run_once(&env, &later);
    assert_eq!(retried["existing"].as_array().unwrap().len(), 5, "{retried}");

    let requests = proxy.requests();
    let (checks, denied) = denials(&policy, &requests, &database_tags);
    assert!(
        denied.is_empty(),
        "the role denies requests the run makes:\n{}",
        denied.join("\n")
    );
    // The proof covered every kind of request, the member's cluster snapshot among them.
    let covered: std::collections::BTreeSet<(&str, &str)> = checks
        .iter()
        .map(|c| (c.action.as_str(), c.resource.as_str()))
        .collect();
    for action in [
        "rds:CopyDBSnapshot",
        "rds:CopyDBClusterSnapshot",
        "kms:CreateGrant",
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ] {
        assert!(covered.iter().any(|(a, _)| *a == action), "no {action} was made");
    }
    assert!(
        covered.contains(&("rds:CreateDBClusterSnapshot", rds_arn("cluster", "reports").as_str())),
        "the listed Aurora member was snapshotted through its cluster"
    );
    for (action, kind) in [
        ("rds:DeleteDBSnapshot", "snapshot"),
        ("rds:DeleteDBClusterSnapshot", "cluster-snapshot"),
    ] {
        let prefix = rds_arn_in("eu-west-1", kind, "rdsbackup-");
        assert!(
            covered.iter().any(|(a, r)| *a == action && r.starts_with(&prefix)),
            "retention deleted copies in eu-west-1 ({action})"
        );
    }
    // ExpectedBucketOwner on every S3 call.
    for s3 in requests.iter().filter(|r| r.service() == Some("s3")) {
        assert_eq!(
            s3.header("x-amz-expected-bucket-owner"),
            Some(MOTO_ACCOUNT),
            "{}",
            s3.head
        );
    }

    // Nothing destructive beyond the policy's own.
    let own = |kind: &str| {
        BTreeMap::from([
            (format!("rds:{kind}-tag/rdsbackup:policy"), json!(POLICY)),
            (format!("rds:{kind}-tag/rdsbackup:db"), json!("orders")),
        ])
    };
    let foreign = vec![
        check("rds:DeleteDBSnapshot", rds_arn("snapshot", "by-hand"), own("snapshot")),
        check(
            "rds:DeleteDBSnapshot",
            rds_arn("snapshot", "rdsbackup-nightly-orders-202611280300-00000000"),
            BTreeMap::from([("rds:snapshot-tag/rdsbackup:policy".to_string(), json!("weekly"))]),
        ),
        check(
            "rds:DeleteDBClusterSnapshot",
            rds_arn("cluster-snapshot", "rdsbackup-nightly-analytics-202611280300-00000000"),
            BTreeMap::new(),
        ),
        check("rds:DeleteDBInstance", rds_arn("db", "orders"), BTreeMap::new()),
        // Copies: only the policy's own snapshots, only into the named regions, only onto the named key via RDS.
        check("rds:CopyDBSnapshot", rds_arn("snapshot", "by-hand"), BTreeMap::new()),
        check(
            "rds:CopyDBSnapshot",
            rds_arn_in(
                "ap-south-1",
                "snapshot",
                "rdsbackup-nightly-orders-202611280300-00000000",
            ),
            BTreeMap::new(),
        ),
        check(
            "rds:DeleteDBSnapshot",
            rds_arn_in(
                "us-west-2",
                "snapshot",
                "rdsbackup-nightly-orders-202611280300-00000000",
            ),
            BTreeMap::from([("rds:snapshot-tag/rdsbackup:policy".to_string(), json!("weekly"))]),
        ),
        check(
            "kms:CreateGrant",
            "arn:aws:kms:us-west-2:123456789012:key/another".into(),
            BTreeMap::from([("kms:ViaService".to_string(), json!("rds.us-west-2.amazonaws.com"))]),
        ),
        check("kms:CreateGrant", copy_key.clone(), BTreeMap::new()),
        check("kms:Decrypt", copy_key.clone(), BTreeMap::new()),
        check("rds:DeleteDBCluster", rds_arn("cluster", "analytics"), BTreeMap::new()),
        check("rds:CreateDBSnapshot", rds_arn("db", "unlisted"), BTreeMap::new()),
        check(
            "rds:AddTagsToResource",
            rds_arn("snapshot", "by-hand"),
            BTreeMap::from([("aws:RequestTag/rdsbackup:policy".to_string(), json!(POLICY))]),
        ),
        check(
            "s3:DeleteObject",
            format!("arn:aws:s3:::{bucket}/snapshots/orders/x.json"),
            BTreeMap::new(),
        ),
        check(
            "s3:PutObject",
            format!("arn:aws:s3:::{bucket}/elsewhere"),
            BTreeMap::new(),
        ),
        check("s3:DeleteBucket", format!("arn:aws:s3:::{bucket}"), BTreeMap::new()),
    ];
    let results = evaluate(&policy, &foreign);
    for (c, result) in foreign.iter().zip(&results) {
        assert_ne!(result, "Allowed", "the role allows {} on {}", c.action, c.resource);
    }
    tf.run(&["destroy", "-auto-approve"]).success();
}

const VAULT_ACCOUNT: &str = "210987654321";

/// The `vault` block's requests proven the same way: a snapshot shared as it is, one on RDS's default key copied
/// onto the vault key at home and shared once that copy is available, for an instance and a cluster.
#[tokio::test(flavor = "multi_thread")]
async fn the_role_allows_the_vault_share_and_its_copies_and_nothing_of_another_policy() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the proof records requests through the local fault proxy");
        return;
    }
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::encrypted_instance(&c.rds, "billing").await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    // The vault key's policy lets the vault account use it, as the plan requires.
    let key = rdsbackup_tests::vault_key(&c.kms, MOTO_ACCOUNT, Some(VAULT_ACCOUNT)).await;
    let config = format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{POLICY}"
  db_instance_identifiers = ["orders", "billing"]
  db_cluster_identifiers  = ["analytics"]
  deny_insecure_transport = false
  force_destroy           = true
  vault {{
    account_id  = "{VAULT_ACCOUNT}"
    kms_key_arn = "{key}"
  }}
}}
"#
    );
    let tf = Terraform::new(&config, &aws);
    let (policy, env, proxy) = deploy(&tf, &aws, &c, moto).await;
    let start = clock_minute();
    let first = run_once(&env, &rfc3339(start));
    assert_eq!(
        first["copied"].as_array().unwrap().len(),
        1,
        "billing's copy onto the vault key: {first}"
    );
    let second = run_once(&env, &rfc3339(start + 60));
    assert!(
        first["shared"].as_array().unwrap().len() + second["shared"].as_array().unwrap().len() >= 3,
        "{first} {second}"
    );
    let requests = proxy.requests();
    let (checks, denied) = denials(&policy, &requests, &BTreeMap::new());
    assert!(
        denied.is_empty(),
        "the role denies requests the run makes:\n{}",
        denied.join("\n")
    );
    for action in [
        "rds:ModifyDBSnapshotAttribute",
        "rds:ModifyDBClusterSnapshotAttribute",
        "rds:CopyDBSnapshot",
        "kms:CreateGrant",
    ] {
        assert!(checks.iter().any(|c| c.action == action), "no {action} was made");
    }
    let another = |kind: &str| BTreeMap::from([(format!("rds:{kind}-tag/rdsbackup:policy"), json!("weekly"))]);
    let foreign = vec![
        // Sharing only the policy's own snapshots, by name and tag.
        check(
            "rds:ModifyDBSnapshotAttribute",
            rds_arn("snapshot", "by-hand"),
            BTreeMap::new(),
        ),
        check(
            "rds:ModifyDBSnapshotAttribute",
            rds_arn("snapshot", "rdsbackup-nightly-orders-202611280300-00000000"),
            another("snapshot"),
        ),
        check(
            "rds:ModifyDBClusterSnapshotAttribute",
            rds_arn("cluster-snapshot", "rdsbackup-nightly-analytics-202611280300-00000000"),
            another("cluster-snapshot"),
        ),
        // The vault key only through RDS, and no other key.
        check("kms:CreateGrant", key.clone(), BTreeMap::new()),
        check("kms:Decrypt", key.clone(), BTreeMap::new()),
        check(
            "kms:CreateGrant",
            format!("arn:aws:kms:{REGION}:{MOTO_ACCOUNT}:key/another"),
            BTreeMap::from([(
                "kms:ViaService".to_string(),
                json!(format!("rds.{REGION}.amazonaws.com")),
            )]),
        ),
        check("rds:CopyDBSnapshot", rds_arn("snapshot", "by-hand"), BTreeMap::new()),
    ];
    let results = evaluate(&policy, &foreign);
    for (c, result) in foreign.iter().zip(&results) {
        assert_ne!(result, "Allowed", "the role allows {} on {}", c.action, c.resource);
    }
    tf.run(&["destroy", "-auto-approve"]).success();
}

const VAULT: &str = "central";
const SOURCE_A: &str = "111111111111";
const SOURCE_B: &str = "222222222222";
const OUTSIDER: &str = "333333333333";

/// A policy's snapshot of `db` (an instance or a cluster) in `source`, named and tagged as a policy names and tags
/// it, shared with the vault account.
async fn shared_snapshot(source: &Account, db: &str, kind: SnapshotKind, slot: &str) -> String {
    databases::shared_policy_snapshot(&source.rds, POLICY, db, kind, slot, VAULT_ACCOUNT).await
}

/// The vault's function proven the same way against what its runs do, in the vault account it acts in: two
/// sources share an unencrypted instance's snapshots, and an instance's and a cluster's encrypted on a key of their
/// own (so that RDS reads them through a grant on the source's key); an outsider and a foreign name share one each.
/// Two runs copy every share onto the vault key with its record, then retention deletes the older copy of each
/// series, and every request is evaluated against the role's inline policy; what the vault must never do (delete
/// or retag what is not its own, take what an outsider shares, touch its records) is shown not allowed.
#[tokio::test(flavor = "multi_thread")]
async fn the_vault_role_allows_every_request_of_the_vault_run_and_nothing_beyond_its_own_copies() {
    if acceptance() {
        eprintln!(
            "skipped in acceptance mode: the proof records requests through the local fault proxy, and needs three \
             accounts of an organization with a role each (rdsbackup-tests)"
        );
        return;
    }
    let moto = Moto::start_sharing();
    let endpoint = moto.endpoint.clone();
    let aws = Aws::Moto(moto);
    let (a, b, outsider, vault) = (
        account(&endpoint, SOURCE_A).await,
        account(&endpoint, SOURCE_B).await,
        account(&endpoint, OUTSIDER).await,
        account(&endpoint, VAULT_ACCOUNT).await,
    );
    let (old, new) = ("202611280300", "202612010300");
    // A: an unencrypted instance, two slots of it. B: an instance and an Aurora cluster on B's own key (which lets
    // the vault account use it), the cluster in two slots.
    databases::instance(&a.rds, "orders", "postgres", None, &[]).await;
    let key_b = rdsbackup_tests::vault_key(&b.kms, SOURCE_B, Some(VAULT_ACCOUNT)).await;
    b.rds
        .create_db_instance()
        .db_instance_identifier("billing")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .storage_encrypted(true)
        .kms_key_id(&key_b)
        .send()
        .await
        .unwrap();
    b.rds
        .create_db_cluster()
        .db_cluster_identifier("analytics")
        .engine("aurora-postgresql")
        .master_username("admin")
        .master_user_password("password-123")
        .storage_encrypted(true)
        .kms_key_id(&key_b)
        .send()
        .await
        .unwrap();
    databases::instance(&outsider.rds, "orders", "postgres", None, &[]).await;
    let shares = [
        (
            SOURCE_A,
            shared_snapshot(&a, "orders", SnapshotKind::Instance, old).await,
            SnapshotKind::Instance,
        ),
        (
            SOURCE_A,
            shared_snapshot(&a, "orders", SnapshotKind::Instance, new).await,
            SnapshotKind::Instance,
        ),
        (
            SOURCE_B,
            shared_snapshot(&b, "billing", SnapshotKind::Instance, new).await,
            SnapshotKind::Instance,
        ),
        (
            SOURCE_B,
            shared_snapshot(&b, "analytics", SnapshotKind::Cluster, old).await,
            SnapshotKind::Cluster,
        ),
        (
            SOURCE_B,
            shared_snapshot(&b, "analytics", SnapshotKind::Cluster, new).await,
            SnapshotKind::Cluster,
        ),
    ];
    // Not the vault's to take: an outsider's policy snapshot, and a source's snapshot of a foreign name.
    let outsiders = shared_snapshot(&outsider, "orders", SnapshotKind::Instance, new).await;
    a.rds
        .create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier("by-hand")
        .send()
        .await
        .unwrap();
    databases::share(&a.rds, "by-hand", VAULT_ACCOUNT).await;
    let vault_key = vault.kms.create_key().send().await.unwrap();
    let vault_key = vault_key.key_metadata().unwrap().arn().unwrap().to_string();
    let outsider_key = outsider.kms.create_key().send().await.unwrap();
    let outsider_key = outsider_key.key_metadata().unwrap().arn().unwrap().to_string();

    let config = format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

provider "rdsbackup" {{
  assume_role {{
    role_arn = "{role_arn}"
  }}
}}

resource "rdsbackup_vault" "v" {{
  name                    = "{VAULT}"
  source_account_ids      = ["{SOURCE_A}", "{SOURCE_B}"]
  kms_key_arn             = "{vault_key}"
  retention_days          = 1
  min_snapshots           = 1
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
}}
"#,
        role_arn = role_arn(VAULT_ACCOUNT),
    );
    let tf = Terraform::new(&config, &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let principal = Principal {
        account: VAULT_ACCOUNT,
        role: format!("rdsbackup-vault-{VAULT}"),
    };
    let inline = vault
        .iam
        .get_role_policy()
        .role_name(&principal.role)
        .policy_name("rdsbackup")
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(&percent_decode(inline.policy_document())).unwrap();
    lint(&[("vault-inline", &policy)]);
    let proxy = FaultProxy::start(&endpoint);
    let mut env = vault.deployed_env(&format!("rdsbackup-vault-{VAULT}")).await;
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = proxy.endpoint.clone();
        }
    }
    let bucket = format!("rdsbackup-vault-{VAULT}-{VAULT_ACCOUNT}");
    let copy_of = |account: &str, id: &str, kind| identifier::build_vault_copy(account, id, kind, "").unwrap();

    // The first run, on 28 November, copies every share of the sources (all within a day of then, or newer),
    // and nothing else; an instance copy and a cluster copy are said to be still copying (moto makes them at
    // once), so they get pending markers. The second run, on 1 December, finds them all held, settles the two
    // records and drops their markers, and deletes the older copy of each two-slot series (retention_days = 1,
    // min_snapshots = 1), marking its record deleted.
    for action in ["Action=CopyDBSnapshot", "Action=CopyDBClusterSnapshot"] {
        proxy.inject_times(
            &[action],
            Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
            1,
        );
    }
    let first = run_once(&env, "2026-11-28T04:00:00Z");
    let mut copies: Vec<String> = shares
        .iter()
        .map(|(account, id, kind)| copy_of(account, id, *kind))
        .collect();
    copies.sort();
    assert_eq!(first["created"], json!(copies), "{first}");
    assert_eq!(first["failed"], json!([]), "{first}");
    let second = run_once(&env, "2026-12-01T04:00:00Z");
    let mut expired = vec![
        copy_of(SOURCE_A, &shares[0].1, SnapshotKind::Instance),
        copy_of(SOURCE_B, &shares[3].1, SnapshotKind::Cluster),
    ];
    expired.sort();
    assert_eq!(second["created"], json!([]), "{second}");
    assert_eq!(second["deleted"], json!(expired), "{second}");
    assert_eq!(second["failed"], json!([]), "{second}");

    let requests = proxy.requests();
    let (checks, denied) = denials_as(&principal, &policy, &requests, &BTreeMap::new());
    assert!(
        denied.is_empty(),
        "the vault role denies requests its run makes:\n{}",
        denied.join("\n")
    );
    let covered: std::collections::BTreeSet<(&str, &str)> = checks
        .iter()
        .map(|c| (c.action.as_str(), c.resource.as_str()))
        .collect();
    for action in [
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
        "rds:CopyDBSnapshot",
        "rds:CopyDBClusterSnapshot",
        "rds:AddTagsToResource",
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GenerateDataKey",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
    ] {
        assert!(covered.iter().any(|(a, _)| *a == action), "no {action} was made");
    }
    // Copies from the sources' ARNs, RDS reading B's shares through B's key, S3 the records through the vault key.
    for (account, id, kind) in &shares {
        let (action, arn_kind) = match kind {
            SnapshotKind::Instance => ("rds:CopyDBSnapshot", "snapshot"),
            SnapshotKind::Cluster => ("rds:CopyDBClusterSnapshot", "cluster-snapshot"),
        };
        let source = rds_arn_of(account, REGION, arn_kind, id);
        assert!(covered.contains(&(action, source.as_str())), "no {action} of {source}");
    }
    for action in ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"] {
        assert!(
            covered.contains(&(action, key_b.as_str())),
            "RDS did not read B's encrypted shares through its key ({action})"
        );
    }
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        assert!(
            covered.contains(&(action, vault_key.as_str())),
            "no {action} of the records' key"
        );
    }
    // Records under copies/ (one per copy, each settled by the second run, the two expired ones marked deleted),
    // markers under pending/ (one per copy, written before it, dropped once it settled).
    let records = format!("arn:aws:s3:::{bucket}/{VAULT_RECORDS_PREFIX}");
    let markers = format!("arn:aws:s3:::{bucket}/{PENDING_PREFIX}");
    let written = |action: &str, under: &str| {
        checks
            .iter()
            .filter(|c| c.action == action && c.resource.starts_with(under))
            .count()
    };
    let copies = shares.len();
    assert_eq!(
        written("s3:PutObject", &records),
        copies + copies + 2,
        "a record per copy, each settled, two marked deleted"
    );
    assert_eq!(
        written("s3:PutObject", &markers),
        copies,
        "a marker per copy, before it"
    );
    assert_eq!(
        written("s3:DeleteObject", &markers),
        copies,
        "every marker dropped once settled"
    );
    assert_eq!(
        written("s3:GetObject", &records),
        copies + 2,
        "the settled and the expired copies' records read"
    );
    assert_eq!(
        checks
            .iter()
            .filter(|c| c.action.starts_with("s3:") && c.action != "s3:ListBucket")
            .count(),
        // Records written (copies, settled, deleted), markers put and dropped, records read.
        (copies + copies + 2) + copies + copies + (copies + 2),
        "no other object call"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c.resource.contains(OUTSIDER) || c.resource.contains("by-hand")),
        "the run acted on what it must not take"
    );
    for s3 in requests.iter().filter(|r| r.service() == Some("s3")) {
        assert_eq!(
            s3.header("x-amz-expected-bucket-owner"),
            Some(VAULT_ACCOUNT),
            "{}",
            s3.head
        );
    }

    // Nothing beyond its own copies: each of these must not be allowed.
    let vault_arn = |kind: &str, id: &str| rds_arn_of(VAULT_ACCOUNT, REGION, kind, id);
    let own_copy = copy_of(SOURCE_A, &shares[1].1, SnapshotKind::Instance);
    let own_cluster_copy = copy_of(SOURCE_B, &shares[4].1, SnapshotKind::Cluster);
    let tagged = |key: &str, vault: &str| BTreeMap::from([(format!("{key}/{}", tags::VAULT), json!(vault))]);
    let request_tag = |vault: &str| {
        BTreeMap::from([
            (format!("aws:RequestTag/{}", tags::VAULT), json!(vault)),
            ("aws:TagKeys".to_string(), json!([tags::VAULT])),
        ])
    };
    let no_tags = BTreeMap::new;
    let foreign = vec![
        // Deleting: only copies tagged as this vault's, in the vault account.
        (
            "another vault's instance copy",
            check(
                "rds:DeleteDBSnapshot",
                vault_arn("snapshot", &own_copy),
                tagged("rds:snapshot-tag", "offsite"),
            ),
        ),
        (
            "another vault's cluster copy",
            check(
                "rds:DeleteDBClusterSnapshot",
                vault_arn("cluster-snapshot", &own_cluster_copy),
                tagged("rds:cluster-snapshot-tag", "offsite"),
            ),
        ),
        (
            "an untagged snapshot of the vault's name",
            check("rds:DeleteDBSnapshot", vault_arn("snapshot", &own_copy), no_tags()),
        ),
        (
            "a source's snapshot",
            check(
                "rds:DeleteDBSnapshot",
                rds_arn_of(SOURCE_A, REGION, "snapshot", &shares[1].1),
                tagged("rds:snapshot-tag", VAULT),
            ),
        ),
        (
            "a source's cluster snapshot",
            check(
                "rds:DeleteDBClusterSnapshot",
                rds_arn_of(SOURCE_B, REGION, "cluster-snapshot", &shares[4].1),
                tagged("rds:cluster-snapshot-tag", VAULT),
            ),
        ),
        // Copying: only what a listed source shares under a policy's name, only into the vault's names.
        (
            "an outsider's share",
            check(
                "rds:CopyDBSnapshot",
                rds_arn_of(OUTSIDER, REGION, "snapshot", &outsiders),
                no_tags(),
            ),
        ),
        (
            "an outsider's cluster share",
            check(
                "rds:CopyDBClusterSnapshot",
                rds_arn_of(OUTSIDER, REGION, "cluster-snapshot", &shares[4].1),
                no_tags(),
            ),
        ),
        (
            "a source's snapshot of a foreign name",
            check(
                "rds:CopyDBSnapshot",
                rds_arn_of(SOURCE_A, REGION, "snapshot", "by-hand"),
                no_tags(),
            ),
        ),
        (
            "a copy under a foreign name",
            check(
                "rds:CopyDBSnapshot",
                vault_arn("snapshot", "by-hand"),
                request_tag(VAULT),
            ),
        ),
        // Tagging: only its own copies as its own. Without TagOwnCopies's condition the first one is allowed.
        (
            "its name's copy tagged as another vault's",
            check(
                "rds:AddTagsToResource",
                vault_arn("snapshot", &own_copy),
                request_tag("offsite"),
            ),
        ),
        (
            "its name's cluster copy tagged without the vault tag",
            check(
                "rds:AddTagsToResource",
                vault_arn("cluster-snapshot", &own_cluster_copy),
                BTreeMap::from([
                    (format!("aws:RequestTag/{}", tags::DB), json!("analytics")),
                    ("aws:TagKeys".to_string(), json!([tags::DB])),
                ]),
            ),
        ),
        (
            "a source's snapshot tagged as the vault's",
            check(
                "rds:AddTagsToResource",
                rds_arn_of(SOURCE_A, REGION, "snapshot", &shares[1].1),
                request_tag(VAULT),
            ),
        ),
        // Retagging what already carries another vault's tag as this vault's: it would then be deletable through
        // DeleteOwn*Copies, so the tag condition on deletes would protect nothing (every vault of the account, and
        // a policy named `vault`, names its snapshots `rdsbackup-vault-*`).
        (
            "another vault's existing copy retagged as this vault's",
            check("rds:AddTagsToResource", vault_arn("snapshot", &own_copy), {
                let mut context = request_tag(VAULT);
                context.extend(tagged("rds:snapshot-tag", "offsite"));
                context
            }),
        ),
        (
            "another vault's existing cluster copy retagged as this vault's",
            check(
                "rds:AddTagsToResource",
                vault_arn("cluster-snapshot", &own_cluster_copy),
                {
                    let mut context = request_tag(VAULT);
                    context.extend(tagged("rds:cluster-snapshot-tag", "offsite"));
                    context
                },
            ),
        ),
        // Sharing its copies on, or restoring them, is not the vault's.
        (
            "sharing a copy",
            check(
                "rds:ModifyDBSnapshotAttribute",
                vault_arn("snapshot", &own_copy),
                tagged("rds:snapshot-tag", VAULT),
            ),
        ),
        (
            "restoring a copy",
            check(
                "rds:RestoreDBInstanceFromDBSnapshot",
                vault_arn("snapshot", &own_copy),
                tagged("rds:snapshot-tag", VAULT),
            ),
        ),
        // Records: written once under copies/ of its bucket, never deleted nor written elsewhere.
        (
            "an object outside copies/",
            check("s3:PutObject", format!("arn:aws:s3:::{bucket}/snapshots/x"), no_tags()),
        ),
        (
            "a record in another bucket",
            check(
                "s3:PutObject",
                format!("arn:aws:s3:::rdsbackup-vault-offsite-{VAULT_ACCOUNT}/{VAULT_RECORDS_PREFIX}x.json"),
                no_tags(),
            ),
        ),
        (
            "deleting a record",
            check(
                "s3:DeleteObject",
                format!(
                    "arn:aws:s3:::{bucket}/{}",
                    vault_record_key(SOURCE_A, "orders", &own_copy)
                ),
                no_tags(),
            ),
        ),
        (
            "deleting a record's version",
            check(
                "s3:DeleteObjectVersion",
                format!(
                    "arn:aws:s3:::{bucket}/{}",
                    vault_record_key(SOURCE_A, "orders", &own_copy)
                ),
                no_tags(),
            ),
        ),
        (
            "shortening a record's lock",
            check(
                "s3:PutObjectRetention",
                format!(
                    "arn:aws:s3:::{bucket}/{}",
                    vault_record_key(SOURCE_A, "orders", &own_copy)
                ),
                no_tags(),
            ),
        ),
        (
            "deleting a marker's version",
            check(
                "s3:DeleteObjectVersion",
                format!("arn:aws:s3:::{bucket}/{PENDING_PREFIX}x"),
                no_tags(),
            ),
        ),
        (
            "removing the bucket's lock",
            check(
                "s3:PutBucketObjectLockConfiguration",
                format!("arn:aws:s3:::{bucket}"),
                no_tags(),
            ),
        ),
        // Keys: the vault key only through RDS (grants, describe) and S3 (records); sources' keys only through
        // RDS's grants; no outsider's key.
        (
            "the vault key's Decrypt outside a service",
            check("kms:Decrypt", vault_key.clone(), no_tags()),
        ),
        (
            "the vault key's Decrypt through RDS",
            check("kms:Decrypt", vault_key.clone(), via_rds(REGION, false)),
        ),
        (
            "a grant on the vault key outside RDS",
            check("kms:CreateGrant", vault_key.clone(), no_tags()),
        ),
        (
            "a grant on an outsider's key",
            check("kms:CreateGrant", outsider_key.clone(), via_rds(REGION, true)),
        ),
        (
            "an outsider's key's Decrypt through RDS",
            check("kms:Decrypt", outsider_key.clone(), via_rds(REGION, false)),
        ),
        (
            "a grant on a source's key not for an AWS resource",
            check("kms:CreateGrant", key_b.clone(), via_rds(REGION, false)),
        ),
        (
            "a source's key's Decrypt outside a service",
            check("kms:Decrypt", key_b.clone(), no_tags()),
        ),
    ];
    let checks: Vec<Check> = foreign.iter().map(|(_, c)| c.clone()).collect();
    let results = evaluate_as(&principal, &policy, &checks);
    let allowed: Vec<String> = foreign
        .iter()
        .zip(&results)
        .filter(|(_, result)| *result == "Allowed")
        .map(|((what, c), _)| format!("{what}: {} on {} with {:?}", c.action, c.resource, c.context))
        .collect();
    // Destroyed before the verdict, so that a finding leaves no stack behind (the bucket stays: it holds records).
    tf.run(&["destroy", "-auto-approve"]).success();
    assert!(
        allowed.is_empty(),
        "the vault role allows what is not its own:\n{}",
        allowed.join("\n")
    );
}

/// The `archive` block's step proven the same way: two runs (the 1st of a month starts one export per database,
/// an instance's, an encrypted instance's and a cluster's; the 2nd settles their markers into the records) are
/// evaluated request by request against the function's role, and what the function must never do with exports
/// (export another policy's snapshot or a live cluster, pass a role it does not own or to another service, write
/// the exports itself, use another key) is shown not allowed. moto records no request RDS's export service makes
/// as the export role, so that role's inline policy is proven by synthetic checks of what an export writes and
/// what it must not, and its trust policy by what it names.
#[tokio::test(flavor = "multi_thread")]
async fn the_role_allows_the_archive_step_and_nothing_beyond_its_own_exports() {
    if acceptance() {
        eprintln!(
            "skipped in acceptance mode: the proof records requests through the local fault proxy, and it creates a \
             KMS key, which cannot be deleted at once on AWS"
        );
        return;
    }
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::encrypted_instance(&c.rds, "billing").await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    let key = c.kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let another_key = format!("arn:aws:kms:{REGION}:{MOTO_ACCOUNT}:key/another");
    let config = format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{POLICY}"
  db_instance_identifiers = ["orders", "billing"]
  db_cluster_identifiers  = ["analytics"]
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
  archive {{
    every       = "month"
    kms_key_arn = "{key}"
  }}
}}
"#
    );
    let tf = Terraform::new(&config, &aws);
    let (policy, env, proxy) = deploy(&tf, &aws, &c, moto).await;
    let bucket = env.iter().find(|(k, _)| k == "RDSBACKUP_BUCKET").unwrap().1.clone();

    // The export role, as IAM holds it.
    let export = Principal {
        account: MOTO_ACCOUNT,
        role: format!("rdsbackup-{POLICY}-export"),
    };
    let found = c.iam.get_role().role_name(&export.role).send().await.unwrap();
    let export_role_arn = found.role().unwrap().arn().to_string();
    let trust: Value = serde_json::from_str(&percent_decode(
        found.role().unwrap().assume_role_policy_document().unwrap(),
    ))
    .unwrap();
    let inline = c
        .iam
        .get_role_policy()
        .role_name(&export.role)
        .policy_name("rdsbackup")
        .send()
        .await
        .unwrap();
    let export_policy: Value = serde_json::from_str(&percent_decode(inline.policy_document())).unwrap();
    lint(&[("export-inline", &export_policy)]);

    let first = run_once(&env, "2026-12-01T03:00:00Z");
    let second = run_once(&env, "2026-12-02T03:00:00Z");
    let requests = proxy.requests();
    let (checks, denied) = denials(&policy, &requests, &BTreeMap::new());
    let made: Vec<String> = requests.iter().map(Request::signature).collect();

    let snapshot = |db: &str, kind| identifier::build(POLICY, db, kind, "202612010300");
    let exported = [
        (
            "orders",
            rds_arn("snapshot", &snapshot("orders", SnapshotKind::Instance)),
        ),
        (
            "billing",
            rds_arn("snapshot", &snapshot("billing", SnapshotKind::Instance)),
        ),
        (
            "analytics",
            rds_arn("cluster-snapshot", &snapshot("analytics", SnapshotKind::Cluster)),
        ),
    ];
    let mut tasks: Vec<String> = exported
        .iter()
        .map(|(db, _)| rdsbackup_common::archive::task_identifier(POLICY, db, "202612010300", 1))
        .collect();
    tasks.sort();

    // Nothing beyond its own exports: each of these must not be allowed to the function.
    let passed_to = |service: &str| BTreeMap::from([("iam:PassedToService".to_string(), json!(service))]);
    let weekly = |kind: &str| BTreeMap::from([(format!("rds:{kind}-tag/rdsbackup:policy"), json!("weekly"))]);
    let exports_object = format!("arn:aws:s3:::{bucket}/{EXPORTS_PREFIX}orders/x/y.parquet");
    let no_context = BTreeMap::new;
    let foreign = vec![
        (
            "exporting another policy's snapshot",
            check(
                "rds:StartExportTask",
                rds_arn("snapshot", "rdsbackup-weekly-orders-202612010300-00000000"),
                weekly("snapshot"),
            ),
        ),
        (
            "exporting another policy's cluster snapshot",
            check(
                "rds:StartExportTask",
                rds_arn("cluster-snapshot", "rdsbackup-weekly-analytics-202612010300-00000000"),
                weekly("cluster-snapshot"),
            ),
        ),
        (
            "exporting a snapshot not of the policy's name",
            check("rds:StartExportTask", rds_arn("snapshot", "by-hand"), no_context()),
        ),
        (
            "exporting a live cluster's data",
            check("rds:StartExportTask", rds_arn("cluster", "analytics"), no_context()),
        ),
        (
            "passing another policy's export role",
            check(
                "iam:PassRole",
                format!("arn:aws:iam::{MOTO_ACCOUNT}:role/rdsbackup-weekly-export"),
                passed_to("export.rds.amazonaws.com"),
            ),
        ),
        (
            "passing its own role to RDS's export service",
            check(
                "iam:PassRole",
                policy_principal().arn(),
                passed_to("export.rds.amazonaws.com"),
            ),
        ),
        (
            "passing the export role to another service",
            check("iam:PassRole", export_role_arn.clone(), passed_to("ec2.amazonaws.com")),
        ),
        (
            "writing an export itself",
            check("s3:PutObject", exports_object.clone(), no_context()),
        ),
        (
            "deleting an export",
            check("s3:DeleteObject", exports_object.clone(), no_context()),
        ),
        (
            "reading an export",
            check("s3:GetObject", exports_object.clone(), no_context()),
        ),
        (
            "a grant on another key through RDS",
            check("kms:CreateGrant", another_key.clone(), via_rds(REGION, true)),
        ),
        (
            "describing another key through RDS",
            check("kms:DescribeKey", another_key.clone(), via_rds(REGION, false)),
        ),
        (
            "another key's Decrypt",
            check("kms:Decrypt", another_key.clone(), no_context()),
        ),
        // The archive key only through RDS, as the vault key and the copy keys: the function itself never uses it,
        // and a grant it made outside RDS could give anyone the key that protects the exports.
        (
            "a grant on the archive key outside RDS",
            check("kms:CreateGrant", key.clone(), no_context()),
        ),
        (
            "the archive key's Decrypt outside a service",
            check("kms:Decrypt", key.clone(), no_context()),
        ),
    ];
    let foreign_checks: Vec<Check> = foreign.iter().map(|(_, c)| c.clone()).collect();
    let allowed: Vec<String> = foreign
        .iter()
        .zip(evaluate(&policy, &foreign_checks))
        .filter(|(_, result)| result == "Allowed")
        .map(|((what, c), _)| format!("{what}: {} on {} with {:?}", c.action, c.resource, c.context))
        .collect();

    // The export role: what an export of `orders` writes, and nothing else.
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let prefix = |p: &str| BTreeMap::from([("s3:prefix".to_string(), json!(p))]);
    let via_s3 = || {
        BTreeMap::from([(
            "kms:ViaService".to_string(),
            json!(format!("s3.{REGION}.amazonaws.com")),
        )])
    };
    let export_needs = vec![
        check("s3:PutObject", exports_object.clone(), no_context()),
        check("s3:GetObject", exports_object.clone(), no_context()),
        check("s3:ListBucket", bucket_arn.clone(), prefix("exports/orders/")),
        check("s3:GetBucketLocation", bucket_arn.clone(), no_context()),
        check("kms:GenerateDataKey", key.clone(), via_s3()),
        check("kms:Decrypt", key.clone(), via_s3()),
        check("kms:Encrypt", key.clone(), no_context()),
        check("kms:DescribeKey", key.clone(), no_context()),
    ];
    let export_denied: Vec<String> = export_needs
        .iter()
        .zip(evaluate_as(&export, &export_policy, &export_needs))
        .filter(|(_, result)| result != "Allowed")
        .map(|(c, result)| format!("{result}: {} on {} with {:?}", c.action, c.resource, c.context))
        .collect();
    let export_foreign = vec![
        (
            "a record",
            check("s3:PutObject", format!("{bucket_arn}/snapshots/x.json"), no_context()),
        ),
        (
            "deleting a record",
            check(
                "s3:DeleteObject",
                format!("{bucket_arn}/snapshots/x.json"),
                no_context(),
            ),
        ),
        (
            "a pending marker",
            check("s3:PutObject", format!("{bucket_arn}/{PENDING_PREFIX}x"), no_context()),
        ),
        (
            "an export's marker",
            check(
                "s3:PutObject",
                format!("{bucket_arn}/{MARKERS_PREFIX}orders/x"),
                no_context(),
            ),
        ),
        (
            "another bucket's exports",
            check(
                "s3:PutObject",
                format!("arn:aws:s3:::rdsbackup-weekly-{MOTO_ACCOUNT}/{EXPORTS_PREFIX}x"),
                no_context(),
            ),
        ),
        (
            "listing the records",
            check("s3:ListBucket", bucket_arn.clone(), prefix("snapshots/")),
        ),
        (
            "deleting the bucket",
            check("s3:DeleteBucket", bucket_arn.clone(), no_context()),
        ),
        (
            "changing the bucket's policy",
            check("s3:PutBucketPolicy", bucket_arn.clone(), no_context()),
        ),
        (
            "another key's data key",
            check("kms:GenerateDataKey", another_key.clone(), via_s3()),
        ),
        (
            "another key's Decrypt",
            check("kms:Decrypt", another_key.clone(), via_s3()),
        ),
    ];
    let export_foreign_checks: Vec<Check> = export_foreign.iter().map(|(_, c)| c.clone()).collect();
    let export_allowed: Vec<String> = export_foreign
        .iter()
        .zip(evaluate_as(&export, &export_policy, &export_foreign_checks))
        .filter(|(_, result)| result == "Allowed")
        .map(|((what, c), _)| format!("{what}: {} on {} with {:?}", c.action, c.resource, c.context))
        .collect();

    // Destroyed before the verdict, so that a finding leaves no stack behind.
    tf.run(&["destroy", "-auto-approve"]).success();

    assert_eq!(first["exported"], json!(tasks), "one export per database: {first}");
    assert_eq!(first["failed"], json!([]), "{first}");
    assert_eq!(second.get("exported"), None, "none on the 2nd: {second}");
    assert_eq!(second["failed"], json!([]), "{second}");
    assert!(
        denied.is_empty(),
        "the role denies requests the archive step makes:\n{}\nthe requests: {made:#?}",
        denied.join("\n")
    );
    let covered: std::collections::BTreeSet<(&str, &str)> = checks
        .iter()
        .map(|c| (c.action.as_str(), c.resource.as_str()))
        .collect();
    for (db, source) in &exported {
        assert!(
            covered.contains(&("rds:StartExportTask", source.as_str())),
            "no export of {db}'s snapshot {source}: {made:#?}"
        );
    }
    assert!(
        covered.contains(&("rds:DescribeExportTasks", "*")),
        "no DescribeExportTasks: {made:#?}"
    );
    let passed: Vec<&Check> = checks.iter().filter(|c| c.action == "iam:PassRole").collect();
    assert_eq!(passed.len(), exported.len(), "a role passed per export");
    for c in &passed {
        assert_eq!(c.resource, export_role_arn, "only the export role is passed");
    }
    for action in ["kms:CreateGrant", "kms:DescribeKey"] {
        assert_eq!(
            checks
                .iter()
                .filter(|c| c.action == action && c.resource == key)
                .count(),
            exported.len(),
            "RDS uses the archive key in the caller's name for each export ({action})"
        );
    }
    // A marker per export put by the first run and dropped by the second, the records' export set by both.
    let count = |action: &str, under: &str| {
        checks
            .iter()
            .filter(|c| c.action == action && c.resource.starts_with(&format!("{bucket_arn}/{under}")))
            .count()
    };
    assert_eq!(
        count("s3:PutObject", MARKERS_PREFIX),
        exported.len(),
        "a marker per export"
    );
    assert_eq!(
        count("s3:DeleteObject", MARKERS_PREFIX),
        exported.len(),
        "the markers settled on the 2nd"
    );
    assert!(
        checks.iter().any(|c| c.action == "s3:ListBucket"
            && c.resource == bucket_arn
            && c.context.get("s3:prefix") == Some(&json!(MARKERS_PREFIX))),
        "the markers were listed"
    );
    assert_eq!(
        count("s3:PutObject", EXPORTS_PREFIX) + count("s3:DeleteObject", EXPORTS_PREFIX),
        0,
        "the function wrote nothing under exports/"
    );

    // The trust policy: RDS's export service only, for this account's own RDS resources only.
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{trust}");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow", "{trust}");
    assert_eq!(statement["Action"], "sts:AssumeRole", "{trust}");
    assert_eq!(
        statement["Principal"],
        json!({"Service": "export.rds.amazonaws.com"}),
        "{trust}"
    );
    let condition = statement["Condition"].as_object().unwrap();
    assert_eq!(
        condition["StringEquals"],
        json!({"aws:SourceAccount": MOTO_ACCOUNT}),
        "{trust}"
    );
    let source_arn = condition["ArnLike"]["aws:SourceArn"].as_str().unwrap();
    assert!(
        source_arn.starts_with(&format!("arn:aws:rds:{REGION}:{MOTO_ACCOUNT}:")),
        "{source_arn}"
    );
    assert_eq!(condition.len(), 2, "no other condition that could widen it: {trust}");

    assert!(
        export_denied.is_empty(),
        "the export role denies what an export writes:\n{}",
        export_denied.join("\n")
    );
    assert!(
        export_allowed.is_empty(),
        "the export role allows what is not an export's:\n{}",
        export_allowed.join("\n")
    );
    assert!(
        allowed.is_empty(),
        "the role allows what is not its own exports':\n{}",
        allowed.join("\n")
    );
}

/// The `restore_drill` block's requests — restores of an instance and a cluster (with its instance), their
/// deletions — all allowed; and nothing of the kind beyond the policy's own drills: no source database deleted,
/// no drill of another policy's, no restore under another name or of another policy's snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn the_role_allows_the_drills_and_deletes_nothing_but_its_own_drill_databases() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the proof records requests through the local fault proxy");
        return;
    }
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    let config = format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{POLICY}"
  db_instance_identifiers = ["orders"]
  db_cluster_identifiers  = ["analytics"]
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
  restore_drill {{}}
}}
"#
    );
    let tf = Terraform::new(&config, &aws);
    let (policy, env, proxy) = deploy(&tf, &aws, &c, moto).await;
    run_once(&env, "2026-12-06T03:00:00Z");
    let drill = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-12-06T05:00:00Z",
        "resources": [format!("arn:aws:events:{REGION}:{MOTO_ACCOUNT}:rule/rdsbackup-{POLICY}-drill")]});
    let mut drilled = Vec::new();
    for _ in 0..3 {
        let out = rdsbackup_tests::runtime_api::run_once(&env, &drill);
        drilled.extend(out["drills"].as_array().cloned().unwrap_or_default());
    }
    drilled.sort_by_key(|v| v.to_string());
    assert_eq!(
        drilled,
        [json!("analytics:passed"), json!("orders:passed")],
        "both drills ran"
    );

    let drill_tags = |db: &str| {
        BTreeMap::from([
            (tags::POLICY.to_string(), POLICY.to_string()),
            (tags::DB.to_string(), db.to_string()),
            (tags::DRILL.to_string(), "true".to_string()),
        ])
    };
    let orders_drill = rdsbackup_common::drill::restored_identifier(POLICY, "orders", "202612060500");
    let analytics_drill = rdsbackup_common::drill::restored_identifier(POLICY, "analytics", "202612060500");
    let analytics_member = rdsbackup_common::drill::cluster_instance_identifier(&analytics_drill);
    let database_tags = BTreeMap::from([
        (orders_drill.as_str(), drill_tags("orders")),
        (analytics_drill.as_str(), drill_tags("analytics")),
        (analytics_member.as_str(), drill_tags("analytics")),
    ]);
    let requests = proxy.requests();
    let made: Vec<String> = requests.iter().map(Request::signature).collect();
    for call in [
        "RestoreDBInstanceFromDBSnapshot",
        "RestoreDBClusterFromSnapshot",
        "CreateDBInstance",
        "DeleteDBInstance",
        "DeleteDBCluster",
    ] {
        assert!(made.iter().any(|m| m.contains(call)), "{call} was made: {made:?}");
    }
    let (_, denied) = denials(&policy, &requests, &database_tags);
    assert!(denied.is_empty(), "denied: {denied:#?}");

    let tagged = |kind: &str, policy: &str, drill: bool| {
        let mut context = BTreeMap::from([(format!("rds:{kind}-tag/{}", tags::POLICY), json!(policy))]);
        if drill {
            context.insert(format!("rds:{kind}-tag/{}", tags::DRILL), json!("true"));
        }
        context
    };
    let request = |policy: &str| {
        BTreeMap::from([
            (format!("aws:RequestTag/{}", tags::POLICY), json!(policy)),
            (format!("aws:RequestTag/{}", tags::DRILL), json!("true")),
        ])
    };
    let foreign = [
        (
            "deleting a source instance",
            check("rds:DeleteDBInstance", rds_arn("db", "orders"), BTreeMap::new()),
        ),
        (
            "deleting a source cluster",
            check("rds:DeleteDBCluster", rds_arn("cluster", "analytics"), BTreeMap::new()),
        ),
        (
            "deleting a drill database of another policy",
            check(
                "rds:DeleteDBInstance",
                rds_arn("db", &orders_drill),
                tagged("db", "weekly", true),
            ),
        ),
        (
            "deleting a database with a drill's name but without the drill tag",
            check(
                "rds:DeleteDBInstance",
                rds_arn("db", &orders_drill),
                tagged("db", POLICY, false),
            ),
        ),
        (
            "deleting a policy's tagged instance that is not a drill's",
            check(
                "rds:DeleteDBInstance",
                rds_arn("db", "orders"),
                tagged("db", POLICY, true),
            ),
        ),
        (
            "restoring into a database not named as a drill",
            check(
                "rds:RestoreDBInstanceFromDBSnapshot",
                rds_arn("db", "orders-copy"),
                request(POLICY),
            ),
        ),
        (
            "restoring a drill database tagged as another policy's",
            check(
                "rds:RestoreDBInstanceFromDBSnapshot",
                rds_arn("db", &orders_drill),
                request("weekly"),
            ),
        ),
        (
            "restoring another policy's snapshot",
            check(
                "rds:RestoreDBInstanceFromDBSnapshot",
                rds_arn("snapshot", "rdsbackup-weekly-orders-202612060300-00000000"),
                request(POLICY),
            ),
        ),
    ];
    let checks: Vec<Check> = foreign.iter().map(|(_, c)| c.clone()).collect();
    let allowed: Vec<&str> = foreign
        .iter()
        .zip(evaluate(&policy, &checks))
        .filter(|(_, result)| result == "Allowed")
        .map(|((what, _), _)| *what)
        .collect();
    assert!(allowed.is_empty(), "allowed beyond its own drills: {allowed:?}");
    tf.run(&["destroy", "-auto-approve"]).success();
}

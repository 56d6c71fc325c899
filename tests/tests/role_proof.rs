//! The function's role proven against what the run does, not assumed: a policy with listed instances, a listed
//! Aurora member, a cluster and tag selection is applied by Terraform; the deployed function's own environment
//! then runs backups, a retried event, retention, a record repair and a pending record's settlement through the
//! fault proxy, which records every AWS request. Each request is evaluated against the role's inline policy as
//! IAM does (action, resource ARN, the condition keys the request carries) by a maintained evaluator
//! (tests/iam, iam-simulate), and destructive requests beyond the policy's own are shown denied. moto's own IAM
//! enforcement ignores resources and conditions for RDS, so it could prove none of this. The generated
//! documents also pass a maintained IAM linter (parliament).

use std::collections::BTreeMap;
use std::process::Command;

use rdsbackup_tests::fault_proxy::{Fault, FaultProxy, Request};
use rdsbackup_tests::{
    Aws, MOTO_ACCOUNT, Terraform, acceptance, clock_minute, databases, percent_decode, repo_root, rfc3339,
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
    format!("arn:aws:rds:{region}:{MOTO_ACCOUNT}:{kind}:{id}")
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

/// What IAM checks for one recorded request; panics on a request this proof does not know, so that a new call
/// of the run cannot go unproven.
fn checks_of(
    request: &Request,
    database_tags: &BTreeMap<&str, BTreeMap<String, String>>,
    instance_snapshots: &BTreeMap<String, BTreeMap<String, String>>,
    cluster_snapshots: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Check> {
    let none = BTreeMap::new();
    let region = request.region().unwrap_or(REGION).to_string();
    let rds_arn = |kind: &str, id: &str| rds_arn_in(&region, kind, id);
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
                "DescribeDBInstances" | "DescribeDBClusters" | "DescribeDBSnapshots" | "DescribeDBClusterSnapshots" => {
                    vec![check(&format!("rds:{action}"), "*".into(), BTreeMap::new())]
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
                    // Authorized on the source (an ARN at home) and on the target in the destination region.
                    let source = value(&format!("Source{field}"));
                    let target = rds_arn(kind, &value(&format!("Target{field}")));
                    let mut checks = vec![
                        check(&format!("rds:{action}"), source, BTreeMap::new()),
                        check(&format!("rds:{action}"), target.clone(), request_tags(&form)),
                        check("rds:AddTagsToResource", target, request_tags(&form)),
                    ];
                    // RDS uses the destination key through a grant it creates in the caller's name.
                    let key = value("KmsKeyId");
                    if !key.is_empty() {
                        let via = BTreeMap::from([(
                            "kms:ViaService".to_string(),
                            json!(format!("rds.{region}.amazonaws.com")),
                        )]);
                        checks.push(check("kms:CreateGrant", key.clone(), via.clone()));
                        checks.push(check("kms:DescribeKey", key, via));
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
                ("GET", false) => vec![check("s3:GetObject", format!("{bucket_arn}/{key}"), BTreeMap::new())],
                ("PUT", false) => vec![check("s3:PutObject", format!("{bucket_arn}/{key}"), BTreeMap::new())],
                ("DELETE", false) => vec![check("s3:DeleteObject", format!("{bucket_arn}/{key}"), BTreeMap::new())],
                (method, _) => panic!("the proof does not know the S3 call {method} /{path}?{query}"),
            }
        }
        other => panic!("the proof does not know requests to {other:?}: {}", request.head),
    }
}

/// Evaluates each check against `policy` with the maintained evaluator in tests/iam.
fn evaluate(policy: &Value, checks: &[Check]) -> Vec<String> {
    let input = json!({
        "account": MOTO_ACCOUNT,
        "principal": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/rdsbackup-{POLICY}"),
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
    assert!(
        run.status.success(),
        "parliament found problems in the generated documents: {}{}",
        String::from_utf8_lossy(&run.stdout),
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
    let instance_snapshots = snapshot_tags(requests, "DBSnapshot", "DBSnapshotIdentifier");
    let cluster_snapshots = snapshot_tags(requests, "DBClusterSnapshot", "DBClusterSnapshotIdentifier");
    let checks: Vec<Check> = requests
        .iter()
        .flat_map(|r| checks_of(r, database_tags, &instance_snapshots, &cluster_snapshots))
        .collect();
    let results = evaluate(policy, &checks);
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

//! The compiled backup Lambda (`bootstrap`, the static binary the provider embeds) run for real under a Lambda
//! Runtime API, against moto: realistic EventBridge scheduled events in, snapshots, tags, records, retention and
//! the output object checked through the AWS APIs.

use std::future::Future;

use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::Tag;
use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{env, pending_key, record_key, tags};
use rdsbackup_tests::fault_proxy::{Fault, FaultProxy};
use rdsbackup_tests::runtime_api::{Answer, Function, RuntimeApi};
use rdsbackup_tests::{Aws, Moto, acceptance, databases};
use serde_json::{Value, json};

const POLICY: &str = "nightly";
const BUCKET: &str = "rdsbackup-nightly-123456789012";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";

/// Moto with SDK clients to arrange databases and inspect what the function did.
struct Local {
    aws: Aws,
    runtime: tokio::runtime::Runtime,
    rds: aws_sdk_rds::Client,
    s3: aws_sdk_s3::Client,
}

impl Local {
    /// None in acceptance mode: these tests create databases, which real RDS takes many minutes and money to do;
    /// the handler's AWS calls are the same either way.
    fn start() -> Option<Local> {
        if acceptance() {
            eprintln!("skipped in acceptance mode: it creates RDS databases, which moto does at once and AWS does not");
            return None;
        }
        let moto = Moto::start();
        let credentials = aws_sdk_rds::config::Credentials::new("testing", "testing", None, None, "tests");
        let region = aws_sdk_rds::config::Region::new("us-east-1");
        let behavior = aws_sdk_rds::config::BehaviorVersion::latest();
        let rds = aws_sdk_rds::Config::builder()
            .behavior_version(behavior)
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .endpoint_url(&moto.endpoint)
            .build();
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .endpoint_url(&moto.endpoint)
            .force_path_style(true)
            .build();
        let local = Local {
            aws: Aws::Moto(moto),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            rds: aws_sdk_rds::Client::from_conf(rds),
            s3: aws_sdk_s3::Client::from_conf(s3),
        };
        local.block_on(local.s3.create_bucket().bucket(BUCKET).send()).unwrap();
        Some(local)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn instance(&self, id: &str, engine: &str, cluster: Option<&str>, tags: &[(&str, &str)]) {
        self.block_on(databases::instance(&self.rds, id, engine, cluster, tags));
    }

    fn cluster(&self, id: &str, tags: &[(&str, &str)]) {
        self.block_on(databases::cluster(&self.rds, id, tags));
    }

    /// A manual snapshot taken by hand (not by the function), with `tags`.
    fn manual_snapshot(&self, db: &str, id: &str, tags: &[(&str, &str)]) {
        let request = self
            .rds
            .create_db_snapshot()
            .db_instance_identifier(db)
            .db_snapshot_identifier(id)
            .set_tags(Some(tag_list(tags)));
        self.block_on(request.send()).unwrap();
    }

    /// Manual snapshots of an instance: identifier and tags.
    fn instance_snapshots(&self, db: &str) -> Vec<(String, Vec<(String, String)>)> {
        let request = self
            .rds
            .describe_db_snapshots()
            .db_instance_identifier(db)
            .snapshot_type("manual");
        let output = self.block_on(request.send()).unwrap();
        let mut snapshots: Vec<_> = output
            .db_snapshots()
            .iter()
            .map(|s| (s.db_snapshot_identifier().unwrap().to_string(), pairs(s.tag_list())))
            .collect();
        snapshots.sort();
        snapshots
    }

    fn cluster_snapshots(&self, db: &str) -> Vec<(String, Vec<(String, String)>)> {
        let request = self
            .rds
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(db)
            .snapshot_type("manual");
        let output = self.block_on(request.send()).unwrap();
        let mut snapshots: Vec<_> = output
            .db_cluster_snapshots()
            .iter()
            .map(|s| {
                (
                    s.db_cluster_snapshot_identifier().unwrap().to_string(),
                    pairs(s.tag_list()),
                )
            })
            .collect();
        snapshots.sort();
        snapshots
    }

    fn automated_snapshots(&self) -> Vec<String> {
        let output = self
            .block_on(self.rds.describe_db_snapshots().snapshot_type("automated").send())
            .unwrap();
        let mut ids: Vec<String> = output
            .db_snapshots()
            .iter()
            .map(|s| s.db_snapshot_identifier().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    fn record(&self, db: &str, id: &str) -> Option<(Value, Option<String>)> {
        let request = self.s3.get_object().bucket(BUCKET).key(record_key(db, id));
        let output = self.block_on(request.send()).ok()?;
        let content_type = output.content_type().map(String::from);
        let bytes = self.block_on(output.body.collect()).unwrap().into_bytes();
        Some((serde_json::from_slice(&bytes).unwrap(), content_type))
    }

    /// The function's environment: this moto, and the policy's configuration on top of `config`.
    fn function(&self, api: &RuntimeApi, config: &[(&str, &str)]) -> Function {
        self.function_with(api, config, self.aws.env())
    }

    /// The function talking to AWS through `proxy`.
    fn function_through(&self, api: &RuntimeApi, config: &[(&str, &str)], proxy: &FaultProxy) -> Function {
        let mut vars = self.aws.env();
        vars.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        vars.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()));
        self.function_with(api, config, vars)
    }

    fn proxy(&self) -> FaultProxy {
        let Aws::Moto(moto) = &self.aws else {
            unreachable!("local tests run against moto")
        };
        FaultProxy::start(&moto.endpoint)
    }

    fn function_with(&self, api: &RuntimeApi, config: &[(&str, &str)], mut vars: Vec<(String, String)>) -> Function {
        let defaults = [
            (env::POLICY, POLICY),
            (env::BUCKET, BUCKET),
            (env::BUCKET_OWNER, "123456789012"),
            (env::RETENTION_DAYS, "35"),
            (env::MIN_SNAPSHOTS, "3"),
        ];
        for (k, v) in defaults
            .iter()
            .filter(|(k, _)| !config.iter().any(|(c, _)| c == k))
            .chain(config)
        {
            vars.push((k.to_string(), v.to_string()));
        }
        Function::start(api, &vars)
    }
}

fn tag_list(tags: &[(&str, &str)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

fn pairs(tags: &[Tag]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = tags
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    pairs.sort();
    pairs
}

fn owned_tags(db: &str) -> Vec<(String, String)> {
    vec![
        (tags::DB.to_string(), db.to_string()),
        (tags::POLICY.to_string(), POLICY.to_string()),
    ]
}

/// An EventBridge scheduled event as delivered to the function.
fn scheduled_event(time: &str) -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/rdsbackup-nightly"],
        "detail": {}
    })
}

/// The slot's identifier of an instance snapshot of this policy.
fn id(db: &str, slot: &str) -> String {
    identifier::build(POLICY, db, SnapshotKind::Instance, slot)
}

fn cluster_id(db: &str, slot: &str) -> String {
    identifier::build(POLICY, db, SnapshotKind::Cluster, slot)
}

/// The output object a failed run carries in its error message.
#[track_caller]
fn failed_output(answer: Answer, function: &Function) -> Value {
    let Answer::Error(error) = answer else {
        panic!("a run with a failed database must fail\n{}", function.output());
    };
    assert_eq!(error["errorType"], "RDSBackup.RunFailed", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    serde_json::from_str(&message[message.find('{').unwrap()..]).unwrap()
}

#[track_caller]
fn response(answer: Answer, function: &Function) -> Value {
    match answer {
        Answer::Response(output) => output,
        Answer::Error(error) => panic!("the invocation failed: {error}\n{}", function.output()),
    }
}

#[test]
fn backs_up_listed_instances_and_clusters_once_per_slot() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.instance("billing", "mysql", None, &[]);
    local.cluster("analytics", &[]);
    local.instance("analytics-1", "aurora-postgresql", Some("analytics"), &[]);
    let automated = local.automated_snapshots();

    let api = RuntimeApi::start();
    let mut function = local.function(
        &api,
        &[(env::DB_INSTANCES, "orders,billing"), (env::DB_CLUSTERS, "analytics")],
    );
    let event = scheduled_event("2026-11-28T03:00:00Z");
    let slot = "202611280300";
    let ids = [cluster_id("analytics", slot), id("billing", slot), id("orders", slot)];

    let first = response(api.invoke(&event, &mut function), &function);
    assert_eq!(
        first,
        json!({"created": ids, "existing": [], "deleted": [], "failed": []})
    );
    assert_eq!(
        local.instance_snapshots("orders"),
        [(ids[2].clone(), owned_tags("orders"))]
    );
    assert_eq!(
        local.instance_snapshots("billing"),
        [(ids[1].clone(), owned_tags("billing"))]
    );
    assert_eq!(
        local.cluster_snapshots("analytics"),
        [(ids[0].clone(), owned_tags("analytics"))]
    );
    // The Aurora member is backed up through its cluster only.
    assert!(local.instance_snapshots("analytics-1").is_empty());

    let (record, content_type) = local.record("orders", &ids[2]).expect("the record of orders' snapshot");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    for (field, value) in [
        ("policy", "nightly"),
        ("db_identifier", "orders"),
        ("kind", "instance"),
        ("engine", "postgres"),
        ("snapshot_identifier", ids[2].as_str()),
        ("slot", "2026-11-28T03:00:00Z"),
        ("status", "available"),
    ] {
        assert_eq!(record[field], value, "{field} in {record}");
    }
    assert!(
        record["snapshot_arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":snapshot:{}", ids[2])),
        "{record}"
    );
    assert!(record["created_at"].is_string(), "{record}");
    let (record, _) = local
        .record("analytics", &ids[0])
        .expect("the record of the cluster snapshot");
    assert_eq!(
        (&record["kind"], &record["engine"]),
        (&json!("cluster"), &json!("aurora-postgresql"))
    );
    assert!(
        record["snapshot_arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":cluster-snapshot:{}", ids[0]))
    );

    // The same event again (an EventBridge retry): nothing new, the slot's snapshots reported as existing.
    let second = response(api.invoke(&event, &mut function), &function);
    assert_eq!(
        second,
        json!({"created": [], "existing": ids, "deleted": [], "failed": []})
    );
    assert_eq!(local.instance_snapshots("orders").len(), 1);
    assert_eq!(local.cluster_snapshots("analytics").len(), 1);
    assert_eq!(local.automated_snapshots(), automated);

    // Structured logs and one metrics document per database and for the policy, all JSON lines on stdout.
    let lines = function.lines();
    let documents: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert_eq!(
        documents.len(),
        lines.len(),
        "every line is JSON:\n{}",
        lines.join("\n")
    );
    let metrics: Vec<&Value> = documents.iter().filter(|d| d.get("_aws").is_some()).collect();
    let orders = metrics
        .iter()
        .find(|d| d["DBIdentifier"] == "orders")
        .expect("the first run's metrics for orders");
    assert_eq!(
        (&orders["Policy"], &orders["SnapshotsCreated"]),
        (&json!("nightly"), &json!(1))
    );
    assert_eq!(orders["NewestSnapshotAgeHours"], json!(0.0));
    assert_eq!(orders["_aws"]["CloudWatchMetrics"][0]["Namespace"], "RDSBackup");
    let policy = metrics
        .iter()
        .find(|d| d.get("DBIdentifier").is_none())
        .expect("the policy's metrics");
    assert_eq!(
        (&policy["SnapshotsCreated"], &policy["SnapshotsFailed"]),
        (&json!(3), &json!(0))
    );
}

#[test]
fn selects_tagged_databases_and_aurora_members_through_their_cluster() {
    let Some(local) = Local::start() else { return };
    let both = [("backup", "nightly"), ("team", "shop")];
    local.instance("tagged", "postgres", None, &both);
    local.instance("half", "postgres", None, &[("backup", "nightly")]);
    local.instance("plain", "postgres", None, &[]);
    local.cluster("ledger", &both);
    local.cluster("reports", &[]);
    local.instance("reports-1", "aurora-postgresql", Some("reports"), &both);

    let api = RuntimeApi::start();
    let mut function = local.function(&api, &[(env::SELECTION_TAGS, r#"{"backup":"nightly","team":"shop"}"#)]);
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    let slot = "202611280300";
    assert_eq!(
        output["created"],
        json!([
            cluster_id("ledger", slot),
            cluster_id("reports", slot),
            id("tagged", slot)
        ])
    );
    assert_eq!(
        local.instance_snapshots("tagged"),
        [(id("tagged", slot), owned_tags("tagged"))]
    );
    assert_eq!(
        local.cluster_snapshots("ledger"),
        [(cluster_id("ledger", slot), owned_tags("ledger"))]
    );
    assert_eq!(
        local.cluster_snapshots("reports"),
        [(cluster_id("reports", slot), owned_tags("reports"))]
    );
    for untouched in ["half", "plain", "reports-1"] {
        assert!(
            local.instance_snapshots(untouched).is_empty(),
            "{untouched} was not selected"
        );
    }
    assert!(local.record("reports", &cluster_id("reports", slot)).is_some());
}

#[test]
fn retention_deletes_expired_snapshots_beyond_the_minimum_and_nothing_else() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.manual_snapshot("orders", "by-hand", &[]);
    local.manual_snapshot(
        "orders",
        "rdsbackup-weekly-orders-202601010000",
        &[(tags::POLICY, "weekly")],
    );
    // A same-region copy that copied the policy's tags: not the policy's, whatever its age.
    local.manual_snapshot(
        "orders",
        "orders-copy-for-audit",
        &[(tags::POLICY, POLICY), (tags::DB, "orders")],
    );
    let automated = local.automated_snapshots();
    assert!(
        !automated.is_empty(),
        "moto makes an automated snapshot with every instance"
    );

    let api = RuntimeApi::start();
    let config = [
        (env::DB_INSTANCES, "orders"),
        (env::RETENTION_DAYS, "7"),
        (env::MIN_SNAPSHOTS, "2"),
    ];
    let proxy = local.proxy();
    let mut function = local.function_through(&api, &config, &proxy);
    // Snapshots are created at the real time, so "now" starts at the clock and then moves 30 days on.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 60
        * 60;
    let at = |seconds: i64| {
        DateTime::from_secs(seconds)
            .fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
            .unwrap()
    };
    let slot = |seconds: i64| at(seconds).replace(['-', 'T', ':'], "")[..12].to_string();
    let mut made = Vec::new();
    for minute in 0..4 {
        let output = response(
            api.invoke(&scheduled_event(&at(start + minute * 60)), &mut function),
            &function,
        );
        assert_eq!(output["deleted"], json!([]), "nothing has expired yet");
        made.push(id("orders", &slot(start + minute * 60)));
    }
    // A record lost (a run stopped half-way): retention writes it anew from what the snapshot tells.
    local
        .block_on(
            local
                .s3
                .delete_object()
                .bucket(BUCKET)
                .key(record_key("orders", &made[0]))
                .send(),
        )
        .unwrap();

    // S3 answers a missing key with 403 to a caller without s3:ListBucket: still "no record".
    proxy.inject(
        &["GET ", &record_key("orders", &made[0])],
        Fault::s3_error(403, "AccessDenied", "Access Denied"),
    );
    // A concurrent run is deleting this one already: RDS says so, and that is not a failure.
    proxy.inject(
        &["Action=DeleteDBSnapshot", &format!("DBSnapshotIdentifier={}", made[1])],
        Fault::query_error(
            400,
            "InvalidDBSnapshotState",
            "Cannot delete a snapshot that is being deleted.",
        ),
    );
    let before = proxy.requests().len();
    let later = start + 30 * 24 * 3600;
    let output = response(api.invoke(&scheduled_event(&at(later)), &mut function), &function);
    // Retention ran first: the expired snapshots made room under the region's quota for the new one.
    let actions: Vec<String> = proxy.requests()[before..]
        .iter()
        .filter_map(|r| r.body_text().split('&').next().map(String::from))
        .collect();
    let first = |action: &str| actions.iter().position(|a| a == action).unwrap();
    assert!(
        first("Action=DeleteDBSnapshot") < first("Action=CreateDBSnapshot"),
        "{actions:?}"
    );
    let newest = id("orders", &slot(later));
    assert_eq!(output["created"], json!([newest]));
    // Four snapshots of this policy before the run, all older than 7 days at the event's "now": the newest two
    // stay (the one this run takes is not available yet, so it does not count).
    assert_eq!(output["deleted"], json!(made[..2]));
    let remaining: Vec<String> = local
        .instance_snapshots("orders")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        remaining,
        [
            "by-hand",
            "orders-copy-for-audit",
            made[1].as_str(),
            made[2].as_str(),
            made[3].as_str(),
            newest.as_str(),
            "rdsbackup-weekly-orders-202601010000"
        ]
    );
    assert_eq!(local.automated_snapshots(), automated);

    for deleted in &made[..2] {
        let (record, _) = local
            .record("orders", deleted)
            .expect("records outlive their snapshots");
        assert_eq!(record["status"], "deleted", "{record}");
        assert!(record["deleted_at"].is_string(), "{record}");
        assert_eq!(record["snapshot_identifier"], deleted.as_str());
    }
    let (rebuilt, _) = local.record("orders", &made[0]).unwrap();
    assert_eq!(
        (&rebuilt["db_identifier"], &rebuilt["kind"]),
        (&json!("orders"), &json!("instance"))
    );
    assert_eq!(rebuilt["slot"], at(start));
    assert_eq!(local.record("orders", &made[2]).unwrap().0["status"], "available");
}

#[test]
fn missing_and_refused_databases_fail_the_invocation_after_the_others_are_done() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.instance("sleepy", "postgres", None, &[]);
    local
        .block_on(local.rds.stop_db_instance().db_instance_identifier("sleepy").send())
        .unwrap();
    // moto snapshots a stopped instance; RDS refuses, and the run must report RDS's own words.
    let proxy = local.proxy();
    proxy.inject(
        &["Action=CreateDBSnapshot", "DBInstanceIdentifier=sleepy"],
        Fault::query_error(
            400,
            "InvalidDBInstanceState",
            "Instance sleepy is not currently in the available state.",
        ),
    );

    let api = RuntimeApi::start();
    let config = [
        (env::DB_INSTANCES, "orders,ghost,sleepy"),
        (env::DB_CLUSTERS, "nowhere"),
    ];
    let mut function = local.function_through(&api, &config, &proxy);
    let output = failed_output(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    let slot = "202611280300";
    assert_eq!(output["created"], json!([id("orders", slot)]));
    assert_eq!(
        output["failed"],
        json!([
            {"db": "ghost", "kind": "instance", "error": "DB instance not found"},
            {"db": "nowhere", "kind": "cluster", "error": "DB cluster not found"},
            {"db": "sleepy", "kind": "instance", "error": "CreateDBSnapshot: InvalidDBInstanceState: Instance sleepy is not currently in the available state. (status: stopped)"},
        ])
    );
    assert_eq!(
        local.instance_snapshots("orders"),
        [(id("orders", slot), owned_tags("orders"))]
    );
    assert!(local.record("orders", &id("orders", slot)).is_some());
    assert!(local.instance_snapshots("sleepy").is_empty());
}

#[test]
fn missing_configuration_is_reported_as_an_init_error() {
    let api = RuntimeApi::start();
    let env: Vec<(String, String)> = [
        (env::POLICY, POLICY),
        (env::DB_INSTANCES, "orders"),
        (env::RETENTION_DAYS, "35"),
        (env::MIN_SNAPSHOTS, "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut function = Function::start(&api, &env);
    let error = api.init_error(&mut function);
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(env::BUCKET), "{error}");
}

/// `bootstrap --once`, for operators and the quick start: one run outside Lambda, the event on stdin; here with a
/// customer managed key for the records.
#[test]
fn runs_once_outside_lambda() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let mut vars = local.aws.env();
    let config = [
        (env::POLICY, POLICY),
        (env::BUCKET, BUCKET),
        (env::BUCKET_OWNER, "123456789012"),
        (env::DB_INSTANCES, "orders"),
        (env::RETENTION_DAYS, "35"),
        (env::MIN_SNAPSHOTS, "3"),
        (env::KMS_KEY_ARN, KMS_KEY),
    ];
    vars.extend(config.map(|(k, v)| (k.to_string(), v.to_string())));
    let output = rdsbackup_tests::runtime_api::run_once(&vars, &scheduled_event("2026-11-28T03:00:00Z"));
    assert_eq!(output["created"], json!([id("orders", "202611280300")]));
    assert!(local.record("orders", &id("orders", "202611280300")).is_some());

    // With a customer key, records are written with SSE-KMS under it.
    let head = local
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(record_key("orders", &id("orders", "202611280300")));
    let head = local.block_on(head.send()).unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(KMS_KEY));
}

/// 0.1 named `prod` + `eu-orders` and `prod-eu` + `orders` alike: the second policy found the first one's snapshot,
/// called it "existing", and its own database was never backed up.
#[test]
fn policies_whose_identifiers_once_collided_each_back_up_their_own_database() {
    let Some(local) = Local::start() else { return };
    local.instance("eu-orders", "postgres", None, &[]);
    local.instance("orders", "postgres", None, &[]);
    let event = scheduled_event("2026-11-28T03:00:00Z");
    for (policy, db) in [("prod", "eu-orders"), ("prod-eu", "orders")] {
        // One Runtime API per function, as Lambda gives each its own.
        let api = RuntimeApi::start();
        let mut function = local.function(&api, &[(env::POLICY, policy), (env::DB_INSTANCES, db)]);
        let output = response(api.invoke(&event, &mut function), &function);
        let expected = identifier::build(policy, db, SnapshotKind::Instance, "202611280300");
        assert_eq!(
            output,
            json!({"created": [expected], "existing": [], "deleted": [], "failed": []})
        );
        assert_eq!(
            local.instance_snapshots(db),
            [(
                expected,
                vec![
                    (tags::DB.to_string(), db.to_string()),
                    (tags::POLICY.to_string(), policy.to_string())
                ]
            )]
        );
    }
}

#[test]
fn a_snapshot_under_the_slots_identifier_that_is_not_the_policys_is_a_failure() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.instance("billing", "postgres", None, &[]);
    let slot = "202611280300";
    // Someone took a snapshot of another database under orders' identifier for this slot.
    local.manual_snapshot(
        "billing",
        &id("orders", slot),
        &[(tags::POLICY, POLICY), (tags::DB, "orders")],
    );
    let api = RuntimeApi::start();
    let mut function = local.function(&api, &[(env::DB_INSTANCES, "orders")]);
    let output = failed_output(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["existing"], json!([]), "{output}");
    assert_eq!(output["failed"][0]["db"], "orders", "{output}");
    let why = output["failed"][0]["error"].as_str().unwrap();
    assert!(
        why.contains("is not this policy's snapshot of orders") && why.contains("\"billing\""),
        "{why}"
    );
    assert!(local.record("orders", &id("orders", slot)).is_none());
}

/// A snapshot puts its database in `backing-up` for as long as it takes; Lambda retries a failed invocation with
/// the same event meanwhile. The retry must find the slot's snapshot, not fail the database for its state.
#[test]
fn a_repeated_run_while_the_database_is_backing_up_reports_it_existing_and_repairs_its_record() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let mut function = local.function_through(&api, &[(env::DB_INSTANCES, "orders")], &proxy);
    let event = scheduled_event("2026-11-28T03:00:00Z");
    let slot = "202611280300";
    response(api.invoke(&event, &mut function), &function);
    // The run stopped between snapshot and record.
    local
        .block_on(
            local
                .s3
                .delete_object()
                .bucket(BUCKET)
                .key(record_key("orders", &id("orders", slot)))
                .send(),
        )
        .unwrap();
    proxy.inject(
        &["Action=DescribeDBInstances"],
        Fault::rewrite(
            "<DBInstanceStatus>available</DBInstanceStatus>",
            "<DBInstanceStatus>backing-up</DBInstanceStatus>",
        ),
    );
    proxy.inject(
        &["Action=CreateDBSnapshot"],
        Fault::query_error(
            400,
            "InvalidDBInstanceState",
            "Instance orders is not currently in the available state.",
        ),
    );
    let again = response(api.invoke(&event, &mut function), &function);
    assert_eq!(
        again,
        json!({"created": [], "existing": [id("orders", slot)], "deleted": [], "failed": []})
    );
    assert!(proxy.failed() >= 1, "the database was shown backing-up");
    let (record, _) = local
        .record("orders", &id("orders", slot))
        .expect("the missing record is written");
    assert_eq!(
        (&record["status"], &record["slot"]),
        (&json!("available"), &json!("2026-11-28T03:00:00Z"))
    );
}

/// On AWS a snapshot is `creating` for minutes to hours after the call that made it.
#[test]
fn a_snapshot_still_creating_is_no_backup_yet_and_its_record_settles_on_a_later_run() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let mut function = local.function_through(&api, &[(env::DB_INSTANCES, "orders")], &proxy);
    proxy.inject(
        &["Action=CreateDBSnapshot"],
        Fault::rewrite("<Status>available</Status>", "<Status>creating</Status>"),
    );
    let first = id("orders", "202611280300");
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["created"], json!([first]));
    let ages = |function: &Function| -> Vec<Value> {
        function
            .lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|d| d.get("_aws").is_some() && d["DBIdentifier"] == "orders")
            .map(|d| d.get("NewestSnapshotAgeHours").cloned().unwrap_or(Value::Null))
            .collect()
    };
    // Not 0: nothing available yet, so the overdue alarm (missing data breaching) keeps watching.
    assert_eq!(ages(&function), [Value::Null]);
    let (record, _) = local.record("orders", &first).unwrap();
    assert_eq!(record["status"], "creating");
    let marker = local.s3.head_object().bucket(BUCKET).key(pending_key("orders", &first));
    assert!(local.block_on(marker.send()).is_ok(), "a pending marker");

    proxy.clear();
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T04:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["failed"], json!([]), "{output}");
    let (record, _) = local.record("orders", &first).unwrap();
    assert_eq!(record["status"], "available", "{record}");
    let marker = local.s3.head_object().bucket(BUCKET).key(pending_key("orders", &first));
    assert!(
        local.block_on(marker.send()).is_err(),
        "the marker is gone once settled"
    );
    assert_eq!(ages(&function)[1], json!(0.0));
}

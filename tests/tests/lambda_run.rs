//! The compiled backup Lambda (`bootstrap`, the static binary the provider embeds) run for real under a Lambda
//! Runtime API, against moto: realistic EventBridge scheduled events in, snapshots, tags, records, retention and
//! the output object checked through the AWS APIs.

use std::future::Future;

use aws_sdk_rds::types::Tag;
use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{env, pending_key, record_key, tags};
use rdsbackup_tests::fault_proxy::{Fault, FaultProxy};
use rdsbackup_tests::runtime_api::{Answer, Function, RuntimeApi};
use rdsbackup_tests::{Aws, Moto, acceptance, clock_minute, databases, rfc3339};
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

    fn function_with(&self, api: &RuntimeApi, config: &[(&str, &str)], vars: Vec<(String, String)>) -> Function {
        Function::start(api, &with_policy(config, vars))
    }

    /// Manual snapshots of an instance in `region`: identifier, status and tags.
    fn copies_of(&self, region: &str, db: &str) -> Vec<Found> {
        let rds = rdsbackup_tests::databases::rds_in(&self.rds, region);
        let request = rds
            .describe_db_snapshots()
            .db_instance_identifier(db)
            .snapshot_type("manual");
        let output = self.block_on(request.send()).unwrap();
        let mut found: Vec<_> = output
            .db_snapshots()
            .iter()
            .map(|s| {
                (
                    s.db_snapshot_identifier().unwrap().to_string(),
                    s.status().unwrap_or_default().to_string(),
                    pairs(s.tag_list()),
                )
            })
            .collect();
        found.sort();
        found
    }

    fn pending_markers(&self) -> Vec<String> {
        let request = self.s3.list_objects_v2().bucket(BUCKET).prefix("pending/");
        let output = self.block_on(request.send()).unwrap();
        output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(String::from))
            .collect()
    }
}

/// A snapshot as a test checks it: identifier, status, tags.
type Found = (String, String, Vec<(String, String)>);

/// The policy's configuration on top of `config`, after `vars`.
fn with_policy(config: &[(&str, &str)], mut vars: Vec<(String, String)>) -> Vec<(String, String)> {
    {
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
        vars
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

/// The slot (`yyyymmddhhmm`) of `seconds` since the epoch.
fn slot(seconds: i64) -> String {
    rfc3339(seconds).replace(['-', 'T', ':'], "")[..12].to_string()
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
        json!({"created": ids, "existing": [], "deleted": [], "copied": [], "shared": [], "failed": []})
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
        json!({"created": [], "existing": ids, "deleted": [], "copied": [], "shared": [], "failed": []})
    );
    assert_eq!(local.instance_snapshots("orders").len(), 1);
    assert_eq!(local.cluster_snapshots("analytics").len(), 1);
    assert_eq!(local.automated_snapshots(), automated);

    // Structured logs and one metrics document per database and for the policy, all JSON lines on stdout.
    let lines = function.lines_after_runs(2);
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
fn a_backup_run_lists_the_snapshots_of_a_hundred_databases_per_request() {
    let Some(local) = Local::start() else { return };
    let instances: Vec<String> = (0..120).map(|i| format!("db{i:03}")).collect();
    for db in &instances {
        local.instance(db, "postgres", None, &[]);
    }
    local.cluster("analytics", &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let listed = instances.join(",");
    let mut function = local.function_through(
        &api,
        &[(env::DB_INSTANCES, &listed), (env::DB_CLUSTERS, "analytics")],
        &proxy,
    );
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["created"].as_array().unwrap().len(), 121, "{output}");
    let count = |operation: &str| {
        proxy
            .requests()
            .iter()
            .filter(|r| r.operation().as_deref() == Some(operation))
            .count()
    };
    // One listing request per hundred instances and one for the cluster, not one per database: what is left per
    // database is its snapshot and its record.
    assert_eq!(count("rds:DescribeDBSnapshots"), 2);
    assert_eq!(count("rds:DescribeDBClusterSnapshots"), 1);
    assert_eq!(
        count("rds:CreateDBSnapshot") + count("rds:CreateDBClusterSnapshot"),
        121
    );
    let per_database = proxy.requests().len() as f64 / 121.0;
    assert!(per_database <= 2.2, "{per_database:.2} requests per database");
    // Each database's listing is its own: a second run in the slot finds every snapshot already taken.
    let again = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(again["existing"].as_array().unwrap().len(), 121, "{again}");
    assert_eq!(again["created"], json!([]), "{again}");
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
    let start = clock_minute();
    let mut made = Vec::new();
    for minute in 0..4 {
        let output = response(
            api.invoke(&scheduled_event(&rfc3339(start + minute * 60)), &mut function),
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
    let output = response(api.invoke(&scheduled_event(&rfc3339(later)), &mut function), &function);
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
    assert_eq!(rebuilt["slot"], rfc3339(start));
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
            json!({"created": [expected], "existing": [], "deleted": [], "copied": [], "shared": [], "failed": []})
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
        json!({"created": [], "existing": [id("orders", slot)], "deleted": [], "copied": [], "shared": [], "failed": []})
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
    let ages = |function: &Function, runs: usize| -> Vec<Value> {
        function
            .lines_after_runs(runs)
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|d| d.get("_aws").is_some() && d["DBIdentifier"] == "orders")
            .map(|d| d.get("NewestSnapshotAgeHours").cloned().unwrap_or(Value::Null))
            .collect()
    };
    // Not 0: nothing available yet, so the overdue alarm (missing data breaching) keeps watching.
    assert_eq!(ages(&function, 1), [Value::Null]);
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
    assert_eq!(ages(&function, 2)[1], json!(0.0));
}

/// Two destinations: us-west-2 with the policy's retention, eu-west-1 with 90 days and at least one copy.
const COPIES: &str = r#"[{"region":"us-west-2","retention_days":35,"min_snapshots":3},{"region":"eu-west-1","retention_days":90,"min_snapshots":1}]"#;

/// A snapshot event RDS sends to EventBridge when one of the policy's snapshots is created or available.
fn snapshot_event(id: &str) -> Value {
    json!({
        "version": "0",
        "detail-type": "RDS DB Snapshot Event",
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2026-11-28T04:10:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}")],
        "detail": {"EventCategories": ["creation"], "SourceType": "SNAPSHOT", "SourceIdentifier": id,
                   "EventID": "RDS-EVENT-0042", "Message": "Manual snapshot created"}
    })
}

fn copy_tags(db: &str, source: &str) -> Vec<(String, String)> {
    let mut tags = owned_tags(db);
    tags.push((tags::SOURCE.to_string(), source.to_string()));
    tags.sort();
    tags
}

#[test]
fn copies_wait_for_an_available_snapshot_and_the_snapshot_event_finishes_them() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let config = [(env::DB_INSTANCES, "orders"), (env::COPIES, COPIES)];
    let mut function = local.function_through(&api, &config, &proxy);
    // moto makes a snapshot available at once; RDS takes minutes to hours. The proxy plays RDS.
    proxy.inject(
        &["Action=CreateDBSnapshot"],
        Fault::rewrite("<Status>available</Status>", "<Status>creating</Status>"),
    );
    proxy.inject(
        &["Action=DescribeDBSnapshots", "/us-east-1/rds/"],
        Fault::rewrite("<Status>available</Status>", "<Status>creating</Status>"),
    );
    let first = id("orders", "202611280300");
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(
        (&output["created"], &output["copied"]),
        (&json!([first]), &json!([])),
        "{output}"
    );
    assert!(
        local.copies_of("us-west-2", "orders").is_empty(),
        "no copy of a snapshot still creating"
    );
    assert_eq!(local.pending_markers(), [pending_key("orders", &first)]);

    // Still creating when its event comes: nothing to copy yet, and no backup taken by an event.
    let output = response(api.invoke(&snapshot_event(&first), &mut function), &function);
    assert_eq!(
        output,
        json!({"created": [], "existing": [], "deleted": [], "copied": [], "shared": [], "failed": []})
    );

    proxy.clear();
    let output = response(api.invoke(&snapshot_event(&first), &mut function), &function);
    assert_eq!(output["created"], json!([]), "an event takes no backup: {output}");
    assert_eq!(
        output["copied"],
        json!([format!("eu-west-1/{first}"), format!("us-west-2/{first}")])
    );
    let source = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{first}");
    for region in ["us-west-2", "eu-west-1"] {
        assert_eq!(
            local.copies_of(region, "orders"),
            [(first.clone(), "available".to_string(), copy_tags("orders", &source))],
            "{region}"
        );
    }
    let (record, _) = local.record("orders", &first).unwrap();
    assert_eq!(record["status"], "available");
    let copies = record["copies"].as_array().unwrap();
    let listed: Vec<(&str, &str, &str)> = copies
        .iter()
        .map(|c| {
            (
                c["region"].as_str().unwrap(),
                c["snapshot_identifier"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("eu-west-1", first.as_str(), "available"),
            ("us-west-2", first.as_str(), "available")
        ]
    );
    assert_eq!(
        copies[1]["snapshot_arn"],
        format!("arn:aws:rds:us-west-2:123456789012:snapshot:{first}")
    );
    assert!(
        local.pending_markers().is_empty(),
        "the record is done: {:?}",
        local.pending_markers()
    );

    // Nothing pending: an event costs one listing and does nothing.
    let before = proxy.requests().len();
    let output = response(api.invoke(&snapshot_event(&first), &mut function), &function);
    assert_eq!(output["copied"], json!([]));
    let made: Vec<String> = proxy.requests()[before..].iter().map(|r| r.signature()).collect();
    assert_eq!(
        made,
        ["s3:GET /rdsbackup-nightly-123456789012/?list-type&prefix"],
        "{made:?}"
    );
}

#[test]
fn repeated_and_concurrent_runs_make_one_copy_each_and_retention_there_follows_its_block() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.cluster("analytics", &[]);
    let config = [
        (env::DB_INSTANCES, "orders"),
        (env::DB_CLUSTERS, "analytics"),
        (env::RETENTION_DAYS, "365"),
        (env::MIN_SNAPSHOTS, "1"),
        (env::COPIES, COPIES),
    ];
    let vars = with_policy(&config, local.aws.env());
    let run = |time: &str| rdsbackup_tests::runtime_api::run_once(&vars, &scheduled_event(time));
    // Ages are moto's clock (it stamps snapshots and copies with the real time) against the event's time.
    let now = clock_minute();
    let day = |days: i64| rfc3339(now + days * 86_400);
    let slot_of_day = |days: i64| slot(now + days * 86_400);

    let first = run(&day(0));
    assert_eq!(first["created"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(
        first["copied"].as_array().unwrap().len(),
        4,
        "two databases into two regions: {first}"
    );
    assert!(
        local.pending_markers().is_empty(),
        "copied at once, nothing left pending: {:?}",
        local.pending_markers()
    );
    let again = run(&day(0));
    assert_eq!(
        (again["existing"].as_array().unwrap().len(), &again["copied"]),
        (2, &json!([])),
        "{again}"
    );

    // Two invocations of one event at once (EventBridge delivers at least once): one copy each.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&day(1)));
        let b = s.spawn(|| run(&day(1)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((&a["failed"], &b["failed"]), (&json!([]), &json!([])), "{a}\n{b}");
    let mut copied: Vec<Value> = a["copied"]
        .as_array()
        .unwrap()
        .iter()
        .chain(b["copied"].as_array().unwrap())
        .cloned()
        .collect();
    copied.sort_by_key(|c| c.as_str().unwrap().to_string());
    copied.dedup();
    assert_eq!(copied.len(), 4, "{a}\n{b}");
    let day1 = id("orders", &slot_of_day(1));
    for region in ["us-west-2", "eu-west-1"] {
        let ids: Vec<String> = local
            .copies_of(region, "orders")
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(ids, [id("orders", &slot_of_day(0)), day1.clone()], "{region}");
    }

    // 92 days on: eu-west-1 keeps 90 days and at least one copy, us-west-2 and home keep 35 and 365.
    let later = run(&day(92));
    let old = [id("orders", &slot_of_day(0)), cluster_id("analytics", &slot_of_day(0))];
    let mut expected: Vec<String> = old.iter().map(|id| format!("eu-west-1/{id}")).collect();
    // us-west-2 (35 days, at least 3): nothing yet; home (365 days): nothing.
    expected.sort();
    assert_eq!(later["deleted"], json!(expected), "{later}");
    assert_eq!(later["copied"].as_array().unwrap().len(), 4, "{later}");
    let ids = |region: &str| -> Vec<String> {
        local
            .copies_of(region, "orders")
            .into_iter()
            .map(|(id, _, _)| id)
            .collect()
    };
    assert_eq!(ids("eu-west-1"), [day1.clone(), id("orders", &slot_of_day(92))]);
    assert_eq!(ids("us-west-2").len(), 3);
    assert_eq!(local.instance_snapshots("orders").len(), 3, "home keeps its own");
    let (record, _) = local.record("orders", &old[0]).unwrap();
    let eu = record["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["region"] == "eu-west-1")
        .unwrap()
        .clone();
    assert_eq!(eu["status"], "deleted", "{record}");
    assert!(eu["deleted_at"].is_string(), "{record}");
    let west = record["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["region"] == "us-west-2")
        .unwrap()
        .clone();
    assert_eq!(west["status"], "available", "{record}");
    // The next run sees the new copy available, so the day-1 copy there goes too (it was kept only as the one
    // copy); deleted copies are not made again while newer ones satisfy the destination's rules.
    let after = run(&day(92));
    let day1_copies = json!([
        format!("eu-west-1/{}", cluster_id("analytics", &slot_of_day(1))),
        format!("eu-west-1/{day1}")
    ]);
    assert_eq!(
        (&after["copied"], &after["deleted"]),
        (&json!([]), &day1_copies),
        "{after}"
    );
    let settled = run(&day(92));
    assert_eq!(
        (&settled["copied"], &settled["deleted"]),
        (&json!([]), &json!([])),
        "{settled}"
    );
    assert_eq!(ids("eu-west-1"), [id("orders", &slot_of_day(92))]);
}

#[test]
fn a_failing_destination_stops_neither_the_other_nor_the_home_snapshots() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    // Two attempts, not ten: the failure is the point, not the SDK's patience.
    let config = [
        (env::DB_INSTANCES, "orders"),
        (env::COPIES, COPIES),
        ("AWS_MAX_ATTEMPTS", "2"),
    ];
    let mut function = local.function_through(&api, &config, &proxy);
    proxy.inject(
        &["/us-west-2/rds/"],
        Fault::query_error(503, "ServiceUnavailable", "us-west-2 is having a bad day"),
    );
    let first = id("orders", "202611280300");
    let answer = api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function);
    let output = failed_output(answer, &function);
    assert_eq!(
        output["created"],
        json!([first]),
        "the home snapshot is taken: {output}"
    );
    assert_eq!(
        output["copied"],
        json!([format!("eu-west-1/{first}")]),
        "the other region is copied: {output}"
    );
    let failed = output["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{output}");
    assert_eq!(failed[0]["db"], "orders");
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("copy to us-west-2:") && error.contains("ServiceUnavailable"),
        "{error}"
    );
    let metric = |region: &str, name: &str| -> Vec<Value> {
        function
            .lines_after_runs(1)
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|d| d.get("_aws").is_some() && d["Region"] == region)
            .map(|d| d.get(name).cloned().unwrap_or(Value::Null))
            .collect()
    };
    assert_eq!(metric("us-west-2", "CopiesFailed"), [json!(1)], "{}", function.output());
    assert_eq!(
        metric("us-west-2", "NewestCopyAgeHours"),
        [Value::Null],
        "no copy there: no age"
    );
    assert_eq!(metric("eu-west-1", "CopiesStarted"), [json!(1)]);
    assert_eq!(metric("eu-west-1", "NewestCopyAgeHours"), [json!(0.0)]);
    let (record, _) = local.record("orders", &first).unwrap();
    assert_eq!(record["copies"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(
        local.pending_markers(),
        [pending_key("orders", &first)],
        "the missing copy is pending work"
    );

    // The region is back: the repeated event finishes the copy.
    proxy.clear();
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["existing"], json!([first]));
    assert_eq!(output["copied"], json!([format!("us-west-2/{first}")]));
    let (record, _) = local.record("orders", &first).unwrap();
    assert_eq!(record["copies"].as_array().unwrap().len(), 2, "{record}");
    assert!(local.pending_markers().is_empty());
}

#[test]
fn an_encrypted_snapshot_without_a_key_for_the_region_is_reported_not_attempted() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let config = [(env::DB_INSTANCES, "orders"), (env::COPIES, COPIES)];
    let mut function = local.function_through(&api, &config, &proxy);
    // moto's instances are unencrypted; the proxy says what RDS says of an encrypted one.
    proxy.inject(
        &["Action=DescribeDBSnapshots"],
        Fault::rewrite("<Encrypted>false</Encrypted>", "<Encrypted>true</Encrypted>"),
    );
    proxy.inject(
        &["Action=CreateDBSnapshot"],
        Fault::rewrite("<Encrypted>false</Encrypted>", "<Encrypted>true</Encrypted>"),
    );
    let output = failed_output(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    let errors: Vec<&str> = output["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["error"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "{output}");
    assert!(
        errors.iter().all(|e| e.contains("set kms_key_arn in the copy block")),
        "{errors:?}"
    );
    assert!(
        !proxy.requests().iter().any(|r| r.signature() == "rds:CopyDBSnapshot"),
        "no copy request RDS would refuse"
    );
}

#[test]
fn a_copy_still_in_progress_holds_the_next_copy_of_its_database_there_and_keeps_its_record_pending() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let config = [(env::DB_INSTANCES, "orders"), (env::COPIES, COPIES)];
    let mut function = local.function_through(&api, &config, &proxy);
    // moto finishes a copy at once; RDS takes hours, and shows it `copying` (or `pending` while queued).
    proxy.inject(
        &["Action=CopyDBSnapshot", "/us-west-2/rds/"],
        Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
    );
    proxy.inject(
        &["Action=DescribeDBSnapshots", "/us-west-2/rds/"],
        Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
    );
    let first = id("orders", "202611280300");
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(
        output["copied"],
        json!([format!("eu-west-1/{first}"), format!("us-west-2/{first}")])
    );
    let (record, _) = local.record("orders", &first).unwrap();
    let west = record["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["region"] == "us-west-2")
        .unwrap()
        .clone();
    assert_eq!(west["status"], "copying", "{record}");
    assert_eq!(
        local.pending_markers(),
        [pending_key("orders", &first)],
        "the copy is still to finish"
    );

    // The next slot: its snapshot goes to eu-west-1 at once, and waits for us-west-2's copy in progress.
    let second = id("orders", "202611290300");
    let output = response(
        api.invoke(&scheduled_event("2026-11-29T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(output["copied"], json!([format!("eu-west-1/{second}")]), "{output}");
    let mut markers = local.pending_markers();
    markers.sort();
    assert_eq!(markers, [pending_key("orders", &first), pending_key("orders", &second)]);

    // The copy finishes: the reconcile run records it and starts the one that waited.
    proxy.clear();
    let reconcile = json!({
        "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-29T04:00:00Z",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/rdsbackup-nightly-reconcile"], "detail": {}
    });
    let output = response(api.invoke(&reconcile, &mut function), &function);
    assert_eq!(
        (&output["created"], &output["copied"]),
        (&json!([]), &json!([format!("us-west-2/{second}")])),
        "{output}"
    );
    let (record, _) = local.record("orders", &first).unwrap();
    assert!(
        record["copies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "available"),
        "{record}"
    );
    assert!(local.pending_markers().is_empty(), "{:?}", local.pending_markers());
}

const VAULT_ACCOUNT: &str = "210987654321";

impl Local {
    /// A customer managed key of this account that the vault account may use: the vault block's.
    fn vault_key(&self) -> String {
        let Aws::Moto(moto) = &self.aws else {
            unreachable!("local tests run against moto")
        };
        let conf = aws_sdk_kms::Config::builder()
            .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
            .region(aws_sdk_kms::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_kms::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .endpoint_url(&moto.endpoint)
            .build();
        let kms = aws_sdk_kms::Client::from_conf(conf);
        self.block_on(rdsbackup_tests::vault_key(&kms, "123456789012", Some(VAULT_ACCOUNT)))
    }

    fn encrypted_instance(&self, id: &str) {
        self.block_on(databases::encrypted_instance(&self.rds, id));
    }

    fn shared_with(&self, id: &str) -> Vec<String> {
        self.block_on(databases::shared_with(&self.rds, id))
    }

    /// A snapshot's key and tags.
    fn key_and_tags(&self, id: &str) -> (Option<String>, Vec<(String, String)>) {
        let output = self
            .block_on(self.rds.describe_db_snapshots().db_snapshot_identifier(id).send())
            .unwrap();
        let s = &output.db_snapshots()[0];
        (s.kms_key_id().map(String::from), pairs(s.tag_list()))
    }
}

#[test]
fn the_vault_block_shares_unencrypted_snapshots_as_they_are_and_others_after_a_copy_onto_its_key() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.encrypted_instance("billing");
    let key = local.vault_key();
    let vault = json!({"account_id": VAULT_ACCOUNT, "kms_key_arn": key}).to_string();
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let config = [(env::DB_INSTANCES, "orders,billing"), (env::VAULT, vault.as_str())];
    let mut function = local.function_through(&api, &config, &proxy);
    // moto finishes a copy at once; RDS takes a while and shows it `copying` meanwhile: the proxy plays RDS.
    proxy.inject(
        &["Action=CopyDBSnapshot"],
        Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
    );
    let (orders, billing) = (id("orders", "202611280300"), id("billing", "202611280300"));
    let shareable = identifier::build_shareable(POLICY, "billing", SnapshotKind::Instance, "202611280300");
    assert_eq!(shareable, format!("{billing}-v"));

    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(
        output["shared"],
        json!([orders]),
        "unencrypted: shared as it is: {output}"
    );
    assert_eq!(
        output["copied"],
        json!([shareable]),
        "on RDS's key: copied onto the vault key first"
    );
    assert_eq!(local.shared_with(&orders), [VAULT_ACCOUNT]);
    assert!(
        local.shared_with(&billing).is_empty(),
        "RDS cannot share a snapshot on the AWS managed key"
    );
    let (copy_key, copy_tags) = local.key_and_tags(&shareable);
    assert_eq!(copy_key.as_deref(), Some(key.as_str()), "the copy is on the vault key");
    let source = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{billing}");
    assert_eq!(
        copy_tags,
        self::copy_tags("billing", &source),
        "the copy is the policy's own"
    );
    let (record, _) = local.record("orders", &orders).unwrap();
    assert_eq!(
        record["vault"],
        json!({"account_id": VAULT_ACCOUNT, "shared_snapshot_identifier": orders, "status": "shared"})
    );
    let (record, _) = local.record("billing", &billing).unwrap();
    assert_eq!(
        record["vault"],
        json!({"account_id": VAULT_ACCOUNT, "shared_snapshot_identifier": shareable, "status": "copying"})
    );
    assert_eq!(
        local.pending_markers(),
        [pending_key("billing", &billing)],
        "the share of billing is to come"
    );

    // The copy is done: its event shares it.
    proxy.clear();
    let output = response(api.invoke(&snapshot_event(&shareable), &mut function), &function);
    assert_eq!(
        (&output["created"], &output["copied"], &output["shared"]),
        (&json!([]), &json!([]), &json!([shareable])),
        "{output}"
    );
    assert_eq!(local.shared_with(&shareable), [VAULT_ACCOUNT]);
    let (record, _) = local.record("billing", &billing).unwrap();
    assert_eq!(record["vault"]["status"], "shared", "{record}");
    assert!(local.pending_markers().is_empty(), "{:?}", local.pending_markers());

    // The same event again: nothing is copied or shared twice.
    let output = response(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(
        (&output["copied"], &output["shared"], &output["existing"]),
        (&json!([]), &json!([]), &json!([billing, orders])),
        "{output}"
    );
    let copies = proxy
        .requests()
        .iter()
        .filter(|r| r.signature() == "rds:CopyDBSnapshot")
        .count();
    assert_eq!(copies, 1, "one copy onto the vault key in all");
}

#[test]
fn a_refused_share_is_reported_and_the_next_run_shares_it() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let key = local.vault_key();
    let vault = json!({"account_id": VAULT_ACCOUNT, "kms_key_arn": key}).to_string();
    let api = RuntimeApi::start();
    let proxy = local.proxy();
    let config = [(env::DB_INSTANCES, "orders"), (env::VAULT, vault.as_str())];
    let mut function = local.function_through(&api, &config, &proxy);
    proxy.inject(
        &["Action=ModifyDBSnapshotAttribute"],
        Fault::query_error(
            400,
            "SharedSnapshotQuotaExceeded",
            "The snapshot is shared with too many accounts",
        ),
    );
    let orders = id("orders", "202611280300");
    let output = failed_output(
        api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function),
        &function,
    );
    assert_eq!(
        output["created"],
        json!([orders]),
        "the backup itself is done: {output}"
    );
    let error = output["failed"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("vault share") && error.contains("SharedSnapshotQuotaExceeded"),
        "{error}"
    );
    assert!(local.shared_with(&orders).is_empty());
    let (record, _) = local.record("orders", &orders).unwrap();
    assert_eq!(record["vault"]["status"], "waiting", "{record}");
    assert_eq!(local.pending_markers(), [pending_key("orders", &orders)]);

    proxy.clear();
    let output = response(api.invoke(&snapshot_event(&orders), &mut function), &function);
    assert_eq!(output["shared"], json!([orders]), "{output}");
    assert_eq!(local.shared_with(&orders), [VAULT_ACCOUNT]);
    assert!(local.pending_markers().is_empty());
}

#[test]
fn copies_onto_the_vault_key_age_out_as_a_series_of_their_own_and_get_no_record() {
    let Some(local) = Local::start() else { return };
    local.encrypted_instance("billing");
    let key = local.vault_key();
    let vault = json!({"account_id": VAULT_ACCOUNT, "kms_key_arn": key}).to_string();
    let api = RuntimeApi::start();
    let config = [
        (env::DB_INSTANCES, "billing"),
        (env::VAULT, vault.as_str()),
        (env::RETENTION_DAYS, "1"),
        (env::MIN_SNAPSHOTS, "1"),
    ];
    let mut function = local.function(&api, &config);
    let copy_of = |slot: &str| identifier::build_shareable(POLICY, "billing", SnapshotKind::Instance, slot);
    // Snapshots are created at the real time, so "now" starts at the clock: two slots a minute apart, each with its
    // copy onto the key (moto finishes it at once) shared by the next event, then a run two days on.
    let start = clock_minute();
    let (first, second) = (slot(start), slot(start + 60));
    for (made, seconds) in [(&first, start), (&second, start + 60)] {
        let output = response(
            api.invoke(&scheduled_event(&rfc3339(seconds)), &mut function),
            &function,
        );
        assert_eq!(output["deleted"], json!([]), "nothing has expired yet: {output}");
        let output = response(api.invoke(&snapshot_event(&copy_of(made)), &mut function), &function);
        assert_eq!(output["shared"], json!([copy_of(made)]), "{output}");
    }
    // Two days on: both pairs expired; each series keeps its newest (min_snapshots 1), so the first pair goes.
    let output = response(
        api.invoke(&scheduled_event(&rfc3339(start + 2 * 24 * 3600)), &mut function),
        &function,
    );
    let mut deleted: Vec<String> = serde_json::from_value(output["deleted"].clone()).unwrap();
    deleted.sort();
    assert_eq!(deleted, [id("billing", &first), copy_of(&first)], "{output}");
    let ids: Vec<String> = local
        .instance_snapshots("billing")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        ids.contains(&id("billing", &second)) && ids.contains(&copy_of(&second)),
        "{ids:?}"
    );
    assert!(
        local.record("billing", &copy_of(&first)).is_none(),
        "a copy onto the key has no record"
    );
    assert_eq!(
        local.record("billing", &id("billing", &first)).unwrap().0["status"],
        "deleted"
    );
}

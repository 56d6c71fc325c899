//! The compiled backup Lambda (`bootstrap`, the static binary the provider embeds) run for real under a Lambda
//! Runtime API, against moto: realistic EventBridge scheduled events in, snapshots, tags, records, retention and
//! the output object checked through the AWS APIs.

use std::future::Future;

use aws_sdk_rds::primitives::DateTime;
use aws_sdk_rds::types::Tag;
use rdsbackup_common::{env, record_key, snapshot_identifier, tags};
use rdsbackup_tests::runtime_api::{Answer, Function, RuntimeApi};
use rdsbackup_tests::{Aws, Moto, acceptance};
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
        let request = self
            .rds
            .create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class("db.t3.micro")
            .engine(engine)
            .allocated_storage(20)
            .set_db_cluster_identifier(cluster.map(String::from))
            .set_tags(Some(tag_list(tags)));
        self.block_on(request.send()).unwrap();
    }

    fn cluster(&self, id: &str, tags: &[(&str, &str)]) {
        let request = self
            .rds
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .master_username("admin")
            .master_user_password("password-123")
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
        let mut vars = self.aws.env();
        let defaults = [
            (env::POLICY, POLICY),
            (env::BUCKET, BUCKET),
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

fn id(db: &str, slot: &str) -> String {
    snapshot_identifier(POLICY, db, slot)
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
    let ids = [id("analytics", slot), id("billing", slot), id("orders", slot)];

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
        json!([id("ledger", slot), id("reports", slot), id("tagged", slot)])
    );
    assert_eq!(
        local.instance_snapshots("tagged"),
        [(id("tagged", slot), owned_tags("tagged"))]
    );
    assert_eq!(
        local.cluster_snapshots("ledger"),
        [(id("ledger", slot), owned_tags("ledger"))]
    );
    assert_eq!(
        local.cluster_snapshots("reports"),
        [(id("reports", slot), owned_tags("reports"))]
    );
    for untouched in ["half", "plain", "reports-1"] {
        assert!(
            local.instance_snapshots(untouched).is_empty(),
            "{untouched} was not selected"
        );
    }
    assert!(local.record("reports", &id("reports", slot)).is_some());
}

#[test]
fn retention_deletes_expired_snapshots_beyond_the_minimum_and_nothing_else() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    let foreign = local
        .rds
        .create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier("by-hand");
    local.block_on(foreign.send()).unwrap();
    let other_policy = local
        .rds
        .create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier("rdsbackup-weekly-orders-202601010000")
        .tags(Tag::builder().key(tags::POLICY).value("weekly").build());
    local.block_on(other_policy.send()).unwrap();
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
    let mut function = local.function(&api, &config);
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

    let later = start + 30 * 24 * 3600;
    let output = response(api.invoke(&scheduled_event(&at(later)), &mut function), &function);
    let newest = id("orders", &slot(later));
    assert_eq!(output["created"], json!([newest]));
    // Five snapshots of this policy, all older than 7 days at the event's "now": the newest two stay.
    assert_eq!(output["deleted"], json!(made[..3]));
    let remaining: Vec<String> = local
        .instance_snapshots("orders")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        remaining,
        [
            "by-hand",
            made[3].as_str(),
            newest.as_str(),
            "rdsbackup-weekly-orders-202601010000"
        ]
    );
    assert_eq!(local.automated_snapshots(), automated);

    for deleted in &made[..3] {
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
    assert_eq!(local.record("orders", &made[3]).unwrap().0["status"], "available");
}

#[test]
fn missing_and_stopped_databases_fail_the_invocation_after_the_others_are_done() {
    let Some(local) = Local::start() else { return };
    local.instance("orders", "postgres", None, &[]);
    local.instance("sleepy", "postgres", None, &[]);
    local
        .block_on(local.rds.stop_db_instance().db_instance_identifier("sleepy").send())
        .unwrap();

    let api = RuntimeApi::start();
    let config = [
        (env::DB_INSTANCES, "orders,ghost,sleepy"),
        (env::DB_CLUSTERS, "nowhere"),
    ];
    let mut function = local.function(&api, &config);
    let Answer::Error(error) = api.invoke(&scheduled_event("2026-11-28T03:00:00Z"), &mut function) else {
        panic!("a run with failed databases must fail\n{}", function.output());
    };
    assert_eq!(error["errorType"], "RDSBackup.RunFailed", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    let output: Value = serde_json::from_str(&message[message.find('{').unwrap()..]).unwrap();
    let slot = "202611280300";
    assert_eq!(output["created"], json!([id("orders", slot)]));
    assert_eq!(
        output["failed"],
        json!([
            {"db": "ghost", "kind": "instance", "error": "DB instance not found"},
            {"db": "nowhere", "kind": "cluster", "error": "DB cluster not found"},
            {"db": "sleepy", "kind": "instance", "error": "DB instance is stopped: a snapshot needs it available"},
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
        (env::DB_INSTANCES, "orders"),
        (env::RETENTION_DAYS, "35"),
        (env::MIN_SNAPSHOTS, "3"),
        (env::KMS_KEY_ARN, KMS_KEY),
    ];
    vars.extend(config.map(|(k, v)| (k.to_string(), v.to_string())));
    let mut once = std::process::Command::new(rdsbackup_tests::runtime_api::bootstrap_binary())
        .arg("--once")
        .env_clear()
        .envs(vars)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let event = scheduled_event("2026-11-28T03:00:00Z").to_string();
    std::io::Write::write_all(&mut once.stdin.take().unwrap(), event.as_bytes()).unwrap();
    let run = once.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    let output: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
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

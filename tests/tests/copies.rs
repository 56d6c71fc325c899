//! Copies in other regions through the whole product: a policy with two `copy` blocks applied by the real
//! Terraform CLI against moto, the deployed function's own environment run for the same slot twice and again 92
//! days later, then drift, a block removed and destroy. What the issue asks to hold: every database has its
//! snapshot at home and one copy in each region, listed in its record; a destination's retention follows its
//! block and touches nothing at home; removing a block and `terraform destroy` delete no copy.

use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{record_key, tags};
use rdsbackup_tests::{
    Aws, Clients, Terraform, acceptance, dashboard_titles, databases, deployed_env, destroy_and_check, unique_name,
};
use serde_json::{Value, json};

fn config(policy: &str, blocks: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{policy}"
  db_instance_identifiers = ["orders"]
  db_cluster_identifiers  = ["analytics"]
  retention_days          = 35
  min_snapshots           = 1
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
{blocks}
}}
"#
    )
}

const TWO_REGIONS: &str = r#"
  copy {
    region = "us-west-2"
  }
  copy {
    region         = "eu-west-1"
    retention_days = 90
  }
"#;

/// The snapshots data source at home and, for one database, in a copy region.
fn snapshots_config(policy: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

data "rdsbackup_snapshots" "home" {{
  policy = "{policy}"
}}

data "rdsbackup_snapshots" "west" {{
  policy        = "{policy}"
  db_identifier = "orders"
  region        = "us-west-2"
}}

output "latest" {{
  value = data.rdsbackup_snapshots.home.latest
}}

output "west" {{
  value = data.rdsbackup_snapshots.west.snapshots
}}
"#
    )
}

fn state(tf: &Terraform) -> Value {
    let run = tf.run(&["show", "-json"]);
    run.success();
    let shown: Value = serde_json::from_str(&run.stdout).unwrap();
    shown["values"]["root_module"]["resources"][0]["values"].clone()
}

async fn rds_in(aws: &Aws, region: &str) -> aws_sdk_rds::Client {
    rdsbackup_tests::databases::rds_in(&aws_sdk_rds::Client::new(&aws.sdk_config().await), region)
}

/// Identifiers and tags of the manual snapshots of `db` (instance or cluster) in the client's region.
async fn snapshots(rds: &aws_sdk_rds::Client, db: &str, kind: SnapshotKind) -> Vec<(String, Vec<(String, String)>)> {
    let pairs = |tags: &[aws_sdk_rds::types::Tag]| {
        let mut pairs: Vec<(String, String)> = tags
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        pairs.sort();
        pairs
    };
    let mut found: Vec<_> = match kind {
        SnapshotKind::Instance => {
            let out = rds
                .describe_db_snapshots()
                .db_instance_identifier(db)
                .snapshot_type("manual")
                .send()
                .await
                .unwrap();
            out.db_snapshots()
                .iter()
                .map(|s| (s.db_snapshot_identifier().unwrap().to_string(), pairs(s.tag_list())))
                .collect()
        }
        SnapshotKind::Cluster => {
            let out = rds
                .describe_db_cluster_snapshots()
                .db_cluster_identifier(db)
                .snapshot_type("manual")
                .send()
                .await
                .unwrap();
            out.db_cluster_snapshots()
                .iter()
                .map(|s| {
                    (
                        s.db_cluster_snapshot_identifier().unwrap().to_string(),
                        pairs(s.tag_list()),
                    )
                })
                .collect()
        }
    };
    found.sort();
    found
}

fn ids(found: &[(String, Vec<(String, String)>)]) -> Vec<String> {
    found.iter().map(|(id, _)| id.clone()).collect()
}

async fn record(c: &Clients, bucket: &str, db: &str, id: &str) -> Value {
    rdsbackup_tests::json_object(&c.s3, bucket, &record_key(db, id)).await
}

fn scheduled(time: &str) -> Value {
    json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_snapshot_is_copied_into_each_region_and_each_region_keeps_its_own_retention() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates RDS databases, which moto does at once and AWS does not");
        return;
    }
    let policy: &str = &unique_name("copies");
    let aws = Aws::start();
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    let tf = Terraform::new(&config(policy, TWO_REGIONS), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    let s = state(&tf);
    let alarms: Vec<&str> = s["alarm_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let copy_alarm = |region: &str| format!("rdsbackup-{policy}-copy-overdue-{region}");
    assert!(
        alarms.contains(&copy_alarm("us-west-2").as_str()) && alarms.contains(&copy_alarm("eu-west-1").as_str()),
        "{alarms:?}"
    );
    let found = c
        .cloudwatch
        .describe_alarms()
        .alarm_names(copy_alarm("eu-west-1"))
        .send()
        .await
        .unwrap();
    let alarm = &found.metric_alarms()[0];
    assert_eq!(alarm.metric_name(), Some("NewestCopyAgeHours"));
    assert_eq!(alarm.threshold(), Some(26.0 + 24.0), "max_backup_age_hours plus a day");
    assert_eq!(alarm.treat_missing_data(), Some("breaching"));
    // The rules that advance pending work: RDS's events on the policy's snapshots, and the hourly safety net.
    let events = c
        .events
        .describe_rule()
        .name(format!("rdsbackup-{policy}-snapshot-events"))
        .send()
        .await
        .unwrap();
    let pattern: Value = serde_json::from_str(events.event_pattern().unwrap()).unwrap();
    assert_eq!(pattern["source"], json!(["aws.rds"]));
    assert_eq!(
        pattern["detail"]["SourceIdentifier"],
        json!([{"prefix": format!("rdsbackup-{policy}-")}])
    );
    let reconcile = c
        .events
        .describe_rule()
        .name(format!("rdsbackup-{policy}-reconcile"))
        .send()
        .await
        .unwrap();
    assert_eq!(reconcile.schedule_expression(), Some("rate(1 hour)"));
    for rule in ["snapshot-events", "reconcile"] {
        let targets = c
            .events
            .list_targets_by_rule()
            .rule(format!("rdsbackup-{policy}-{rule}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            targets.targets()[0].arn(),
            s["function_arn"].as_str().unwrap(),
            "{rule}"
        );
    }

    // The dashboard shows the copies too.
    let titles = dashboard_titles(&c, &format!("rdsbackup-{policy}")).await;
    assert!(
        titles.iter().any(|t| t == "Newest available copy per region (hours)"),
        "{titles:?}"
    );
    let env = deployed_env(&aws, &c, s["function_name"].as_str().unwrap()).await;
    let bucket = s["bucket_name"].as_str().unwrap();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 60
        * 60;
    let at = |days: i64| {
        aws_sdk_rds::primitives::DateTime::from_secs(start + days * 86_400)
            .fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
            .unwrap()
    };
    let slot = |days: i64| -> String { at(days).chars().filter(char::is_ascii_digit).take(12).collect() };
    let run = |time: String| rdsbackup_tests::runtime_api::run_once(&env, &scheduled(&time));

    // Two invocations for one slot.
    let first = run(at(0));
    let again = run(at(0));
    assert_eq!(first["created"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["copied"].as_array().unwrap().len(), 4, "{first}");
    assert_eq!(
        (again["existing"].as_array().unwrap().len(), &again["copied"]),
        (2, &json!([])),
        "{again}"
    );
    let orders = identifier::build(policy, "orders", SnapshotKind::Instance, &slot(0));
    let analytics = identifier::build(policy, "analytics", SnapshotKind::Cluster, &slot(0));
    let home = rds_in(&aws, "us-east-1").await;
    for region in ["us-west-2", "eu-west-1"] {
        let rds = rds_in(&aws, region).await;
        let copies = snapshots(&rds, "orders", SnapshotKind::Instance).await;
        assert_eq!(ids(&copies), std::slice::from_ref(&orders), "{region}");
        let source = format!("arn:aws:rds:us-east-1:123456789012:snapshot:{orders}");
        assert!(
            copies[0].1.contains(&(tags::SOURCE.to_string(), source)),
            "{region}: {:?}",
            copies[0].1
        );
        assert!(copies[0].1.contains(&(tags::POLICY.to_string(), policy.to_string())));
        assert_eq!(
            ids(&snapshots(&rds, "analytics", SnapshotKind::Cluster).await),
            std::slice::from_ref(&analytics),
            "{region}"
        );
    }
    let listed = record(&c, bucket, "orders", &orders).await;
    let regions: Vec<(&str, &str)> = listed["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["region"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        regions,
        [("eu-west-1", "available"), ("us-west-2", "available")],
        "{listed}"
    );

    // What to restore from, as Terraform reads it: at home, and in a copy region.
    let reader = Terraform::new(&snapshots_config(policy), &aws);
    reader.run(&["apply", "-auto-approve"]).success();
    let shown = reader.run(&["output", "-json"]);
    shown.success();
    let outputs: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        outputs["latest"]["value"],
        json!({"analytics": analytics, "orders": orders})
    );
    let west: Vec<(&str, &str, &str)> = outputs["west"]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["db_identifier"].as_str().unwrap(),
                s["kind"].as_str().unwrap(),
                s["region"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(west, [("orders", "instance", "us-west-2")], "{outputs}");

    // A day later, and 92 days after the first slot (event time): eu-west-1 keeps 90 days and at least one
    // copy, so the first copies go there; us-west-2 and home keep 35 days and at least one, so the first ones
    // go there too, and nothing else.
    run(at(1));
    let later = run(at(92));
    let mut deleted: Vec<String> = later["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    let mut expected = vec![analytics.clone(), orders.clone()];
    for region in ["eu-west-1", "us-west-2"] {
        expected.extend([format!("{region}/{analytics}"), format!("{region}/{orders}")]);
    }
    expected.sort();
    assert_eq!(deleted, expected, "{later}");
    let day1 = identifier::build(policy, "orders", SnapshotKind::Instance, &slot(1));
    let day92 = identifier::build(policy, "orders", SnapshotKind::Instance, &slot(92));
    assert_eq!(
        ids(&snapshots(&home, "orders", SnapshotKind::Instance).await),
        [day1.clone(), day92.clone()]
    );
    let eu = rds_in(&aws, "eu-west-1").await;
    assert_eq!(
        ids(&snapshots(&eu, "orders", SnapshotKind::Instance).await),
        [day1.clone(), day92.clone()]
    );
    let listed = record(&c, bucket, "orders", &orders).await;
    assert_eq!(listed["status"], "deleted", "{listed}");
    assert!(
        listed["copies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "deleted" && c["deleted_at"].is_string()),
        "{listed}"
    );

    // Drift: a copy alarm and the reconcile rule's target removed out of band; the plan says so, apply repairs.
    c.cloudwatch
        .delete_alarms()
        .alarm_names(copy_alarm("us-west-2"))
        .send()
        .await
        .unwrap();
    c.events
        .remove_targets()
        .rule(format!("rdsbackup-{policy}-reconcile"))
        .ids("rdsbackup")
        .send()
        .await
        .unwrap();
    let plan = tf.run(&["plan", "-detailed-exitcode"]);
    plan.expect_code(2);
    assert!(plan.stdout.contains(&copy_alarm("us-west-2")), "{}", plan.stdout);
    assert!(plan.stdout.contains("-reconcile: targets differ"), "{}", plan.stdout);
    tf.run(&["apply", "-auto-approve"]).success();
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);

    // Removing a block stops copying there (its alarm goes) and deletes no copy.
    let west = rds_in(&aws, "us-west-2").await;
    let west_before = snapshots(&west, "orders", SnapshotKind::Instance).await;
    let one = Terraform::new(
        &config(
            policy,
            "  copy {\n    region = \"eu-west-1\"\n    retention_days = 90\n  }\n",
        ),
        &aws,
    );
    std::fs::copy(tf.dir.join("terraform.tfstate"), one.dir.join("terraform.tfstate")).unwrap();
    one.run(&["apply", "-auto-approve"]).success();
    one.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    let gone = c
        .cloudwatch
        .describe_alarms()
        .alarm_names(copy_alarm("us-west-2"))
        .send()
        .await
        .unwrap();
    assert!(gone.metric_alarms().is_empty(), "the removed block's alarm is deleted");
    assert_eq!(snapshots(&west, "orders", SnapshotKind::Instance).await, west_before);
    let env = deployed_env(&aws, &c, s["function_name"].as_str().unwrap()).await;
    let after = rdsbackup_tests::runtime_api::run_once(&env, &scheduled(&at(93)));
    assert!(
        after["copied"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.as_str().unwrap().starts_with("eu-west-1/")),
        "{after}"
    );

    // Destroy deletes no snapshot and no copy.
    let eu_before = snapshots(&eu, "orders", SnapshotKind::Instance).await;
    let home_before = snapshots(&home, "orders", SnapshotKind::Instance).await;
    destroy_and_check(&one, &c, policy).await;
    assert_eq!(snapshots(&eu, "orders", SnapshotKind::Instance).await, eu_before);
    assert_eq!(snapshots(&west, "orders", SnapshotKind::Instance).await, west_before);
    assert_eq!(snapshots(&home, "orders", SnapshotKind::Instance).await, home_before);
}

//! The `archive` block through the real Terraform CLI: its rules at validate time, and the stack it adds when
//! applied — the export role trusted by RDS's export service for this account only, the bucket's `exports/`
//! lifecycle rule as S3 returns it (beside the provider's records rule and a rule of someone else's, which is
//! kept), the function's environment and the "export overdue" alarm — and what removing the block takes away.

use rdsbackup_tests::{Aws, Terraform, acceptance, deployed_env, destroy_and_check, percent_decode, unique_name};
use serde_json::Value;

fn config(policy: &str, archive: &str) -> String {
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
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
{archive}
}}
"#
    )
}

const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";

#[test]
fn a_bad_archive_block_fails_validate_on_its_attribute() {
    let aws = Aws::start();
    for (block, says) in [
        (
            format!("  archive {{\n    kms_key_arn = \"{KEY}\"\n    every = \"day\"\n  }}"),
            "is not a period",
        ),
        (
            format!("  archive {{\n    kms_key_arn = \"{KEY}\"\n    storage_class = \"STANDARD_IA\"\n  }}"),
            "is not an archive storage class",
        ),
        (
            format!(
                "  archive {{\n    kms_key_arn = \"{KEY}\"\n    transition_days = 30\n    retention_days = 200\n  }}"
            ),
            "must be at least transition_days (30) plus DEEP_ARCHIVE's minimum storage duration of 180 days, 210",
        ),
        (
            format!(
                "  archive {{\n    kms_key_arn = \"{KEY}\"\n    storage_class = \"GLACIER\"\n    retention_days = 89\n  }}"
            ),
            "GLACIER's minimum storage duration of 90 days",
        ),
        (
            "  archive {\n    kms_key_arn = \"archive-key\"\n  }".to_string(),
            "is not a KMS key ARN",
        ),
    ] {
        let run = Terraform::new(&config("nightly", &block), &aws).run(&["validate"]);
        let text = run.text();
        assert!(text.contains(says), "{block}: {text}");
        run.expect_code(1);
    }
}

/// The lifecycle rules of `bucket` as S3 returns them, by ID.
async fn lifecycle(c: &rdsbackup_tests::Clients, bucket: &str) -> Vec<aws_sdk_s3::types::LifecycleRule> {
    match c.s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => out.rules().to_vec(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_block_adds_its_role_lifecycle_rule_and_alarm_and_removing_it_takes_them_away() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates a KMS key, which cannot be deleted at once on AWS");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    rdsbackup_tests::databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    let key = c.kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let policy = unique_name("archive");
    let block = format!("  archive {{\n    kms_key_arn = \"{key}\"\n  }}");
    let tf = Terraform::new(&config(&policy, &block), &aws);
    tf.run(&["apply", "-auto-approve"]).success();

    // The export role: RDS's export service, for this account's own exports only.
    let role = format!("rdsbackup-{policy}-export");
    let found = c.iam.get_role().role_name(&role).send().await.unwrap();
    let trust: Value = serde_json::from_str(&percent_decode(
        found.role().unwrap().assume_role_policy_document().unwrap(),
    ))
    .unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "export.rds.amazonaws.com");
    assert_eq!(
        statement["Condition"]["StringEquals"]["aws:SourceAccount"],
        rdsbackup_tests::MOTO_ACCOUNT
    );
    let inline = c
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("rdsbackup")
        .send()
        .await
        .unwrap();
    let inline: Value = serde_json::from_str(&percent_decode(inline.policy_document())).unwrap();
    let bucket = format!("rdsbackup-{policy}-{}", rdsbackup_tests::MOTO_ACCOUNT);
    let writes = inline["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "WriteExports")
        .unwrap();
    assert_eq!(
        writes["Resource"],
        format!("arn:aws:s3:::{bucket}/exports/*"),
        "only under exports/"
    );

    // The function knows its archive and may pass only that role.
    let env = deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await;
    let archive = env
        .iter()
        .find(|(k, _)| k == "RDSBACKUP_ARCHIVE")
        .map(|(_, v)| v.clone())
        .unwrap();
    let archive: Value = serde_json::from_str(&archive).unwrap();
    assert_eq!(archive["every"], "month");
    assert_eq!(archive["storage_class"], "DEEP_ARCHIVE");
    assert_eq!(archive["role_arn"], found.role().unwrap().arn());

    // The exports rule as S3 returns it, beside the records rule.
    let rules = lifecycle(&c, &bucket).await;
    let exports = rules
        .iter()
        .find(|r| r.id() == Some("rdsbackup-exports"))
        .expect("the exports rule");
    let prefix = exports.filter().and_then(|f| f.prefix());
    assert_eq!(prefix, Some("exports/"));
    let transition = &exports.transitions()[0];
    assert_eq!(transition.storage_class().map(|c| c.as_str()), Some("DEEP_ARCHIVE"));
    assert_eq!(transition.days(), Some(0));
    assert_eq!(exports.expiration().and_then(|e| e.days()), Some(2555));
    assert!(
        exports.noncurrent_version_expiration().is_some(),
        "noncurrent versions expire too"
    );
    assert!(rules.iter().any(|r| r.id() == Some("rdsbackup-glacier")));

    let alarms = c
        .cloudwatch
        .describe_alarms()
        .alarm_names(format!("rdsbackup-{policy}-export-overdue"))
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.metric_alarms().len(), 1, "the export overdue alarm");
    assert_eq!(alarms.metric_alarms()[0].metric_name(), Some("NewestExportAgeDays"));
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);

    // A rule someone else adds stays through the provider's changes.
    let mut with_foreign: Vec<aws_sdk_s3::types::LifecycleRule> = lifecycle(&c, &bucket).await;
    with_foreign.push(
        aws_sdk_s3::types::LifecycleRule::builder()
            .id("team-logs")
            .filter(
                aws_sdk_s3::types::LifecycleRuleFilter::builder()
                    .prefix("logs/")
                    .build(),
            )
            .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
            .expiration(aws_sdk_s3::types::LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap(),
    );
    c.s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .set_rules(Some(with_foreign))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Removing the block: the role, the rule and the alarm go; the foreign rule stays; no change after.
    let without = Terraform::new(&config(&policy, ""), &aws);
    std::fs::copy(tf.dir.join("terraform.tfstate"), without.dir.join("terraform.tfstate")).unwrap();
    without.run(&["apply", "-auto-approve"]).success();
    assert!(
        c.iam.get_role().role_name(&role).send().await.is_err(),
        "the export role is deleted"
    );
    let rules = lifecycle(&c, &bucket).await;
    let ids: Vec<&str> = rules.iter().filter_map(|r| r.id()).collect();
    assert!(
        !ids.contains(&"rdsbackup-exports") && ids.contains(&"team-logs"),
        "{ids:?}"
    );
    let env = deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await;
    assert!(!env.iter().any(|(k, _)| k == "RDSBACKUP_ARCHIVE"));
    without.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    destroy_and_check(&without, &c, &policy).await;
}

/// The issue's "done when": with `archive { every = "month" }`, runs on the 1st and the 2nd of a month start
/// exactly one export per database (on the 1st), a run on the 1st of the next month one more each, and each
/// export is in its snapshot's record. moto completes an export at once and writes no Parquet: what it shows is
/// the tasks RDS would run, their identifiers, prefixes and roles, and the records.
#[tokio::test(flavor = "multi_thread")]
async fn monthly_runs_export_one_snapshot_per_database_and_period() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates RDS databases and a KMS key");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    for db in ["orders", "billing"] {
        rdsbackup_tests::databases::instance(&c.rds, db, "postgres", None, &[]).await;
    }
    let key = c.kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let policy = unique_name("monthly");
    let tf = Terraform::new(
        &config(
            &policy,
            &format!("  archive {{\n    every = \"month\"\n    kms_key_arn = \"{key}\"\n  }}"),
        )
        .replace("[\"orders\"]", "[\"orders\", \"billing\"]"),
        &aws,
    );
    tf.run(&["apply", "-auto-approve"]).success();
    let env = deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await;
    let run = |time: &str| {
        let event =
            serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time});
        rdsbackup_tests::runtime_api::run_once(&env, &event)
    };
    let task = |db: &str, slot: &str| rdsbackup_common::archive::task_identifier(&policy, db, slot, 1);

    let first = run("2026-12-01T03:00:00Z");
    let mut expected = vec![task("billing", "202612010300"), task("orders", "202612010300")];
    expected.sort();
    assert_eq!(first["exported"], serde_json::json!(expected), "{first}");
    assert_eq!(first["failed"], serde_json::json!([]), "{first}");
    let second = run("2026-12-02T03:00:00Z");
    assert!(second.get("exported").is_none(), "none on the 2nd: {second}");
    let next = run("2027-01-01T03:00:00Z");
    let mut expected = vec![task("billing", "202701010300"), task("orders", "202701010300")];
    expected.sort();
    assert_eq!(next["exported"], serde_json::json!(expected), "{next}");

    // The tasks as RDS holds them: the snapshot, the bucket's exports/ prefix, the export role, the key.
    let listed = c.rds.describe_export_tasks().send().await.unwrap();
    let bucket = format!("rdsbackup-{policy}-{}", rdsbackup_tests::MOTO_ACCOUNT);
    let ours: Vec<_> = listed
        .export_tasks()
        .iter()
        .filter(|t| {
            t.export_task_identifier()
                .is_some_and(|id| id.starts_with("rdsbackup-"))
        })
        .collect();
    assert_eq!(ours.len(), 4, "{ours:?}");
    let id = rdsbackup_common::identifier::build(
        &policy,
        "orders",
        rdsbackup_common::identifier::SnapshotKind::Instance,
        "202612010300",
    );
    let december = ours
        .iter()
        .find(|t| t.export_task_identifier() == Some(task("orders", "202612010300").as_str()))
        .unwrap();
    assert!(december.source_arn().unwrap().ends_with(&format!(":snapshot:{id}")));
    assert_eq!(december.s3_bucket(), Some(bucket.as_str()));
    assert_eq!(december.s3_prefix(), Some(format!("exports/orders/{id}").as_str()));
    assert_eq!(
        december.iam_role_arn(),
        Some(
            format!(
                "arn:aws:iam::{}:role/rdsbackup-{policy}-export",
                rdsbackup_tests::MOTO_ACCOUNT
            )
            .as_str()
        )
    );
    assert_eq!(december.kms_key_id(), Some(key.as_str()));

    // Each export is in its snapshot's record, brought up to date by the runs after it started.
    let record = rdsbackup_tests::json_object(&c.s3, &bucket, &rdsbackup_common::record_key("orders", &id)).await;
    assert_eq!(
        record["export"]["task_identifier"],
        task("orders", "202612010300"),
        "{record}"
    );
    assert_eq!(record["export"]["s3_prefix"], format!("exports/orders/{id}/"));
    assert_eq!(record["export"]["status"], "complete", "{record}");
    destroy_and_check(&tf, &c, &policy).await;
}

/// A failed export (RDS says `failed`; moto never fails one, so the fault proxy rewrites its status) is recorded,
/// retried on the same snapshot under `-2`, `-3`, and after the third failure reported once — the run fails, so
/// Lambda's errors alarm sees it — and then left alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_export_is_retried_twice_then_reported_once() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the failure is played by the local fault proxy");
        return;
    }
    // The moto server lives as long as `_aws`.
    let Through {
        aws: _aws,
        c,
        policy,
        tf,
        proxy,
        env,
    } = archived_through_proxy("failing").await;
    let run = |day: u32| {
        let time = format!("2026-12-{day:02}T03:00:00Z");
        let event =
            serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time});
        rdsbackup_tests::runtime_api::run_once(&env, &event)
    };
    let task = |attempt: u32| rdsbackup_common::archive::task_identifier(&policy, "orders", "202612010300", attempt);
    let failures = |output: &Value| output["failed"].as_array().cloned().unwrap_or_default();

    assert_eq!(run(1)["exported"], serde_json::json!([task(1)]));
    proxy.inject(
        &["Action=DescribeExportTasks"],
        rdsbackup_tests::fault_proxy::Fault::rewrite("<Status>complete</Status>", "<Status>failed</Status>"),
    );
    let second = run(2);
    assert_eq!(
        second["exported"],
        serde_json::json!([task(2)]),
        "retried on the same snapshot: {second}"
    );
    assert!(
        failures(&second).is_empty(),
        "a failure with attempts left is not an error: {second}"
    );
    let bucket = format!("rdsbackup-{policy}-{}", rdsbackup_tests::MOTO_ACCOUNT);
    let id = rdsbackup_common::identifier::build(
        &policy,
        "orders",
        rdsbackup_common::identifier::SnapshotKind::Instance,
        "202612010300",
    );
    let record = rdsbackup_tests::json_object(&c.s3, &bucket, &rdsbackup_common::record_key("orders", &id)).await;
    assert_eq!(
        record["export"]["task_identifier"],
        task(2),
        "the record follows the retry: {record}"
    );
    assert_eq!(run(3)["exported"], serde_json::json!([task(3)]));
    // Given up after three attempts: the run fails, naming the last task, and starts none.
    let event = serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
                                   "time": "2026-12-04T03:00:00Z"});
    let (succeeded, stdout, stderr) = rdsbackup_tests::runtime_api::run_once_as_is(&env, &event);
    assert!(!succeeded, "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains(&format!("export {} failed, the last of 3 attempts", task(3))),
        "{said}"
    );
    assert!(!said.contains(&format!("{}-4", task(1))), "no fourth attempt: {said}");
    let fifth = run(5);
    assert!(
        failures(&fifth).is_empty() && fifth.get("exported").is_none(),
        "reported once: {fifth}"
    );
    let record = rdsbackup_tests::json_object(&c.s3, &bucket, &rdsbackup_common::record_key("orders", &id)).await;
    assert_eq!(record["export"]["status"], "failed", "{record}");
    proxy.clear();
    destroy_and_check(&tf, &c, &policy).await;
}

/// An export RDS refuses for good (an engine it cannot export: moto exports anything, so the fault proxy answers
/// as RDS does) is reported by the run that tried, and not tried nor reported again that period.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_rds_refuses_is_reported_once() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the refusal is played by the local fault proxy");
        return;
    }
    // The moto server lives as long as `_aws`.
    let Through {
        aws: _aws,
        c,
        policy,
        tf,
        proxy,
        env,
    } = archived_through_proxy("refused").await;
    proxy.inject(
        &["Action=StartExportTask"],
        rdsbackup_tests::fault_proxy::Fault::query_error(
            400,
            "InvalidParameterCombination",
            "The specified DB engine version is not supported for export to Amazon S3.",
        ),
    );
    let event = |day: u32| {
        serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
                           "time": format!("2026-12-{day:02}T03:00:00Z")})
    };
    let (succeeded, stdout, stderr) = rdsbackup_tests::runtime_api::run_once_as_is(&env, &event(1));
    assert!(!succeeded, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("reported once"),
        "{stdout}{stderr}"
    );
    let second = rdsbackup_tests::runtime_api::run_once(&env, &event(2));
    assert!(second.get("exported").is_none(), "{second}");
    let tried = proxy
        .requests()
        .iter()
        .filter(|r| r.form().iter().any(|(k, v)| k == "Action" && v == "StartExportTask"))
        .count();
    assert_eq!(tried, 1, "not tried again");
    proxy.clear();
    destroy_and_check(&tf, &c, &policy).await;
}

/// A policy with an `archive` block over `orders`, applied, and its function's environment talking to moto
/// through a fault proxy that plays what moto cannot (a failed or refused export).
struct Through {
    aws: Aws,
    c: rdsbackup_tests::Clients,
    policy: String,
    tf: Terraform,
    proxy: rdsbackup_tests::fault_proxy::FaultProxy,
    env: Vec<(String, String)>,
}

async fn archived_through_proxy(prefix: &str) -> Through {
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    rdsbackup_tests::databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    let key = c.kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let policy = unique_name(prefix);
    let tf = Terraform::new(
        &config(&policy, &format!("  archive {{\n    kms_key_arn = \"{key}\"\n  }}")),
        &aws,
    );
    tf.run(&["apply", "-auto-approve"]).success();
    let proxy = rdsbackup_tests::fault_proxy::FaultProxy::start(&moto.endpoint);
    let env = proxy.env_through(&deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await);
    Through {
        aws,
        c,
        policy,
        tf,
        proxy,
        env,
    }
}

/// RDS runs at most 5 exports per account at once: a run with six databases to export starts five, and the
/// sixth waits for a later invocation, which starts it once room is made (moto completes exports at once).
#[tokio::test(flavor = "multi_thread")]
async fn the_queue_holds_at_five_exports_in_flight() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates six RDS databases");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    let dbs = ["db-a", "db-b", "db-c", "db-d", "db-e", "db-f"];
    for db in dbs {
        rdsbackup_tests::databases::instance(&c.rds, db, "postgres", None, &[]).await;
    }
    let key = c.kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let policy = unique_name("queue");
    let listed = dbs.map(|db| format!("\"{db}\"")).join(", ");
    let tf = Terraform::new(
        &config(&policy, &format!("  archive {{\n    kms_key_arn = \"{key}\"\n  }}"))
            .replace("[\"orders\"]", &format!("[{listed}]")),
        &aws,
    );
    tf.run(&["apply", "-auto-approve"]).success();
    let env = deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await;
    let run = |time: &str| {
        let event =
            serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time});
        rdsbackup_tests::runtime_api::run_once(&env, &event)
    };
    let first = run("2026-12-01T03:00:00Z");
    assert_eq!(first["exported"].as_array().unwrap().len(), 5, "five at once: {first}");
    let second = run("2026-12-01T04:00:00Z");
    let started: Vec<&Value> = first["exported"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["exported"].as_array().unwrap())
        .collect();
    assert_eq!(
        second["exported"].as_array().unwrap().len(),
        1,
        "the sixth, once there is room: {second}"
    );
    let mut unique = started.clone();
    unique.sort_by_key(|v| v.as_str().unwrap().to_string());
    unique.dedup();
    assert_eq!(unique.len(), 6, "each database once: {started:?}");
    destroy_and_check(&tf, &c, &policy).await;
}

//! The `restore_drill` block end to end: its rules at validate time; applied, its rule and alarm; drill events
//! driving the real `bootstrap` until each drilled database's evidence says `passed`, with no drill database
//! left and the sources untouched; a restore RDS refuses reported `failed`; a restore still creating (moto makes
//! restores available at once, so the fault proxy says `creating`) waited for across invocations; a leftover
//! drill database deleted, and an untagged database with a drill's name never touched.

use rdsbackup_tests::fault_proxy::{Fault, FaultProxy};
use rdsbackup_tests::{Aws, MOTO_ACCOUNT, Terraform, acceptance, deployed_env, destroy_and_check, unique_name};
use std::collections::BTreeMap;

use serde_json::{Value, json};

const DBS: [&str; 2] = ["billing", "orders"];

fn config(policy: &str, drill: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{policy}"
  db_instance_identifiers = ["billing", "orders"]
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
{drill}
}}
"#
    )
}

#[test]
fn a_bad_restore_drill_block_fails_validate_on_its_attribute() {
    let aws = Aws::start();
    for (block, says) in [
        (
            "  restore_drill {\n    db_identifiers = [\"ledger\"]\n  }",
            "\"ledger\" is not selected by the policy",
        ),
        (
            "  restore_drill {\n    instance_class = \"t3.medium\"\n  }",
            "is not a DB instance class",
        ),
        (
            "  restore_drill {\n    rto_target_minutes = 2\n  }",
            "rto_target_minutes must be from 5 to 1440",
        ),
        (
            "  restore_drill {\n    vpc_security_group_ids = [\"default\"]\n  }",
            "is not a VPC security group id",
        ),
        ("  restore_drill {\n    schedule = \"weekly\"\n  }", "restore_drill"),
    ] {
        let run = Terraform::new(&config("nightly", block), &aws).run(&["validate"]);
        let text = run.text();
        assert!(text.contains(says), "{block}: {text}");
        run.expect_code(1);
    }
    let frequent = Terraform::new(
        &config("nightly", "  restore_drill {\n    schedule = \"rate(1 hour)\"\n  }"),
        &aws,
    )
    .run(&["validate"]);
    assert!(
        frequent.text().contains("Frequent restore drills"),
        "{}",
        frequent.text()
    );
    frequent.success();
}

/// A subnet group RDS does not know would fail every drill, days after the apply: plan refuses it on its
/// attribute, before anything exists, and plans one that exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_subnet_group_that_rds_does_not_know_fails_plan() {
    let aws = Aws::start();
    let policy = unique_name("drillnet");
    let block = |group: &str| format!("  restore_drill {{\n    subnet_group_name = \"{group}\"\n  }}");
    let run = Terraform::new(&config(&policy, &block("no-such-group")), &aws).run(&["plan"]);
    let text = run.text();
    assert!(
        text.contains("Drill subnet group not found")
            && text.contains("no-such-group")
            && text.contains("subnet_group_name"),
        "{text}"
    );
    run.expect_code(1);
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped the half with an existing group: it creates the group on the local endpoint only");
        return;
    };
    let c = aws.clients().await;
    rdsbackup_tests::databases::subnet_group(&c.rds, &moto.endpoint, "app").await;
    Terraform::new(&config(&policy, &block("app")), &aws)
        .run(&["plan"])
        .success();
}

fn event(rule: &str, time: &str) -> Value {
    json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time,
           "resources": [format!("arn:aws:events:us-east-1:{MOTO_ACCOUNT}:rule/{rule}")]})
}

/// A policy over two instances with `restore_drill`, applied, one backup taken (moto makes the snapshots
/// available at once), and the function's environment through a fault proxy.
struct Drilled {
    _aws: Aws,
    c: rdsbackup_tests::Clients,
    policy: String,
    tf: Terraform,
    proxy: FaultProxy,
    env: Vec<(String, String)>,
    bucket: String,
}

async fn drilled(prefix: &str, block: &str) -> Drilled {
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let c = aws.clients().await;
    // billing in the default VPC, orders in an application's subnet group (where its drill must restore).
    rdsbackup_tests::databases::instance(&c.rds, "billing", "postgres", None, &[]).await;
    rdsbackup_tests::databases::subnet_group(&c.rds, &moto.endpoint, "app").await;
    rdsbackup_tests::databases::instance_in_subnet_group(&c.rds, "orders", "app").await;
    let policy = unique_name(prefix);
    let tf = Terraform::new(&config(&policy, block), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let proxy = FaultProxy::start(&moto.endpoint);
    let env = proxy.env_through(&deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await);
    let backup =
        rdsbackup_tests::runtime_api::run_once(&env, &event(&format!("rdsbackup-{policy}"), "2026-12-06T03:00:00Z"));
    assert_eq!(backup["created"].as_array().unwrap().len(), 2, "{backup}");
    Drilled {
        bucket: format!("rdsbackup-{policy}-{MOTO_ACCOUNT}"),
        _aws: aws,
        c,
        policy,
        tf,
        proxy,
        env,
    }
}

impl Drilled {
    fn drill_event(&self) -> Value {
        event(&format!("rdsbackup-{}-drill", self.policy), "2026-12-06T05:00:00Z")
    }

    fn reconcile_event(&self) -> Value {
        event(&format!("rdsbackup-{}-reconcile", self.policy), "2026-12-06T06:00:00Z")
    }

    async fn evidence(&self, db: &str) -> Value {
        rdsbackup_tests::json_object(&self.c.s3, &self.bucket, &format!("drills/{db}/202612060500.json")).await
    }

    /// `db`'s evidence once hourly reconciles (at most three) have taken its drill to its end.
    async fn reconciled(&self, db: &str) -> Value {
        for _ in 0..3 {
            if self.evidence(db).await.get("deleted_at").is_some() {
                break;
            }
            rdsbackup_tests::runtime_api::run_once(&self.env, &self.reconcile_event());
        }
        self.evidence(db).await
    }

    async fn instances(&self) -> Vec<(String, String)> {
        let found = self.c.rds.describe_db_instances().send().await.unwrap();
        found
            .db_instances()
            .iter()
            .map(|db| {
                (
                    db.db_instance_identifier().unwrap_or_default().to_string(),
                    db.db_instance_status().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_events_leave_passed_evidence_for_each_database_and_no_drill_database() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it restores two RDS databases");
        return;
    }
    let d = drilled("drill", "  restore_drill {}").await;
    // The block's rule, on its default schedule, and its alarm; nothing to change after the apply.
    let rule =
        d.c.events
            .describe_rule()
            .name(format!("rdsbackup-{}-drill", d.policy))
            .send()
            .await
            .unwrap();
    assert_eq!(rule.schedule_expression(), Some("cron(0 5 ? * SUN *)"));
    let alarms =
        d.c.cloudwatch
            .describe_alarms()
            .alarm_names(format!("rdsbackup-{}-restore-drill", d.policy))
            .send()
            .await
            .unwrap();
    assert_eq!(alarms.metric_alarms()[0].metric_name(), Some("RestoreDrillMissed"));
    d.tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    let sources_before = d.instances().await;

    // What each drill restores: the slot's own snapshot of its database.
    let snapshot_of = |db: &str| {
        rdsbackup_common::identifier::build(
            &d.policy,
            db,
            rdsbackup_common::identifier::SnapshotKind::Instance,
            "202612060300",
        )
    };
    // Drill events until every evidence record is finished (moto: start, then available and deleted, then done).
    let mut stdout = String::new();
    for _ in 0..4 {
        let (ok, out, err) = rdsbackup_tests::runtime_api::run_once_as_is(&d.env, &d.drill_event());
        assert!(ok, "{out}{err}");
        stdout.push_str(&out);
        let mut finished = true;
        for db in DBS {
            finished &= d.evidence(db).await.get("deleted_at").is_some();
        }
        if finished {
            break;
        }
    }
    for db in DBS {
        let e = d.evidence(db).await;
        assert_eq!(e["status"], "passed", "{e}");
        assert_eq!(e["policy"], d.policy.as_str());
        assert_eq!(e["db_identifier"], db);
        assert_eq!(
            e["snapshot_identifier"],
            snapshot_of(db).as_str(),
            "the newest own snapshot"
        );
        assert_eq!(
            e["restored_identifier"],
            rdsbackup_common::drill::restored_identifier(&d.policy, db, "202612060500").as_str()
        );
        let rto = e["rto_seconds"].as_i64().expect("an RTO");
        assert!(rto >= 0, "{e}");
        for at in ["started_at", "available_at", "deleted_at"] {
            assert!(e[at].as_str().is_some_and(|t| t.ends_with('Z')), "{at}: {e}");
        }
    }
    assert!(stdout.contains("\"RestoreDrillSeconds\""), "the metric: {stdout}");
    // Each restore in its source's network: orders into its subnet group (moto would copy the snapshot's group
    // even when none is asked for, so the request itself is what shows it), billing left to RDS's default.
    let restores: BTreeMap<String, Option<String>> = d
        .proxy
        .requests()
        .iter()
        .filter(|r| r.operation().as_deref() == Some("rds:RestoreDBInstanceFromDBSnapshot"))
        .map(|r| {
            let form: BTreeMap<String, String> = r.form().into_iter().collect();
            (
                form["DBSnapshotIdentifier"].clone(),
                form.get("DBSubnetGroupName").cloned(),
            )
        })
        .collect();
    assert_eq!(restores.len(), 2, "{restores:?}");
    assert_eq!(
        restores.get(&snapshot_of("orders")),
        Some(&Some("app".to_string())),
        "{restores:?}"
    );
    assert_eq!(restores.get(&snapshot_of("billing")), Some(&None), "{restores:?}");
    let after = d.instances().await;
    assert!(
        after.iter().all(|(id, _)| !id.starts_with("rdsbackup-drill-")),
        "no drill database left: {after:?}"
    );
    assert_eq!(after, sources_before, "the sources untouched");
    // A repeated drill event (at-least-once delivery) starts nothing again.
    let again = rdsbackup_tests::runtime_api::run_once(&d.env, &d.drill_event());
    assert!(again.get("drilled").is_none(), "{again}");
    destroy_and_check(&d.tf, &d.c, &d.policy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_restore_is_reported_failed_with_its_alarm_metric() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the refusal is played by the local fault proxy");
        return;
    }
    let d = drilled("refused", "  restore_drill {\n    db_identifiers = [\"orders\"]\n  }").await;
    d.proxy.inject(
        &["Action=RestoreDBInstanceFromDBSnapshot"],
        Fault::query_error(
            400,
            "StorageQuotaExceeded",
            "The request cannot be processed because it would exceed the storage quota.",
        ),
    );
    let (ok, stdout, stderr) = rdsbackup_tests::runtime_api::run_once_as_is(&d.env, &d.drill_event());
    assert!(!ok, "a failed drill fails the run: {stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("StorageQuotaExceeded"),
        "{stdout}{stderr}"
    );
    let e = d.evidence("orders").await;
    assert_eq!(e["status"], "failed", "{e}");
    assert!(e["error"].as_str().unwrap().contains("StorageQuotaExceeded"), "{e}");
    assert!(e.get("deleted_at").is_some(), "finished: {e}");
    let missed = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l.get("RestoreDrillMissed").is_some())
        .expect("the alarm's metric");
    assert_eq!(missed["RestoreDrillMissed"], 1);
    let billing =
        d.c.s3
            .head_object()
            .bucket(&d.bucket)
            .key("drills/billing/202612060500.json")
            .send()
            .await;
    assert!(billing.is_err(), "billing is not drilled");
    d.proxy.clear();
    destroy_and_check(&d.tf, &d.c, &d.policy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_still_creating_is_waited_for_and_leftovers_are_deleted_but_untagged_databases_kept() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the restore's progress is played by the local fault proxy");
        return;
    }
    let d = drilled("waiting", "  restore_drill {\n    db_identifiers = [\"orders\"]\n  }").await;
    // A leftover of this policy (tagged as its drill, named in no drill in progress), and a database that has a
    // drill's name and the policy's tag, not the drill's.
    let leftover = "rdsbackup-drill-deadbeef-202611290500";
    let stranger = "rdsbackup-drill-cafebabe-202611290500";
    let policy_tag = d.policy.clone();
    rdsbackup_tests::databases::instance(
        &d.c.rds,
        leftover,
        "postgres",
        None,
        &[("rdsbackup:policy", &policy_tag), ("rdsbackup:drill", "true")],
    )
    .await;
    // The policy's tag but not the drill's: not a drill database, whatever its name.
    rdsbackup_tests::databases::instance(
        &d.c.rds,
        stranger,
        "postgres",
        None,
        &[("rdsbackup:policy", &policy_tag)],
    )
    .await;

    // RDS is still restoring: every invocation finds the drill database creating, and waits.
    d.proxy.inject(
        &["Action=DescribeDBInstances"],
        Fault::rewrite(
            "<DBInstanceStatus>available</DBInstanceStatus>",
            "<DBInstanceStatus>creating</DBInstanceStatus>",
        ),
    );
    let first = rdsbackup_tests::runtime_api::run_once(&d.env, &d.drill_event());
    assert_eq!(first["drilled"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["cleaned"], json!([leftover]), "{first}");
    let second = rdsbackup_tests::runtime_api::run_once(&d.env, &d.reconcile_event());
    assert!(second.get("drills").is_none(), "still creating: {second}");
    let e = d.evidence("orders").await;
    assert!(
        e.get("available_at").is_none() && e.get("deleted_at").is_none(),
        "in progress: {e}"
    );
    let restored = rdsbackup_common::drill::restored_identifier(&d.policy, "orders", "202612060500");
    assert!(d.instances().await.iter().any(|(id, _)| *id == restored));

    // Available: the hourly reconcile (or RDS's event) takes the drill on to its end.
    d.proxy.clear();
    let finished = d.reconciled("orders").await;
    assert_eq!(finished["status"], "passed", "{finished}");
    let ids: Vec<String> = d.instances().await.into_iter().map(|(id, _)| id).collect();
    assert!(
        !ids.contains(&restored) && !ids.contains(&leftover.to_string()),
        "{ids:?}"
    );
    assert!(
        ids.contains(&stranger.to_string()),
        "a database without the drill tag is never touched: {ids:?}"
    );
    destroy_and_check(&d.tf, &d.c, &d.policy).await;
}

/// Lambda can end an invocation anywhere (its timeout, a crash, a redeploy). Killed while its restore request is
/// in flight (RDS did the restore; the answer never came back), the drill is taken on by the next invocations,
/// from its marker and its evidence, to `passed`: no second restore, no drill database left.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_whose_invocation_was_killed_mid_restore_is_finished_by_the_next() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: the lost answer is played by the local fault proxy");
        return;
    }
    let d = drilled("killed", "  restore_drill {\n    db_identifiers = [\"orders\"]\n  }").await;
    let restored = rdsbackup_common::drill::restored_identifier(&d.policy, "orders", "202612060500");
    d.proxy.inject(
        &["Action=RestoreDBInstanceFromDBSnapshot"],
        Fault::Hang(std::time::Duration::from_secs(120)),
    );
    let mut cut = rdsbackup_tests::runtime_api::spawn_once(&d.env, &d.drill_event());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !d.instances().await.iter().any(|(id, _)| *id == restored) {
        assert!(
            std::time::Instant::now() < deadline,
            "the drill's restore never reached RDS"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cut.kill().unwrap();
    cut.wait().unwrap();
    let killed = std::time::Instant::now();
    d.proxy.clear();
    let cut_short = d.evidence("orders").await;
    assert!(
        cut_short.get("deleted_at").is_none()
            && cut_short["snapshot_identifier"].as_str().is_some_and(|s| !s.is_empty()),
        "the evidence of a drill in progress, written before its restore: {cut_short}"
    );

    let finished = d.reconciled("orders").await;
    assert_eq!(finished["status"], "passed", "{finished}");
    assert_eq!(
        finished["started_at"], cut_short["started_at"],
        "the same drill: {finished}"
    );
    let restores_after = d
        .proxy
        .requests()
        .iter()
        .filter(|r| r.arrived > killed && r.body_text().contains("Action=RestoreDBInstanceFromDBSnapshot"))
        .count();
    assert_eq!(restores_after, 0, "the drill's database was restored again");
    assert!(
        !d.instances().await.iter().any(|(id, _)| *id == restored),
        "the drill database is deleted"
    );
    destroy_and_check(&d.tf, &d.c, &d.policy).await;
}

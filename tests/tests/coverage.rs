//! The issue's "done when" for the data sources, through Terraform against moto: one configuration with a policy,
//! `data "rdsbackup_snapshots"` and `data "rdsbackup_coverage"`. Databases the policy selects by identifier, by
//! tags and through their Aurora cluster are protected; one created outside any policy is not, and a `check`
//! block on `unprotected` says so; after a backup run, `latest` names each database's newest snapshot.

use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_tests::{Aws, Terraform, acceptance, databases, deployed_env, unique_name};
use serde_json::{Value, json};

fn config(policy: &str) -> String {
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
  selection_tags          = {{ backup = "nightly" }}
  deny_insecure_transport = false
  force_destroy           = true
}}

data "rdsbackup_coverage" "region" {{
  exclude_tags = {{ scratch = "true" }}
  depends_on   = [rdsbackup_policy.p]
}}

check "every_database_is_backed_up" {{
  assert {{
    condition     = length(data.rdsbackup_coverage.region.unprotected) == 0
    error_message = "Not backed up: ${{join(", ", data.rdsbackup_coverage.region.unprotected)}}"
  }}
}}

data "rdsbackup_snapshots" "p" {{
  policy     = rdsbackup_policy.p.name
  depends_on = [rdsbackup_policy.p]
}}

output "latest" {{
  value = data.rdsbackup_snapshots.p.latest
}}

output "protected" {{
  value = data.rdsbackup_coverage.region.protected
}}

output "unprotected" {{
  value = data.rdsbackup_coverage.region.unprotected
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn coverage_finds_the_database_no_policy_backs_up() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates RDS databases, and a real account has other policies");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    databases::instance(&c.rds, "tagged", "postgres", None, &[("backup", "nightly")]).await;
    databases::instance(&c.rds, "forgotten", "postgres", None, &[]).await;
    databases::instance(&c.rds, "scratch", "postgres", None, &[("scratch", "true")]).await;
    databases::cluster(&c.rds, "analytics", &[]).await;
    databases::instance(&c.rds, "analytics-1", "aurora-postgresql", Some("analytics"), &[]).await;
    let policy: &str = &unique_name("coverage");
    let tf = Terraform::new(&config(policy), &aws);
    let apply = tf.run(&["apply", "-auto-approve"]);
    apply.success();
    assert!(
        apply.text().contains("Not backed up: forgotten"),
        "the check block names the unprotected database: {}",
        apply.text()
    );
    let shown = tf.run(&["output", "-json"]);
    shown.success();
    let outputs: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        outputs["protected"]["value"],
        json!(["analytics", "analytics-1", "orders", "tagged"])
    );
    assert_eq!(outputs["unprotected"]["value"], json!(["forgotten"]));
    assert_eq!(outputs["latest"]["value"], json!({}), "no backup yet");

    // One backup by the deployed function, then the data sources read again.
    let env = deployed_env(&aws, &c, &format!("rdsbackup-{policy}")).await;
    let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-28T03:00:00Z"});
    let output = rdsbackup_tests::runtime_api::run_once(&env, &event);
    assert_eq!(output["created"].as_array().unwrap().len(), 3, "{output}");
    tf.run(&["apply", "-auto-approve"]).success();
    let shown = tf.run(&["output", "-json"]);
    let outputs: Value = serde_json::from_str(&shown.stdout).unwrap();
    let id = |db: &str, kind| identifier::build(policy, db, kind, "202611280300");
    assert_eq!(
        outputs["latest"]["value"],
        json!({
            "analytics": id("analytics", SnapshotKind::Cluster),
            "orders": id("orders", SnapshotKind::Instance),
            "tagged": id("tagged", SnapshotKind::Instance),
        })
    );
    tf.run(&["destroy", "-auto-approve"]).success();
}

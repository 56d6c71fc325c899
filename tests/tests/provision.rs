//! The whole stack provisioned by the real Terraform CLI against moto, checked through the AWS SDK: apply,
//! empty plan, drift of every part shown and repaired, update in place, import, destroy, and a failure
//! injected halfway through create.

use rdsbackup_tests::fault_proxy::{Fault, FaultProxy, Request};
use rdsbackup_tests::{
    Aws, Clients, MOTO_ACCOUNT, Terraform, databases, destroy_and_check, leftovers, percent_decode, unique_name,
};
use serde_json::Value;

/// A policy named `policy_name` (each test its own, from `unique_name`, so that tests run against one real
/// account in parallel never meet).
fn config(policy_name: &str, extra: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

provider "rdsbackup" {{
  default_tags = {{ owner = "platform" }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{policy_name}"
  db_instance_identifiers = ["orders"]
  db_cluster_identifiers  = ["analytics"]
  retention_days          = 7
  tags                    = {{ team = "data" }}
{extra}
}}
"#
    )
}

/// The policy's attributes as Terraform recorded them.
fn state(tf: &Terraform) -> Value {
    let run = tf.run(&["show", "-json"]);
    run.success();
    let shown: Value = serde_json::from_str(&run.stdout).expect("terraform show -json prints JSON");
    shown["values"]["root_module"]["resources"][0]["values"].clone()
}

#[track_caller]
fn plan_is_empty(tf: &Terraform) {
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
}

fn tag(tags: &std::collections::HashMap<String, String>, key: &str) -> Option<String> {
    tags.get(key).cloned()
}

/// A snapshot record in the policy's bucket, which destroy refuses to delete without `force_destroy`.
async fn put_record(c: &Clients, bucket: &str) {
    c.s3.put_object()
        .bucket(bucket)
        .key("snapshots/orders/record.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
}

/// `force_destroy` applied, then a destroy that leaves nothing of the stack.
async fn destroy_with_force(tf: &Terraform, c: &Clients, policy_name: &str) {
    std::fs::write(
        tf.dir.join("main.tf"),
        config(policy_name, "deny_insecure_transport = false\nforce_destroy = true"),
    )
    .unwrap();
    tf.run(&["apply", "-auto-approve"]).success();
    destroy_and_check(tf, c, policy_name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_every_part_and_a_second_plan_is_empty() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, ""), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    let aws_clients = aws.clients().await;
    let Clients {
        s3,
        iam,
        lambda,
        logs,
        events,
        cloudwatch,
        sns,
        ..
    } = &aws_clients;
    let bucket = s["bucket_name"].as_str().unwrap();
    assert_eq!(
        bucket,
        format!("rdsbackup-{policy_name}-{}", s["account_id"].as_str().unwrap())
    );

    // The dashboard: newest snapshot per database, runs, duration and errors (no copy widgets without copies).
    let titles = rdsbackup_tests::dashboard_titles(&aws_clients, &format!("rdsbackup-{policy_name}")).await;
    assert_eq!(
        titles,
        [
            "Newest available snapshot per database (hours)",
            "Snapshots created, failed and deleted per run",
            "Run duration (ms) and errors"
        ]
    );
    let encryption = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "aws:kms"
    );
    let versioning = s3.get_bucket_versioning().bucket(bucket).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let blocks = s3.get_public_access_block().bucket(bucket).send().await.unwrap();
    let blocks = blocks.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            blocks.block_public_acls(),
            blocks.ignore_public_acls(),
            blocks.block_public_policy(),
            blocks.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let ownership = s3.get_bucket_ownership_controls().bucket(bucket).send().await.unwrap();
    assert_eq!(
        ownership.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "BucketOwnerEnforced"
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    // 0.2: noncurrent versions of 128 KB or more only; S3 would not move ~1 KB records anyway.
    let rule = &lifecycle.rules()[0];
    assert!(rule.transitions().is_empty(), "{rule:?}");
    let transition = &rule.noncurrent_version_transitions()[0];
    assert_eq!(
        (
            transition.noncurrent_days(),
            transition.storage_class().map(|c| c.as_str())
        ),
        (Some(30), Some("GLACIER"))
    );
    // The rule's `ObjectSizeGreaterThan` (128 KB) is not checked here: moto drops it from the configuration.
    let policy = s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
    assert!(policy.policy().unwrap().contains("aws:SecureTransport"));

    let role = iam
        .get_role()
        .role_name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert!(
        role.assume_role_policy_document()
            .unwrap()
            .contains("lambda.amazonaws.com")
    );
    assert_eq!(s["role_arn"], role.arn());
    let inline = iam
        .get_role_policy()
        .role_name(role.role_name())
        .policy_name("rdsbackup")
        .send()
        .await
        .unwrap()
        .policy_document;
    let inline = percent_decode(&inline);
    assert!(
        inline.contains("rds:DeleteDBSnapshot") && inline.contains("rds:snapshot-tag/rdsbackup:policy"),
        "{inline}"
    );
    assert!(
        inline.contains("db:orders"),
        "snapshot creation scoped to the listed instance: {inline}"
    );

    let function = lambda
        .get_function()
        .function_name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    let configuration = function.configuration().unwrap();
    assert_eq!(configuration.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(configuration.handler(), Some("bootstrap"));
    assert_eq!(configuration.role(), Some(role.arn()));
    assert_eq!(configuration.code_sha256(), s["lambda_code_sha256"].as_str());
    let env = configuration.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("RDSBACKUP_POLICY").map(String::as_str), Some(policy_name));
    assert_eq!(env.get("RDSBACKUP_BUCKET").map(String::as_str), Some(bucket));
    assert_eq!(env.get("RDSBACKUP_RETENTION_DAYS").map(String::as_str), Some("7"));
    let tags = function.tags().unwrap();
    assert_eq!(tag(tags, "rdsbackup:policy").as_deref(), Some(policy_name));
    assert_eq!(
        tag(tags, "owner").as_deref(),
        Some("platform"),
        "default_tags reach every resource"
    );
    assert_eq!(tag(tags, "team").as_deref(), Some("data"));

    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));

    let rule = events
        .describe_rule()
        .name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(rule.schedule_expression(), Some("cron(0 3 * * ? *)"));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    let targets = events
        .list_targets_by_rule()
        .rule(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets().len(), 1);
    assert_eq!(Some(targets.targets()[0].arn()), s["function_arn"].as_str());
    assert!(
        targets.targets()[0].input().is_none(),
        "the scheduled event reaches the function unchanged"
    );
    let permission = lambda
        .get_policy()
        .function_name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    assert!(permission.policy().unwrap().contains("events.amazonaws.com"));

    let alarms = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("rdsbackup-{policy_name}-"))
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = alarms.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
    assert_eq!(
        names,
        [
            format!("rdsbackup-{policy_name}-backup-overdue"),
            format!("rdsbackup-{policy_name}-errors")
        ]
    );
    assert_eq!(s["alarm_names"], serde_json::json!(names));
    for alarm in alarms.metric_alarms() {
        assert_eq!(alarm.alarm_actions(), [s["alarm_sns_topic_arn"].as_str().unwrap()]);
    }
    let overdue = &alarms.metric_alarms()[0];
    assert_eq!(
        (overdue.namespace(), overdue.metric_name()),
        (Some("RDSBackup"), Some("NewestSnapshotAgeHours"))
    );
    assert_eq!(overdue.threshold(), Some(26.0));
    sns.get_topic_attributes()
        .topic_arn(s["alarm_sns_topic_arn"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(s["drift"], serde_json::json!([]));
    plan_is_empty(&tf);
    destroy_and_check(&tf, &aws_clients, policy_name).await;
}

/// A change made behind Terraform's back, one per managed setting of every part.
#[derive(Clone, Copy, Debug)]
enum OutOfBand {
    BucketVersioning,
    BucketPublicAccessBlock,
    BucketPolicy,
    BucketLifecycle,
    ManagedPolicyAttached,
    ForeignPolicyStatementOnly,
    ForeignLifecycleRuleOnly,
    RoleInlinePolicy,
    FunctionMemory,
    FunctionHandler,
    LogRetention,
    RuleDisabled,
    RuleTarget,
    AlarmDeleted,
    TopicDeleted,
    DashboardWidgetRemoved,
    ReconcileRuleDeleted,
}

async fn make(c: &Clients, s: &Value, change: OutOfBand) {
    let bucket = s["bucket_name"].as_str().unwrap();
    let name = format!("rdsbackup-{}", s["id"].as_str().unwrap());
    match change {
        OutOfBand::BucketVersioning => {
            use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
            let suspended = VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build();
            c.s3.put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(suspended)
                .send()
                .await
                .unwrap();
        }
        OutOfBand::BucketPublicAccessBlock => {
            c.s3.delete_public_access_block().bucket(bucket).send().await.unwrap();
        }
        OutOfBand::BucketPolicy => {
            c.s3.delete_bucket_policy().bucket(bucket).send().await.unwrap();
        }
        OutOfBand::BucketLifecycle => {
            c.s3.delete_bucket_lifecycle().bucket(bucket).send().await.unwrap();
        }
        OutOfBand::ManagedPolicyAttached => {
            let created = c
                .iam
                .create_policy()
                .policy_name("wide-open")
                .policy_document(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
                )
                .send()
                .await
                .unwrap();
            c.iam
                .attach_role_policy()
                .role_name(&name)
                .policy_arn(created.policy().unwrap().arn().unwrap())
                .send()
                .await
                .unwrap();
        }
        OutOfBand::ForeignPolicyStatementOnly => {
            let foreign = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"AuditorRead","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
            );
            c.s3.put_bucket_policy()
                .bucket(bucket)
                .policy(foreign)
                .send()
                .await
                .unwrap();
        }
        OutOfBand::ForeignLifecycleRuleOnly => {
            use aws_sdk_s3::types::{
                BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
            };
            let rule = LifecycleRule::builder()
                .id("expire-tmp")
                .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
                .status(ExpirationStatus::Enabled)
                .expiration(LifecycleExpiration::builder().days(1).build())
                .build()
                .unwrap();
            c.s3.put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
                .send()
                .await
                .unwrap();
        }
        OutOfBand::RoleInlinePolicy => {
            c.iam
                .delete_role_policy()
                .role_name(&name)
                .policy_name("rdsbackup")
                .send()
                .await
                .unwrap();
        }
        OutOfBand::FunctionMemory => {
            c.lambda
                .update_function_configuration()
                .function_name(&name)
                .memory_size(512)
                .send()
                .await
                .unwrap();
        }
        OutOfBand::FunctionHandler => {
            c.lambda
                .update_function_configuration()
                .function_name(&name)
                .handler("other")
                .send()
                .await
                .unwrap();
        }
        OutOfBand::LogRetention => {
            let group = format!("/aws/lambda/{name}");
            c.logs
                .put_retention_policy()
                .log_group_name(group)
                .retention_in_days(7)
                .send()
                .await
                .unwrap();
        }
        OutOfBand::RuleDisabled => {
            c.events.disable_rule().name(&name).send().await.unwrap();
        }
        OutOfBand::RuleTarget => {
            c.events
                .remove_targets()
                .rule(&name)
                .ids("rdsbackup")
                .send()
                .await
                .unwrap();
        }
        OutOfBand::AlarmDeleted => {
            c.cloudwatch
                .delete_alarms()
                .alarm_names(format!("{name}-errors"))
                .send()
                .await
                .unwrap();
        }
        OutOfBand::TopicDeleted => {
            c.sns
                .delete_topic()
                .topic_arn(s["alarm_sns_topic_arn"].as_str().unwrap())
                .send()
                .await
                .unwrap();
        }
        OutOfBand::DashboardWidgetRemoved => {
            let found = c.cloudwatch.get_dashboard().dashboard_name(&name).send().await.unwrap();
            let mut body: Value = serde_json::from_str(found.dashboard_body().unwrap()).unwrap();
            body["widgets"].as_array_mut().unwrap().pop();
            c.cloudwatch
                .put_dashboard()
                .dashboard_name(&name)
                .dashboard_body(body.to_string())
                .send()
                .await
                .unwrap();
        }
        OutOfBand::ReconcileRuleDeleted => {
            let rule = format!("{name}-reconcile");
            c.events
                .remove_targets()
                .rule(&rule)
                .ids("rdsbackup")
                .send()
                .await
                .unwrap();
            c.events.delete_rule().name(&rule).send().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_out_of_band_change_shows_in_plan_and_apply_repairs_it() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, ""), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    let c = aws.clients().await;
    // Each change with what the plan must say about it.
    let cases = [
        (OutOfBand::BucketVersioning, "versioning is Suspended"),
        (OutOfBand::BucketPublicAccessBlock, "public access is not fully blocked"),
        (OutOfBand::BucketPolicy, "deny_insecure_transport = false -> true"),
        (
            OutOfBand::BucketLifecycle,
            "lifecycle rule rdsbackup-glacier is missing",
        ),
        (
            OutOfBand::ForeignPolicyStatementOnly,
            "deny_insecure_transport = false -> true",
        ),
        (
            OutOfBand::ForeignLifecycleRuleOnly,
            "lifecycle rule rdsbackup-glacier is missing",
        ),
        (
            OutOfBand::RoleInlinePolicy,
            "inline policy rdsbackup is missing or differs",
        ),
        (OutOfBand::ManagedPolicyAttached, "is attached outside the policy"),
        (OutOfBand::FunctionMemory, "lambda_memory_mb = 512 -> 256"),
        (OutOfBand::FunctionHandler, "handler is other"),
        (OutOfBand::LogRetention, "log_retention_days = 7 -> 30"),
        (OutOfBand::RuleDisabled, "enabled = false -> true"),
        (OutOfBand::RuleTarget, "targets differ"),
        (OutOfBand::AlarmDeleted, "-errors is missing"),
        (OutOfBand::TopicDeleted, "is missing"),
        (OutOfBand::DashboardWidgetRemoved, "its widgets differ"),
        (OutOfBand::ReconcileRuleDeleted, "-reconcile is missing"),
    ];
    for (change, plan_mentions) in cases {
        make(&c, &s, change).await;
        let plan = tf.run(&["plan", "-detailed-exitcode"]);
        plan.expect_code(2);
        let text = plan.text();
        assert!(
            text.contains(plan_mentions),
            "{change:?}: the plan shows {plan_mentions:?}: {text}"
        );
        assert!(text.contains("1 to change"), "{change:?}: repaired in place: {text}");
        tf.run(&["apply", "-auto-approve"]).success();
        let after = tf.run(&["plan", "-detailed-exitcode"]);
        assert_eq!(after.code, Some(0), "{change:?}: apply repaired it: {}", after.text());
    }
    // What others added to the bucket policy and the lifecycle stays beside the provider's own.
    let bucket = s["bucket_name"].as_str().unwrap();
    let policy = c.s3.get_bucket_policy().bucket(bucket).send().await.unwrap();
    let policy = policy.policy().unwrap();
    assert!(
        policy.contains("AuditorRead") && policy.contains("DenyInsecureTransport"),
        "{policy}"
    );
    let lifecycle =
        c.s3.get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
    let mut ids: Vec<&str> = lifecycle.rules().iter().filter_map(|r| r.id()).collect();
    ids.sort();
    assert_eq!(ids, ["expire-tmp", "rdsbackup-glacier"]);
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "detached by apply");
    destroy_and_check(&tf, &c, policy_name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_update_in_place() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, ""), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let before = state(&tf);
    std::fs::write(
        tf.dir.join("main.tf"),
        config(
            policy_name,
            "schedule = \"rate(12 hours)\"\nenabled = false\nmax_backup_age_hours = 13\nlambda_memory_mb = 512",
        )
        .replace("retention_days          = 7", "retention_days          = 14"),
    )
    .unwrap();
    let plan = tf.run(&["plan"]);
    plan.success();
    assert!(
        plan.text().contains("0 to add, 1 to change, 0 to destroy"),
        "{}",
        plan.text()
    );
    tf.run(&["apply", "-auto-approve"]).success();
    plan_is_empty(&tf);
    let after = state(&tf);
    assert_eq!(before["function_arn"], after["function_arn"]);
    let c = aws.clients().await;
    let name = format!("rdsbackup-{policy_name}");
    let rule = c.events.describe_rule().name(&name).send().await.unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(12 hours)"));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("DISABLED"));
    let function = c
        .lambda
        .get_function_configuration()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(function.memory_size(), Some(512));
    let env = function.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("RDSBACKUP_RETENTION_DAYS").map(String::as_str), Some("14"));
    let alarm = c
        .cloudwatch
        .describe_alarms()
        .alarm_names(format!("{name}-backup-overdue"))
        .send()
        .await
        .unwrap();
    assert_eq!(alarm.metric_alarms()[0].threshold(), Some(13.0));
    // A paused policy does not page about the backups it was told not to take.
    assert_eq!(alarm.metric_alarms()[0].actions_enabled(), Some(false));
    destroy_and_check(&tf, &c, policy_name).await;
}

/// Settings an import must find again: a schedule, a log retention, and copy blocks (one inheriting the
/// policy's retention, one with its own), which only the function's environment holds.
const IMPORTED_EXTRA: &str = r#"
  schedule           = "cron(15 1 * * ? *)"
  log_retention_days = 90
  copy {
    region = "us-west-2"
  }
  copy {
    region         = "eu-west-1"
    retention_days = 90
  }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn import_by_name_rebuilds_the_state_and_plans_no_change() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let original = Terraform::new(&config(policy_name, IMPORTED_EXTRA), &aws);
    original.run(&["apply", "-auto-approve"]).success();
    let applied = state(&original);

    let adopter = Terraform::new(&config(policy_name, IMPORTED_EXTRA), &aws);
    adopter.run(&["import", "rdsbackup_policy.p", policy_name]).success();
    // Every attribute, as terraform-provider-aws' ImportStateVerify checks: import must rebuild the state
    // apply wrote, not a chosen few of its values.
    let imported = state(&adopter);
    let (Value::Object(imported), Value::Object(applied)) = (&imported, &applied) else {
        panic!("states are objects")
    };
    let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(imported), keys(applied));
    for (attribute, value) in applied {
        assert_eq!(&imported[attribute], value, "{attribute}");
    }
    assert_eq!(imported["copy"][1]["retention_days"], 90);
    assert_eq!(
        imported["copy"][0]["retention_days"],
        Value::Null,
        "inherited, as configured"
    );
    plan_is_empty(&adopter);

    let missing = Terraform::new(&config(policy_name, ""), &aws);
    let run = missing.run(&["import", "rdsbackup_policy.p", "absent"]);
    run.expect_code(1);
    assert!(run.text().contains("non-existent"), "{}", run.text());
    destroy_and_check(&adopter, &aws.clients().await, policy_name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_refuses_a_bucket_with_records_then_removes_everything_but_snapshots() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let c = aws.clients().await;
    c.rds
        .create_db_instance()
        .db_instance_identifier("orders")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("admin")
        .master_user_password("password123")
        .allocated_storage(20)
        .send()
        .await
        .unwrap();
    c.rds
        .create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier("rdsbackup-nightly-orders-202611280300")
        .send()
        .await
        .unwrap();

    let tf = Terraform::new(&config(policy_name, "deny_insecure_transport = false"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    let bucket = s["bucket_name"].as_str().unwrap().to_string();
    put_record(&c, &bucket).await;

    let refused = tf.run(&["destroy", "-auto-approve"]);
    refused.expect_code(1);
    assert!(
        refused
            .text()
            .contains("holds snapshot records, so nothing was deleted"),
        "{}",
        refused.text()
    );
    c.lambda
        .get_function()
        .function_name(format!("rdsbackup-{policy_name}"))
        .send()
        .await
        .expect("nothing was deleted");

    destroy_with_force(&tf, &c, policy_name).await;
    let snapshots = c
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier("rdsbackup-nightly-orders-202611280300")
        .send()
        .await
        .unwrap();
    assert_eq!(snapshots.db_snapshots().len(), 1, "destroy never deletes a snapshot");
}

/// Parts are deleted by name, so a stack whose function carries another stack's owner tag (a policy named
/// `vault-<x>` has vault `<x>`'s names) is refused whole: nothing is deleted, and that refusal comes before the
/// bucket's (both are asked at once). Given its tag back, the stack is destroyed.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_deletes_nothing_of_a_stack_whose_function_is_another_stacks() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, "deny_insecure_transport = false"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    let c = aws.clients().await;
    let function_arn = s["function_arn"].as_str().unwrap();
    let retag = |owner: &str| {
        c.lambda
            .tag_resource()
            .resource(function_arn)
            .tags("rdsbackup:policy", owner)
            .send()
    };
    retag("someone-else").await.unwrap();
    // A record too: the bucket's refusal would also apply, and must not hide the owner's.
    put_record(&c, s["bucket_name"].as_str().unwrap()).await;

    let refused = tf.run(&["destroy", "-auto-approve"]);
    refused.expect_code(1);
    assert!(
        refused
            .text()
            .contains("is not this stack's (it carries rdsbackup:policy = someone-else)"),
        "{}",
        refused.text()
    );
    let left = leftovers(&c, policy_name).await;
    for part in [
        "bucket",
        "role",
        "function",
        "log group",
        "rule",
        "topic",
        "alarm",
        "dashboard",
    ] {
        assert!(
            left.iter().any(|l| l.starts_with(&format!("{part} "))),
            "destroy deleted the {part} of a stack it refused: {left:?}"
        );
    }

    retag(policy_name).await.unwrap();
    destroy_with_force(&tf, &c, policy_name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_halfway_through_create_is_tracked_and_a_second_apply_converges() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped: fault injection needs the local endpoint, not real AWS (acceptance mode)");
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    // The schedule rule comes after the bucket, role, log group, function and topic.
    proxy.fail_on(Some("PutRule"));
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws)
        .with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let failed = tf.run(&["apply", "-auto-approve"]);
    failed.expect_code(1);
    assert!(
        failed.text().contains("injected failure of PutRule"),
        "{}",
        failed.text()
    );
    assert!(proxy.failed() >= 1);
    let listed = tf.run(&["state", "list"]);
    assert!(
        listed.stdout.contains("rdsbackup_policy.p"),
        "the partial stack is tracked: {}",
        listed.stdout
    );

    proxy.fail_on(None);
    tf.run(&["apply", "-auto-approve"]).success();
    plan_is_empty(&tf);

    let c = aws.clients().await;
    let name = format!("rdsbackup-{policy_name}");
    let functions = c.lambda.list_functions().send().await.unwrap();
    let ours: Vec<_> = functions
        .functions()
        .iter()
        .filter(|f| f.function_name() == Some(name.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "one function, no orphan");
    let buckets = c.s3.list_buckets().send().await.unwrap();
    assert_eq!(
        buckets
            .buckets()
            .iter()
            .filter(|b| b.name().unwrap_or_default().starts_with("rdsbackup-"))
            .count(),
        1
    );
    let roles = c.iam.list_roles().send().await.unwrap();
    assert_eq!(
        roles
            .roles()
            .iter()
            .filter(|r| r.role_name().starts_with("rdsbackup-"))
            .count(),
        1
    );

    destroy_and_check(&tf, &c, policy_name).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_deleted_out_of_band_leaves_the_state_and_is_planned_again() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let other = Terraform::new(&config(policy_name, "force_destroy = true"), &aws);
    other.run(&["import", "rdsbackup_policy.p", policy_name]).success();
    other.run(&["destroy", "-auto-approve"]).success();
    let plan = tf.run(&["plan", "-detailed-exitcode"]);
    plan.expect_code(2);
    assert!(
        plan.text().contains("1 to add, 0 to change, 0 to destroy"),
        "{}",
        plan.text()
    );
}

/// RDS refuses an instance snapshot of an Aurora (or Multi-AZ cluster) member; the run snapshots its cluster, so
/// the role must allow that. Which cluster is what RDS says now: a listed instance that becomes a member later is
/// drift of the role's policy, and apply grants the cluster.
#[tokio::test(flavor = "multi_thread")]
async fn a_listed_cluster_member_grants_its_cluster_snapshot_and_refresh_keeps_it_current() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    if matches!(aws, Aws::Real) {
        eprintln!("skipped in acceptance mode: it creates an Aurora cluster, which takes AWS many minutes");
        return;
    }
    let c = aws.clients().await;
    let tf = Terraform::new(
        &config(policy_name, "  db_instance_identifiers = [\"reports-1\"]\n")
            .replace("  db_instance_identifiers = [\"orders\"]\n", ""),
        &aws,
    );
    tf.run(&["apply", "-auto-approve"]).success();
    let inline = |c: &Clients| {
        let iam = c.iam.clone();
        async move {
            let doc = iam
                .get_role_policy()
                .role_name(format!("rdsbackup-{policy_name}"))
                .policy_name("rdsbackup")
                .send()
                .await
                .unwrap()
                .policy_document()
                .to_string();
            percent_decode(&doc)
        }
    };
    assert!(!inline(&c).await.contains(":cluster:reports"), "not a member yet");

    databases::cluster(&c.rds, "reports", &[]).await;
    databases::instance(&c.rds, "reports-1", "aurora-postgresql", Some("reports"), &[]).await;
    let plan = tf.run(&["plan", "-detailed-exitcode"]);
    plan.expect_code(2);
    assert!(
        plan.text().contains("inline policy rdsbackup is missing or differs"),
        "{}",
        plan.text()
    );
    tf.run(&["apply", "-auto-approve"]).success();
    assert!(
        inline(&c).await.contains(":cluster:reports"),
        "the member's cluster is granted"
    );
    plan_is_empty(&tf);
    destroy_and_check(&tf, &c, policy_name).await;
}

/// CloudWatch Logs encrypts the log group as its service principal, which only the key policy can allow: a key
/// without that grant is refused before the bucket or the role exist, and accepted once its policy has it.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_cloudwatch_logs_cannot_use_is_refused_before_anything_is_created() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let c = aws.clients().await;
    let key = c.kms.create_key().description("rdsbackup test").send().await.unwrap();
    let key = key.key_metadata().unwrap();
    let (key_id, key_arn) = (key.key_id().to_string(), key.arn().unwrap().to_string());
    let tf = Terraform::new(&config(policy_name, &format!("  kms_key_arn = \"{key_arn}\"\n")), &aws);
    let run = tf.run(&["apply", "-auto-approve"]);
    run.expect_code(1);
    assert!(
        run.text()
            .contains("does not allow logs.us-east-1.amazonaws.com (CloudWatch Logs)"),
        "{}",
        run.text()
    );
    let buckets = c.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "nothing was created: {buckets:?}");
    assert!(
        c.iam
            .get_role()
            .role_name(format!("rdsbackup-{policy_name}"))
            .send()
            .await
            .is_err()
    );

    let account = MOTO_ACCOUNT;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"Logs","Effect":"Allow","Principal":{{"Service":"logs.us-east-1.amazonaws.com"}},
              "Action":["kms:Encrypt*","kms:Decrypt*","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*",
              "Condition":{{"ArnLike":{{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:us-east-1:{account}:*"}}}}}}]}}"#
    );
    c.kms
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .unwrap();
    tf.run(&["apply", "-auto-approve"]).success();
    plan_is_empty(&tf);
    destroy_and_check(&tf, &c, policy_name).await;
}

/// Through the fault proxy: every S3 call of the provider names the bucket's owner, and a destroy whose
/// `DeleteObjects` S3 answers with per-object errors (Object Lock, a deny) stops and says which object, instead
/// of listing and deleting the same objects for ever.
#[tokio::test(flavor = "multi_thread")]
async fn s3_calls_name_the_owner_and_refused_deletions_stop_destroy_with_the_key() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped in acceptance mode: it needs the local fault proxy");
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    let tf = Terraform::new(
        &config(
            policy_name,
            "  force_destroy = true\n  deny_insecure_transport = false\n",
        ),
        &aws,
    )
    .with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    tf.run(&["apply", "-auto-approve"]).success();
    plan_is_empty(&tf);
    let s = state(&tf);
    let bucket = s["bucket_name"].as_str().unwrap();
    let c = aws.clients().await;
    c.s3.put_object()
        .bucket(bucket)
        .key("snapshots/orders/locked.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    proxy.inject(
        &["POST ", "?delete"],
        rdsbackup_tests::fault_proxy::Fault::Respond {
            status: 200,
            content_type: "application/xml",
            body: "<DeleteResult><Error><Key>snapshots/orders/locked.json</Key><Code>AccessDenied</Code>\
                   <Message>Access Denied because object protected by object lock.</Message></Error></DeleteResult>"
                .into(),
        },
    );
    let destroy = tf.run(&["destroy", "-auto-approve"]);
    destroy.expect_code(1);
    assert!(
        destroy
            .text()
            .contains("\"snapshots/orders/locked.json\": AccessDenied"),
        "{}",
        destroy.text()
    );
    proxy.clear();
    destroy_and_check(&tf, &c, policy_name).await;

    let s3_calls: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.service() == Some("s3"))
        .collect();
    assert!(s3_calls.len() > 10, "the stack's S3 calls went through the proxy");
    for call in &s3_calls {
        // CreateBucket cannot carry it (S3 refuses the header there); every other call must.
        let create = call.method() == "PUT" && call.target().trim_end_matches('/') == format!("/{bucket}");
        if !create {
            assert_eq!(
                call.header("x-amz-expected-bucket-owner"),
                Some(MOTO_ACCOUNT),
                "{}",
                call.head
            );
        }
    }
}

/// A test that dies between apply and destroy leaves its stack in the account; the sweeper finds it by the test
/// names' prefix and deletes all of it (but snapshots).
#[tokio::test(flavor = "multi_thread")]
async fn the_sweeper_deletes_what_a_dead_test_left() {
    let policy_name: &str = &unique_name("sweepme");
    let aws = Aws::start();
    let c = aws.clients().await;
    let tf = Terraform::new(&config(policy_name, "  deny_insecure_transport = false\n"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    c.s3.put_object()
        .bucket(s["bucket_name"].as_str().unwrap())
        .key("snapshots/orders/x.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    std::fs::remove_file(tf.dir.join("terraform.tfstate")).unwrap();
    assert!(!leftovers(&c, policy_name).await.is_empty());
    let config = aws.sdk_config().await;
    let deleted = rdsbackup_tests::stacks::sweep(&config, "sweepme").await.unwrap();
    assert!(deleted.len() >= 7, "{deleted:?}");
    assert_eq!(leftovers(&c, policy_name).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_of_our_name_that_is_not_the_policys_is_refused_not_taken_over() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let c = aws.clients().await;
    let role = format!("rdsbackup-{policy_name}");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    c.iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws);
    let refused = tf.run(&["apply", "-auto-approve"]);
    refused.expect_code(1);
    assert!(
        refused
            .text()
            .contains(&format!("role {role} exists but is not this policy's")),
        "{}",
        refused.text()
    );
    let inline = c.iam.list_role_policies().role_name(&role).send().await.unwrap();
    assert!(inline.policy_names().is_empty(), "the foreign role was left as it was");
    let found = c.iam.get_role().role_name(&role).send().await.unwrap();
    assert!(found.role().unwrap().tags().is_empty(), "and untagged");

    c.iam.delete_role().role_name(&role).send().await.unwrap();
    tf.run(&["apply", "-auto-approve"]).success();
    plan_is_empty(&tf);
    destroy_and_check(&tf, &c, policy_name).await;
}

/// Destroy removes the function's own target and deletes the rule; a target someone else added to the rule
/// (EventBridge refuses to delete a rule that has one) is removed too, as the rule is the stack's.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_deletes_a_rule_that_someone_else_added_a_target_to() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let s = state(&tf);
    let c = aws.clients().await;
    let rule = format!("rdsbackup-{policy_name}");
    let foreign = aws_sdk_eventbridge::types::Target::builder()
        .id("ops-audit")
        .arn(s["alarm_sns_topic_arn"].as_str().unwrap())
        .build()
        .unwrap();
    c.events
        .put_targets()
        .rule(&rule)
        .targets(foreign)
        .send()
        .await
        .unwrap();
    destroy_and_check(&tf, &c, policy_name).await;
}

/// Someone attached a managed policy to the stack's role and added an inline one of their own since the last apply.
/// IAM refuses to delete a role that still has policies, so destroy, told so, removes them and deletes the role.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_deletes_a_role_that_someone_else_added_policies_to() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let c = aws.clients().await;
    let role = format!("rdsbackup-{policy_name}");
    let created = c
        .iam
        .create_policy()
        .policy_name(format!("{policy_name}-audit"))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:DescribeDBSnapshots","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let managed = created.policy().unwrap().arn().unwrap().to_string();
    c.iam
        .attach_role_policy()
        .role_name(&role)
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();
    c.iam
        .put_role_policy()
        .role_name(&role)
        .policy_name("ops-extra")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    destroy_and_check(&tf, &c, policy_name).await;
    // The managed policy is someone else's: detached, never deleted.
    c.iam
        .get_policy()
        .policy_arn(&managed)
        .send()
        .await
        .expect("the managed policy is still there");
    c.iam.delete_policy().policy_arn(&managed).send().await.unwrap();
}

/// IAM is eventually consistent: right after the role's policy is deleted, `DeleteRole` can still be refused
/// with `DeleteConflict`. moto sees the deletion at once, so the proxy plays IAM and refuses the first two
/// attempts: destroy waits it out and deletes the role.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_waits_for_iam_to_see_the_role_policy_gone() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped: fault injection needs the local endpoint, not real AWS (acceptance mode)");
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws)
        .with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    tf.run(&["apply", "-auto-approve"]).success();
    proxy.inject_at(
        "iam:DeleteRole",
        0,
        Fault::Error {
            status: 409,
            code: "DeleteConflict",
        },
        2,
    );
    destroy_and_check(&tf, &aws.clients().await, policy_name).await;
    assert_eq!(proxy.failed(), 2, "IAM refused the delete twice before it took");
}

/// Destroy deletes a part only once every part that refers to it is gone, and the parts that wait for nothing
/// together: with every answer 100 ms away, the rules are deleted at the same time, the function only after the
/// rules that invoke it and the alarms and dashboard beside them, its role, log group and topic after it, the
/// bucket after everything else.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_deletes_a_part_after_what_refers_to_it_and_the_rest_together() {
    let policy_name: &str = &unique_name("waves");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped: timing the deletes needs the proxy in front of the local endpoint (acceptance mode)");
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws)
        .with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    tf.run(&["apply", "-auto-approve"]).success();
    let bucket = state(&tf)["bucket_name"].as_str().unwrap().to_string();
    proxy.add_latency(std::time::Duration::from_millis(100));
    proxy.reset();
    destroy_and_check(&tf, &aws.clients().await, policy_name).await;
    let requests = proxy.requests();
    let of = |matches: &dyn Fn(&str) -> bool| -> Vec<&Request> {
        requests.iter().filter(|r| matches(&r.signature())).collect()
    };
    let rules = of(&|s| s == "events:DeleteRule" || s == "events:RemoveTargets");
    let watchers = of(&|s| s == "monitoring:DeleteAlarms" || s == "monitoring:DeleteDashboards");
    let function = of(&|s| s == format!("lambda:DELETE /2015-03-31/functions/rdsbackup-{policy_name}"));
    let after_function = of(&|s| ["iam:DeleteRole", "logs:DeleteLogGroup", "sns:DeleteTopic"].contains(&s));
    let bucket_deletes = of(&|s| s.starts_with(&format!("s3:DELETE /{bucket}")));
    let others = of(&|s| s.contains(":Delete") || s.contains(":RemoveTargets") || s.starts_with("lambda:DELETE"));
    for (what, list, least) in [
        ("rule deletes", &rules, 6),
        ("alarm and dashboard deletes", &watchers, 2),
        ("function delete", &function, 1),
        ("role, log group and topic deletes", &after_function, 3),
        ("bucket deletes", &bucket_deletes, 1),
    ] {
        assert!(
            list.len() >= least,
            "{what}: {} seen, at least {least} expected",
            list.len()
        );
    }
    let last_answer = |list: &[&Request]| list.iter().map(|r| r.answered).max().unwrap();
    let first_arrival = |list: &[&Request]| list.iter().map(|r| r.arrived).min().unwrap();
    assert!(
        first_arrival(&function) >= last_answer(&rules).max(last_answer(&watchers)),
        "the function was deleted before the rules that invoke it, or the alarms and dashboard, were gone"
    );
    assert!(
        first_arrival(&after_function) >= last_answer(&function),
        "the role, log group or topic was deleted before the function that uses them was gone"
    );
    assert!(
        first_arrival(&bucket_deletes) >= last_answer(&others),
        "the bucket was deleted before the rest of the stack"
    );
    let deletes = of(&|s| s == "events:DeleteRule");
    let last_arrival = deletes.iter().map(|r| r.arrived).max().unwrap();
    let first_answer = deletes.iter().map(|r| r.answered).min().unwrap();
    assert!(
        last_arrival < first_answer,
        "the {} rules were deleted one after another, not together",
        deletes.len()
    );
}

/// Terraform refreshes every policy at once and each reads its thirty-odd parts concurrently; the provider keeps
/// at most `PROVIDER_IN_FLIGHT` of those requests in flight (AWS throttles bursts of its low-rate reads), and
/// still overlaps them: with every answer 150 ms away, a plan of three policies fills the bound, never more.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_of_many_policies_keeps_a_bounded_number_of_requests_in_flight() {
    let stem: &str = &unique_name("many");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!(
            "skipped: counting requests in flight needs the proxy in front of the local endpoint (acceptance mode)"
        );
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    let hcl = format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_policy" "p" {{
  count                   = 3
  name                    = "{stem}-${{count.index}}"
  db_instance_identifiers = ["orders"]
  force_destroy           = true
}}
"#
    );
    let tf = Terraform::new(&hcl, &aws).with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    tf.run(&["apply", "-auto-approve"]).success();
    proxy.add_latency(std::time::Duration::from_millis(150));
    proxy.reset();
    tf.run(&["plan", "-detailed-exitcode"]).success();
    let peak = proxy.peak_in_flight();
    let bound = rdsbackup_common::requests::PROVIDER_IN_FLIGHT;
    assert!(
        peak <= bound,
        "{peak} requests were in flight at once, more than {bound}"
    );
    assert!(
        peak > bound / 2,
        "only {peak} requests were in flight at once: the refresh no longer overlaps them"
    );
    proxy.add_latency(std::time::Duration::ZERO);
    let c = aws.clients().await;
    tf.run(&["destroy", "-auto-approve"]).success();
    for i in 0..3 {
        let left = leftovers(&c, &format!("{stem}-{i}")).await;
        assert!(left.is_empty(), "destroy left parts of policy {i} behind: {left:?}");
    }
}

/// AWS answers a retried `AddPermission` whose first attempt was done (its answer lost) with a conflict; moto does
/// not, so the proxy plays AWS: the first attempt's answer is dropped, the retry is told the statement exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_create_that_meets_its_own_lost_attempt_is_not_an_error() {
    let policy_name: &str = &unique_name("nightly");
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped: fault injection needs the local endpoint, not real AWS (acceptance mode)");
        return;
    };
    let proxy = FaultProxy::start(&moto.endpoint);
    let add_permission = format!("lambda:POST /2015-03-31/functions/rdsbackup-{policy_name}/policy");
    proxy.inject_at(&add_permission, 0, Fault::Drop, 1);
    proxy.inject_at(
        &add_permission,
        0,
        Fault::Error {
            status: 409,
            code: "ResourceConflictException",
        },
        1,
    );
    let tf = Terraform::new(&config(policy_name, "force_destroy = true"), &aws)
        .with_env("AWS_ENDPOINT_URL", &proxy.endpoint);
    tf.run(&["apply", "-auto-approve"]).success();
    assert_eq!(proxy.failed(), 2, "the answer was lost and the retry met the conflict");
    proxy.clear();
    plan_is_empty(&tf);
    destroy_and_check(&tf, &aws.clients().await, policy_name).await;
}

//! The real Terraform CLI loading the freshly built provider: validate and plan the examples, and reject bad
//! configurations at `terraform validate` with the attribute named.

use rdsbackup_tests::{Aws, MOTO_ACCOUNT, Terraform, acceptance, provider_binary, repo_root};

const HEADER: &str = r#"
terraform {
  required_providers {
    rdsbackup = { source = "rdsbackup/rdsbackup" }
  }
}
"#;

fn policy(body: &str) -> String {
    format!("{HEADER}\nprovider \"rdsbackup\" {{}}\n\nresource \"rdsbackup_policy\" \"p\" {{\n{body}\n}}\n")
}

#[test]
fn quickstart_example_validates_and_plans_the_policy_to_add() {
    let aws = Aws::start();
    let tf = Terraform::from_example("quickstart", &aws);
    tf.run(&["validate"]).success();
    let plan = tf.run(&["plan", "-detailed-exitcode"]);
    plan.expect_code(2);
    let text = plan.text();
    assert!(text.contains("rdsbackup_policy.nightly will be created"), "{text}");
    assert!(text.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{text}");
    assert!(text.contains(r#"schedule = "cron(0 3 * * ? *)""#), "{text}");
    assert!(
        text.contains(r#"log_group_name = "/aws/lambda/rdsbackup-nightly""#),
        "{text}"
    );
    if !acceptance() {
        // The account is known at plan time, so are the names and ARNs derived from it.
        assert!(
            text.contains(&format!(r#"bucket_name = "rdsbackup-nightly-{MOTO_ACCOUNT}""#)),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#"function_arn = "arn:aws:lambda:us-east-1:{MOTO_ACCOUNT}:function:rdsbackup-nightly""#
            )),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_examples_validate_and_plan() {
    let aws = Aws::start();
    let examples = repo_root().join("examples");
    let main_tf = ["provider/provider.tf", "resources/rdsbackup_policy/resource.tf"]
        .map(|file| std::fs::read_to_string(examples.join(file)).unwrap())
        .join("\n");
    let tf = Terraform::new(&main_tf, &aws).with_env("AWS_REGION", "eu-west-1");
    tf.run(&["validate"]).success();
    // The example's drills restore into the subnet group `private-db`, which plan asks RDS for.
    if let Aws::Moto(moto) = &aws {
        let rds = rdsbackup_tests::databases::rds_in(&aws.clients().await.rds, "eu-west-1");
        rdsbackup_tests::databases::subnet_group(&rds, &moto.endpoint, "private-db").await;
        let plan = tf.run(&["plan"]);
        plan.success();
        assert!(
            plan.text().contains("rdsbackup_policy.production will be created"),
            "{}",
            plan.text()
        );
    } else {
        eprintln!("skipped the example's plan: it names a subnet group, private-db, that the account need not have");
    }
    // The import block example is valid configuration (planning it needs the stack to exist: see provision.rs).
    let import_tf = std::fs::read_to_string(examples.join("resources/rdsbackup_policy/import.tf")).unwrap();
    Terraform::new(&format!("{main_tf}\n{import_tf}"), &aws)
        .run(&["validate"])
        .success();
}

#[test]
fn five_field_cron_fails_validate_on_schedule_saying_six_fields_are_needed() {
    let aws = Aws::start();
    let tf = Terraform::new(
        &policy(
            r#"name = "nightly"
db_instance_identifiers = ["orders"]
schedule = "cron(0 3 * * *)""#,
        ),
        &aws,
    );
    let run = tf.run(&["validate"]);
    run.expect_code(1);
    let text = run.text();
    assert!(text.contains("Error: Invalid schedule"), "{text}");
    assert!(
        text.contains(r#"schedule = "cron(0 3 * * *)""#),
        "the error points at the attribute: {text}"
    );
    assert!(text.contains("cron expressions need 6 fields"), "{text}");
}

#[test]
fn each_invalid_attribute_fails_validate_naming_it_and_what_is_allowed() {
    let aws = Aws::start();
    let base = r#"name = "nightly"
db_instance_identifiers = ["orders"]"#;
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"name = "Nightly_1"
db_instance_identifiers = ["orders"]"#,
            r#"name = "Nightly_1""#,
            "lowercase letters, digits and single hyphens",
        ),
        (
            "retention_days = 0",
            "retention_days = 0",
            "retention_days must be from 1 to 3650",
        ),
        (
            "min_snapshots = 101",
            "min_snapshots = 101",
            "min_snapshots must be from 1 to 100",
        ),
        (
            "lambda_memory_mb = 64",
            "lambda_memory_mb = 64",
            "lambda_memory_mb must be from 128 to 10240",
        ),
        (
            "lambda_timeout_seconds = 901",
            "lambda_timeout_seconds = 901",
            "from 1 to 900",
        ),
        (
            "log_retention_days = 31",
            "log_retention_days = 31",
            "must be one of 1, 3, 5, 7, 14, 30",
        ),
        (
            r#"schedule = "rate(1 minutes)""#,
            r#"schedule = "rate(1 minutes)""#,
            "minute",
        ),
        (
            r#"kms_key_arn = "alias/backups""#,
            "kms_key_arn",
            "is not a KMS key ARN",
        ),
        (
            r#"alarm_sns_topic_arn = "alerts""#,
            "alarm_sns_topic_arn",
            "is not an SNS topic ARN",
        ),
        (
            r#"bucket_name = "Backups""#,
            "bucket_name",
            "is not a valid S3 bucket name",
        ),
        (
            r#"db_cluster_identifiers = ["aurora--1"]"#,
            "db_cluster_identifiers",
            "is not a valid DB identifier",
        ),
        (r#"tags = { "aws:owner" = "x" }"#, "tags", "which AWS reserves"),
        (r#"retention_days = 1.5"#, "retention_days", "whole number"),
    ];
    for (extra, attribute, message) in cases {
        let body = if extra.starts_with("name =") {
            extra.to_string()
        } else {
            format!("{base}\n{extra}")
        };
        let run = Terraform::new(&policy(&body), &aws).run(&["validate"]);
        run.expect_code(1);
        let text = run.text();
        assert!(text.contains(attribute), "{extra}: the error names {attribute}: {text}");
        assert!(text.contains(message), "{extra}: the error says {message:?}: {text}");
    }
}

#[test]
fn a_policy_selecting_nothing_fails_validate() {
    let aws = Aws::start();
    let run = Terraform::new(&policy(r#"name = "nightly""#), &aws).run(&["validate"]);
    run.expect_code(1);
    assert!(
        run.text()
            .contains("Set at least one of db_instance_identifiers, db_cluster_identifiers or selection_tags"),
        "{}",
        run.text()
    );
}

#[test]
fn invalid_provider_configuration_fails_validate() {
    let aws = Aws::start();
    let main_tf = format!(
        "{HEADER}\nprovider \"rdsbackup\" {{\n  region = \"eu-west\"\n  assume_role {{\n    role_arn = \"arn:aws:iam::1:role/x\"\n  }}\n  endpoints {{\n    s3 = \"localhost:5000\"\n  }}\n}}\n\n\
         resource \"rdsbackup_policy\" \"p\" {{\n  name = \"nightly\"\n  db_instance_identifiers = [\"orders\"]\n}}\n"
    );
    let run = Terraform::new(&main_tf, &aws).run(&["validate"]);
    run.expect_code(1);
    let text = run.text();
    for expected in [
        "Invalid region",
        "Invalid role ARN",
        "Invalid endpoint",
        "is not an endpoint URL",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[test]
fn values_unknown_at_validate_are_checked_once_known() {
    let aws = Aws::start();
    let tf = Terraform::new(
        &format!(
            "{HEADER}\nprovider \"rdsbackup\" {{}}\n\nresource \"terraform_data\" \"db\" {{\n  input = \"orders\"\n}}\n\n\
             resource \"rdsbackup_policy\" \"p\" {{\n  name = \"nightly\"\n  db_instance_identifiers = [terraform_data.db.output]\n}}\n"
        ),
        &aws,
    );
    tf.run(&["validate"]).success();
    let plan = tf.run(&["plan"]);
    plan.success();
    assert!(
        plan.text()
            .contains("db_instance_identifiers = [ + (known after apply), ]"),
        "{}",
        plan.text()
    );
}

#[test]
fn provider_logs_reach_terraform_as_structured_hclog_and_it_exits_gracefully() {
    let aws = Aws::start();
    let tf = Terraform::from_example("quickstart", &aws);
    let output = std::process::Command::new("terraform")
        .args(["plan", "-no-color"])
        .current_dir(&tf.dir)
        .envs(aws.env())
        .env("TF_CLI_CONFIG_FILE", tf.dir.join("terraform.tfrc"))
        .env("TF_LOG", "DEBUG")
        .output()
        .unwrap();
    assert!(output.status.success());
    let log = String::from_utf8_lossy(&output.stderr);
    // go-plugin re-emits a valid hclog JSON line as "provider.<name>: <message>"; a malformed one would be
    // passed through as raw JSON text.
    assert!(
        log.contains("provider.terraform-provider-rdsbackup: serving the provider schema"),
        "{log}"
    );
    assert!(!log.contains(r#""@message""#), "raw JSON leaked into Terraform's log");
    assert!(log.contains("using plugin: version=6"), "{log}");
    assert!(!log.contains("plugin failed to exit gracefully"), "{log}");
    assert!(log.contains("plugin exited"), "{log}");
}

#[test]
fn run_by_hand_the_binary_says_it_is_a_plugin_and_exits_1() {
    let output = std::process::Command::new(provider_binary())
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "nothing on stdout but the handshake");
    assert!(String::from_utf8_lossy(&output.stderr).contains("is a Terraform plugin"));
}

#[test]
fn debug_mode_serves_terraform_through_tf_reattach_providers() {
    use std::io::BufRead;
    let mut server = std::process::Command::new(provider_binary())
        .arg("--debug")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader stays open until the server is stopped, as a debugger's terminal would.
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let reattach = stdout
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.trim()
                .strip_prefix("TF_REATTACH_PROVIDERS='")
                .map(|v| v.trim_end_matches('\'').to_string())
        })
        .expect("the reattach value is printed");
    let config: serde_json::Value = serde_json::from_str(&reattach).unwrap();
    let socket = config["registry.terraform.io/rdsbackup/rdsbackup"]["Addr"]["String"]
        .as_str()
        .unwrap()
        .to_string();

    let dir = std::env::temp_dir().join(format!("rdsbackup-debug-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        policy(
            r#"name = "nightly"
db_instance_identifiers = ["orders"]
schedule = "cron(0 3 * * *)""#,
        ),
    )
    .unwrap();
    let validate = std::process::Command::new("terraform")
        .args(["validate", "-no-color"])
        .current_dir(&dir)
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("TF_REATTACH_PROVIDERS", &reattach)
        .output()
        .unwrap();
    let _ = std::process::Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    drop(stdout);
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&validate.stderr);
    assert!(text.contains("cron expressions need 6 fields"), "{text}");
    assert!(
        !std::path::Path::new(&socket).exists(),
        "a terminated debug server removes its socket"
    );
}

/// Planning in the caller's own account while `assume_role` points elsewhere would show the wrong account's names
/// and ARNs: a role (or an endpoint) not known yet is an error, as an unknown region is.
#[test]
fn an_assume_role_not_known_at_plan_is_an_error() {
    let aws = Aws::start();
    let main_tf = format!(
        "{HEADER}\nresource \"terraform_data\" \"role\" {{\n  input = \"arn:aws:iam::222222222222:role/backup\"\n}}\n\n\
         provider \"rdsbackup\" {{\n  assume_role {{\n    role_arn = terraform_data.role.output\n  }}\n}}\n\n\
         resource \"rdsbackup_policy\" \"p\" {{\n  name = \"nightly\"\n  db_instance_identifiers = [\"orders\"]\n}}\n"
    );
    let run = Terraform::new(&main_tf, &aws).run(&["plan"]);
    run.expect_code(1);
    let text = run.text();
    assert!(
        text.contains("Provider configuration depends on values not known yet")
            && text.contains("assume_role must be known"),
        "{text}"
    );
}

#[test]
fn setting_the_deprecated_glacier_transition_days_warns_at_validate() {
    let aws = Aws::start();
    let tf = Terraform::new(
        &policy("  name = \"nightly\"\n  db_instance_identifiers = [\"orders\"]\n  glacier_transition_days = 30"),
        &aws,
    );
    let run = tf.run(&["validate"]);
    run.success();
    let text = run.text();
    assert!(
        text.contains("Warning: Deprecated attribute") && text.contains("use the archive block"),
        "{text}"
    );
    // The default alone does not warn.
    let quiet = Terraform::new(
        &policy("  name = \"nightly\"\n  db_instance_identifiers = [\"orders\"]"),
        &aws,
    )
    .run(&["validate"]);
    quiet.success();
    assert!(!quiet.text().contains("Deprecated"), "{}", quiet.text());
}

/// moto lacks `DescribeAccountAttributes`; the fault proxy answers it as RDS does for an account that already
/// holds 95 of its 100 manual DB snapshots.
#[test]
fn a_plan_past_the_snapshot_quota_warns_and_one_that_cannot_read_it_says_so() {
    let aws = Aws::start();
    let Aws::Moto(moto) = &aws else {
        eprintln!("skipped in acceptance mode: the quota is served by the local fault proxy");
        return;
    };
    let proxy = rdsbackup_tests::fault_proxy::FaultProxy::start(&moto.endpoint);
    proxy.inject(
        &["Action=DescribeAccountAttributes"],
        rdsbackup_tests::fault_proxy::Fault::Respond {
            status: 200,
            content_type: "text/xml",
            body: "<DescribeAccountAttributesResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\
                   <DescribeAccountAttributesResult><AccountQuotas>\
                   <AccountQuota><AccountQuotaName>ManualSnapshots</AccountQuotaName><Used>95</Used><Max>100</Max></AccountQuota>\
                   <AccountQuota><AccountQuotaName>ManualClusterSnapshots</AccountQuotaName><Used>0</Used><Max>100</Max></AccountQuota>\
                   </AccountQuotas></DescribeAccountAttributesResult>\
                   <ResponseMetadata><RequestId>quota</RequestId></ResponseMetadata></DescribeAccountAttributesResponse>"
                .into(),
        },
    );
    // Two databases, daily, 35 days: 72 snapshots on top of the 95.
    let body = "  name = \"nightly\"\n  db_instance_identifiers = [\"orders\", \"billing\"]";
    let plan = Terraform::new(&policy(body), &aws)
        .with_env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .run(&["plan"]);
    plan.success();
    let text = plan.text();
    assert!(
        text.contains("Warning: Snapshot quota would be exceeded") && text.contains("holds 95 of the 100"),
        "{text}"
    );
    let unread = Terraform::new(&policy(body), &aws).run(&["plan"]);
    unread.success();
    assert!(
        unread.text().contains("Warning: Snapshot quota not checked"),
        "{}",
        unread.text()
    );
}

//! The `vault` block of `rdsbackup_policy` through the real Terraform CLI: its rules at validate and plan time
//! (the vault another account, the key a key ARN of the policy's account and region whose key policy lets the
//! vault account use it, with the statement to add when it does not), and a policy applied with it: the deployed
//! function shares its snapshots with the vault account, a refresh plans no change, removing the block unshares
//! nothing.

use rdsbackup_tests::{
    Aws, Clients, MOTO_ACCOUNT, Terraform, acceptance, databases, deployed_env, destroy_and_check, unique_name,
};
use serde_json::{Value, json};

const VAULT_ACCOUNT: &str = "210987654321";

fn config(policy: &str, vault: &str) -> String {
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
{vault}
}}
"#
    )
}

fn vault(account: &str, key: &str) -> String {
    format!("  vault {{\n    account_id  = \"{account}\"\n    kms_key_arn = \"{key}\"\n  }}\n")
}

/// A key of the policy's account whose policy lets `vault_account` (if any) use it as RDS needs.
async fn key(c: &Clients, vault_account: Option<&str>) -> String {
    rdsbackup_tests::vault_key(&c.kms, MOTO_ACCOUNT, vault_account).await
}

#[test]
fn a_bad_vault_block_fails_validate_on_its_attribute() {
    let aws = Aws::start();
    let key = "arn:aws:kms:us-east-1:123456789012:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";
    for (block, summary, says) in [
        (
            vault("vault", key),
            "Invalid vault account_id",
            "is not an AWS account id",
        ),
        (
            vault(VAULT_ACCOUNT, "arn:aws:kms:us-east-1:123456789012:alias/backups"),
            "Invalid vault kms_key_arn",
            "is an alias",
        ),
        (
            vault(VAULT_ACCOUNT, "backups"),
            "Invalid vault kms_key_arn",
            "is not a KMS key ARN",
        ),
    ] {
        let run = Terraform::new(&config("nightly", &block), &aws).run(&["validate"]);
        run.expect_code(1);
        let text = run.text();
        assert!(text.contains(summary) && text.contains(says), "{block}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_refuses_the_own_account_a_foreign_key_and_a_key_the_vault_cannot_use() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates KMS keys, which cannot be deleted at once on AWS");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    let usable = key(&c, Some(VAULT_ACCOUNT)).await;
    let closed = key(&c, None).await;
    let elsewhere = "arn:aws:kms:us-west-2:123456789012:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";
    let others = "arn:aws:kms:us-east-1:111122223333:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";
    for (block, says) in [
        (vault(MOTO_ACCOUNT, &usable), "is the policy's own account"),
        (
            vault(VAULT_ACCOUNT, elsewhere),
            "is not a key of the policy's account 123456789012 in its region us-east-1",
        ),
        (vault(VAULT_ACCOUNT, others), "is not a key of the policy's account"),
        (
            vault(VAULT_ACCOUNT, &closed),
            "does not let the vault account 210987654321 use it",
        ),
    ] {
        let run = Terraform::new(&config("nightly", &block), &aws).run(&["plan"]);
        run.expect_code(1);
        let text = run.text();
        assert!(text.contains(says), "{block}: {text}");
    }
    // The refusal names the statement to add.
    let run = Terraform::new(&config("nightly", &vault(VAULT_ACCOUNT, &closed)), &aws).run(&["plan"]);
    let text = run.text();
    assert!(
        text.contains("AllowTheVaultAccountToCopySharedSnapshots") && text.contains("arn:aws:iam::210987654321:root"),
        "{text}"
    );
    Terraform::new(&config("nightly", &vault(VAULT_ACCOUNT, &usable)), &aws)
        .run(&["plan"])
        .success();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_applied_vault_block_shares_each_new_snapshot_and_plans_no_change_after() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates an RDS database and a KMS key");
        return;
    }
    let aws = Aws::start();
    let c = aws.clients().await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    let key = key(&c, Some(VAULT_ACCOUNT)).await;
    let policy = unique_name("vault");
    let tf = Terraform::new(&config(&policy, &vault(VAULT_ACCOUNT, &key)), &aws);
    tf.run(&["apply", "-auto-approve"]).success();
    let function = format!("rdsbackup-{policy}");
    let env = deployed_env(&aws, &c, &function).await;
    let configured = env.iter().find(|(k, _)| k == "RDSBACKUP_VAULT").map(|(_, v)| v.clone());
    let configured: Value = serde_json::from_str(&configured.expect("the function knows its vault")).unwrap();
    assert_eq!(configured, json!({"account_id": VAULT_ACCOUNT, "kms_key_arn": key}));

    let event = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
                       "time": "2026-11-28T03:00:00Z"});
    let output = rdsbackup_tests::runtime_api::run_once(&env, &event);
    let id = rdsbackup_common::identifier::build(
        &policy,
        "orders",
        rdsbackup_common::identifier::SnapshotKind::Instance,
        "202611280300",
    );
    assert_eq!(output["shared"], json!([id]), "{output}");
    assert_eq!(databases::shared_with(&c.rds, &id).await, [VAULT_ACCOUNT]);

    // Refreshed from AWS, the block is what the configuration says: no change.
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    // Removing the block stops sharing new snapshots; what was shared stays shared.
    let without = Terraform::new(&config(&policy, ""), &aws);
    std::fs::copy(tf.dir.join("terraform.tfstate"), without.dir.join("terraform.tfstate")).unwrap();
    without.run(&["apply", "-auto-approve"]).success();
    let env = deployed_env(&aws, &c, &function).await;
    assert!(!env.iter().any(|(k, _)| k == "RDSBACKUP_VAULT"), "{env:?}");
    assert_eq!(databases::shared_with(&c.rds, &id).await, [VAULT_ACCOUNT]);
    destroy_and_check(&without, &c, &policy).await;
    let left = c
        .rds
        .describe_db_snapshots()
        .db_snapshot_identifier(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(left.db_snapshots().len(), 1, "destroy deletes no snapshot");
}

//! `rdsbackup_vault` through the real Terraform CLI: its rules at validate and plan time, and the issue's "done
//! when": two source accounts with `vault` blocks and one vault applied in one configuration, each provider
//! alias assuming a role in its account (moto's STS maps the role's credentials to that account); one run of each
//! source's function and one of the vault's copy every selected database into the vault account under the
//! vault's key with its record; a second vault run copies nothing; deleting the sources' snapshots leaves the
//! copies; refresh and import plan no change; destroy keeps the copies and the bucket with its locked records.
//!
//! moto 5.1.22 cannot copy a snapshot shared by another account: `Moto::start_sharing` fills that one gap.

use std::collections::BTreeMap;

use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{tags, vault_record_key};
use rdsbackup_tests::accounts::{Account, account, role_arn};
use rdsbackup_tests::runtime_api::run_once;
use rdsbackup_tests::{Aws, MOTO_ACCOUNT, Moto, Terraform, acceptance, databases, json_object};
use serde_json::{Value, json};

const SOURCE_A: &str = "111111111111";
const SOURCE_B: &str = "222222222222";
const VAULT_ACCOUNT: &str = "210987654321";
const VAULT: &str = "central";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/0b5e4a3c-7f1d-4e8a-9c2b-6d1f0e9a8b7c";

fn vault_only(arguments: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

resource "rdsbackup_vault" "v" {{
{arguments}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_vault_fails_validate_or_plan_on_its_attribute() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it creates KMS keys, which cannot be deleted at once on AWS");
        return;
    }
    let aws = Aws::start();
    let valid = |name: &str, accounts: &str, key: &str| {
        format!("  name = \"{name}\"\n  source_account_ids = [{accounts}]\n  kms_key_arn = \"{key}\"\n")
    };
    for (arguments, says) in [
        (valid("Central", "\"111111111111\"", KEY), "is not a valid vault name"),
        (valid("central", "\"1111\"", KEY), "is not an AWS account id"),
        (valid("central", "", KEY), "at least one source account"),
        (valid("central", "\"111111111111\"", "my-key"), "is not a KMS key ARN"),
        (
            format!("{}  retention_days = 0\n", valid("central", "\"111111111111\"", KEY)),
            "retention_days",
        ),
        (
            format!(
                "{}  schedule = \"rate(3 days)\"\n",
                valid("central", "\"111111111111\"", KEY)
            ),
            "must exceed the schedule's period",
        ),
    ] {
        let run = Terraform::new(&vault_only(&arguments), &aws).run(&["validate"]);
        let text = run.text();
        assert!(text.contains(says), "{arguments}: {text}");
        run.expect_code(1);
    }
    // Against the provider's account and region, which only the plan knows.
    for (arguments, says) in [
        (
            valid("central", &format!("\"{MOTO_ACCOUNT}\""), KEY),
            "is the vault's own account",
        ),
        (
            valid(
                "central",
                "\"111111111111\"",
                "arn:aws:kms:us-east-1:111111111111:key/k",
            ),
            "is not a key of the vault's account",
        ),
    ] {
        let run = Terraform::new(&vault_only(&arguments), &aws).run(&["plan"]);
        let text = run.text();
        assert!(text.contains(says), "{arguments}: {text}");
        run.expect_code(1);
    }
    // The key itself, read at plan time: one that does not exist, or is being deleted, would fail every copy
    // later.
    let c = aws.clients().await;
    let usable = c.kms.create_key().send().await.unwrap();
    let usable = usable.key_metadata().unwrap().arn().unwrap().to_string();
    let deleted = c.kms.create_key().send().await.unwrap();
    let deleted = deleted.key_metadata().unwrap();
    let (deleted, deleted_id) = (deleted.arn().unwrap().to_string(), deleted.key_id().to_string());
    // moto answers 500 to a key named by ARN here: by its id.
    c.kms
        .schedule_key_deletion()
        .key_id(&deleted_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    for (key, says) in [(KEY, "does not exist"), (deleted.as_str(), "is PendingDeletion")] {
        let run = Terraform::new(&vault_only(&valid("central", "\"111111111111\"", key)), &aws).run(&["plan"]);
        let text = run.text();
        assert!(
            text.contains("Vault key not usable") && text.contains(says),
            "{key}: {text}"
        );
        run.expect_code(1);
    }
    Terraform::new(&vault_only(&valid("central", "\"111111111111\"", &usable)), &aws)
        .run(&["plan"])
        .success();
}

fn config(key_a: &str, key_b: &str, vault_key: &str) -> String {
    let provider = |alias: &str, account: &str| {
        format!(
            "provider \"rdsbackup\" {{\n  alias = \"{alias}\"\n  assume_role {{\n    role_arn = \"{}\"\n  }}\n}}\n",
            role_arn(account)
        )
    };
    let policy = |alias: &str, db: &str, key: &str| {
        format!(
            r#"
resource "rdsbackup_policy" "{alias}" {{
  provider                = rdsbackup.{alias}
  name                    = "nightly"
  db_instance_identifiers = ["{db}"]
  # moto enforces the TLS-only Deny without its condition, refusing every object call over its plain HTTP.
  deny_insecure_transport = false
  force_destroy           = true
  vault {{
    account_id  = rdsbackup_vault.v.account_id
    kms_key_arn = "{key}"
  }}
}}
"#
        )
    };
    format!(
        r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}
{}{}{}
resource "rdsbackup_vault" "v" {{
  provider                = rdsbackup.vault
  name                    = "{VAULT}"
  source_account_ids      = ["{SOURCE_A}", "{SOURCE_B}"]
  kms_key_arn             = "{vault_key}"
  deny_insecure_transport = false
}}
{}{}"#,
        provider("a", SOURCE_A),
        provider("b", SOURCE_B),
        provider("vault", VAULT_ACCOUNT),
        policy("a", "orders", key_a),
        policy("b", "billing", key_b),
    )
}

async fn vault_copies(vault: &Account) -> BTreeMap<String, (Option<String>, BTreeMap<String, String>)> {
    let held = vault
        .rds
        .describe_db_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .unwrap();
    held.db_snapshots()
        .iter()
        .map(|s| {
            let tags = s
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            (
                s.db_snapshot_identifier().unwrap().to_string(),
                (s.kms_key_id().map(str::to_string), tags),
            )
        })
        .collect()
}

#[test]
fn two_sources_and_a_vault_in_one_configuration_put_every_database_in_the_vault() {
    if acceptance() {
        eprintln!(
            "skipped in acceptance mode: it needs three accounts of an organization with a role each \
             (rdsbackup-tests) and creates RDS databases"
        );
        return;
    }
    let moto = Moto::start_sharing();
    let endpoint = moto.endpoint.clone();
    let aws = Aws::Moto(moto);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, b, vault) = runtime.block_on(async {
        (
            account(&endpoint, SOURCE_A).await,
            account(&endpoint, SOURCE_B).await,
            account(&endpoint, VAULT_ACCOUNT).await,
        )
    });
    let (key_a, key_b, vault_key) = runtime.block_on(async {
        databases::instance(&a.rds, "orders", "postgres", None, &[]).await;
        // On the AWS managed key: RDS cannot share it, so the source copies it onto its vault key first.
        databases::encrypted_instance(&b.rds, "billing").await;
        let vault_key = vault.kms.create_key().send().await.unwrap();
        (
            rdsbackup_tests::vault_key(&a.kms, SOURCE_A, Some(VAULT_ACCOUNT)).await,
            rdsbackup_tests::vault_key(&b.kms, SOURCE_B, Some(VAULT_ACCOUNT)).await,
            vault_key.key_metadata().unwrap().arn().unwrap().to_string(),
        )
    });
    let tf = Terraform::new(&config(&key_a, &key_b, &vault_key), &aws);
    tf.run(&["apply", "-auto-approve"]).success();

    // The vault's stack as the contract names it, in the vault account.
    let bucket = format!("rdsbackup-vault-{VAULT}-{VAULT_ACCOUNT}");
    let function = format!("rdsbackup-vault-{VAULT}");
    runtime.block_on(async {
        let lock = vault
            .s3
            .get_object_lock_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let retention = lock
            .object_lock_configuration()
            .and_then(|c| c.rule())
            .and_then(|r| r.default_retention())
            .unwrap();
        assert_eq!(retention.mode().map(|m| m.as_str()), Some("COMPLIANCE"));
        assert_eq!(retention.days(), Some(365), "locked for retention_days");
        let rule = vault.events.describe_rule().name(&function).send().await.unwrap();
        assert_eq!(rule.schedule_expression(), Some("rate(1 hour)"));
        let alarms = vault
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(format!("rdsbackup-vault-{VAULT}-"))
            .send()
            .await
            .unwrap();
        let mut names: Vec<&str> = alarms.metric_alarms().iter().filter_map(|a| a.alarm_name()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                format!("rdsbackup-vault-{VAULT}-copy-overdue-{SOURCE_A}"),
                format!("rdsbackup-vault-{VAULT}-copy-overdue-{SOURCE_B}"),
                format!("rdsbackup-vault-{VAULT}-errors"),
            ]
        );
    });

    // A run of each source's function takes its snapshot and shares it once available. B's snapshot, on the
    // AWS managed key, is copied onto the vault key first, and that copy shared by the next invocation (the
    // same event delivered again, or the hourly reconcile run).
    let scheduled =
        |time: &str| json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": time});
    let mut shared = Vec::new();
    for (source, id, runs) in [(&a, SOURCE_A, 1), (&b, SOURCE_B, 2)] {
        let env = runtime.block_on(source.deployed_env("rdsbackup-nightly"));
        let outputs: Vec<Value> = (0..runs)
            .map(|_| run_once(&env, &scheduled("2026-12-01T03:00:00Z")))
            .collect();
        let ids = outputs.last().unwrap()["shared"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(ids.len(), 1, "{outputs:?}");
        shared.push((id, ids[0].as_str().unwrap().to_string()));
    }
    assert!(
        shared[1].1.ends_with("-v"),
        "B's snapshot is shared through its copy onto the key: {shared:?}"
    );

    // One vault run copies every database's share once, under the vault's key, with its record.
    let vault_env = runtime.block_on(vault.deployed_env(&function));
    let first = run_once(&vault_env, &scheduled("2026-12-01T04:00:00Z"));
    let mut expected: Vec<String> = shared
        .iter()
        .map(|(account, id)| identifier::build_vault_copy(account, id, SnapshotKind::Instance, "").unwrap())
        .collect();
    expected.sort();
    assert_eq!(first["created"], json!(expected), "{first}");
    assert_eq!(first["failed"], json!([]), "{first}");
    runtime.block_on(async {
        let held = vault_copies(&vault).await;
        assert_eq!(held.len(), 2, "{held:?}");
        for ((account, source_id), db) in shared.iter().zip(["orders", "billing"]) {
            let copy_id = identifier::build_vault_copy(account, source_id, SnapshotKind::Instance, "").unwrap();
            let (key, tags) = &held[&copy_id];
            assert_eq!(key.as_deref(), Some(vault_key.as_str()), "under the vault's key");
            assert_eq!(tags.get(tags::VAULT).map(String::as_str), Some(VAULT));
            assert_eq!(tags.get(tags::SOURCE_ACCOUNT), Some(&account.to_string()));
            assert_eq!(tags.get(tags::DB).map(String::as_str), Some(db));
            let key = vault_record_key(account, db, &copy_id);
            let locked = vault.s3.head_object().bucket(&bucket).key(&key).send().await.unwrap();
            assert_eq!(
                locked.object_lock_mode().map(|m| m.as_str()),
                Some("COMPLIANCE"),
                "the record is locked"
            );
            let record = json_object(&vault.s3, &bucket, &key).await;
            assert_eq!(record["snapshot_identifier"], copy_id.as_str());
            assert_eq!(record["db_identifier"], db);
        }
    });

    // A second vault run makes no new copy.
    let second = run_once(&vault_env, &scheduled("2026-12-01T05:00:00Z"));
    assert_eq!(second["created"], json!([]), "{second}");
    assert_eq!(second["existing"], json!(expected), "{second}");

    // Deleting the sources' snapshots leaves the vault copies.
    runtime.block_on(async {
        for (source, (_, id)) in [&a, &b].into_iter().zip(&shared) {
            source
                .rds
                .delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
                .unwrap();
        }
    });
    let third = run_once(&vault_env, &scheduled("2026-12-01T06:00:00Z"));
    assert_eq!(third["deleted"], json!([]), "{third}");
    assert_eq!(runtime.block_on(vault_copies(&vault)).len(), 2);

    // Refreshed, nothing changed; imported by name, the vault plans no change either.
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    tf.run(&["state", "rm", "rdsbackup_vault.v"]).success();
    tf.run(&["import", "rdsbackup_vault.v", VAULT]).success();
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);

    // Destroy says what it keeps, and keeps it: the copies, and the bucket while it holds locked records.
    let plan = tf.run(&["plan", "-destroy"]);
    assert!(
        plan.text().contains("Destroying a vault keeps its copies"),
        "{}",
        plan.text()
    );
    let destroyed = tf.run(&["destroy", "-auto-approve"]);
    destroyed.success();
    assert!(destroyed.text().contains("Vault bucket kept"), "{}", destroyed.text());
    runtime.block_on(async {
        assert_eq!(vault_copies(&vault).await.len(), 2, "destroy deletes no vault copy");
        vault
            .s3
            .head_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("the bucket with its records stays");
        let gone = vault.lambda.get_function().function_name(&function).send().await;
        assert!(gone.is_err(), "the function is deleted");
        let role = vault.iam.get_role().role_name(&function).send().await;
        assert!(role.is_err(), "the role is deleted");
    });
}

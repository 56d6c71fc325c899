//! A vault's function (`bootstrap --once` in vault mode) against moto with three accounts reached through
//! assumed roles, as a real deployment has them: two sources share snapshots with the vault account, whose run
//! copies each once onto its own key, tags it, writes its record, and ignores what it must not take.
//!
//! moto 5.1.22 cannot copy a snapshot shared by another account (it looks the ARN up in the caller's account);
//! `Moto::start_sharing` fills that one gap, as AWS behaves, and nothing else.

use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::{env, tags, vault_record_key};
use rdsbackup_tests::accounts::{Account, account};
use rdsbackup_tests::fault_proxy::{Fault, FaultProxy};
use rdsbackup_tests::runtime_api::run_once;
use rdsbackup_tests::{Moto, acceptance, databases, json_object};
use serde_json::json;

const SOURCE_A: &str = "111111111111";
const SOURCE_B: &str = "222222222222";
const OUTSIDER: &str = "333333333333";
const VAULT_ACCOUNT: &str = "210987654321";
const VAULT: &str = "central";

/// A policy's snapshot of `db` in the source, shared with the vault account.
async fn shared_snapshot(source: &Account, db: &str, slot: &str, with: &str) -> String {
    databases::shared_policy_snapshot(&source.rds, "nightly", db, SnapshotKind::Instance, slot, with).await
}

fn vault_env(vault: &Account, key: &str, bucket: &str) -> Vec<(String, String)> {
    let mut env = vault.env.clone();
    for (k, v) in [
        (env::VAULT_NAME, VAULT),
        (env::BUCKET, bucket),
        (env::BUCKET_OWNER, VAULT_ACCOUNT),
        (env::SOURCE_ACCOUNTS, &format!("{SOURCE_A},{SOURCE_B}")),
        (env::KMS_KEY_ARN, key),
        (env::RETENTION_DAYS, "365"),
        (env::MIN_SNAPSHOTS, "7"),
    ] {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

#[test]
fn the_vault_copies_each_source_s_shares_once_under_its_key_and_ignores_the_rest() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it needs three accounts of an organization and creates RDS databases");
        return;
    }
    let moto = Moto::start_sharing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b, outsider, vault) = runtime.block_on(async {
        (
            account(&moto.endpoint, SOURCE_A).await,
            account(&moto.endpoint, SOURCE_B).await,
            account(&moto.endpoint, OUTSIDER).await,
            account(&moto.endpoint, VAULT_ACCOUNT).await,
        )
    });
    let bucket = format!("rdsbackup-vault-{VAULT}-{VAULT_ACCOUNT}");
    let (key, shared) = runtime.block_on(async {
        for (source, db) in [(&a, "orders"), (&b, "orders"), (&outsider, "orders")] {
            databases::instance(&source.rds, db, "postgres", None, &[]).await;
        }
        vault.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let key = vault.kms.create_key().send().await.unwrap();
        let key = key.key_metadata().unwrap().arn().unwrap().to_string();
        let shared = [
            (
                SOURCE_A,
                shared_snapshot(&a, "orders", "202612010300", VAULT_ACCOUNT).await,
            ),
            (
                SOURCE_B,
                shared_snapshot(&b, "orders", "202612010300", VAULT_ACCOUNT).await,
            ),
        ];
        // Shared by an account the vault does not list, and shared by a source under a foreign name.
        shared_snapshot(&outsider, "orders", "202612010300", VAULT_ACCOUNT).await;
        a.rds
            .create_db_snapshot()
            .db_instance_identifier("orders")
            .db_snapshot_identifier("by-hand")
            .send()
            .await
            .unwrap();
        databases::share(&a.rds, "by-hand", VAULT_ACCOUNT).await;
        (key, shared)
    });
    let env = vault_env(&vault, &key, &bucket);
    let event = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-12-01T04:00:00Z"});

    let first = run_once(&env, &event);
    let expected: Vec<String> = shared
        .iter()
        .map(|(account, id)| identifier::build_vault_copy(account, id, SnapshotKind::Instance, "").unwrap())
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(first["created"], json!(sorted), "{first}");
    assert_eq!(first["failed"], json!([]), "{first}");

    runtime.block_on(async {
        let held = vault
            .rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap();
        let held = held.db_snapshots();
        assert_eq!(
            held.len(),
            2,
            "only the two sources' policy snapshots are copied: {held:?}"
        );
        for ((account, source_id), copy_id) in shared.iter().zip(&expected) {
            let copy = held
                .iter()
                .find(|s| s.db_snapshot_identifier() == Some(copy_id.as_str()))
                .unwrap();
            assert_eq!(copy.kms_key_id(), Some(key.as_str()), "under the vault's key");
            let tags: std::collections::BTreeMap<&str, &str> = copy
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?)))
                .collect();
            let source_arn = format!("arn:aws:rds:us-east-1:{account}:snapshot:{source_id}");
            assert_eq!(tags.get(tags::VAULT), Some(&VAULT));
            assert_eq!(tags.get(tags::SOURCE_ACCOUNT), Some(account));
            assert_eq!(tags.get(tags::SOURCE), Some(&source_arn.as_str()));
            assert_eq!(tags.get(tags::POLICY), Some(&"nightly"));
            assert_eq!(tags.get(tags::DB), Some(&"orders"));
            let record = json_object(&vault.s3, &bucket, &vault_record_key(account, "orders", copy_id)).await;
            assert_eq!(record["source_account"], *account);
            assert_eq!(record["source_snapshot_arn"], source_arn);
            assert_eq!(record["snapshot_identifier"], *copy_id);
            assert_eq!(record["db_identifier"], "orders");
            assert_eq!(record["policy"], "nightly");
            assert!(
                record["snapshot_arn"].as_str().unwrap().contains(VAULT_ACCOUNT),
                "{record}"
            );
        }
    });

    let second = run_once(&env, &event);
    assert_eq!(second["created"], json!([]), "a second run makes no new copy: {second}");
    assert_eq!(second["existing"], json!(sorted), "{second}");

    // A source deleting its own snapshots leaves the vault copies.
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
    let third = run_once(&env, &event);
    assert_eq!(third["deleted"], json!([]), "{third}");
    runtime.block_on(async {
        let held = vault
            .rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .unwrap();
        assert_eq!(held.db_snapshots().len(), 2);
    });
}

#[test]
fn a_copy_still_being_made_gets_its_record_brought_up_to_date_by_a_later_run() {
    if acceptance() {
        eprintln!("skipped in acceptance mode: it needs three accounts of an organization and creates RDS databases");
        return;
    }
    let moto = Moto::start_sharing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, vault) = runtime.block_on(async {
        (
            account(&moto.endpoint, SOURCE_A).await,
            account(&moto.endpoint, VAULT_ACCOUNT).await,
        )
    });
    let bucket = format!("rdsbackup-vault-{VAULT}-{VAULT_ACCOUNT}");
    let (key, source_id) = runtime.block_on(async {
        databases::instance(&a.rds, "orders", "postgres", None, &[]).await;
        vault.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let key = vault.kms.create_key().send().await.unwrap();
        let key = key.key_metadata().unwrap().arn().unwrap().to_string();
        (key, shared_snapshot(&a, "orders", "202612010300", VAULT_ACCOUNT).await)
    });
    let copy_id = identifier::build_vault_copy(SOURCE_A, &source_id, SnapshotKind::Instance, "").unwrap();
    let record_key = vault_record_key(SOURCE_A, "orders", &copy_id);
    let marker = rdsbackup_common::vault_pending_key(SOURCE_A, "orders", &copy_id);
    let proxy = FaultProxy::start(&moto.endpoint);
    let env = proxy.env_through(&vault_env(&vault, &key, &bucket));
    let event = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-12-01T04:00:00Z"});
    let status_of = |runtime: &tokio::runtime::Runtime| {
        let record = runtime.block_on(json_object(&vault.s3, &bucket, &record_key));
        record["status"].as_str().unwrap().to_string()
    };
    let markers = |runtime: &tokio::runtime::Runtime| {
        runtime.block_on(async {
            let listed = vault
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("pending/")
                .send()
                .await
                .unwrap();
            listed
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(String::from)
                .collect::<Vec<_>>()
        })
    };

    // moto finishes a copy at once; RDS takes minutes to hours. The proxy plays RDS while the copy is made.
    proxy.inject(
        &["Action=CopyDBSnapshot"],
        Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
    );
    proxy.inject(
        &["Action=DescribeDBSnapshots", "SnapshotType=manual"],
        Fault::rewrite("<Status>available</Status>", "<Status>copying</Status>"),
    );
    let first = run_once(&env, &event);
    assert_eq!(first["created"], json!([copy_id]), "{first}");
    assert_eq!(status_of(&runtime), "copying");
    assert_eq!(markers(&runtime), std::slice::from_ref(&marker), "the copy is pending");
    // Still being made: the record waits, the marker stays.
    let second = run_once(&env, &event);
    assert_eq!(second["created"], json!([]), "{second}");
    assert_eq!(markers(&runtime), std::slice::from_ref(&marker));

    proxy.clear();
    let third = run_once(&env, &event);
    assert_eq!(third["failed"], json!([]), "{third}");
    assert_eq!(status_of(&runtime), "available", "the record follows the copy");
    assert!(markers(&runtime).is_empty(), "no marker once settled");
    let fourth = run_once(&env, &event);
    assert_eq!(fourth["created"], json!([]), "{fourth}");
}

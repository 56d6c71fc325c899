//! One run of a vault's function (`rdsbackup_vault`): list what the sources share with the vault account and
//! what the vault holds, copy each new share once onto the vault's key (within RDS's limit of copies in flight),
//! write each copy's record, apply the vault's retention to its own copies, and emit the age of each source
//! account's newest copy. What to do is `rdsbackup_common::vault_plan`'s decision; this module does it.

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::vault_plan::{self, Held, Shared};
use rdsbackup_common::{tags, vault};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tracing::{error, info};

use crate::aws_error;
use crate::config::VaultConfig;
use crate::metrics;
use crate::run::{Clients, Output, RunFailed};
use crate::select::{self, Failure};
use crate::slot::{self, Slot};
use crate::snapshot;

/// A shared snapshot with what the copy's tags and record need.
struct Listed {
    shared: Shared,
    /// The source database's identifier, as RDS describes the snapshot.
    db: String,
    policy_tag: Option<String>,
    db_tag: Option<String>,
}

pub async fn handle(clients: &Clients, config: &VaultConfig, event: Value) -> Result<Output, RunFailed> {
    let now = slot::now(&event, OffsetDateTime::now_utc()).map_err(RunFailed)?;
    info!(vault = %config.name, slot = %Slot::of(now).rfc3339(), "vault run started");
    let (shared, held) = tokio::join!(list_shared(&clients.rds), list_held(&clients.rds));
    let shared = shared.map_err(RunFailed)?;
    let held = held.map_err(RunFailed)?;
    let cutoff = Slot::of(now - Duration::days(config.retention_days.into())).compact();
    let rules = vault_plan::Rules {
        vault: &config.name,
        source_accounts: &config.source_accounts,
        min_snapshots: config.min_snapshots,
        cutoff_slot: &cutoff,
    };
    let held_plain: Vec<Held> = held.iter().map(|(h, _)| h.clone()).collect();
    let shared_plain: Vec<Shared> = shared.iter().map(|l| l.shared.clone()).collect();
    let plan = vault_plan::plan(&shared_plain, &held_plain, &rules);

    let mut output = Output::default();
    let mut failed = Vec::new();
    // RDS's limit of copies in flight into the region, less the vault's own still being made.
    let in_flight = held
        .iter()
        .filter(|(h, _)| h.vault.as_deref() == Some(config.name.as_str()) && !is_settled(&h.status))
        .count();
    let room = rdsbackup_common::copies::MAX_IN_FLIGHT_PER_REGION.saturating_sub(in_flight);
    for (arn, copy_id) in plan.copy.iter().take(room) {
        let listed = shared
            .iter()
            .find(|l| &l.shared.arn == arn)
            .expect("the plan copies listed snapshots");
        match copy(clients, config, listed, copy_id).await {
            Ok(true) => output.created.push(copy_id.clone()),
            // Started by a concurrent or retried run: the next run lists it.
            Ok(false) => {}
            Err(e) => failed.push(fail(&listed.db, listed.shared.kind, e)),
        }
    }
    output.existing = plan.existing.clone();
    for id in &plan.expired {
        let (h, kind) = held
            .iter()
            .find(|(h, _)| &h.id == id)
            .expect("retention picks held copies");
        match snapshot::delete(&clients.rds, *kind, id).await {
            Ok(()) => {
                info!(snapshot = %id, "expired vault copy deleted");
                output.deleted.push(id.clone());
            }
            Err(e) => failed.push(fail(h.db.as_deref().unwrap_or_default(), *kind, e)),
        }
    }
    output.failed = failed;
    for list in [&mut output.created, &mut output.existing, &mut output.deleted] {
        list.sort();
    }
    output.failed.sort();
    let ages: Vec<(String, f64)> = plan
        .newest
        .iter()
        .filter_map(|(account, slot)| {
            let taken = Slot::from_compact(slot)?.time();
            Some((account.clone(), ((now - taken).as_seconds_f64() / 3600.0).max(0.0)))
        })
        .collect();
    let timestamp_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    for document in metrics::vault_documents(&config.name, &ages, timestamp_ms) {
        println!("{document}");
    }
    let summary = serde_json::to_string(&output).expect("the output serializes");
    if output.failed.is_empty() {
        info!(output = %summary, "vault run finished");
        Ok(output)
    } else {
        error!(output = %summary, "vault run finished with failures");
        Err(RunFailed(format!(
            "{} snapshot(s) failed: {summary}",
            output.failed.len()
        )))
    }
}

fn fail(db: &str, kind: SnapshotKind, error: String) -> Failure {
    error!(db, %error, "vault run failed for a snapshot");
    Failure {
        db: db.to_string(),
        kind,
        error,
    }
}

fn is_settled(status: &str) -> bool {
    matches!(status, "available" | "failed")
}

/// Copies one share onto the vault's key, tagged as the contract says, and writes its record; `false` when the
/// copy exists already (a concurrent or retried run started it), which the next run's listing finds.
async fn copy(clients: &Clients, config: &VaultConfig, listed: &Listed, copy_id: &str) -> Result<bool, String> {
    let arn = &listed.shared.arn;
    let (account, source_id) = vault::shared_source(arn).expect("taken snapshots have an RDS ARN");
    let (policy, db) = match identifier::owner_of(source_id) {
        Some((policy, db)) => (policy.to_string(), db.to_string()),
        None => (
            listed.policy_tag.clone().unwrap_or_default(),
            listed.db_tag.clone().unwrap_or_else(|| listed.db.clone()),
        ),
    };
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let tag_list = vec![
        tag(tags::VAULT, &config.name),
        tag(tags::SOURCE_ACCOUNT, account),
        tag(tags::SOURCE, arn),
        tag(tags::POLICY, &policy),
        tag(tags::DB, &db),
    ];
    let (copy_arn, status) = match listed.shared.kind {
        SnapshotKind::Instance => {
            let made = clients
                .rds
                .copy_db_snapshot()
                .source_db_snapshot_identifier(arn)
                .target_db_snapshot_identifier(copy_id)
                .kms_key_id(&config.kms_key_arn)
                .set_tags(Some(tag_list))
                .send()
                .await;
            match made {
                Ok(out) => {
                    let s = out.db_snapshot();
                    (
                        s.and_then(|s| s.db_snapshot_arn()).unwrap_or_default().to_string(),
                        s.and_then(|s| s.status()).unwrap_or_default().to_string(),
                    )
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_snapshot_already_exists_fault()) =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(aws_error::describe(&format!("CopyDBSnapshot {arn}"), &e)),
            }
        }
        SnapshotKind::Cluster => {
            let made = clients
                .rds
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(arn)
                .target_db_cluster_snapshot_identifier(copy_id)
                .kms_key_id(&config.kms_key_arn)
                .set_tags(Some(tag_list))
                .send()
                .await;
            match made {
                Ok(out) => {
                    let s = out.db_cluster_snapshot();
                    (
                        s.and_then(|s| s.db_cluster_snapshot_arn())
                            .unwrap_or_default()
                            .to_string(),
                        s.and_then(|s| s.status()).unwrap_or_default().to_string(),
                    )
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_cluster_snapshot_already_exists_fault()) =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(aws_error::describe(&format!("CopyDBClusterSnapshot {arn}"), &e)),
            }
        }
    };
    info!(source = %arn, copy = %copy_id, %status, "vault copy started");
    let record = json!({
        "vault": config.name,
        "source_account": account,
        "source_snapshot_arn": arn,
        "snapshot_identifier": copy_id,
        "snapshot_arn": copy_arn,
        "policy": policy,
        "db_identifier": db,
        "kind": listed.shared.kind.as_str(),
        "status": status,
        "copied_at": slot::rfc3339(OffsetDateTime::now_utc()),
    });
    let key = rdsbackup_common::vault_record_key(account, &db, copy_id);
    clients
        .s3
        .put_object()
        .bucket(&config.bucket)
        .expected_bucket_owner(&config.bucket_owner)
        .key(&key)
        .content_type("application/json")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&config.kms_key_arn)
        .body(ByteStream::from(
            serde_json::to_vec_pretty(&record).expect("JSON serializes"),
        ))
        .send()
        .await
        .map(|_| true)
        .map_err(|e| {
            aws_error::describe(
                &format!(
                    "vault copy {copy_id} was started but its record was not written: PutObject s3://{}/{key}",
                    config.bucket
                ),
                &e,
            )
        })
}

/// Every snapshot shared with the account, instances and clusters at once. RDS lists them only with
/// `SnapshotType=shared` (and `IncludeShared`).
async fn list_shared(rds: &aws_sdk_rds::Client) -> Result<Vec<Listed>, String> {
    let instances = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_snapshots()
            .snapshot_type("shared")
            .include_shared(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error::describe("DescribeDBSnapshots shared", &e))?;
            found.extend(page.db_snapshots().iter().map(|s| {
                let mut tags = select::tags(s.tag_list());
                Listed {
                    shared: Shared {
                        arn: s.db_snapshot_arn().unwrap_or_default().into(),
                        kind: SnapshotKind::Instance,
                        status: s.status().unwrap_or_default().into(),
                        created_slot: created_slot(s.snapshot_create_time()),
                    },
                    db: s.db_instance_identifier().unwrap_or_default().into(),
                    policy_tag: tags.remove(tags::POLICY),
                    db_tag: tags.remove(tags::DB),
                }
            }));
        }
        Ok::<_, String>(found)
    };
    let clusters = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_cluster_snapshots()
            .snapshot_type("shared")
            .include_shared(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error::describe("DescribeDBClusterSnapshots shared", &e))?;
            found.extend(page.db_cluster_snapshots().iter().map(|s| {
                let mut tags = select::tags(s.tag_list());
                Listed {
                    shared: Shared {
                        arn: s.db_cluster_snapshot_arn().unwrap_or_default().into(),
                        kind: SnapshotKind::Cluster,
                        status: s.status().unwrap_or_default().into(),
                        created_slot: created_slot(s.snapshot_create_time()),
                    },
                    db: s.db_cluster_identifier().unwrap_or_default().into(),
                    policy_tag: tags.remove(tags::POLICY),
                    db_tag: tags.remove(tags::DB),
                }
            }));
        }
        Ok::<_, String>(found)
    };
    let (instances, clusters) = tokio::join!(instances, clusters);
    let mut all = instances?;
    all.extend(clusters?);
    Ok(all)
}

/// The account's manual snapshots with their tags and kind: the vault's own copies among them are known by
/// `vault_plan`'s rule.
async fn list_held(rds: &aws_sdk_rds::Client) -> Result<Vec<(Held, SnapshotKind)>, String> {
    let held = |id: Option<&str>, status: Option<&str>, tags: &[Tag]| {
        let mut tags: BTreeMap<String, String> = select::tags(tags);
        Held {
            id: id.unwrap_or_default().into(),
            vault: tags.remove(tags::VAULT),
            db: tags.remove(tags::DB),
            status: status.unwrap_or_default().into(),
        }
    };
    let instances = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error::describe("DescribeDBSnapshots", &e))?;
            found.extend(page.db_snapshots().iter().map(|s| {
                (
                    held(s.db_snapshot_identifier(), s.status(), s.tag_list()),
                    SnapshotKind::Instance,
                )
            }));
        }
        Ok::<_, String>(found)
    };
    let clusters = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_cluster_snapshots()
            .snapshot_type("manual")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error::describe("DescribeDBClusterSnapshots", &e))?;
            found.extend(page.db_cluster_snapshots().iter().map(|s| {
                (
                    held(s.db_cluster_snapshot_identifier(), s.status(), s.tag_list()),
                    SnapshotKind::Cluster,
                )
            }));
        }
        Ok::<_, String>(found)
    };
    let (instances, clusters) = tokio::join!(instances, clusters);
    let mut all = instances?;
    all.extend(clusters?);
    Ok(all)
}

fn created_slot(t: Option<&aws_sdk_rds::primitives::DateTime>) -> String {
    t.and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
        .map(|t| Slot::of(t).compact())
        .unwrap_or_else(|| Slot::of(OffsetDateTime::now_utc()).compact())
}

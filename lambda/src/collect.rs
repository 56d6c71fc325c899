//! One run of a vault's function (`rdsbackup_vault`): list what the sources share with the vault account and
//! what the vault holds, copy each new share once onto the vault's key (within RDS's limit of copies in flight),
//! write each copy's record, apply the vault's retention to its own copies, and emit the age of each source
//! account's newest copy. What to do is `rdsbackup_common::vault_plan`'s decision; this module does it.

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;
use rdsbackup_common::identifier::{self, SnapshotKind};
use rdsbackup_common::vault_plan::{self, Held, Shared};
use rdsbackup_common::{PENDING_PREFIX, tags, vault};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tracing::{error, info};

use crate::aws_error;
use crate::config::VaultConfig;
use crate::metrics;
use crate::records;
use crate::run::{Clients, Output, RunFailed};
use crate::select::{self, Failure};
use crate::slot::{self, Slot};
use crate::snapshot;

/// A shared snapshot with what the copy's tags and record need: its policy and database (`shared.db`), from the
/// source's identifier when it carries them, else from its tags, else (the database) as RDS describes it.
struct Listed {
    shared: Shared,
    policy: String,
}

impl Listed {
    fn new(shared: Shared, described_db: Option<&str>, tags: &[Tag]) -> Listed {
        let mut tags = select::tags(tags);
        let source_id = vault::shared_source(&shared.arn).map(|(_, id)| id);
        let (policy, db) = match source_id.and_then(identifier::owner_of) {
            Some((policy, db)) => (policy.to_string(), db.to_string()),
            None => (
                tags.remove(tags::POLICY).unwrap_or_default(),
                tags.remove(tags::DB)
                    .unwrap_or_else(|| described_db.unwrap_or_default().to_string()),
            ),
        };
        Listed {
            shared: Shared { db, ..shared },
            policy,
        }
    }
}

pub async fn handle(clients: &Clients, config: &VaultConfig, event: Value) -> Result<Output, RunFailed> {
    let now = slot::now(&event, OffsetDateTime::now_utc()).map_err(RunFailed)?;
    info!(vault = %config.name, slot = %Slot::of(now).rfc3339(), "vault run started");
    let bucket = records_bucket(config);
    let (shared, held, pending) = tokio::join!(
        list_shared(&clients.rds),
        list_held(&clients.rds),
        records::keys(&clients.s3, &bucket, PENDING_PREFIX)
    );
    let shared = shared.map_err(RunFailed)?;
    let held = held.map_err(RunFailed)?;
    let pending = pending.map_err(RunFailed)?;
    let cutoff = Slot::of(now - Duration::days(config.retention_days.into())).compact();
    let rules = vault_plan::Rules {
        vault: &config.name,
        source_accounts: &config.source_accounts,
        min_snapshots: config.min_snapshots,
        cutoff_slot: &cutoff,
    };
    let held_plain: Vec<Held> = held.iter().map(|h| h.held.clone()).collect();
    let shared_plain: Vec<Shared> = shared.iter().map(|l| l.shared.clone()).collect();
    let plan = vault_plan::plan(&shared_plain, &held_plain, &rules);

    let mut output = Output::default();
    let mut failed = Vec::new();
    // RDS's limit of copies in flight into the region, less the vault's own still being made.
    let in_flight = held
        .iter()
        .filter(|h| h.held.vault.as_deref() == Some(config.name.as_str()) && !records::settled(&h.held.status))
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
            Err(e) => failed.push(fail(&listed.shared.db, listed.shared.kind, e)),
        }
    }
    output.existing = plan.existing.clone();
    // Records of copies that were still being made: brought up to date once RDS settles them.
    let mut unmarked = Vec::new();
    for key in &pending {
        let Some((account, db, id)) = rdsbackup_common::parse_vault_pending_key(key) else {
            continue;
        };
        let found = held.iter().find(|h| h.held.id == id);
        let status = match found {
            Some(h) if !records::settled(&h.held.status) => continue,
            Some(h) => h.held.status.as_str(),
            // Gone before it settled (deleted by hand, or a failed copy RDS removed).
            None => "deleted",
        };
        let settled = settle(clients, config, (account, db, id), status, found, true).await;
        if settled.is_ok() && status == "failed" {
            // Reported once (the marker goes); retention deletes the failed copy and a later run copies again.
            failed.push(fail(
                db,
                found.map_or(SnapshotKind::Instance, |h| h.kind),
                format!("vault copy {id} failed; it is deleted and the share copied again"),
            ));
        }
        match settled {
            Ok(()) => unmarked.push(key),
            Err(e) => failed.push(fail(db, found.map_or(SnapshotKind::Instance, |h| h.kind), e)),
        }
    }
    for id in &plan.expired {
        let h = held
            .iter()
            .find(|h| &h.held.id == id)
            .expect("retention picks held copies");
        let db = h.held.db.as_deref().unwrap_or_default();
        let deleted = snapshot::delete(&clients.rds, h.kind, id).await;
        // The record stays (Object Lock keeps it anyway), saying the copy is gone.
        let recorded = match (&deleted, identifier::parse_vault_copy(id)) {
            (Ok(()), Some((account, _))) => {
                let marker = rdsbackup_common::vault_pending_key(account, db, id);
                let marked = pending.contains(&marker) && !unmarked.contains(&&marker);
                settle(clients, config, (account, db, id), "deleted", Some(h), marked).await
            }
            _ => Ok(()),
        };
        match deleted.and(recorded) {
            Ok(()) => {
                info!(snapshot = %id, "expired vault copy deleted");
                output.deleted.push(id.clone());
            }
            Err(e) => failed.push(fail(db, h.kind, e)),
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

/// The vault's bucket, its records encrypted with the vault's key.
fn records_bucket(config: &VaultConfig) -> records::Bucket<'_> {
    records::Bucket {
        name: &config.bucket,
        owner: &config.bucket_owner,
        kms_key_arn: Some(&config.kms_key_arn),
    }
}

/// What a vault copy's record says (../shared/CONTRACTS.md): made when the copy starts, and again from the
/// copy's tags when it settles and its record is missing (a run stopped between marker and record).
struct CopyRecord<'a> {
    account: &'a str,
    source_arn: &'a str,
    copy_id: &'a str,
    copy_arn: &'a str,
    policy: &'a str,
    db: &'a str,
    kind: SnapshotKind,
    status: &'a str,
}

impl CopyRecord<'_> {
    fn to_json(&self, vault: &str) -> serde_json::Map<String, Value> {
        let record = json!({
            "vault": vault,
            "source_account": self.account,
            "source_snapshot_arn": self.source_arn,
            "snapshot_identifier": self.copy_id,
            "snapshot_arn": self.copy_arn,
            "policy": self.policy,
            "db_identifier": self.db,
            "kind": self.kind.as_str(),
            "status": self.status,
            "copied_at": slot::rfc3339(OffsetDateTime::now_utc()),
        });
        record.as_object().cloned().expect("an object")
    }
}

/// Brings a copy's record to `status` (`deleted` with `deleted_at` when retention deleted the copy) and drops its
/// pending marker when it has one (`marked`). The marker goes last: a run that stops before leaves it for the next.
async fn settle(
    clients: &Clients,
    config: &VaultConfig,
    (account, db, id): (&str, &str, &str),
    status: &str,
    found: Option<&HeldCopy>,
    marked: bool,
) -> Result<(), String> {
    let bucket = records_bucket(config);
    let key = rdsbackup_common::vault_record_key(account, db, id);
    let record = match records::read(&clients.s3, &bucket, &key).await? {
        Some(mut record) => {
            record.insert("status".into(), status.into());
            if status == "deleted" && !record.contains_key("deleted_at") {
                record.insert("deleted_at".into(), slot::rfc3339(OffsetDateTime::now_utc()).into());
            }
            Some(record)
        }
        None => found.map(|h| {
            CopyRecord {
                account,
                source_arn: h.source_arn.as_deref().unwrap_or_default(),
                copy_id: id,
                copy_arn: &h.arn,
                policy: h.policy.as_deref().unwrap_or_default(),
                db,
                kind: h.kind,
                status,
            }
            .to_json(&config.name)
        }),
    };
    if let Some(record) = record {
        records::put_record(&clients.s3, &bucket, &key, record).await?;
    }
    info!(copy = %id, %status, "vault copy settled");
    if !marked {
        return Ok(());
    }
    records::delete(
        &clients.s3,
        &bucket,
        &rdsbackup_common::vault_pending_key(account, db, id),
    )
    .await
}

/// Copies one share onto the vault's key, tagged as the contract says, and writes its record; `false` when the
/// copy exists already (a concurrent or retried run started it), which the next run's listing finds.
async fn copy(clients: &Clients, config: &VaultConfig, listed: &Listed, copy_id: &str) -> Result<bool, String> {
    let arn = &listed.shared.arn;
    let (account, _) = vault::shared_source(arn).expect("taken snapshots have an RDS ARN");
    let (policy, db) = (&listed.policy, &listed.shared.db);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let tag_list = vec![
        tag(tags::VAULT, &config.name),
        tag(tags::SOURCE_ACCOUNT, account),
        tag(tags::SOURCE, arn),
        tag(tags::POLICY, policy),
        tag(tags::DB, db),
    ];
    // The marker before the copy (its identifier is known before): a run that stops after the copy leaves a
    // marker that a later run resolves into the record, never a copy without one. A copy that then fails to
    // start leaves a marker without a copy, which the next run drops.
    records::mark(
        &clients.s3,
        &records_bucket(config),
        &rdsbackup_common::vault_pending_key(account, db, copy_id),
    )
    .await?;
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
    let record = CopyRecord {
        account,
        source_arn: arn,
        copy_id,
        copy_arn: &copy_arn,
        policy,
        db,
        kind: listed.shared.kind,
        status: &status,
    };
    let bucket = records_bucket(config);
    let key = rdsbackup_common::vault_record_key(account, db, copy_id);
    records::put_record(&clients.s3, &bucket, &key, record.to_json(&config.name))
        .await
        .map(|()| true)
        .map_err(|e| format!("vault copy {copy_id} was started but its record was not written: {e}"))
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
                let shared = Shared {
                    arn: s.db_snapshot_arn().unwrap_or_default().into(),
                    kind: SnapshotKind::Instance,
                    status: s.status().unwrap_or_default().into(),
                    created_slot: created_slot(s.snapshot_create_time()),
                    db: String::new(),
                };
                Listed::new(shared, s.db_instance_identifier(), s.tag_list())
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
                let shared = Shared {
                    arn: s.db_cluster_snapshot_arn().unwrap_or_default().into(),
                    kind: SnapshotKind::Cluster,
                    status: s.status().unwrap_or_default().into(),
                    created_slot: created_slot(s.snapshot_create_time()),
                    db: String::new(),
                };
                Listed::new(shared, s.db_cluster_identifier(), s.tag_list())
            }));
        }
        Ok::<_, String>(found)
    };
    let (instances, clusters) = tokio::join!(instances, clusters);
    let mut all = instances?;
    all.extend(clusters?);
    Ok(all)
}

/// One of the account's manual snapshots, as the vault's plan and records need it.
struct HeldCopy {
    held: Held,
    kind: SnapshotKind,
    arn: String,
    source_arn: Option<String>,
    policy: Option<String>,
}

/// The account's manual snapshots with their tags and kind: the vault's own copies among them are known by
/// `vault_plan`'s rule.
async fn list_held(rds: &aws_sdk_rds::Client) -> Result<Vec<HeldCopy>, String> {
    let held = |id: Option<&str>, arn: Option<&str>, status: Option<&str>, tags: &[Tag], kind| {
        let mut tags: BTreeMap<String, String> = select::tags(tags);
        HeldCopy {
            held: Held {
                id: id.unwrap_or_default().into(),
                vault: tags.remove(tags::VAULT),
                db: tags.remove(tags::DB),
                status: status.unwrap_or_default().into(),
            },
            kind,
            arn: arn.unwrap_or_default().into(),
            source_arn: tags.remove(tags::SOURCE),
            policy: tags.remove(tags::POLICY),
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
                held(
                    s.db_snapshot_identifier(),
                    s.db_snapshot_arn(),
                    s.status(),
                    s.tag_list(),
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
                held(
                    s.db_cluster_snapshot_identifier(),
                    s.db_cluster_snapshot_arn(),
                    s.status(),
                    s.tag_list(),
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

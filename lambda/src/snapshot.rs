//! The RDS side of a backup: create the slot's snapshot, find one by identifier, list a database's manual
//! snapshots, copy one (into another region, or onto the vault key), share one with the vault account, delete. Instances and clusters have parallel APIs; this module hides
//! which one a database needs. Every function takes the client of the region it acts in.

use std::collections::HashMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{Filter, Tag};
use futures::stream::{self, StreamExt};
use time::OffsetDateTime;

use crate::aws_error;
use crate::retention;
use crate::select::{Database, Kind, tags};

/// A snapshot as RDS describes it, with what retention and the records need.
#[derive(Clone, Debug)]
pub struct Described {
    pub arn: String,
    pub engine: String,
    /// The instance or cluster it was taken of.
    pub source: String,
    /// Whether its storage is encrypted: an encrypted snapshot needs a key of the destination to be copied.
    pub encrypted: bool,
    /// The key it is encrypted with, as RDS names it (a key ARN).
    pub kms_key_id: Option<String>,
    pub snapshot: retention::Snapshot,
}

/// Where a listing looks: at home, or in a destination region, where every snapshot of ours is a copy and its
/// age is its source's (RDS's `OriginalSnapshotCreateTime`, else the slot in its identifier), not the copy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Home,
    Away,
}

/// The snapshot made, or `None` when a snapshot of that identifier exists already: whose it is, the caller
/// finds out.
pub async fn create(rds: &Client, policy: &str, db: &Database, id: &str) -> Result<Option<Described>, String> {
    let tags = owned_tags(policy, &db.identifier);
    match db.kind {
        Kind::Instance => {
            let request = rds
                .create_db_snapshot()
                .db_instance_identifier(&db.identifier)
                .db_snapshot_identifier(id)
                .set_tags(Some(tags));
            match request.send().await {
                Ok(output) => Ok(Some(instance_snapshot(
                    output.db_snapshot().ok_or("no DBSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_snapshot_already_exists_fault()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(aws_error::describe("CreateDBSnapshot", &e)),
            }
        }
        Kind::Cluster => {
            let request = rds
                .create_db_cluster_snapshot()
                .db_cluster_identifier(&db.identifier)
                .db_cluster_snapshot_identifier(id)
                .set_tags(Some(tags));
            match request.send().await {
                Ok(output) => Ok(Some(cluster_snapshot(
                    output
                        .db_cluster_snapshot()
                        .ok_or("no DBClusterSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_cluster_snapshot_already_exists_fault()) =>
                {
                    Ok(None)
                }
                Err(e) => Err(aws_error::describe("CreateDBClusterSnapshot", &e)),
            }
        }
    }
}

/// The snapshot of that identifier, of whichever database; `None` when there is none.
pub async fn find(rds: &Client, kind: Kind, id: &str) -> Result<Option<Described>, String> {
    match kind {
        Kind::Instance => match rds.describe_db_snapshots().db_snapshot_identifier(id).send().await {
            Ok(output) => Ok(output.db_snapshots().first().map(instance_snapshot)),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_db_snapshot_not_found_fault()) => Ok(None),
            Err(e) => Err(aws_error::describe("DescribeDBSnapshots", &e)),
        },
        Kind::Cluster => match rds
            .describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(output) => Ok(output.db_cluster_snapshots().first().map(cluster_snapshot)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_db_cluster_snapshot_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error::describe("DescribeDBClusterSnapshots", &e)),
        },
    }
}

/// Databases named in one listing request (a `db-instance-id` or `db-cluster-id` filter): the listing then costs
/// one request per page of 100 snapshots, not one per database. RDS documents no limit on a filter's values;
/// 100 keeps a request small.
const DATABASES_PER_LISTING: usize = 100;
/// Listing requests in flight at once.
const LISTINGS_AT_ONCE: usize = 4;

/// The snapshots of each listed database, by kind and identifier, or why its listing failed.
pub type Listings = HashMap<(Kind, String), Result<Vec<Described>, String>>;

/// The manual snapshots of every database in `dbs` (automated ones are RDS's to expire, so they are not even
/// listed), a hundred databases per request: filtered on their identifiers, paged as RDS pages. Every database
/// asked for has an entry, empty when it has no snapshot.
pub async fn list(rds: &Client, dbs: &[&Database], place: Place) -> Listings {
    let mut chunks = Vec::new();
    for kind in [Kind::Instance, Kind::Cluster] {
        let ids: Vec<String> = dbs
            .iter()
            .filter(|db| db.kind == kind)
            .map(|db| db.identifier.clone())
            .collect();
        chunks.extend(ids.chunks(DATABASES_PER_LISTING).map(|ids| (kind, ids.to_vec())));
    }
    let listed: Vec<_> = stream::iter(chunks)
        .map(|(kind, ids)| async move {
            let listed = list_chunk(rds, kind, &ids, place).await;
            (kind, ids, listed)
        })
        .buffer_unordered(LISTINGS_AT_ONCE)
        .collect()
        .await;
    let mut listings = Listings::new();
    for (kind, ids, listed) in listed {
        match listed {
            Ok(snapshots) => {
                for id in ids {
                    listings.insert((kind, id), Ok(Vec::new()));
                }
                for snapshot in snapshots {
                    if let Some(Ok(of)) = listings.get_mut(&(kind, snapshot.source.clone())) {
                        of.push(snapshot);
                    }
                }
            }
            Err(e) => listings.extend(ids.into_iter().map(|id| ((kind, id), Err(e.clone())))),
        }
    }
    listings
}

async fn list_chunk(rds: &Client, kind: Kind, ids: &[String], place: Place) -> Result<Vec<Described>, String> {
    let mut snapshots = Vec::new();
    match kind {
        Kind::Instance => {
            let filter = Filter::builder()
                .name("db-instance-id")
                .set_values(Some(ids.to_vec()))
                .build();
            let request = rds.describe_db_snapshots().filters(filter).snapshot_type("manual");
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error::describe("DescribeDBSnapshots", &e))?;
                snapshots.extend(page.db_snapshots().iter().map(|s| match place {
                    Place::Home if !is_shareable(s.db_snapshot_identifier()) => instance_snapshot(s),
                    _ => instance_copy(s),
                }));
            }
        }
        Kind::Cluster => {
            let filter = Filter::builder()
                .name("db-cluster-id")
                .set_values(Some(ids.to_vec()))
                .build();
            let request = rds
                .describe_db_cluster_snapshots()
                .filters(filter)
                .snapshot_type("manual");
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error::describe("DescribeDBClusterSnapshots", &e))?;
                snapshots.extend(page.db_cluster_snapshots().iter().map(|s| match place {
                    Place::Home if !is_shareable(s.db_cluster_snapshot_identifier()) => cluster_snapshot(s),
                    _ => cluster_copy(s),
                }));
            }
        }
    }
    Ok(snapshots)
}

/// Whether an identifier has the form of a copy onto the vault key, which (like a copy in another region) is as
/// old as its source. Whose it is, the ownership rule decides.
fn is_shareable(id: Option<&str>) -> bool {
    id.is_some_and(|id| id.ends_with(rdsbackup_common::identifier::SHAREABLE_SUFFIX))
}

/// What a copy request ended in.
pub enum Copied {
    Started(Box<Described>),
    /// A snapshot of the copy's identifier exists already in the destination (a concurrent or retried run
    /// started it): whose it is, the caller finds out.
    Exists,
}

/// Copies `source` (a snapshot of the home region, by ARN) into the region of `rds` as `id`, tagged as the
/// policy's copy of it, encrypted with `kms_key` when given. RDS requires the request to be made in the
/// destination region (the home region for a copy onto the vault key); outside AWS GovCloud (US) it needs no
/// presigned URL.
pub async fn copy(
    rds: &Client,
    policy: &str,
    db: &Database,
    source: &Described,
    id: &str,
    kms_key: Option<&str>,
) -> Result<Copied, String> {
    let mut tags = owned_tags(policy, &db.identifier);
    tags.push(
        Tag::builder()
            .key(rdsbackup_common::tags::SOURCE)
            .value(&source.arn)
            .build(),
    );
    // The copy carries the tags it was made with, whether or not RDS's answer lists them.
    let made = |mut copy: Described| {
        copy.snapshot.policy = Some(policy.to_string());
        copy.snapshot.db = Some(db.identifier.clone());
        Copied::Started(Box::new(copy))
    };
    match db.kind {
        Kind::Instance => {
            let request = rds
                .copy_db_snapshot()
                .source_db_snapshot_identifier(&source.arn)
                .target_db_snapshot_identifier(id)
                .set_kms_key_id(kms_key.map(String::from))
                .set_tags(Some(tags));
            match request.send().await {
                Ok(output) => Ok(made(instance_copy(
                    output.db_snapshot().ok_or("no DBSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_snapshot_already_exists_fault()) =>
                {
                    Ok(Copied::Exists)
                }
                Err(e) => Err(aws_error::describe("CopyDBSnapshot", &e)),
            }
        }
        Kind::Cluster => {
            let request = rds
                .copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(&source.arn)
                .target_db_cluster_snapshot_identifier(id)
                .set_kms_key_id(kms_key.map(String::from))
                .set_tags(Some(tags));
            match request.send().await {
                Ok(output) => Ok(made(cluster_copy(
                    output
                        .db_cluster_snapshot()
                        .ok_or("no DBClusterSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_cluster_snapshot_already_exists_fault()) =>
                {
                    Ok(Copied::Exists)
                }
                Err(e) => Err(aws_error::describe("CopyDBClusterSnapshot", &e)),
            }
        }
    }
}

/// Lets `account` restore (and copy) the snapshot: RDS's `restore` attribute. Adding an account that is there
/// already changes nothing, so a repeated run may share again.
pub async fn share(rds: &Client, kind: Kind, id: &str, account: &str) -> Result<(), String> {
    const RESTORE: &str = "restore";
    match kind {
        Kind::Instance => rds
            .modify_db_snapshot_attribute()
            .db_snapshot_identifier(id)
            .attribute_name(RESTORE)
            .values_to_add(account)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_error::describe(&format!("ModifyDBSnapshotAttribute {id}"), &e)),
        Kind::Cluster => rds
            .modify_db_cluster_snapshot_attribute()
            .db_cluster_snapshot_identifier(id)
            .attribute_name(RESTORE)
            .values_to_add(account)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_error::describe(&format!("ModifyDBClusterSnapshotAttribute {id}"), &e)),
    }
}

/// Deletes a snapshot. One already gone, or already being deleted (by a concurrent run of the same policy, or a
/// retried one), counts as deleted: the second run must not report the first one's work as a failure.
pub async fn delete(rds: &Client, kind: Kind, id: &str) -> Result<(), String> {
    match kind {
        Kind::Instance => match rds.delete_db_snapshot().db_snapshot_identifier(id).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_db_snapshot_not_found_fault() || e.is_invalid_db_snapshot_state_fault()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error::describe(&format!("DeleteDBSnapshot {id}"), &e)),
        },
        Kind::Cluster => match rds
            .delete_db_cluster_snapshot()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_db_cluster_snapshot_not_found_fault() || e.is_invalid_db_cluster_snapshot_state_fault()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error::describe(&format!("DeleteDBClusterSnapshot {id}"), &e)),
        },
    }
}

/// The tags that mark what the policy made for database `db` (its snapshots, their copies, its drill databases).
pub fn owned_tags(policy: &str, db: &str) -> Vec<Tag> {
    vec![
        Tag::builder().key(rdsbackup_common::tags::POLICY).value(policy).build(),
        Tag::builder().key(rdsbackup_common::tags::DB).value(db).build(),
    ]
}

fn instance_snapshot(s: &aws_sdk_rds::types::DbSnapshot) -> Described {
    let mut tags = tags(s.tag_list());
    Described {
        arn: s.db_snapshot_arn().unwrap_or_default().into(),
        engine: s.engine().unwrap_or_default().into(),
        source: s.db_instance_identifier().unwrap_or_default().into(),
        encrypted: s.encrypted().unwrap_or_default(),
        kms_key_id: s.kms_key_id().map(String::from),
        snapshot: retention::Snapshot {
            id: s.db_snapshot_identifier().unwrap_or_default().into(),
            policy: tags.remove(rdsbackup_common::tags::POLICY),
            db: tags.remove(rdsbackup_common::tags::DB),
            snapshot_type: s.snapshot_type().unwrap_or_default().into(),
            status: s.status().unwrap_or_default().into(),
            created: s.snapshot_create_time().and_then(timestamp),
        },
    }
}

fn cluster_snapshot(s: &aws_sdk_rds::types::DbClusterSnapshot) -> Described {
    let mut tags = tags(s.tag_list());
    Described {
        arn: s.db_cluster_snapshot_arn().unwrap_or_default().into(),
        engine: s.engine().unwrap_or_default().into(),
        source: s.db_cluster_identifier().unwrap_or_default().into(),
        encrypted: s.storage_encrypted().unwrap_or_default(),
        kms_key_id: s.kms_key_id().map(String::from),
        snapshot: retention::Snapshot {
            id: s.db_cluster_snapshot_identifier().unwrap_or_default().into(),
            policy: tags.remove(rdsbackup_common::tags::POLICY),
            db: tags.remove(rdsbackup_common::tags::DB),
            snapshot_type: s.snapshot_type().unwrap_or_default().into(),
            status: s.status().unwrap_or_default().into(),
            created: s.snapshot_create_time().and_then(timestamp),
        },
    }
}

/// A copy's data is as old as its source: `OriginalSnapshotCreateTime`, else (RDS may leave it out) the slot.
fn instance_copy(s: &aws_sdk_rds::types::DbSnapshot) -> Described {
    let mut copy = instance_snapshot(s);
    copy.snapshot.created = s.original_snapshot_create_time().and_then(timestamp);
    copy
}

/// Cluster snapshots carry no original create time: a copy ages by the slot in its identifier.
fn cluster_copy(s: &aws_sdk_rds::types::DbClusterSnapshot) -> Described {
    let mut copy = cluster_snapshot(s);
    copy.snapshot = copy
        .snapshot
        .as_copy(rdsbackup_common::identifier::SnapshotKind::Cluster);
    copy
}

fn timestamp(t: &aws_sdk_rds::primitives::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}

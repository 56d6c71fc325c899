//! The RDS side of a backup: create the slot's snapshot, list a database's manual snapshots for retention, delete.
//! Instances and clusters have parallel APIs; this module hides which one a database needs.

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;
use time::OffsetDateTime;

use crate::aws_error;
use crate::retention;
use crate::select::{Database, Kind, tags};

/// A snapshot as RDS describes it, with what retention and the records need.
#[derive(Clone, Debug)]
pub struct Described {
    pub arn: String,
    pub engine: String,
    pub snapshot: retention::Snapshot,
}

pub enum Created {
    New(Described),
    /// An earlier run for the same slot made it: a retried or repeated event.
    Existing,
}

pub async fn create(rds: &Client, policy: &str, db: &Database, id: &str) -> Result<Created, String> {
    let tags = [
        Tag::builder().key(rdsbackup_common::tags::POLICY).value(policy).build(),
        Tag::builder()
            .key(rdsbackup_common::tags::DB)
            .value(&db.identifier)
            .build(),
    ];
    match db.kind {
        Kind::Instance => {
            let request = rds
                .create_db_snapshot()
                .db_instance_identifier(&db.identifier)
                .db_snapshot_identifier(id)
                .set_tags(Some(tags.to_vec()));
            match request.send().await {
                Ok(output) => Ok(Created::New(instance_snapshot(
                    output.db_snapshot().ok_or("no DBSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_snapshot_already_exists_fault()) =>
                {
                    Ok(Created::Existing)
                }
                Err(e) => Err(aws_error::describe("CreateDBSnapshot", &e)),
            }
        }
        Kind::Cluster => {
            let request = rds
                .create_db_cluster_snapshot()
                .db_cluster_identifier(&db.identifier)
                .db_cluster_snapshot_identifier(id)
                .set_tags(Some(tags.to_vec()));
            match request.send().await {
                Ok(output) => Ok(Created::New(cluster_snapshot(
                    output
                        .db_cluster_snapshot()
                        .ok_or("no DBClusterSnapshot in the response")?,
                ))),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_cluster_snapshot_already_exists_fault()) =>
                {
                    Ok(Created::Existing)
                }
                Err(e) => Err(aws_error::describe("CreateDBClusterSnapshot", &e)),
            }
        }
    }
}

/// The database's manual snapshots: automated ones are RDS's to expire, so they are not even listed.
pub async fn list(rds: &Client, db: &Database) -> Result<Vec<Described>, String> {
    let mut snapshots = Vec::new();
    match db.kind {
        Kind::Instance => {
            let request = rds
                .describe_db_snapshots()
                .db_instance_identifier(&db.identifier)
                .snapshot_type("manual");
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error::describe("DescribeDBSnapshots", &e))?;
                snapshots.extend(page.db_snapshots().iter().map(instance_snapshot));
            }
        }
        Kind::Cluster => {
            let request = rds
                .describe_db_cluster_snapshots()
                .db_cluster_identifier(&db.identifier)
                .snapshot_type("manual");
            let mut pages = request.into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error::describe("DescribeDBClusterSnapshots", &e))?;
                snapshots.extend(page.db_cluster_snapshots().iter().map(cluster_snapshot));
            }
        }
    }
    Ok(snapshots)
}

/// Deletes a snapshot; one already gone counts as deleted, so that a retried run finishes what it started.
pub async fn delete(rds: &Client, kind: Kind, id: &str) -> Result<(), String> {
    match kind {
        Kind::Instance => match rds.delete_db_snapshot().db_snapshot_identifier(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_db_snapshot_not_found_fault()) => Ok(()),
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
                if e.as_service_error()
                    .is_some_and(|e| e.is_db_cluster_snapshot_not_found_fault()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error::describe(&format!("DeleteDBClusterSnapshot {id}"), &e)),
        },
    }
}

fn instance_snapshot(s: &aws_sdk_rds::types::DbSnapshot) -> Described {
    Described {
        arn: s.db_snapshot_arn().unwrap_or_default().into(),
        engine: s.engine().unwrap_or_default().into(),
        snapshot: retention::Snapshot {
            id: s.db_snapshot_identifier().unwrap_or_default().into(),
            policy: tags(s.tag_list()).remove(rdsbackup_common::tags::POLICY),
            snapshot_type: s.snapshot_type().unwrap_or_default().into(),
            status: s.status().unwrap_or_default().into(),
            created: s.snapshot_create_time().and_then(timestamp),
        },
    }
}

fn cluster_snapshot(s: &aws_sdk_rds::types::DbClusterSnapshot) -> Described {
    Described {
        arn: s.db_cluster_snapshot_arn().unwrap_or_default().into(),
        engine: s.engine().unwrap_or_default().into(),
        snapshot: retention::Snapshot {
            id: s.db_cluster_snapshot_identifier().unwrap_or_default().into(),
            policy: tags(s.tag_list()).remove(rdsbackup_common::tags::POLICY),
            snapshot_type: s.snapshot_type().unwrap_or_default().into(),
            status: s.status().unwrap_or_default().into(),
            created: s.snapshot_create_time().and_then(timestamp),
        },
    }
}

fn timestamp(t: &aws_sdk_rds::primitives::DateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}

//! The metadata record kept in S3 for every snapshot a policy creates: what was backed up, when, and what became
//! of it. Records outlive their snapshots, marked deleted, so the bucket is the history of the policy.
//!
//! A record with work still to come (its snapshot still being created, copies in other regions still to start
//! or to finish, the share with the vault account still to make) gets a marker under `pending/`; every run lists the markers once and brings those records up to
//! date, so a record never stays `creating` and no run reads every record. Every call names the bucket's owner
//! (`ExpectedBucketOwner`).

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use rdsbackup_common::PENDING_PREFIX;
pub use rdsbackup_common::record::{CopyRecord, Record, VaultRecord};
use serde_json::{Map, Value};

use crate::aws_error;
use crate::config::Config;

/// The bucket records are kept in: every call names its owner, and writes use the key when there is one.
pub struct Bucket<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub kms_key_arn: Option<&'a str>,
}

impl Bucket<'_> {
    pub fn of(config: &Config) -> Bucket<'_> {
        Bucket {
            name: &config.bucket,
            owner: &config.bucket_owner,
            kms_key_arn: config.kms_key_arn.as_deref(),
        }
    }
}

/// A status after which RDS changes nothing by itself.
pub fn settled(status: &str) -> bool {
    matches!(status, "available" | "failed" | "deleted")
}

/// Writes a new record, and its pending marker while work on it is to come: the snapshot is not settled, or it
/// is available and copies or the vault's share are to be made. The marker goes first: a run that stops between the two leaves a
/// marker that a later run resolves, never a stale record nobody revisits.
pub async fn write(s3: &Client, config: &Config, record: &Record) -> Result<(), String> {
    let to_come = record.status == "available" && (!config.copies.is_empty() || config.vault.is_some());
    if !settled(&record.status) || to_come {
        put(s3, &Bucket::of(config), &record.pending_key(), Vec::new(), None).await?;
    }
    put_record(s3, &Bucket::of(config), &record.key(), object(record)).await
}

/// Writes the record of a snapshot found without one (a run stopped between snapshot and record); returns
/// whether it had to.
pub async fn repair(s3: &Client, config: &Config, known: &Record) -> Result<bool, String> {
    if read(s3, &Bucket::of(config), &known.key()).await?.is_some() {
        return Ok(false);
    }
    write(s3, config, known).await.map(|()| true)
}

/// Brings a record up to date with what RDS says of its snapshot (`known.status`), of its copies
/// (`known.copies`) and of its share with the vault (`known.vault`), keeping whatever else it holds; writes only what changed. `done` says whether anything is
/// still to come: a record with work to come keeps (or gets, first) its pending marker, a finished one loses it;
/// `marked` says whether it has one. `known` rebuilds a record that is missing.
pub async fn follow(s3: &Client, config: &Config, known: &Record, done: bool, marked: bool) -> Result<(), String> {
    let key = known.key();
    let found = read(s3, &Bucket::of(config), &key).await?;
    if !done && !marked {
        put(s3, &Bucket::of(config), &known.pending_key(), Vec::new(), None).await?;
    }
    let mut record = found.clone().unwrap_or_else(|| object(known));
    record.insert("status".into(), known.status.clone().into());
    merge_copies(&mut record, &known.copies);
    if let Some(vault) = &known.vault {
        record.insert(
            "vault".into(),
            serde_json::to_value(vault).expect("a vault record serializes"),
        );
    }
    if found.as_ref() != Some(&record) {
        put_record(s3, &Bucket::of(config), &key, record).await?;
    }
    if done && marked {
        delete(s3, &Bucket::of(config), &known.pending_key()).await?;
    }
    Ok(())
}

/// Sets each copy's entry (one per region) in the record's `copies`, keeping the entries of other regions and
/// the first `deleted_at` of a copy already marked deleted (a concurrent run may have got there first).
fn merge_copies(record: &mut Map<String, Value>, copies: &[CopyRecord]) {
    if copies.is_empty() {
        return;
    }
    let mut entries: Vec<Value> = match record.get("copies") {
        Some(Value::Array(entries)) => entries.clone(),
        _ => Vec::new(),
    };
    for copy in copies {
        let at = entries.iter().position(|e| {
            e.get("region").and_then(Value::as_str) == Some(copy.region.as_str())
                && e.get("snapshot_identifier").and_then(Value::as_str) == Some(copy.snapshot_identifier.as_str())
        });
        let mut entry = serde_json::to_value(copy).expect("a copy record serializes");
        match at {
            Some(i) => {
                if entries[i].get("deleted_at").is_some() && copy.status == "deleted" {
                    entry["deleted_at"] = entries[i]["deleted_at"].clone();
                }
                // A copy deleted is no longer described: its ARN is the one recorded while it existed.
                if copy.snapshot_arn.is_empty() {
                    entry["snapshot_arn"] = entries[i]["snapshot_arn"].clone();
                }
                entries[i] = entry;
            }
            None => entries.push(entry),
        }
    }
    entries.sort_by(|a, b| a["region"].as_str().cmp(&b["region"].as_str()));
    record.insert("copies".into(), Value::Array(entries));
}

/// Marks the record of a deleted snapshot, keeping whatever else it holds (and the first `deleted_at`, when a
/// concurrent run got there first); a missing record is written anew from what the snapshot told.
pub async fn mark_deleted(s3: &Client, config: &Config, known: &Record, deleted_at: &str) -> Result<(), String> {
    let key = known.key();
    let mut record = read(s3, &Bucket::of(config), &key)
        .await?
        .unwrap_or_else(|| object(known));
    if record.get("status").and_then(Value::as_str) == Some("deleted") && record.contains_key("deleted_at") {
        return Ok(());
    }
    record.insert("status".into(), "deleted".into());
    record.insert("deleted_at".into(), deleted_at.into());
    put_record(s3, &Bucket::of(config), &key, record).await?;
    delete(s3, &Bucket::of(config), &known.pending_key()).await
}

/// The pending markers, by database: one listing per run.
pub async fn pending(s3: &Client, config: &Config) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys(s3, &Bucket::of(config), PENDING_PREFIX).await? {
        if let Some((db, id)) = rdsbackup_common::parse_pending_key(&key) {
            found.entry(db.to_string()).or_default().push(id.to_string());
        }
    }
    Ok(found)
}

/// The record at `key`, or `None` when there is none. S3 answers a missing key with 404 to a caller allowed
/// `s3:ListBucket` and 403 to one that is not: both mean "no record" here. (The role is granted `ListBucket`, so
/// a 403 on a key that exists would mean a broken grant, which the write that follows reports.)
pub async fn read(s3: &Client, bucket: &Bucket<'_>, key: &str) -> Result<Option<Map<String, Value>>, String> {
    let request = s3
        .get_object()
        .bucket(bucket.name)
        .expected_bucket_owner(bucket.owner)
        .key(key);
    match request.send().await {
        Ok(output) => {
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| format!("reading s3://{}/{key}: {e}", bucket.name))?;
            Ok(match serde_json::from_slice::<Value>(&bytes.into_bytes()) {
                Ok(Value::Object(map)) => Some(map),
                // Unreadable: rewritten from what the snapshot tells.
                _ => None,
            })
        }
        Err(e)
            if e.as_service_error().is_some_and(|e| e.is_no_such_key())
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 403) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error::describe(
            &format!("GetObject s3://{}/{key}", bucket.name),
            &e,
        )),
    }
}

fn object(record: &Record) -> Map<String, Value> {
    let value = serde_json::to_value(record).expect("a record serializes");
    value
        .as_object()
        .cloned()
        .expect("a record serializes to a JSON object")
}

pub async fn put_record(s3: &Client, bucket: &Bucket<'_>, key: &str, record: Map<String, Value>) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(&Value::Object(record)).expect("JSON serializes");
    put(s3, bucket, key, body, Some("application/json")).await
}

/// An empty object at `key`: a pending marker.
pub async fn mark(s3: &Client, bucket: &Bucket<'_>, key: &str) -> Result<(), String> {
    put(s3, bucket, key, Vec::new(), None).await
}

async fn put(
    s3: &Client,
    bucket: &Bucket<'_>,
    key: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Result<(), String> {
    let mut request = s3
        .put_object()
        .bucket(bucket.name)
        .expected_bucket_owner(bucket.owner)
        .key(key)
        .set_content_type(content_type.map(String::from))
        .body(ByteStream::from(body));
    // Without a key of its own the bucket's default encryption applies, which the provider sets to SSE-KMS.
    if let Some(kms_key) = bucket.kms_key_arn {
        request = request
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms_key);
    }
    request
        .send()
        .await
        .map(drop)
        .map_err(|e| aws_error::describe(&format!("PutObject s3://{}/{key}", bucket.name), &e))
}

/// Deletes the current version at `key` (under Object Lock, a delete marker over it: the locked version stays).
pub async fn delete(s3: &Client, bucket: &Bucket<'_>, key: &str) -> Result<(), String> {
    s3.delete_object()
        .bucket(bucket.name)
        .expected_bucket_owner(bucket.owner)
        .key(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws_error::describe(&format!("DeleteObject s3://{}/{key}", bucket.name), &e))
}

/// Every key under `prefix`, in one paginated listing (1,000 keys a page).
pub async fn keys(s3: &Client, bucket: &Bucket<'_>, prefix: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let request = s3
        .list_objects_v2()
        .bucket(bucket.name)
        .expected_bucket_owner(bucket.owner)
        .prefix(prefix);
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error::describe(&format!("ListObjectsV2 s3://{}", bucket.name), &e))?;
        found.extend(page.contents().iter().filter_map(|o| o.key()).map(String::from));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn copy(region: &str, status: &str, deleted_at: Option<&str>) -> CopyRecord {
        CopyRecord {
            region: region.into(),
            snapshot_identifier: "rdsbackup-nightly-orders-202611280300-9ca323f5".into(),
            snapshot_arn: format!(
                "arn:aws:rds:{region}:123456789012:snapshot:rdsbackup-nightly-orders-202611280300-9ca323f5"
            ),
            status: status.into(),
            deleted_at: deleted_at.map(String::from),
        }
    }

    #[test]
    fn copies_merge_by_region_and_keep_the_first_deletion() {
        let mut record = Map::new();
        record.insert("engine".into(), json!("postgres"));
        merge_copies(&mut record, &[copy("us-west-2", "copying", None)]);
        merge_copies(
            &mut record,
            &[
                copy("eu-west-1", "available", None),
                copy("us-west-2", "available", None),
            ],
        );
        let regions: Vec<&str> = record["copies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["region"].as_str().unwrap())
            .collect();
        assert_eq!(regions, ["eu-west-1", "us-west-2"]);
        assert_eq!(record["copies"][1]["status"], "available");
        merge_copies(
            &mut record,
            &[copy("eu-west-1", "deleted", Some("2027-01-01T00:00:00Z"))],
        );
        merge_copies(
            &mut record,
            &[copy("eu-west-1", "deleted", Some("2027-01-02T00:00:00Z"))],
        );
        assert_eq!(record["copies"][0]["deleted_at"], "2027-01-01T00:00:00Z");
        assert_eq!(record["engine"], "postgres", "the rest of the record is kept");
        let unchanged = record.clone();
        merge_copies(&mut record, &[]);
        assert_eq!(record, unchanged);
    }
}

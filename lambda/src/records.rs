//! The metadata record kept in S3 for every snapshot a policy creates: what was backed up, when, and what became
//! of it. Records outlive their snapshots, marked deleted, so the bucket is the history of the policy.
//!
//! A record written while its snapshot is still being created gets a marker under `pending/`; every run lists
//! the markers once and brings those records up to date, so a record never stays `creating` and no run reads
//! every record. Every call names the bucket's owner (`ExpectedBucketOwner`).

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use rdsbackup_common::PENDING_PREFIX;
pub use rdsbackup_common::record::Record;
use serde_json::{Map, Value};

use crate::aws_error;
use crate::config::Config;

/// A status after which RDS changes nothing by itself.
fn settled(status: &str) -> bool {
    matches!(status, "available" | "failed" | "deleted")
}

/// Writes a new record, and its pending marker while the snapshot is not settled. The marker goes first: a run
/// that stops between the two leaves a marker that a later run resolves, never a stale record nobody revisits.
pub async fn write(s3: &Client, config: &Config, record: &Record) -> Result<(), String> {
    if !settled(&record.status) {
        put(s3, config, &record.pending_key(), Vec::new(), None).await?;
    }
    put_record(s3, config, &record.key(), object(record)).await
}

/// Writes the record of a snapshot found without one (a run stopped between snapshot and record); returns
/// whether it had to.
pub async fn repair(s3: &Client, config: &Config, known: &Record) -> Result<bool, String> {
    if read(s3, config, &known.key()).await?.is_some() {
        return Ok(false);
    }
    write(s3, config, known).await.map(|()| true)
}

/// Brings a pending record to the snapshot's status, keeping whatever else it holds; once settled, the marker
/// goes. `known` rebuilds a record that is missing.
pub async fn settle(s3: &Client, config: &Config, known: &Record) -> Result<(), String> {
    let key = known.key();
    let mut record = read(s3, config, &key).await?.unwrap_or_else(|| object(known));
    if record.get("status").and_then(Value::as_str) != Some(known.status.as_str()) {
        record.insert("status".into(), known.status.clone().into());
        put_record(s3, config, &key, record).await?;
    }
    if settled(&known.status) {
        delete(s3, config, &known.pending_key()).await?;
    }
    Ok(())
}

/// Marks the record of a deleted snapshot, keeping whatever else it holds (and the first `deleted_at`, when a
/// concurrent run got there first); a missing record is written anew from what the snapshot told.
pub async fn mark_deleted(s3: &Client, config: &Config, known: &Record, deleted_at: &str) -> Result<(), String> {
    let key = known.key();
    let mut record = read(s3, config, &key).await?.unwrap_or_else(|| object(known));
    if record.get("status").and_then(Value::as_str) == Some("deleted") && record.contains_key("deleted_at") {
        return Ok(());
    }
    record.insert("status".into(), "deleted".into());
    record.insert("deleted_at".into(), deleted_at.into());
    put_record(s3, config, &key, record).await?;
    delete(s3, config, &known.pending_key()).await
}

/// The pending markers, by database: one listing per run (1,000 markers a page).
pub async fn pending(s3: &Client, config: &Config) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let request = s3
        .list_objects_v2()
        .bucket(&config.bucket)
        .expected_bucket_owner(&config.bucket_owner)
        .prefix(PENDING_PREFIX);
    let mut pages = request.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error::describe(&format!("ListObjectsV2 s3://{}", config.bucket), &e))?;
        for key in page.contents().iter().filter_map(|o| o.key()) {
            if let Some((db, id)) = rdsbackup_common::parse_pending_key(key) {
                found.entry(db.to_string()).or_default().push(id.to_string());
            }
        }
    }
    Ok(found)
}

/// The record at `key`, or `None` when there is none. S3 answers a missing key with 404 to a caller allowed
/// `s3:ListBucket` and 403 to one that is not: both mean "no record" here. (The role is granted `ListBucket`, so
/// a 403 on a key that exists would mean a broken grant, which the write that follows reports.)
async fn read(s3: &Client, config: &Config, key: &str) -> Result<Option<Map<String, Value>>, String> {
    let request = s3
        .get_object()
        .bucket(&config.bucket)
        .expected_bucket_owner(&config.bucket_owner)
        .key(key);
    match request.send().await {
        Ok(output) => {
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| format!("reading s3://{}/{key}: {e}", config.bucket))?;
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
            &format!("GetObject s3://{}/{key}", config.bucket),
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

async fn put_record(s3: &Client, config: &Config, key: &str, record: Map<String, Value>) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(&Value::Object(record)).expect("JSON serializes");
    put(s3, config, key, body, Some("application/json")).await
}

async fn put(s3: &Client, config: &Config, key: &str, body: Vec<u8>, content_type: Option<&str>) -> Result<(), String> {
    let mut request = s3
        .put_object()
        .bucket(&config.bucket)
        .expected_bucket_owner(&config.bucket_owner)
        .key(key)
        .set_content_type(content_type.map(String::from))
        .body(ByteStream::from(body));
    // Without a key of its own the bucket's default encryption applies, which the provider sets to SSE-KMS.
    if let Some(kms_key) = &config.kms_key_arn {
        request = request
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms_key);
    }
    request
        .send()
        .await
        .map(drop)
        .map_err(|e| aws_error::describe(&format!("PutObject s3://{}/{key}", config.bucket), &e))
}

async fn delete(s3: &Client, config: &Config, key: &str) -> Result<(), String> {
    s3.delete_object()
        .bucket(&config.bucket)
        .expected_bucket_owner(&config.bucket_owner)
        .key(key)
        .send()
        .await
        .map(drop)
        .map_err(|e| aws_error::describe(&format!("DeleteObject s3://{}/{key}", config.bucket), &e))
}

//! The metadata record kept in S3 for every snapshot a policy creates: what was backed up, when, and what became
//! of it. Records outlive their snapshots, marked deleted, so the bucket is the history of the policy.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws_error;
use crate::config::Config;
use crate::select::Kind;

#[derive(Debug, Serialize)]
pub struct Record {
    pub policy: String,
    pub db_identifier: String,
    pub kind: Kind,
    pub engine: String,
    pub snapshot_identifier: String,
    pub snapshot_arn: String,
    /// Unknown only for a record rebuilt from a snapshot whose identifier does not carry its slot.
    pub slot: Option<String>,
    pub status: String,
    pub created_at: Option<String>,
}

impl Record {
    pub fn key(&self) -> String {
        rdsbackup_common::record_key(&self.db_identifier, &self.snapshot_identifier)
    }
}

pub async fn write(s3: &Client, config: &Config, record: &Record) -> Result<(), String> {
    put(s3, config, &record.key(), &Value::Object(object(record))).await
}

/// Marks the record of a deleted snapshot, keeping whatever else it holds; a missing record (written by a run that
/// stopped half-way, or removed by hand) is written anew from what the snapshot told.
pub async fn mark_deleted(s3: &Client, config: &Config, known: &Record, deleted_at: &str) -> Result<(), String> {
    let key = known.key();
    let mut record = match s3.get_object().bucket(&config.bucket).key(&key).send().await {
        Ok(output) => {
            let bytes = output
                .body
                .collect()
                .await
                .map_err(|e| format!("reading s3://{}/{key}: {e}", config.bucket))?;
            match serde_json::from_slice::<Value>(&bytes.into_bytes()) {
                Ok(Value::Object(map)) => map,
                _ => object(known),
            }
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => object(known),
        Err(e) => {
            return Err(aws_error::describe(
                &format!("GetObject s3://{}/{key}", config.bucket),
                &e,
            ));
        }
    };
    record.insert("status".into(), "deleted".into());
    record.insert("deleted_at".into(), deleted_at.into());
    put(s3, config, &key, &Value::Object(record)).await
}

fn object(record: &Record) -> Map<String, Value> {
    let value = serde_json::to_value(record).expect("a record serializes");
    value
        .as_object()
        .cloned()
        .expect("a record serializes to a JSON object")
}

async fn put(s3: &Client, config: &Config, key: &str, body: &Value) -> Result<(), String> {
    let mut request = s3
        .put_object()
        .bucket(&config.bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(
            serde_json::to_vec_pretty(body).expect("JSON serializes"),
        ));
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

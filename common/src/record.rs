//! The metadata record of a snapshot (`snapshots/<db>/<snapshot identifier>.json`), as the Lambda writes it and
//! whatever reads it (the data sources, an operator) parses it: the contract's fields, in one type.

use serde::{Deserialize, Serialize};

use crate::identifier::SnapshotKind;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub policy: String,
    pub db_identifier: String,
    pub kind: SnapshotKind,
    pub engine: String,
    pub snapshot_identifier: String,
    pub snapshot_arn: String,
    /// RFC 3339 UTC; unknown only for a record rebuilt from a snapshot whose identifier does not carry its slot.
    pub slot: Option<String>,
    /// RDS's status (`creating`, `available`, `failed`), or `deleted` once retention deleted the snapshot.
    pub status: String,
    pub created_at: Option<String>,
    /// The copies in other regions (`copy` blocks), one per region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<CopyRecord>,
    /// The share with the vault account (`vault` block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultRecord>,
}

/// What was shared with the vault account: the snapshot itself, or its copy onto the vault key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaultRecord {
    pub account_id: String,
    pub shared_snapshot_identifier: String,
    /// `shared` once RDS lets the vault account restore it; `copying` while the copy onto the vault key is made;
    /// `waiting` while the snapshot is not available yet; `failed` when the snapshot (or its copy) failed.
    pub status: String,
}

/// One copy of the snapshot in another region, as the source's record lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyRecord {
    pub region: String,
    pub snapshot_identifier: String,
    pub snapshot_arn: String,
    /// RDS's status of the copy (`pending`, `copying`, `available`, `failed`), or `deleted` once retention in
    /// that region deleted it.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

impl Record {
    pub fn key(&self) -> String {
        crate::record_key(&self.db_identifier, &self.snapshot_identifier)
    }

    pub fn pending_key(&self) -> String {
        crate::pending_key(&self.db_identifier, &self.snapshot_identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written_with_the_contract_field_names() {
        let record = Record {
            policy: "nightly".into(),
            db_identifier: "analytics".into(),
            kind: SnapshotKind::Cluster,
            engine: "aurora-postgresql".into(),
            snapshot_identifier: "rdsbackup-nightly-analytics-202611280300-0123abcd".into(),
            snapshot_arn: "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:x".into(),
            slot: Some("2026-11-28T03:00:00Z".into()),
            status: "available".into(),
            created_at: None,
            copies: vec![CopyRecord {
                region: "us-west-2".into(),
                snapshot_identifier: "rdsbackup-nightly-analytics-202611280300-0123abcd".into(),
                snapshot_arn: "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:x".into(),
                status: "deleted".into(),
                deleted_at: Some("2027-02-27T03:00:00Z".into()),
            }],
            vault: Some(VaultRecord {
                account_id: "210987654321".into(),
                shared_snapshot_identifier: "rdsbackup-nightly-analytics-202611280300-0123abcd-v".into(),
                status: "shared".into(),
            }),
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["kind"], "cluster");
        assert_eq!(json["copies"][0]["region"], "us-west-2");
        assert_eq!(json["copies"][0]["deleted_at"], "2027-02-27T03:00:00Z");
        assert_eq!(json["vault"]["account_id"], "210987654321");
        assert_eq!(json["vault"]["status"], "shared");
        assert_eq!(
            json["snapshot_identifier"],
            "rdsbackup-nightly-analytics-202611280300-0123abcd"
        );
        assert_eq!(serde_json::from_value::<Record>(json).unwrap(), record);
        assert_eq!(
            record.key(),
            "snapshots/analytics/rdsbackup-nightly-analytics-202611280300-0123abcd.json"
        );
    }
}

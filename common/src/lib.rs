//! What the provider and the backup Lambda must agree on, written once: the function's environment, the tags
//! that mark what a policy owns, the names of snapshots and records, and the metrics the alarms watch.
//! Two small dependencies (SHA-256 for the identifiers, serde for the records), so that both sides build it in
//! no time.

pub mod archive;
pub mod copies;
pub mod drill;
pub mod identifier;
pub mod limits;
pub mod record;
pub mod requests;
pub mod vault;
pub mod vault_plan;

/// The function's environment, set by the provider and read by the Lambda at start.
pub mod env {
    /// The policy's name.
    pub const POLICY: &str = "RDSBACKUP_POLICY";
    /// The bucket receiving the metadata records.
    pub const BUCKET: &str = "RDSBACKUP_BUCKET";
    /// DB instance identifiers, comma-separated; may be empty.
    pub const DB_INSTANCES: &str = "RDSBACKUP_DB_INSTANCES";
    /// Aurora cluster identifiers, comma-separated; may be empty.
    pub const DB_CLUSTERS: &str = "RDSBACKUP_DB_CLUSTERS";
    /// Selection tags as a JSON object of strings; may be `{}`.
    pub const SELECTION_TAGS: &str = "RDSBACKUP_SELECTION_TAGS";
    pub const RETENTION_DAYS: &str = "RDSBACKUP_RETENTION_DAYS";
    pub const MIN_SNAPSHOTS: &str = "RDSBACKUP_MIN_SNAPSHOTS";
    /// Customer managed key for the records (SSE-KMS); absent means the bucket's default encryption.
    pub const KMS_KEY_ARN: &str = "RDSBACKUP_KMS_KEY_ARN";
    /// The account that owns the bucket, sent as `ExpectedBucketOwner` with every S3 call: a bucket of the same
    /// name in another account (deleted and re-created by someone else) never receives a record.
    pub const BUCKET_OWNER: &str = "RDSBACKUP_BUCKET_OWNER";
    /// The `copy` blocks as a JSON list (`copies::to_env`); absent or empty means no copies.
    pub const COPIES: &str = "RDSBACKUP_COPIES";
    /// The `vault` block as a JSON object (`vault::to_env`); absent or empty means no vault.
    pub const VAULT: &str = "RDSBACKUP_VAULT";
    /// The `archive` block as JSON (`archive::to_env`); unset without one.
    pub const ARCHIVE: &str = "RDSBACKUP_ARCHIVE";
    /// The `restore_drill` block as JSON (`drill::to_env`); unset without one.
    pub const DRILL: &str = "RDSBACKUP_DRILL";
    /// Set on a vault's function (`rdsbackup_vault`): the vault's name. The same binary then collects what
    /// sources share instead of backing up; `BUCKET`, `BUCKET_OWNER`, `KMS_KEY_ARN` (the vault's key, required),
    /// `RETENTION_DAYS` and `MIN_SNAPSHOTS` keep their meaning.
    pub const VAULT_NAME: &str = "RDSBACKUP_VAULT_NAME";
    /// The vault's `source_account_ids`, comma-separated.
    pub const SOURCE_ACCOUNTS: &str = "RDSBACKUP_SOURCE_ACCOUNTS";

    /// The value of `DB_INSTANCES` and `DB_CLUSTERS`: the identifiers joined by commas.
    pub fn join_identifiers<'a>(ids: impl IntoIterator<Item = &'a String>) -> String {
        ids.into_iter().map(String::as_str).collect::<Vec<_>>().join(",")
    }

    /// Reads `join_identifiers`' form. Duplicates, spaces and stray commas are harmless, so they are dropped
    /// rather than refused.
    pub fn split_identifiers(value: &str) -> std::collections::BTreeSet<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(String::from)
            .collect()
    }
}

/// Tags on every snapshot a policy creates; retention deletes only snapshots carrying `POLICY` = its name.
pub mod tags {
    pub const POLICY: &str = "rdsbackup:policy";
    pub const DB: &str = "rdsbackup:db";
    /// On a copy in another region: the ARN of the snapshot it was copied from.
    pub const SOURCE: &str = "rdsbackup:source";
    /// On a vault copy: the vault's name (`rdsbackup_vault`), which owns it.
    pub const VAULT: &str = "rdsbackup:vault";
    /// On a vault copy: the account that shared its source.
    pub const SOURCE_ACCOUNT: &str = "rdsbackup:source-account";
    /// On a drill database (`restore_drill`): `true`. The function deletes only databases carrying it.
    pub const DRILL: &str = "rdsbackup:drill";
}

/// The EventBridge rules that invoke a policy's function. The function tells their events apart: only the
/// schedule's event takes backups; the others only advance pending work.
pub mod rules {
    /// The backup schedule (`schedule`).
    pub fn schedule(policy: &str) -> String {
        format!("rdsbackup-{policy}")
    }

    /// The safety net for lost snapshot events: a periodic run that only advances pending work.
    pub fn reconcile(policy: &str) -> String {
        format!("rdsbackup-{policy}-reconcile")
    }

    /// RDS's events on the policy's own snapshots (created, available, copied...), so that work waiting for a
    /// snapshot starts as soon as it can.
    pub fn snapshot_events(policy: &str) -> String {
        format!("rdsbackup-{policy}-snapshot-events")
    }

    /// The `restore_drill` block's schedule: its events start drills and take no backup.
    pub fn drill(policy: &str) -> String {
        format!("rdsbackup-{policy}-drill")
    }

    /// How often the reconcile rule runs.
    pub const RECONCILE_SCHEDULE: &str = "rate(1 hour)";
}

/// CloudWatch metrics the Lambda emits through Embedded Metric Format and the provider's alarms watch.
pub mod metrics {
    pub const NAMESPACE: &str = "RDSBackup";
    /// Hours since the newest available snapshot of this policy: per database (dimensions `Policy`,
    /// `DBIdentifier`) and the largest over all databases (dimension `Policy` alone), which the "backup overdue"
    /// alarm watches.
    pub const NEWEST_SNAPSHOT_AGE_HOURS: &str = "NewestSnapshotAgeHours";
    /// Snapshots created by a run (per database, and the total per policy).
    pub const SNAPSHOTS_CREATED: &str = "SnapshotsCreated";
    /// Databases a run failed to snapshot (per database, and the total per policy).
    pub const SNAPSHOTS_FAILED: &str = "SnapshotsFailed";
    /// Snapshots deleted by retention (per policy).
    pub const SNAPSHOTS_DELETED: &str = "SnapshotsDeleted";
    /// Hours since the newest available copy in a destination region (dimensions `Policy`, `Region`), the
    /// largest over the databases; the destination's "copy overdue" alarm watches it.
    pub const NEWEST_COPY_AGE_HOURS: &str = "NewestCopyAgeHours";
    /// Days since the slot of the newest completed export (the `archive` block), per policy.
    pub const NEWEST_EXPORT_AGE_DAYS: &str = "NewestExportAgeDays";
    /// Copies started by a run (dimensions `Policy`, `Region`).
    pub const COPIES_STARTED: &str = "CopiesStarted";
    /// Copies a run failed to start, follow or expire in a region (dimensions `Policy`, `Region`).
    pub const COPIES_FAILED: &str = "CopiesFailed";
    /// Seconds from a drill's restore request until its database was available (dimensions `Policy`,
    /// `DBIdentifier`), emitted when the drill finishes.
    pub const RESTORE_DRILL_SECONDS: &str = "RestoreDrillSeconds";
    /// 1 when a drill finished `failed` or `over_target`, 0 when it `passed` (dimension `Policy`); the
    /// restore drill alarm watches it, and stays in alarm until a drill passes.
    pub const RESTORE_DRILL_MISSED: &str = "RestoreDrillMissed";
    pub const DIMENSION_POLICY: &str = "Policy";
    pub const DIMENSION_DB: &str = "DBIdentifier";
    pub const DIMENSION_REGION: &str = "Region";
    /// Hours since the newest available vault copy of a source account was taken (dimensions `Vault`,
    /// `SourceAccount`); the vault's "vault copy overdue" alarm of that account watches it.
    pub const NEWEST_VAULT_COPY_AGE_HOURS: &str = "NewestVaultCopyAgeHours";
    pub const DIMENSION_VAULT: &str = "Vault";
    pub const DIMENSION_SOURCE_ACCOUNT: &str = "SourceAccount";
}

/// The S3 prefix of the records.
pub const RECORDS_PREFIX: &str = "snapshots/";
/// The S3 prefix of the markers of records whose snapshot has not settled yet (`pending/<db>/<snapshot
/// identifier>`): a run lists them once and brings each record's `status` up to date, instead of reading every
/// record of every database.
pub const PENDING_PREFIX: &str = "pending/";

/// The S3 prefix of a vault's records, one per vault copy (`rdsbackup_vault`).
pub const VAULT_RECORDS_PREFIX: &str = "copies/";

/// The S3 key of a vault copy's record in the vault's bucket.
pub fn vault_record_key(source_account: &str, db: &str, copy_identifier: &str) -> String {
    format!("{VAULT_RECORDS_PREFIX}{source_account}/{db}/{copy_identifier}.json")
}

/// The pending marker of a vault copy still being made, in the vault's bucket:
/// `pending/<source account>/<db>/<vault copy identifier>`.
pub fn vault_pending_key(source_account: &str, db: &str, copy_identifier: &str) -> String {
    format!("{PENDING_PREFIX}{source_account}/{db}/{copy_identifier}")
}

/// The source account, database and vault copy identifier of a vault's pending marker.
pub fn parse_vault_pending_key(key: &str) -> Option<(&str, &str, &str)> {
    let mut parts = key.strip_prefix(PENDING_PREFIX)?.splitn(3, '/');
    let (account, db, id) = (parts.next()?, parts.next()?, parts.next()?);
    (!account.is_empty() && !db.is_empty() && !id.is_empty() && !id.contains('/')).then_some((account, db, id))
}

/// The S3 key of a snapshot's metadata record: `snapshots/<db>/<snapshot identifier>.json`.
pub fn record_key(db: &str, snapshot_identifier: &str) -> String {
    format!("{RECORDS_PREFIX}{db}/{snapshot_identifier}.json")
}

/// The S3 key of the marker of a record still to settle.
pub fn pending_key(db: &str, snapshot_identifier: &str) -> String {
    format!("{PENDING_PREFIX}{db}/{snapshot_identifier}")
}

/// The database and snapshot identifier of a pending marker's key.
pub fn parse_pending_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(PENDING_PREFIX)?
        .split_once('/')
        .filter(|(db, id)| !db.is_empty() && !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_lists_round_trip_and_tolerate_stray_commas() {
        let ids = std::collections::BTreeSet::from(["analytics".to_string(), "orders".to_string()]);
        assert_eq!(env::join_identifiers(&ids), "analytics,orders");
        assert_eq!(env::split_identifiers(&env::join_identifiers(&ids)), ids);
        assert_eq!(env::split_identifiers(" orders,,analytics,orders, "), ids);
        assert!(env::split_identifiers("").is_empty());
    }

    #[test]
    fn names_follow_the_contract() {
        let id = "rdsbackup-nightly-orders-202611280300-0123abcd";
        assert_eq!(
            record_key("orders", id),
            "snapshots/orders/rdsbackup-nightly-orders-202611280300-0123abcd.json"
        );
        assert_eq!(parse_pending_key(&pending_key("orders", id)), Some(("orders", id)));
        assert_eq!(parse_pending_key("pending/orders"), None);
        let marker = vault_pending_key("111111111111", "orders", id);
        assert_eq!(parse_vault_pending_key(&marker), Some(("111111111111", "orders", id)));
        assert_eq!(parse_vault_pending_key("pending/111111111111/orders"), None);
    }
}

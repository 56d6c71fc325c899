//! CloudWatch metrics through Embedded Metric Format: JSON lines on stdout that CloudWatch Logs turns into
//! metrics, so the run needs no `PutMetricData` call or permission. The "backup overdue" alarm watches the
//! per-policy `NewestSnapshotAgeHours`.

use std::collections::BTreeMap;

use rdsbackup_common::metrics::*;
use serde_json::{Value, json};

/// What one database's run amounted to.
#[derive(Clone, Debug, PartialEq)]
pub struct DbMetrics {
    pub db: String,
    pub created: u32,
    pub failed: u32,
    /// Hours since the newest available (or just created) snapshot of this policy; unknown without any.
    pub newest_age_hours: Option<f64>,
}

/// What a run amounted to in one copy destination.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionMetrics {
    pub region: String,
    pub started: u32,
    pub failed: u32,
    /// Hours since the data of the newest available copy there was taken, the largest over the databases that
    /// have one; unknown without any (the "copy overdue" alarm treats the missing data as breaching).
    pub newest_age_hours: Option<f64>,
}

/// One EMF document per database, one per copy destination and one for the policy, stamped `timestamp_ms`
/// (milliseconds since the epoch).
pub fn documents(
    policy: &str,
    databases: &[DbMetrics],
    regions: &[RegionMetrics],
    deleted: usize,
    timestamp_ms: i64,
) -> Vec<Value> {
    let mut documents: Vec<Value> = databases
        .iter()
        .map(|db| {
            let mut names = vec![SNAPSHOTS_CREATED, SNAPSHOTS_FAILED];
            let mut document = json!({
                DIMENSION_POLICY: policy,
                DIMENSION_DB: db.db,
                SNAPSHOTS_CREATED: db.created,
                SNAPSHOTS_FAILED: db.failed,
            });
            if let Some(age) = db.newest_age_hours {
                names.push(NEWEST_SNAPSHOT_AGE_HOURS);
                document[NEWEST_SNAPSHOT_AGE_HOURS] = json!(age);
            }
            document["_aws"] = metadata(&[DIMENSION_POLICY, DIMENSION_DB], &names, timestamp_ms);
            document
        })
        .collect();

    let mut names = vec![SNAPSHOTS_CREATED, SNAPSHOTS_FAILED, SNAPSHOTS_DELETED];
    let mut total = json!({
        DIMENSION_POLICY: policy,
        SNAPSHOTS_CREATED: databases.iter().map(|db| db.created).sum::<u32>(),
        SNAPSHOTS_FAILED: databases.iter().map(|db| db.failed).sum::<u32>(),
        SNAPSHOTS_DELETED: deleted,
    });
    // The oldest "newest snapshot" over the databases: the policy is as overdue as its most overdue database.
    if let Some(age) = databases.iter().filter_map(|db| db.newest_age_hours).reduce(f64::max) {
        names.push(NEWEST_SNAPSHOT_AGE_HOURS);
        total[NEWEST_SNAPSHOT_AGE_HOURS] = json!(age);
    }
    total["_aws"] = metadata(&[DIMENSION_POLICY], &names, timestamp_ms);
    documents.push(total);

    documents.extend(regions.iter().map(|r| {
        let mut names = vec![COPIES_STARTED, COPIES_FAILED];
        let mut document = json!({
            DIMENSION_POLICY: policy,
            DIMENSION_REGION: r.region,
            COPIES_STARTED: r.started,
            COPIES_FAILED: r.failed,
        });
        if let Some(age) = r.newest_age_hours {
            names.push(NEWEST_COPY_AGE_HOURS);
            document[NEWEST_COPY_AGE_HOURS] = json!(age);
        }
        document["_aws"] = metadata(&[DIMENSION_POLICY, DIMENSION_REGION], &names, timestamp_ms);
        document
    }));
    documents
}

/// One EMF document per source account of a vault: the age of its newest vault copy.
pub fn vault_documents(vault: &str, newest_age_hours: &[(String, f64)], timestamp_ms: i64) -> Vec<Value> {
    newest_age_hours
        .iter()
        .map(|(account, age)| {
            json!({
                "_aws": metadata(&[DIMENSION_VAULT, DIMENSION_SOURCE_ACCOUNT], &[NEWEST_VAULT_COPY_AGE_HOURS], timestamp_ms),
                DIMENSION_VAULT: vault,
                DIMENSION_SOURCE_ACCOUNT: account,
                NEWEST_VAULT_COPY_AGE_HOURS: age,
            })
        })
        .collect()
}

/// The `archive` block's metric: the age in days of the newest completed export of the most overdue database.
pub fn export_document(policy: &str, age_days: f64, timestamp_ms: i64) -> Value {
    json!({
        "_aws": metadata(&[DIMENSION_POLICY], &[NEWEST_EXPORT_AGE_DAYS], timestamp_ms),
        DIMENSION_POLICY: policy,
        NEWEST_EXPORT_AGE_DAYS: age_days,
    })
}

/// The drills finished by a run: `RestoreDrillSeconds` per database with a measured restore time, and
/// `RestoreDrillMissed` for the policy (1 when any finished failed or over its target, else 0).
pub fn drill_documents(
    policy: &str,
    seconds: &BTreeMap<String, i64>,
    missed: Option<u32>,
    timestamp_ms: i64,
) -> Vec<Value> {
    let mut documents: Vec<Value> = seconds
        .iter()
        .map(|(db, seconds)| {
            json!({
                "_aws": metadata(&[DIMENSION_POLICY, DIMENSION_DB], &[RESTORE_DRILL_SECONDS], timestamp_ms),
                DIMENSION_POLICY: policy,
                DIMENSION_DB: db,
                RESTORE_DRILL_SECONDS: seconds,
            })
        })
        .collect();
    if let Some(missed) = missed {
        documents.push(json!({
            "_aws": metadata(&[DIMENSION_POLICY], &[RESTORE_DRILL_MISSED], timestamp_ms),
            DIMENSION_POLICY: policy,
            RESTORE_DRILL_MISSED: missed,
        }));
    }
    documents
}

fn metadata(dimensions: &[&str], names: &[&str], timestamp_ms: i64) -> Value {
    let metrics: Vec<Value> = names
        .iter()
        .map(|&name| {
            // CloudWatch has no "Hours" unit.
            let unit = if [
                NEWEST_SNAPSHOT_AGE_HOURS,
                NEWEST_COPY_AGE_HOURS,
                NEWEST_VAULT_COPY_AGE_HOURS,
                NEWEST_EXPORT_AGE_DAYS,
            ]
            .contains(&name)
            {
                "None"
            } else if name == RESTORE_DRILL_SECONDS {
                "Seconds"
            } else {
                "Count"
            };
            json!({"Name": name, "Unit": unit})
        })
        .collect();
    json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": metrics}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_embedded_metric_format() {
        let databases = [
            DbMetrics {
                db: "orders".into(),
                created: 1,
                failed: 0,
                newest_age_hours: Some(0.0),
            },
            DbMetrics {
                db: "billing".into(),
                created: 0,
                failed: 1,
                newest_age_hours: Some(30.5),
            },
            DbMetrics {
                db: "ghost".into(),
                created: 0,
                failed: 1,
                newest_age_hours: None,
            },
        ];
        let regions = [
            RegionMetrics {
                region: "us-west-2".into(),
                started: 2,
                failed: 0,
                newest_age_hours: Some(1.5),
            },
            RegionMetrics {
                region: "eu-west-1".into(),
                started: 0,
                failed: 1,
                newest_age_hours: None,
            },
        ];
        let documents = documents("nightly", &databases, &regions, 2, 1_764_298_800_000);
        assert_eq!(documents.len(), 6);
        assert_eq!(
            documents[0],
            json!({
                "_aws": {
                    "Timestamp": 1_764_298_800_000i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "RDSBackup",
                        "Dimensions": [["Policy", "DBIdentifier"]],
                        "Metrics": [
                            {"Name": "SnapshotsCreated", "Unit": "Count"},
                            {"Name": "SnapshotsFailed", "Unit": "Count"},
                            {"Name": "NewestSnapshotAgeHours", "Unit": "None"},
                        ],
                    }],
                },
                "Policy": "nightly",
                "DBIdentifier": "orders",
                "SnapshotsCreated": 1,
                "SnapshotsFailed": 0,
                "NewestSnapshotAgeHours": 0.0,
            })
        );
        // An unknown age is left out rather than reported as 0, which would hide an overdue database.
        assert!(documents[2].get("NewestSnapshotAgeHours").is_none());
        assert_eq!(
            documents[2]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        let total = &documents[3];
        assert_eq!(total["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Policy"]]));
        assert!(total.get("DBIdentifier").is_none());
        assert_eq!(
            (
                &total["SnapshotsCreated"],
                &total["SnapshotsFailed"],
                &total["SnapshotsDeleted"]
            ),
            (&json!(1), &json!(2), &json!(2))
        );
        assert_eq!(total["NewestSnapshotAgeHours"], json!(30.5));
        let west = &documents[4];
        assert_eq!(
            west["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Policy", "Region"]])
        );
        assert_eq!(
            (&west["Region"], &west["CopiesStarted"], &west["NewestCopyAgeHours"]),
            (&json!("us-west-2"), &json!(2), &json!(1.5))
        );
        assert_eq!(documents[5]["CopiesFailed"], json!(1));
        assert!(
            documents[5].get("NewestCopyAgeHours").is_none(),
            "no copy there: no age, not 0"
        );
        // Every metric named in the metadata is a member of the document.
        for document in &documents {
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
                assert!(document.get(metric["Name"].as_str().unwrap()).is_some(), "{document}");
            }
        }
    }
}

//! One backup run: select the databases, then for each, at most a few at a time, take the slot's snapshot, write
//! its record, apply retention and measure how recent its newest snapshot is. One database failing never stops
//! the others; the run reports every failure at the end.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{error, info};

use crate::config::Config;
use crate::metrics::{self, DbMetrics};
use crate::records::{self, Record};
use crate::retention::{self, Rules};
use crate::select::{self, Database, Failure, Kind};
use crate::slot::{self, Slot};
use crate::snapshot::{self, Created};

/// Databases handled at once: enough to overlap the API round trips, few enough to stay clear of RDS throttling.
const CONCURRENCY: usize = 8;

pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
}

#[derive(Debug, Default, Serialize)]
pub struct Output {
    pub created: Vec<String>,
    pub existing: Vec<String>,
    pub deleted: Vec<String>,
    pub failed: Vec<Failure>,
}

/// A run in which some database failed, reported after all were done; the message carries the whole output.
#[derive(Debug)]
pub struct RunFailed(pub String);

impl From<RunFailed> for lambda_runtime::Diagnostic {
    fn from(failed: RunFailed) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "RDSBackup.RunFailed".into(),
            error_message: failed.0,
        }
    }
}

pub async fn handle(clients: &Clients, config: &Config, event: Value) -> Result<Output, RunFailed> {
    let now = slot::now(&event, OffsetDateTime::now_utc()).map_err(RunFailed)?;
    let slot = Slot::of(now);
    info!(policy = %config.policy, slot = %slot.rfc3339(), "backup run started");
    let (instances, clusters) = select::describe(&clients.rds).await.map_err(RunFailed)?;
    let selection = select::select(config, &instances, &clusters);

    let reports: Vec<Report> = stream::iter(&selection.databases)
        .map(|db| back_up(clients, config, now, slot, db))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut output = Output {
        failed: selection.failed.clone(),
        ..Output::default()
    };
    let mut measured: Vec<DbMetrics> = selection
        .failed
        .iter()
        .map(|f| DbMetrics {
            db: f.db.clone(),
            created: 0,
            failed: 1,
            newest_age_hours: None,
        })
        .collect();
    for report in reports {
        measured.push(report.metrics());
        output.created.extend(report.created);
        output.existing.extend(report.existing);
        output.deleted.extend(report.deleted);
        output.failed.extend(report.failed);
    }
    for list in [&mut output.created, &mut output.existing, &mut output.deleted] {
        list.sort();
    }
    output.failed.sort();
    measured.sort_by(|a, b| a.db.cmp(&b.db));

    let timestamp_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    for document in metrics::documents(&config.policy, &measured, output.deleted.len(), timestamp_ms) {
        println!("{document}");
    }
    let summary = serde_json::to_string(&output).expect("the output serializes");
    if output.failed.is_empty() {
        info!(output = %summary, "backup run finished");
        Ok(output)
    } else {
        error!(output = %summary, "backup run finished with failures");
        Err(RunFailed(format!(
            "{} database(s) failed: {summary}",
            output.failed.len()
        )))
    }
}

struct Report {
    db: String,
    kind: Kind,
    created: Option<String>,
    existing: Option<String>,
    deleted: Vec<String>,
    failed: Vec<Failure>,
    newest_age_hours: Option<f64>,
}

impl Report {
    fn fail(&mut self, error: String) {
        error!(db = %self.db, kind = self.kind.as_str(), %error, "backup failed");
        self.failed.push(Failure {
            db: self.db.clone(),
            kind: self.kind,
            error,
        });
    }

    fn metrics(&self) -> DbMetrics {
        DbMetrics {
            db: self.db.clone(),
            created: self.created.is_some().into(),
            failed: (self.created.is_none() && self.existing.is_none()).into(),
            newest_age_hours: self.newest_age_hours,
        }
    }
}

async fn back_up(clients: &Clients, config: &Config, now: OffsetDateTime, slot: Slot, db: &Database) -> Report {
    let mut report = Report {
        db: db.identifier.clone(),
        kind: db.kind,
        created: None,
        existing: None,
        deleted: Vec::new(),
        failed: Vec::new(),
        newest_age_hours: None,
    };
    take_snapshot(clients, config, slot, db, &mut report).await;
    if let Some(snapshots) = apply_retention(clients, config, now, db, &mut report).await {
        report.newest_age_hours = if report.created.is_some() || report.existing.is_some() {
            Some(0.0)
        } else {
            snapshots
                .iter()
                .map(|s| &s.snapshot)
                .filter(|s| s.policy.as_deref() == Some(config.policy.as_str()) && s.is_available())
                .filter(|s| !report.deleted.contains(&s.id))
                .filter_map(|s| s.created)
                .max()
                .map(|newest| ((now - newest).as_seconds_f64() / 3600.0).max(0.0))
        };
    }
    report
}

async fn take_snapshot(clients: &Clients, config: &Config, slot: Slot, db: &Database, report: &mut Report) {
    // Checked here rather than left to RDS, whose refusal for a stopped database is less clear than this.
    if db.status != "available" {
        report.fail(format!(
            "{} is {}: a snapshot needs it available",
            db.kind.describe(),
            db.status
        ));
        return;
    }
    let id = rdsbackup_common::snapshot_identifier(&config.policy, &db.identifier, &slot.compact());
    match snapshot::create(&clients.rds, &config.policy, db, &id).await {
        Ok(Created::New(created)) => {
            info!(db = %db.identifier, snapshot = %id, status = %created.snapshot.status, "snapshot created");
            let created_at = created.snapshot.created.unwrap_or_else(OffsetDateTime::now_utc);
            let record = Record {
                policy: config.policy.clone(),
                db_identifier: db.identifier.clone(),
                kind: db.kind,
                engine: if created.engine.is_empty() {
                    db.engine.clone()
                } else {
                    created.engine
                },
                snapshot_identifier: id.clone(),
                snapshot_arn: created.arn,
                slot: Some(slot.rfc3339()),
                status: created.snapshot.status,
                created_at: Some(slot::rfc3339(created_at)),
            };
            report.created = Some(id.clone());
            if let Err(e) = records::write(&clients.s3, config, &record).await {
                report.fail(format!("snapshot {id} was created but its record was not written: {e}"));
            }
        }
        Ok(Created::Existing) => {
            info!(db = %db.identifier, snapshot = %id, "snapshot for this slot exists already");
            report.existing = Some(id);
        }
        Err(e) => report.fail(e),
    }
}

/// Deletes what retention allows and marks the records; returns the snapshots listed before, for the age metric.
async fn apply_retention(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    db: &Database,
    report: &mut Report,
) -> Option<Vec<snapshot::Described>> {
    let snapshots = match snapshot::list(&clients.rds, db).await {
        Ok(snapshots) => snapshots,
        Err(e) => {
            report.fail(format!("retention could not list snapshots: {e}"));
            return None;
        }
    };
    let rules = Rules {
        policy: &config.policy,
        retention_days: config.retention_days,
        min_snapshots: config.min_snapshots,
        now,
    };
    let judged: Vec<retention::Snapshot> = snapshots.iter().map(|s| s.snapshot.clone()).collect();
    for expired in retention::expired(&judged, &rules) {
        let described = snapshots
            .iter()
            .find(|s| s.snapshot.id == expired)
            .expect("retention picks listed snapshots");
        if let Err(e) = snapshot::delete(&clients.rds, db.kind, &expired).await {
            report.fail(e);
            continue;
        }
        info!(db = %db.identifier, snapshot = %expired, "expired snapshot deleted");
        report.deleted.push(expired.clone());
        let known = Record {
            policy: config.policy.clone(),
            db_identifier: db.identifier.clone(),
            kind: db.kind,
            engine: described.engine.clone(),
            snapshot_identifier: expired.clone(),
            snapshot_arn: described.arn.clone(),
            slot: Slot::from_identifier(&expired, &config.policy, &db.identifier).map(|s| s.rfc3339()),
            status: "deleted".into(),
            created_at: described.snapshot.created.map(slot::rfc3339),
        };
        let deleted_at = slot::rfc3339(OffsetDateTime::now_utc());
        if let Err(e) = records::mark_deleted(&clients.s3, config, &known, &deleted_at).await {
            report.fail(format!(
                "snapshot {expired} was deleted but its record was not updated: {e}"
            ));
        }
    }
    Some(snapshots)
}

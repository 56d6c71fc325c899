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
use crate::retention::{self, Owner, Rules};
use crate::select::{self, Database, Failure, Kind};
use crate::slot::{self, Slot};
use crate::snapshot;

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
    let (databases, pending) = tokio::join!(select::describe(&clients.rds), records::pending(&clients.s3, config));
    let (instances, clusters) = databases.map_err(RunFailed)?;
    // Pending records only wait for a later run: the backups go ahead without them, and the invocation then ends
    // in error (counted by Lambda's Errors metric and its alarm), so that a listing that keeps failing is seen.
    let (pending, unsettled) = match pending {
        Ok(pending) => (pending, None),
        Err(e) => {
            error!(error = %e, "pending records could not be listed; they are settled by a later run");
            (Default::default(), Some(e))
        }
    };
    let selection = select::select(config, &instances, &clusters);
    let no_pending = Vec::new();

    let reports: Vec<Report> = stream::iter(&selection.databases)
        .map(|db| {
            let pending = pending.get(&db.identifier).unwrap_or(&no_pending);
            back_up(clients, config, now, slot, db, pending)
        })
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
    if let (true, Some(e)) = (output.failed.is_empty(), &unsettled) {
        error!(output = %summary, "backup run finished, pending records not settled");
        return Err(RunFailed(format!(
            "pending records could not be listed ({e}); the backups went ahead and a later run settles them: {summary}"
        )));
    }
    if output.failed.is_empty() {
        info!(output = %summary, "backup run finished");
        Ok(output)
    } else {
        error!(output = %summary, "backup run finished with failures");
        let unlisted = unsettled.map_or_else(String::new, |e| {
            format!(", and pending records could not be listed ({e})")
        });
        Err(RunFailed(format!(
            "{} database(s) failed{unlisted}: {summary}",
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

async fn back_up(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    slot: Slot,
    db: &Database,
    pending: &[String],
) -> Report {
    let mut report = Report {
        db: db.identifier.clone(),
        kind: db.kind,
        created: None,
        existing: None,
        deleted: Vec::new(),
        failed: Vec::new(),
        newest_age_hours: None,
    };
    let owner = Owner {
        policy: &config.policy,
        db: &db.identifier,
        kind: db.kind,
    };
    let listed = match snapshot::list(&clients.rds, db).await {
        Ok(listed) => Some(listed),
        Err(e) => {
            report.fail(format!("its snapshots could not be listed: {e}"));
            None
        }
    };
    // Retention first: an expired snapshot makes room under the region's snapshot quota for the new one.
    if let Some(listed) = &listed {
        apply_retention(clients, config, now, db, owner, listed, &mut report).await;
    }
    let created = take_snapshot(clients, config, slot, db, owner, listed.as_deref(), &mut report).await;
    if let Some(listed) = &listed {
        settle_pending(clients, config, db, owner, listed, pending, &mut report).await;
        let newest = listed
            .iter()
            .filter(|s| !report.deleted.contains(&s.snapshot.id))
            .chain(&created)
            .filter(|s| owner.owns(&s.snapshot) && s.snapshot.is_available())
            .filter_map(|s| owner.taken(&s.snapshot))
            .max();
        // Only an available snapshot counts: one still creating, or failed, may never restore, and the overdue
        // alarm must see that.
        report.newest_age_hours = newest.map(|newest| ((now - newest).as_seconds_f64() / 3600.0).max(0.0));
    }
    report
}

/// What the record of a snapshot says, from what RDS told of it.
fn record_of(config: &Config, db: &Database, owner: Owner, described: &snapshot::Described) -> Record {
    Record {
        engine: if described.engine.is_empty() {
            db.engine.clone()
        } else {
            described.engine.clone()
        },
        snapshot_arn: described.arn.clone(),
        status: described.snapshot.status.clone(),
        created_at: described.snapshot.created.map(slot::rfc3339),
        ..known_record(config, db, owner, &described.snapshot.id)
    }
}

/// What the record of a snapshot says from its identifier alone, for one RDS no longer describes.
fn known_record(config: &Config, db: &Database, owner: Owner, id: &str) -> Record {
    Record {
        policy: config.policy.clone(),
        db_identifier: db.identifier.clone(),
        kind: db.kind,
        engine: db.engine.clone(),
        snapshot_identifier: id.to_string(),
        snapshot_arn: String::new(),
        slot: Slot::from_identifier(id, owner.policy, owner.db, owner.kind).map(|s| s.rfc3339()),
        status: "deleted".into(),
        created_at: None,
    }
}

/// The slot's snapshot, found or made. A snapshot under the slot's identifier that is this policy's snapshot of
/// this database means the slot is done, whatever state the database is in now (a retried invocation finds it
/// `backing-up` because of that very snapshot); anything else under that identifier is this database's failure.
/// Returns the snapshot created, if any.
async fn take_snapshot(
    clients: &Clients,
    config: &Config,
    slot: Slot,
    db: &Database,
    owner: Owner<'_>,
    listed: Option<&[snapshot::Described]>,
    report: &mut Report,
) -> Option<snapshot::Described> {
    let id = slot.identifier(&config.policy, &db.identifier, owner.kind);
    let found = match listed.and_then(|listed| listed.iter().find(|s| s.snapshot.id == id)) {
        Some(found) => Some(found.clone()),
        None => match snapshot::create(&clients.rds, &config.policy, db, &id).await {
            Ok(Some(created)) => {
                info!(db = %db.identifier, snapshot = %id, status = %created.snapshot.status, "snapshot created");
                report.created = Some(id.clone());
                if let Err(e) = records::write(&clients.s3, config, &record_of(config, db, owner, &created)).await {
                    report.fail(format!("snapshot {id} was created but its record was not written: {e}"));
                }
                return Some(created);
            }
            Ok(None) => match snapshot::find(&clients.rds, db.kind, &id).await {
                Ok(found) => found,
                Err(e) => {
                    report.fail(format!("snapshot {id} exists but could not be described: {e}"));
                    return None;
                }
            },
            // RDS's refusal (a stopped database, a quota, a permission) is the database's failure, in its words.
            Err(e) => {
                report.fail(match db.status.as_str() {
                    "available" => e,
                    status => format!("{e} (status: {status})"),
                });
                return None;
            }
        },
    };
    match found {
        Some(found) if found.source == db.identifier && owner.owns(&found.snapshot) => {
            info!(db = %db.identifier, snapshot = %id, "snapshot for this slot exists already");
            report.existing = Some(id.clone());
            match records::repair(&clients.s3, config, &record_of(config, db, owner, &found)).await {
                Ok(true) => info!(db = %db.identifier, snapshot = %id, "missing record written"),
                Ok(false) => {}
                Err(e) => report.fail(format!(
                    "snapshot {id} exists but its missing record was not written: {e}"
                )),
            }
        }
        Some(found) => report.fail(format!(
            "snapshot {id} exists but is not this policy's snapshot of {}: it is of {:?}, tagged {}={:?} and {}={:?}",
            db.identifier,
            found.source,
            rdsbackup_common::tags::POLICY,
            found.snapshot.policy.as_deref().unwrap_or_default(),
            rdsbackup_common::tags::DB,
            found.snapshot.db.as_deref().unwrap_or_default(),
        )),
        // Deleted between RDS's "already exists" and the lookup: the next run takes it.
        None => report.fail(format!("snapshot {id} was reported to exist and then not found")),
    }
    None
}

/// Deletes what retention allows and marks the records.
async fn apply_retention(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    db: &Database,
    owner: Owner<'_>,
    listed: &[snapshot::Described],
    report: &mut Report,
) {
    let rules = Rules {
        owner,
        retention_days: config.retention_days,
        min_snapshots: config.min_snapshots,
        now,
    };
    let judged: Vec<retention::Snapshot> = listed.iter().map(|s| s.snapshot.clone()).collect();
    for expired in retention::expired(&judged, &rules) {
        let described = listed
            .iter()
            .find(|s| s.snapshot.id == expired)
            .expect("retention picks listed snapshots");
        if let Err(e) = snapshot::delete(&clients.rds, db.kind, &expired).await {
            report.fail(e);
            continue;
        }
        info!(db = %db.identifier, snapshot = %expired, "expired snapshot deleted");
        report.deleted.push(expired.clone());
        let mut known = record_of(config, db, owner, described);
        known.status = "deleted".into();
        let deleted_at = slot::rfc3339(OffsetDateTime::now_utc());
        if let Err(e) = records::mark_deleted(&clients.s3, config, &known, &deleted_at).await {
            report.fail(format!(
                "snapshot {expired} was deleted but its record was not updated: {e}"
            ));
        }
    }
}

/// Brings the records still marked pending up to date with what RDS now says of their snapshots.
async fn settle_pending(
    clients: &Clients,
    config: &Config,
    db: &Database,
    owner: Owner<'_>,
    listed: &[snapshot::Described],
    pending: &[String],
    report: &mut Report,
) {
    for id in pending {
        if report.deleted.contains(id) || report.created.as_ref() == Some(id) {
            continue;
        }
        let result = match listed.iter().find(|s| &s.snapshot.id == id) {
            // Still creating: a later run looks again.
            Some(found) if !found.snapshot.is_settled() => continue,
            Some(found) => records::settle(&clients.s3, config, &record_of(config, db, owner, found)).await,
            // Gone without retention (deleted by hand): the record says so.
            None => {
                let known = known_record(config, db, owner, id);
                records::mark_deleted(&clients.s3, config, &known, &slot::rfc3339(OffsetDateTime::now_utc())).await
            }
        };
        match result {
            Ok(()) => info!(db = %db.identifier, snapshot = %id, "record brought up to date"),
            Err(e) => report.fail(format!(
                "the record of snapshot {id} could not be brought up to date: {e}"
            )),
        }
    }
}

//! One invocation. A backup event selects the databases and, for each, at most a few at a time, applies
//! retention, takes the slot's snapshot and writes its record; every invocation, whatever its event, then advances
//! the pending work of those databases (all of them after a backup event, those with pending records otherwise):
//! copies into each destination region (retention there, then the copies still missing, within RDS's limit of
//! copies in flight), the share with the vault account (after a copy onto the vault key where RDS needs one), and
//! the records brought up to date with what RDS says of the snapshots, their copies and their shares.
//! Every step is idempotent, so a repeated, concurrent or later invocation finishes what an earlier one started.
//! One database (or destination) failing never stops the others; the run reports every failure at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{error, info};

use crate::config::Config;
use crate::copies::{self, Decision};
use crate::event::Trigger;
use crate::metrics::{self, DbMetrics, RegionMetrics};
use crate::records::{self, CopyRecord, Record, VaultRecord};
use crate::retention::{self, Owner, Rules};
use crate::select::{self, Database, Failure, Kind};
use crate::slot::{self, Slot};
use crate::snapshot::{self, Copied, Described, Place};
use crate::vault::{self, Step};

/// Databases handled at once: enough to overlap the API round trips, few enough to stay clear of RDS throttling.
const CONCURRENCY: usize = 8;

pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    /// An RDS client per copy destination, in the order of `Config::copies`: RDS takes a copy request in the
    /// destination region.
    pub away: Vec<aws_sdk_rds::Client>,
}

#[derive(Debug, Default, Serialize)]
pub struct Output {
    pub created: Vec<String>,
    pub existing: Vec<String>,
    /// Snapshots deleted by retention: `<identifier>` at home, `<region>/<identifier>` for copies.
    pub deleted: Vec<String>,
    /// Copies started: `<region>/<identifier>` in other regions, `<identifier>` for a copy onto the vault key.
    pub copied: Vec<String>,
    /// Snapshots shared with the vault account (the snapshot, or its copy onto the vault key).
    pub shared: Vec<String>,
    /// Export tasks started (the `archive` block); left out of the output without one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exported: Vec<String>,
    /// Restore drills started: `<db>/<drill database>` (the `restore_drill` block).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drilled: Vec<String>,
    /// Restore drills finished: `<db>:<status>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<String>,
    /// Leftover drill databases deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleaned: Vec<String>,
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
    let trigger = Trigger::of(&event, &config.policy);
    info!(policy = %config.policy, slot = %slot.rfc3339(), trigger = trigger.as_str(), "run started");
    let (databases, pending) = match trigger {
        Trigger::Backup => tokio::join!(select::describe(&clients.rds), records::pending(&clients.s3, config)),
        // Advancing alone, with nothing pending and no drills to look after, is one listing. With a
        // `restore_drill` block every invocation lists the databases: drills in progress and leftovers are there.
        Trigger::Advance | Trigger::Drill => match records::pending(&clients.s3, config).await {
            Ok(pending) if pending.is_empty() && config.drill.is_none() => {
                return finish(config, Output::default(), Vec::new(), &[], None, Extra::default());
            }
            pending => (select::describe(&clients.rds).await, pending),
        },
    };
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
    let chosen: Vec<&Database> = selection
        .databases
        .iter()
        .filter(|db| trigger == Trigger::Backup || pending.contains_key(&db.identifier))
        .collect();
    // Their snapshots at home and in every destination, a hundred databases per request.
    let (mut home, mut away) = tokio::join!(
        snapshot::list(&clients.rds, &chosen, Place::Home),
        join_all(clients.away.iter().map(|rds| snapshot::list(rds, &chosen, Place::Away))),
    );
    let mut listed = |db: &Database| {
        let key = (db.kind, db.identifier.clone());
        let unlisted = || Err("not in the listing".to_string());
        let home = home.remove(&key).unwrap_or_else(unlisted);
        let away = away
            .iter_mut()
            .map(|a| a.remove(&key).unwrap_or_else(unlisted))
            .collect();
        (home, away)
    };
    let listed: Vec<_> = chosen.into_iter().map(|db| (db, listed(db))).collect();

    let surveys: Vec<Survey> = stream::iter(listed)
        .map(|(db, (home, away))| {
            let pending = pending.get(&db.identifier).unwrap_or(&no_pending);
            survey(clients, config, now, slot, trigger, db, home, away, pending)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let own = archived(config, trigger, &surveys);
    let plans = plan_copies(config, now, &surveys);
    let vault_room = AtomicUsize::new(vault_room(config, &surveys));
    let reports: Vec<Report> = stream::iter(surveys.into_iter().zip(plans))
        .map(|(survey, plan)| advance(clients, config, now, survey, plan, &vault_room))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    // The selection's own failures (a listed database not found) are the backup's to report.
    let selection_failed = match trigger {
        Trigger::Backup => selection.failed.clone(),
        Trigger::Advance | Trigger::Drill => Vec::new(),
    };
    let mut output = Output {
        failed: selection_failed.clone(),
        ..Output::default()
    };
    let mut measured: Vec<DbMetrics> = selection_failed
        .iter()
        .map(|f| DbMetrics {
            db: f.db.clone(),
            created: 0,
            failed: 1,
            newest_age_hours: None,
        })
        .collect();
    let mut regions: Vec<RegionMetrics> = config
        .copies
        .iter()
        .map(|d| RegionMetrics {
            region: d.region.clone(),
            started: 0,
            failed: 0,
            newest_age_hours: None,
        })
        .collect();
    for report in reports {
        if trigger == Trigger::Backup {
            measured.push(report.metrics());
        }
        for (region, away) in regions.iter_mut().zip(&report.away) {
            region.started += away.started;
            region.failed += away.failed;
            // Ages only from a backup run, which sees every database: a run advancing a few pending ones would
            // report their fresh copies and hide another database's stale ones from the alarm.
            let age = away
                .newest
                .filter(|_| trigger == Trigger::Backup)
                .map(|newest| ((now - newest).as_seconds_f64() / 3600.0).max(0.0));
            // The region is as overdue as its most overdue database.
            region.newest_age_hours = match (region.newest_age_hours, age) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        output.created.extend(report.created);
        output.existing.extend(report.existing);
        output.deleted.extend(report.deleted);
        output.copied.extend(report.copied);
        output.shared.extend(report.shared);
        output.failed.extend(report.failed);
    }
    // Exports after the backups: the slot's own snapshot may be the period's first.
    let mut export_age_days = None;
    if let Some(archive) = &config.archive
        && !own.is_empty()
    {
        let outcome = crate::exports::advance(clients, config, archive, now, &own).await;
        output.exported = outcome.started;
        output.failed.extend(outcome.failed);
        export_age_days = outcome.newest_age_days;
    }
    let mut drilled = None;
    if let Some(settings) = &config.drill {
        let start = (trigger == Trigger::Drill).then(|| slot.compact());
        let listed = crate::drills::Listed {
            instances: &instances,
            clusters: &clusters,
        };
        let outcome = crate::drills::advance(
            clients,
            config,
            settings,
            start.as_deref(),
            &selection.databases,
            &listed,
        )
        .await;
        output.drilled = outcome.started;
        output.drills = outcome
            .finished
            .iter()
            .map(|f| format!("{}:{}", f.db, f.status.as_str()))
            .collect();
        output.cleaned = outcome.cleaned;
        output.failed.extend(outcome.failed);
        drilled = Some(crate::drills::metric_values(&outcome.finished));
    }
    measured.sort_by(|a, b| a.db.cmp(&b.db));
    let extra = Extra {
        export_age_days,
        drilled,
    };
    finish(config, output, measured, &regions, unsettled, extra)
}

/// The metrics of the optional steps: the archive's export age, the drills finished.
#[derive(Default)]
struct Extra {
    export_age_days: Option<f64>,
    drilled: Option<(BTreeMap<String, i64>, Option<u32>)>,
}

/// The policy's own snapshots of each database at home, as the archive step sees them: only a backup run (which
/// surveys every database) archives, and only with an `archive` block. Copies onto the vault key are not the
/// database's series.
fn archived(config: &Config, trigger: Trigger, surveys: &[Survey]) -> BTreeMap<String, crate::exports::Own> {
    if config.archive.is_none() || trigger != Trigger::Backup {
        return BTreeMap::new();
    }
    surveys
        .iter()
        .filter_map(|survey| {
            let db = survey.db;
            let snapshots = survey
                .home
                .as_ref()?
                .iter()
                .filter(|d| !d.snapshot.id.ends_with(rdsbackup_common::identifier::SHAREABLE_SUFFIX))
                .filter_map(|d| {
                    let parsed =
                        rdsbackup_common::identifier::parse(&d.snapshot.id, &config.policy, &db.identifier, db.kind)?;
                    let snapshot = rdsbackup_common::archive::Snapshot {
                        id: d.snapshot.id.clone(),
                        slot: parsed.slot.to_string(),
                        available: d.snapshot.is_available(),
                    };
                    Some((snapshot, d.arn.clone()))
                })
                .collect();
            Some((
                db.identifier.clone(),
                crate::exports::Own {
                    kind: db.kind,
                    snapshots,
                },
            ))
        })
        .collect()
}

/// Emits the metrics and ends the invocation: in error when anything failed, so that Lambda's Errors metric
/// (and its alarm) counts it.
fn finish(
    config: &Config,
    mut output: Output,
    measured: Vec<DbMetrics>,
    regions: &[RegionMetrics],
    unsettled: Option<String>,
    extra: Extra,
) -> Result<Output, RunFailed> {
    for list in [
        &mut output.created,
        &mut output.existing,
        &mut output.deleted,
        &mut output.copied,
        &mut output.shared,
        &mut output.exported,
        &mut output.drilled,
        &mut output.drills,
        &mut output.cleaned,
    ] {
        list.sort();
    }
    output.failed.sort();
    // The clock, not the event's time: CloudWatch refuses data points far from now, and a retried event is late.
    let timestamp_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let deleted_home = output.deleted.iter().filter(|d| !d.contains('/')).count();
    for document in metrics::documents(&config.policy, &measured, regions, deleted_home, timestamp_ms) {
        println!("{document}");
    }
    if let Some(age) = extra.export_age_days {
        println!("{}", metrics::export_document(&config.policy, age, timestamp_ms));
    }
    if let Some((seconds, missed)) = &extra.drilled {
        for document in metrics::drill_documents(&config.policy, seconds, *missed, timestamp_ms) {
            println!("{document}");
        }
    }
    let summary = serde_json::to_string(&output).expect("the output serializes");
    if let (true, Some(e)) = (output.failed.is_empty(), &unsettled) {
        error!(output = %summary, "run finished, pending records not settled");
        return Err(RunFailed(format!(
            "pending records could not be listed ({e}); the backups went ahead and a later run settles them: {summary}"
        )));
    }
    if output.failed.is_empty() {
        info!(output = %summary, "run finished");
        Ok(output)
    } else {
        error!(output = %summary, "run finished with failures");
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
    copied: Vec<String>,
    shared: Vec<String>,
    failed: Vec<Failure>,
    newest_age_hours: Option<f64>,
    /// Per copy destination, in `Config::copies` order.
    away: Vec<AwayReport>,
}

#[derive(Clone, Debug, Default)]
struct AwayReport {
    started: u32,
    failed: u32,
    newest: Option<OffsetDateTime>,
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

    fn fail_copy(&mut self, destination: usize, region: &str, error: String) {
        self.away[destination].failed += 1;
        self.fail(format!("copy to {region}: {error}"));
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

/// One database as the first half of the run leaves it.
struct Survey<'a> {
    db: &'a Database,
    report: Report,
    /// Its manual snapshots at home as this run leaves them (retention's deletions out, the slot's snapshot in);
    /// `None` when they could not be listed.
    home: Option<Vec<Described>>,
    /// Its snapshots in each copy destination (`Config::copies` order), or why they could not be listed.
    away: Vec<Result<Vec<Described>, String>>,
    pending: &'a [String],
}

fn owner<'a>(config: &'a Config, db: &'a Database) -> Owner<'a> {
    Owner {
        policy: &config.policy,
        db: &db.identifier,
        kind: db.kind,
    }
}

/// After a backup event, applies retention at home to the database's listed snapshots and takes the slot's
/// snapshot.
#[allow(clippy::too_many_arguments)]
async fn survey<'a>(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    slot: Slot,
    trigger: Trigger,
    db: &'a Database,
    home: Result<Vec<Described>, String>,
    away: Vec<Result<Vec<Described>, String>>,
    pending: &'a [String],
) -> Survey<'a> {
    let mut report = Report {
        db: db.identifier.clone(),
        kind: db.kind,
        created: None,
        existing: None,
        deleted: Vec::new(),
        copied: Vec::new(),
        shared: Vec::new(),
        failed: Vec::new(),
        newest_age_hours: None,
        away: vec![AwayReport::default(); config.copies.len()],
    };
    let owner = owner(config, db);
    let mut home = match home {
        Ok(listed) => Some(listed),
        Err(e) => {
            report.fail(format!("its snapshots could not be listed: {e}"));
            None
        }
    };
    if trigger == Trigger::Backup {
        // Retention first: an expired snapshot makes room under the region's snapshot quota for the new one.
        if let Some(listed) = &home {
            apply_retention(clients, config, now, db, owner, listed, &mut report).await;
        }
        let created = take_snapshot(clients, config, slot, db, owner, home.as_deref(), &mut report).await;
        if let Some(listed) = &mut home {
            listed.retain(|s| !report.deleted.contains(&s.snapshot.id));
            listed.extend(created);
        }
    }
    if let Some(listed) = &home {
        let newest = listed
            .iter()
            .filter(|s| owner.owns(&s.snapshot) && s.snapshot.is_available())
            .filter_map(|s| owner.taken(&s.snapshot))
            .max();
        // Only an available snapshot counts: one still creating, or failed, may never restore, and the overdue
        // alarm must see that.
        report.newest_age_hours = newest.map(|newest| ((now - newest).as_seconds_f64() / 3600.0).max(0.0));
    }
    Survey {
        db,
        report,
        home,
        away,
        pending,
    }
}

/// What one database does in one destination: its retention and missing copies there, and whether it starts
/// the first of them in this run.
struct CopyPlan {
    decision: Decision,
    start: bool,
}

/// Per survey, per destination: decided over all databases at once, since RDS's limit of copies in flight is
/// per destination region. `None` where the database's snapshots (at home or there) are unknown.
fn plan_copies(config: &Config, now: OffsetDateTime, surveys: &[Survey]) -> Vec<Vec<Option<CopyPlan>>> {
    let judged = |listed: &[Described]| listed.iter().map(|s| s.snapshot.clone()).collect::<Vec<_>>();
    let mut plans: Vec<Vec<Option<CopyPlan>>> = surveys
        .iter()
        .map(|survey| {
            config
                .copies
                .iter()
                .zip(&survey.away)
                .map(|(destination, away)| {
                    let (Some(home), Ok(away)) = (&survey.home, away) else {
                        return None;
                    };
                    let rules = Rules {
                        owner: owner(config, survey.db),
                        retention_days: destination.retention_days,
                        min_snapshots: destination.min_snapshots,
                        now,
                    };
                    Some(CopyPlan {
                        decision: copies::decide(&judged(home), &judged(away), &rules),
                        start: false,
                    })
                })
                .collect()
        })
        .collect();
    for destination in 0..config.copies.len() {
        let (at, decisions): (Vec<usize>, Vec<&Decision>) = plans
            .iter()
            .enumerate()
            .filter_map(|(i, plan)| plan[destination].as_ref().map(|p| (i, &p.decision)))
            .unzip();
        let chosen: Vec<usize> = copies::choose(&decisions, rdsbackup_common::copies::MAX_IN_FLIGHT_PER_REGION)
            .into_iter()
            .map(|i| at[i])
            .collect();
        for i in chosen {
            if let Some(plan) = &mut plans[i][destination] {
                plan.start = true;
            }
        }
    }
    plans
}

/// How many copies onto the vault key this run may start: RDS's limit of copies in flight into a region (the
/// home region, here) less the policy's own still in progress.
fn vault_room(config: &Config, surveys: &[Survey]) -> usize {
    if config.vault.is_none() {
        return 0;
    }
    let in_flight = surveys
        .iter()
        .filter_map(|survey| Some((owner(config, survey.db), survey.home.as_ref()?)))
        .flat_map(|(owner, home)| home.iter().filter(move |s| owner.is_shareable_copy(&s.snapshot)))
        .filter(|s| s.snapshot.is_in_progress())
        .count();
    rdsbackup_common::copies::MAX_IN_FLIGHT_PER_REGION.saturating_sub(in_flight)
}

/// The second half for one database: retention and copies in each destination (all at once), then its records
/// brought up to date.
async fn advance(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    mut survey: Survey<'_>,
    plans: Vec<Option<CopyPlan>>,
    vault_room: &AtomicUsize,
) -> Report {
    let db = survey.db;
    let home = survey.home.take();
    let outcomes = join_all(
        plans
            .iter()
            .enumerate()
            .map(|(d, plan)| copy_to(clients, config, d, db, home.as_deref(), &survey.away[d], plan.as_ref())),
    )
    .await;
    let mut report = survey.report;
    let mut changed: Vec<String> = Vec::new();
    let mut away: Vec<Option<Vec<Described>>> = Vec::new();
    let mut deleted: Vec<Vec<String>> = Vec::new();
    for (d, outcome) in outcomes.into_iter().enumerate() {
        let region = &config.copies[d].region;
        for error in outcome.errors {
            report.fail_copy(d, region, error);
        }
        report
            .deleted
            .extend(outcome.deleted.iter().map(|id| format!("{region}/{id}")));
        report
            .copied
            .extend(outcome.started.iter().map(|id| format!("{region}/{id}")));
        report.away[d].started += outcome.started.len() as u32;
        report.away[d].newest = outcome.newest;
        changed.extend(outcome.deleted.iter().chain(&outcome.started).cloned());
        away.push(outcome.listed);
        deleted.push(outcome.deleted);
    }
    if let Some(home) = &home {
        let destinations = Destinations {
            plans: &plans,
            away: &away,
            deleted: &deleted,
        };
        let work = Work {
            pending: survey.pending,
            changed: &changed,
            vault_room,
        };
        follow_records(clients, config, now, db, home, work, &destinations, &mut report).await;
    }
    report
}

/// What became of one database in one destination.
#[derive(Default)]
struct CopyOutcome {
    /// Its snapshots there after this run's deletions and copies; `None` when unknown.
    listed: Option<Vec<Described>>,
    started: Vec<String>,
    deleted: Vec<String>,
    errors: Vec<String>,
    newest: Option<OffsetDateTime>,
}

/// Retention, then the planned copy, in one destination.
async fn copy_to(
    clients: &Clients,
    config: &Config,
    destination: usize,
    db: &Database,
    home: Option<&[Described]>,
    away: &Result<Vec<Described>, String>,
    plan: Option<&CopyPlan>,
) -> CopyOutcome {
    let mut outcome = CopyOutcome::default();
    let listed = match away {
        Ok(listed) => listed,
        Err(e) => {
            outcome
                .errors
                .push(format!("its snapshots there could not be listed: {e}"));
            return outcome;
        }
    };
    let (Some(home), Some(plan)) = (home, plan) else {
        outcome.listed = Some(listed.clone());
        return outcome;
    };
    let rds = &clients.away[destination];
    let target = &config.copies[destination];
    let mut listed = listed.clone();
    for id in &plan.decision.taken {
        outcome.errors.push(format!(
            "snapshot {id} exists there but is not this policy's copy of {}; it is left as it is and not copied",
            db.identifier
        ));
    }
    for id in &plan.decision.expired {
        match snapshot::delete(rds, db.kind, id).await {
            Ok(()) => {
                info!(db = %db.identifier, region = %target.region, snapshot = %id, "expired copy deleted");
                outcome.deleted.push(id.clone());
                listed.retain(|s| &s.snapshot.id != id);
            }
            Err(e) => outcome.errors.push(e),
        }
    }
    outcome.newest = plan.decision.newest;
    let source = plan
        .decision
        .missing
        .first()
        .filter(|_| plan.start)
        .and_then(|id| home.iter().find(|s| &s.snapshot.id == id));
    if let Some(source) = source {
        let id = &source.snapshot.id;
        if source.encrypted && target.kms_key_arn.is_none() {
            outcome.errors.push(format!(
                "snapshot {id} is encrypted, and RDS copies an encrypted snapshot to another region only onto a key \
                 of that region: set kms_key_arn in the copy block for {}",
                target.region
            ));
        } else {
            match snapshot::copy(rds, &config.policy, db, source, id, target.kms_key_arn.as_deref()).await {
                Ok(Copied::Started(copy)) => {
                    info!(
                        db = %db.identifier, region = %target.region, snapshot = %id,
                        status = %copy.snapshot.status, "copy started"
                    );
                    if copy.snapshot.is_available() {
                        let taken = owner(config, db).taken(&source.snapshot.as_copy(db.kind));
                        outcome.newest = outcome.newest.max(taken);
                    }
                    outcome.started.push(id.clone());
                    listed.push(*copy);
                }
                // Started by a concurrent or retried run: it is the policy's copy only if it says so.
                Ok(Copied::Exists) => match snapshot::find(rds, db.kind, id).await {
                    Ok(Some(found)) if owner(config, db).owns(&found.snapshot) => listed.push(found),
                    Ok(_) => outcome.errors.push(format!(
                        "snapshot {id} exists there but is not this policy's copy of {}",
                        db.identifier
                    )),
                    Err(e) => outcome.errors.push(e),
                },
                Err(e) => outcome.errors.push(e),
            }
        }
    }
    outcome.listed = Some(listed);
    outcome
}

/// What the destinations say of one database, for its records: per destination (`Config::copies` order).
struct Destinations<'a> {
    plans: &'a [Option<CopyPlan>],
    /// Its snapshots there after this run; `None` where unknown.
    away: &'a [Option<Vec<Described>>],
    /// The copies this run's retention deleted there.
    deleted: &'a [Vec<String>],
}

/// The records to bring up to date: those marked pending, and those whose copies this run started or deleted;
/// and the room left for copies onto the vault key, shared by every database of the run.
#[derive(Clone, Copy)]
struct Work<'a> {
    pending: &'a [String],
    changed: &'a [String],
    vault_room: &'a AtomicUsize,
}

/// Takes the vault's step for one snapshot of the database (`vault::step`) and says what its record's `vault`
/// entry is; `None` for a snapshot of the 0.1 form (made before 0.2, never shared).
#[allow(clippy::too_many_arguments)]
async fn share(
    clients: &Clients,
    config: &Config,
    db: &Database,
    home: &[Described],
    found: &Described,
    target: &rdsbackup_common::vault::VaultTarget,
    room: &AtomicUsize,
    report: &mut Report,
) -> Option<VaultRecord> {
    let owner = owner(config, db);
    let id = &found.snapshot.id;
    let parsed = rdsbackup_common::identifier::parse(id, owner.policy, owner.db, owner.kind)?;
    if parsed.form != rdsbackup_common::identifier::Form::V02 {
        return None;
    }
    let shareable_id = rdsbackup_common::identifier::build_shareable(owner.policy, owner.db, owner.kind, parsed.slot);
    let record = |shared: &str, status: &str| {
        Some(VaultRecord {
            account_id: target.account_id.clone(),
            shared_snapshot_identifier: shared.to_string(),
            status: status.to_string(),
        })
    };
    let shareable = match home.iter().find(|s| s.snapshot.id == shareable_id) {
        Some(held) if !owner.owns(&held.snapshot) => {
            report.fail(format!(
                "vault share: {shareable_id} exists but is not this policy's copy of {id}; it is left as it is"
            ));
            return record(&shareable_id, "failed");
        }
        held => held.map(|s| &s.snapshot),
    };
    let source = vault::Source {
        snapshot: &found.snapshot,
        encrypted: found.encrypted,
        kms_key_id: found.kms_key_id.as_deref(),
    };
    let step = vault::step(target, &source, &shareable_id, shareable);
    let entry = |status: &str| record(step.shared(), status);
    match &step {
        Step::Wait { status, .. } => entry(status),
        Step::Failed { why, .. } => {
            report.fail(format!("vault share: {why}"));
            entry("failed")
        }
        Step::Share { shared } => match snapshot::share(&clients.rds, db.kind, shared, &target.account_id).await {
            Ok(()) => {
                info!(db = %db.identifier, snapshot = %shared, account = %target.account_id, "shared with the vault");
                report.shared.push(shared.clone());
                entry("shared")
            }
            Err(e) => {
                report.fail(format!("vault share: {e}"));
                entry("waiting")
            }
        },
        Step::Copy { shareable } => {
            // RDS's limit of copies in flight into the region: the rest wait for a later run.
            if room
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
            {
                return entry("waiting");
            }
            match snapshot::copy(
                &clients.rds,
                &config.policy,
                db,
                found,
                shareable,
                Some(&target.kms_key_arn),
            )
            .await
            {
                Ok(Copied::Started(_)) => {
                    info!(db = %db.identifier, snapshot = %id, copy = %shareable, "copy onto the vault key started");
                    report.copied.push(shareable.clone());
                    entry("copying")
                }
                // Started by a concurrent or retried run; the next run finds it listed.
                Ok(Copied::Exists) => entry("copying"),
                Err(e) => {
                    report.fail(format!("vault share: copying {id} onto the vault key: {e}"));
                    entry("waiting")
                }
            }
        }
    }
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
        copies: Vec::new(),
        vault: None,
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
        // A copy onto the vault key has no record of its own: its source's record names it.
        if owner.is_shareable_copy(&described.snapshot) {
            continue;
        }
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

/// Brings up to date the records of the database's snapshots that are pending or whose copies this run started
/// or deleted: each snapshot's status and its copies' as RDS says them. A record is done once its snapshot is
/// settled and, in every destination, the copy is settled or none is wanted.
#[allow(clippy::too_many_arguments)]
async fn follow_records(
    clients: &Clients,
    config: &Config,
    now: OffsetDateTime,
    db: &Database,
    home: &[Described],
    work: Work<'_>,
    destinations: &Destinations<'_>,
    report: &mut Report,
) {
    let owner = owner(config, db);
    let mut ids: Vec<String> = work.pending.iter().chain(work.changed).cloned().collect();
    // The slot's new snapshot, whose record was just written, now lists the copies started for it (and its share).
    if let Some(created) = &report.created
        && (!config.copies.is_empty() || config.vault.is_some())
    {
        ids.push(created.clone());
    }
    ids.sort();
    ids.dedup();
    let deleted_at = slot::rfc3339(OffsetDateTime::now_utc());
    for id in &ids {
        // Deleted at home by this run's retention: its record says so already (and lost its marker); the copies
        // this run deleted are still to be listed in it.
        let deleted_home = report.deleted.contains(id);
        // The slot's new snapshot got its marker when its record was written (copies are to come).
        let marked = (work.pending.contains(id) || report.created.as_ref() == Some(id)) && !deleted_home;
        let found = home.iter().find(|s| &s.snapshot.id == id);
        let result = match found {
            // Gone without retention (deleted by hand): the record says so.
            None if marked => {
                let known = known_record(config, db, owner, id);
                records::mark_deleted(&clients.s3, config, &known, &slot::rfc3339(now)).await
            }
            _ => {
                let mut known = match found {
                    Some(found) => record_of(config, db, owner, found),
                    // Its source gone at home: only the copies' entries change.
                    None => known_record(config, db, owner, id),
                };
                let mut done = found.is_none_or(|s| s.snapshot.is_settled());
                for (d, destination) in config.copies.iter().enumerate() {
                    let copy = |snapshot_arn: String, status: String, deleted_at: Option<String>| CopyRecord {
                        region: destination.region.clone(),
                        snapshot_identifier: id.clone(),
                        snapshot_arn,
                        status,
                        deleted_at,
                    };
                    let Some(listed) = &destinations.away[d] else {
                        done = false;
                        continue;
                    };
                    match listed.iter().find(|s| &s.snapshot.id == id && owner.owns(&s.snapshot)) {
                        Some(there) => {
                            done &= there.snapshot.is_settled();
                            known
                                .copies
                                .push(copy(there.arn.clone(), there.snapshot.status.clone(), None));
                        }
                        None if destinations.deleted[d].contains(id) => {
                            known
                                .copies
                                .push(copy(String::new(), "deleted".into(), Some(deleted_at.clone())));
                        }
                        // A copy still to start (waiting for the snapshot, or for room under RDS's limit).
                        None => done &= destinations.plans[d].as_ref().is_some_and(|p| !p.decision.awaits(id)),
                    }
                }
                if let (Some(target), Some(found)) = (&config.vault, found) {
                    let shared = share(clients, config, db, home, found, target, work.vault_room, report).await;
                    done &= matches!(shared.as_ref().map(|v| v.status.as_str()), Some("shared" | "failed"));
                    known.vault = shared;
                }
                records::follow(&clients.s3, config, &known, done, marked).await
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

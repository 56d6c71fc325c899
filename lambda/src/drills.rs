//! The `restore_drill` block's step, run by every invocation of a policy with one: a drill event starts a drill
//! of each drilled database (its newest available own snapshot restored into a throwaway database), and every
//! invocation takes each drill in progress one step further, as `common::drill::step` decides from what it finds
//! — the evidence record in S3 and the drill database as RDS lists it. Nothing lives in the function's memory
//! between invocations: a crash at any point leaves evidence or a database (named and tagged as the drill's)
//! that the next invocation picks up. A drill database no drill in progress names is a leftover, deleted. Only
//! databases tagged `rdsbackup:drill = true` with the policy's tag are ever deleted (the role allows no other).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rds::types::Tag;
use futures::stream::{self, StreamExt};
use rdsbackup_common::drill::{self, Action, Evidence, Record, Restored, Settings, Status};
use rdsbackup_common::tags;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{error, info, warn};

use crate::aws_error;
use crate::config::Config;
use crate::records::{self, Bucket};
use crate::retention::Owner;
use crate::run::Clients;
use crate::select::{Database, Failure, Kind};
use crate::slot::rfc3339;
use crate::snapshot::{self, Place};

/// Drills driven at once: each is a handful of requests.
const CONCURRENCY: usize = 4;
/// Steps one drill may take in one invocation: record a failure, then finish; or record availability, then delete.
const MAX_STEPS: usize = 4;

/// What the databases of the region look like to the drill step: the run's one listing.
pub struct Listed<'a> {
    pub instances: &'a [Database],
    pub clusters: &'a [Database],
}

/// A drill that finished in this invocation, for the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub db: String,
    pub status: Status,
    pub rto_seconds: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Drill databases whose restore was requested: `<db>/<restored identifier>`.
    pub started: Vec<String>,
    /// Drills finished in this invocation.
    pub finished: Vec<Finished>,
    /// Leftover drill databases deleted.
    pub cleaned: Vec<String>,
    pub failed: Vec<Failure>,
}

/// One drill: a database and the slot (the drill event's time) that names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Drill {
    db: String,
    slot: String,
}

/// `start`: the slot of a drill event, which starts a drill of each drilled database among `selected`.
pub async fn advance(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    start: Option<&str>,
    selected: &[Database],
    listed: &Listed<'_>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let bucket = Bucket::of(config);
    // Listed after the databases were: a drill another invocation starts meanwhile has its marker written
    // before its restore, so its database is either in this listing's markers or not yet in the databases.
    let markers = match records::keys(&clients.s3, &bucket, drill::MARKERS_PREFIX).await {
        Ok(keys) => keys,
        Err(e) => {
            error!(error = %e, "drills in progress could not be listed");
            outcome.failed.push(Failure {
                db: String::new(),
                kind: Kind::Instance,
                error: format!("restore drills: {e}"),
            });
            return outcome;
        }
    };
    let mut drills: BTreeSet<Drill> = markers
        .iter()
        .filter_map(|key| drill::parse_marker(key))
        .map(|(db, slot)| Drill {
            db: db.to_string(),
            slot: slot.to_string(),
        })
        .collect();
    if let Some(slot) = start {
        drills.extend(
            selected
                .iter()
                .filter(|db| settings.drills(&db.identifier))
                .map(|db| Drill {
                    db: db.identifier.clone(),
                    slot: slot.to_string(),
                }),
        );
        // The provider refuses drilled databases a policy cannot select at plan time; one selected by tags that
        // lost them is reported here.
        for db in &settings.db_identifiers {
            if !selected.iter().any(|s| &s.identifier == db) {
                outcome.failed.push(Failure {
                    db: db.clone(),
                    kind: Kind::Instance,
                    error: "restore drill: the database is not selected by the policy, so it is not drilled".into(),
                });
            }
        }
    }
    let in_progress: BTreeSet<String> = drills
        .iter()
        .map(|d| drill::restored_identifier(&config.policy, &d.db, &d.slot))
        .collect();
    let ctx = Context {
        clients,
        config,
        settings,
        listed,
        selected,
        bucket: &bucket,
    };
    let driven: Vec<Driven> = stream::iter(&drills)
        .map(|d| ctx.drive(d))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for d in driven {
        outcome.started.extend(d.started);
        outcome.finished.extend(d.finished);
        outcome.failed.extend(d.failed);
    }
    for leftover in leftovers(config, listed, &in_progress) {
        match delete(&clients.rds, leftover).await {
            Ok(()) => {
                warn!(database = %leftover.identifier, "leftover drill database deleted");
                outcome.cleaned.push(leftover.identifier.clone());
            }
            Err(e) => outcome.failed.push(Failure {
                db: leftover.tags.get(tags::DB).cloned().unwrap_or_default(),
                kind: leftover.kind,
                error: format!("leftover drill database {}: {e}", leftover.identifier),
            }),
        }
    }
    outcome.finished.sort_by(|a, b| a.db.cmp(&b.db));
    outcome
}

/// Whether RDS lists `db` as a drill database of this policy: named as one and tagged as one. A database with a
/// drill's name but not its tags is never touched.
fn is_drill_database(config: &Config, db: &Database) -> bool {
    db.identifier.starts_with(drill::RESTORED_PREFIX)
        && db.tags.get(tags::DRILL).map(String::as_str) == Some("true")
        && db.tags.get(tags::POLICY) == Some(&config.policy)
}

/// The policy's drill databases (clusters, and instances outside them) that no drill in progress names.
fn leftovers<'a>(config: &Config, listed: &'a Listed<'_>, in_progress: &BTreeSet<String>) -> Vec<&'a Database> {
    listed
        .clusters
        .iter()
        .chain(listed.instances.iter().filter(|i| i.cluster.is_none()))
        .filter(|db| is_drill_database(config, db) && !in_progress.contains(&db.identifier))
        .collect()
}

struct Context<'a> {
    clients: &'a Clients,
    config: &'a Config,
    settings: &'a Settings,
    listed: &'a Listed<'a>,
    selected: &'a [Database],
    bucket: &'a Bucket<'a>,
}

#[derive(Default)]
struct Driven {
    started: Vec<String>,
    finished: Vec<Finished>,
    failed: Vec<Failure>,
}

fn seconds(at: &str) -> Option<i64> {
    OffsetDateTime::parse(at, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

fn evidence(record: &Record) -> Evidence {
    Evidence {
        // A record whose start time cannot be read is treated as started now: it is failed past the budget.
        started_at: seconds(&record.started_at).unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp()),
        available_at: record.available_at.as_deref().and_then(seconds),
        deleted_at: record.deleted_at.as_deref().and_then(seconds),
        error: record.error.clone(),
    }
}

impl Context<'_> {
    fn instance(&self, id: &str) -> Option<&Database> {
        self.listed.instances.iter().find(|db| db.identifier == id)
    }

    fn cluster(&self, id: &str) -> Option<&Database> {
        self.listed.clusters.iter().find(|db| db.identifier == id)
    }

    /// The drill database as RDS listed it: a cluster is available once its one instance is.
    fn restored(&self, kind: Kind, restored: &str) -> (Restored, Option<Database>) {
        let state = |db: Option<&Database>| db.map_or(Restored::Absent, |db| Restored::of(&db.status));
        match kind {
            Kind::Instance => {
                let found = self.instance(restored);
                (state(found), found.cloned())
            }
            Kind::Cluster => {
                let found = self.cluster(restored);
                let member = state(self.instance(&drill::cluster_instance_identifier(restored)));
                let combined = match (state(found), member) {
                    (Restored::Absent, _) => Restored::Absent,
                    (Restored::Deleting, _) => Restored::Deleting,
                    (Restored::Failed, _) | (_, Restored::Failed) => Restored::Failed,
                    (Restored::Available, Restored::Available) => Restored::Available,
                    _ => Restored::Creating,
                };
                (combined, found.cloned())
            }
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, String> {
        let found = records::read(&self.clients.s3, self.bucket, key).await?;
        Ok(found.and_then(|map| serde_json::from_value(serde_json::Value::Object(map)).ok()))
    }

    async fn write(&self, key: &str, record: &Record) -> Result<(), String> {
        let value = serde_json::to_value(record).expect("an evidence record serializes");
        let serde_json::Value::Object(map) = value else {
            unreachable!("a record serializes to an object")
        };
        records::put_record(&self.clients.s3, self.bucket, key, map).await
    }

    /// Takes the drill as far as it goes now. A marker without evidence (a start cut short) resumes the start.
    async fn drive(&self, d: &Drill) -> Driven {
        let mut driven = Driven::default();
        let key = drill::evidence_key(&d.db, &d.slot);
        let restored_id = drill::restored_identifier(&self.config.policy, &d.db, &d.slot);
        let source = self.selected.iter().find(|db| db.identifier == d.db);
        let fail = |driven: &mut Driven, kind: Kind, error: String| {
            error!(db = %d.db, slot = %d.slot, %error, "restore drill failed");
            driven.failed.push(Failure {
                db: d.db.clone(),
                kind,
                error: format!("restore drill {}: {error}", d.slot),
            });
        };
        let mut record = match self.read(&key).await {
            Ok(record) => record,
            Err(e) => {
                fail(&mut driven, source.map_or(Kind::Instance, |s| s.kind), e);
                return driven;
            }
        };
        let Some(kind) = record.as_ref().map(|r| r.kind).or(source.map(|s| s.kind)) else {
            // A marker of a database no longer selected, without evidence: nothing was restored.
            if let Err(e) = records::delete(&self.clients.s3, self.bucket, &drill::marker_key(&d.db, &d.slot)).await {
                fail(&mut driven, Kind::Instance, e);
            }
            return driven;
        };
        let (mut restored, mut found) = self.restored(kind, &restored_id);
        // A cluster restored by an invocation that stopped before its instance was requested.
        if let (Kind::Cluster, Some(r), Some(cluster)) = (kind, &record, &found)
            && r.available_at.is_none()
            && r.error.is_none()
            && restored != Restored::Deleting
            && self
                .instance(&drill::cluster_instance_identifier(&restored_id))
                .is_none()
            && let Err(e) = create_member(&self.clients.rds, self.config, self.settings, &d.db, cluster).await
        {
            fail(&mut driven, kind, e);
            return driven;
        }
        let target = self.settings.rto_target_seconds();
        for _ in 0..MAX_STEPS {
            let now = OffsetDateTime::now_utc();
            let action = drill::step(
                record.as_ref().map(evidence).as_ref(),
                restored,
                now.unix_timestamp(),
                target,
            );
            let result: Result<bool, String> = match action {
                Action::Wait => break,
                Action::Start => {
                    let Some(source) = source else { break };
                    let started = self.start(d, source, &restored_id, &key, now).await;
                    match started {
                        Ok((r, requested)) => {
                            if requested {
                                info!(db = %d.db, restored = %restored_id, "restore drill started");
                                driven.started.push(format!("{}/{restored_id}", d.db));
                                restored = Restored::Creating;
                            }
                            record = Some(r);
                            // Refused, or nothing to restore: the drill fails at once, with nothing to delete.
                            Ok(!requested)
                        }
                        Err(e) => Err(e),
                    }
                }
                Action::Available { at } => {
                    let r = record.as_mut().expect("available only with evidence");
                    let at = OffsetDateTime::from_unix_timestamp(at).unwrap_or(now);
                    r.available_at = Some(rfc3339(at));
                    r.rto_seconds = seconds(&r.started_at).map(|s| at.unix_timestamp() - s);
                    info!(db = %d.db, restored = %restored_id, rto_seconds = ?r.rto_seconds, "drill database available");
                    self.write(&key, r).await.map(|()| true)
                }
                Action::Delete => match found.as_ref() {
                    Some(db) if !is_drill_database(self.config, db) => Err(format!(
                        "database {restored_id} is not tagged as this policy's drill database; it is left alone"
                    )),
                    Some(db) => delete(&self.clients.rds, db).await.map(|()| {
                        restored = Restored::Deleting;
                        false
                    }),
                    // Listed as deleting or failed, then gone: nothing left to delete.
                    None => Ok(false),
                },
                Action::Fail { error } => {
                    let r = record.as_mut().expect("failed only with evidence");
                    r.error = Some(error);
                    self.write(&key, r).await.map(|()| true)
                }
                Action::Finish { status } => {
                    let r = record.as_mut().expect("finished only with evidence");
                    r.deleted_at = Some(rfc3339(now));
                    r.status = Some(status.as_str().into());
                    let finished = self.write(&key, r).await;
                    let unmarked = match finished {
                        Ok(()) => {
                            records::delete(&self.clients.s3, self.bucket, &drill::marker_key(&d.db, &d.slot)).await
                        }
                        Err(e) => Err(e),
                    };
                    match unmarked {
                        Ok(()) => {
                            info!(db = %d.db, slot = %d.slot, status = status.as_str(), "restore drill finished");
                            if status == Status::Failed {
                                fail(&mut driven, kind, r.error.clone().unwrap_or_default());
                            }
                            driven.finished.push(Finished {
                                db: d.db.clone(),
                                status,
                                rto_seconds: r.rto_seconds,
                            });
                            break;
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(true) => {}
                // RDS has to move before the next step.
                Ok(false) => break,
                Err(e) => {
                    fail(&mut driven, kind, e);
                    break;
                }
            }
            if restored == Restored::Deleting {
                found = None;
            }
        }
        driven
    }

    /// Writes the evidence, then requests the restore; returns the evidence and whether the restore was
    /// requested. Without an available snapshot of the policy's, or when RDS refuses the restore, the evidence
    /// carries the error (the drill then fails, with nothing to delete).
    async fn start(
        &self,
        d: &Drill,
        source: &Database,
        restored_id: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<(Record, bool), String> {
        let mut record = Record {
            policy: self.config.policy.clone(),
            db_identifier: d.db.clone(),
            kind: source.kind,
            snapshot_identifier: String::new(),
            restored_identifier: restored_id.to_string(),
            instance_class: self.settings.instance_class.clone(),
            rto_target_seconds: self.settings.rto_target_seconds(),
            started_at: rfc3339(now),
            available_at: None,
            deleted_at: None,
            rto_seconds: None,
            status: None,
            error: None,
        };
        let owner = Owner {
            policy: &self.config.policy,
            db: &source.identifier,
            kind: source.kind,
        };
        let newest = snapshot::list(&self.clients.rds, &[source], Place::Home)
            .await
            .remove(&(source.kind, source.identifier.clone()))
            .unwrap_or_else(|| Ok(Vec::new()))?
            .into_iter()
            .filter(|s| owner.owns(&s.snapshot) && s.snapshot.is_available())
            .filter(|s| !s.snapshot.id.ends_with(rdsbackup_common::identifier::SHAREABLE_SUFFIX))
            .max_by_key(|s| owner.taken(&s.snapshot));
        // The marker first: a start cut short after it is resumed by the next invocation.
        records::mark(&self.clients.s3, self.bucket, &drill::marker_key(&d.db, &d.slot)).await?;
        let Some(newest) = newest else {
            record.error = Some("the policy has no available snapshot of the database to restore".into());
            self.write(key, &record).await?;
            return Ok((record, false));
        };
        record.snapshot_identifier = newest.snapshot.id.clone();
        // The evidence before the restore: a database without evidence is a leftover.
        self.write(key, &record).await?;
        match restore(
            &self.clients.rds,
            self.config,
            self.settings,
            d,
            source,
            &newest.snapshot.id,
            restored_id,
        )
        .await
        {
            Ok(()) => Ok((record, true)),
            Err(e) => {
                record.error = Some(e);
                self.write(key, &record).await?;
                Ok((record, false))
            }
        }
    }
}

/// The policy's tags for `db`, and the drill's.
fn drill_tags(config: &Config, db: &str) -> Vec<Tag> {
    let mut tags = snapshot::owned_tags(&config.policy, db);
    tags.push(Tag::builder().key(tags::DRILL).value("true").build());
    tags
}

/// Restores `snapshot` as the drill database: no backups (an instance's first backup would take hours; Aurora's
/// minimum is one day), no deletion protection, not publicly accessible, in the block's network. A database of
/// that name existing already is a repeated request: the drill follows it.
async fn restore(
    rds: &aws_sdk_rds::Client,
    config: &Config,
    settings: &Settings,
    d: &Drill,
    source: &Database,
    snapshot: &str,
    restored: &str,
) -> Result<(), String> {
    let groups: Option<Vec<String>> = (!settings.vpc_security_group_ids.is_empty())
        .then(|| settings.vpc_security_group_ids.iter().cloned().collect());
    let subnet_group = subnet_group(settings, source);
    match source.kind {
        Kind::Instance => {
            let sent = rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(restored)
                .db_snapshot_identifier(snapshot)
                .db_instance_class(&settings.instance_class)
                .set_db_subnet_group_name(subnet_group.clone())
                .set_vpc_security_group_ids(groups)
                .publicly_accessible(false)
                .deletion_protection(false)
                .multi_az(false)
                .backup_retention_period(0)
                .set_tags(Some(drill_tags(config, &d.db)))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_instance_already_exists_fault()) =>
                {
                    Ok(())
                }
                Err(e) => Err(aws_error::describe("RestoreDBInstanceFromDBSnapshot", &e)),
            }
        }
        Kind::Cluster => {
            let sent = rds
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(restored)
                .snapshot_identifier(snapshot)
                .engine(&source.engine)
                .set_db_subnet_group_name(subnet_group.clone())
                .set_vpc_security_group_ids(groups)
                .deletion_protection(false)
                .backup_retention_period(1)
                .set_tags(Some(drill_tags(config, &d.db)))
                .send()
                .await;
            match sent {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_db_cluster_already_exists_fault()) => {}
                Err(e) => return Err(aws_error::describe("RestoreDBClusterFromSnapshot", &e)),
            }
            let cluster = Database {
                identifier: restored.to_string(),
                ..source.clone()
            };
            create_member(rds, config, settings, &d.db, &cluster).await
        }
    }
}

/// Where the drill database lives: the block's subnet group, or else the source's. RDS would otherwise use the
/// default VPC's group, so a database in an application VPC would be restored where its network is not. The
/// source's `default` group is left out: RDS uses it when none is given.
fn subnet_group(settings: &Settings, source: &Database) -> Option<String> {
    settings
        .subnet_group_name
        .clone()
        .or_else(|| source.subnet_group.clone().filter(|group| group != "default"))
}

/// The one instance of a drilled cluster, of the block's class, tagged as the drill's.
async fn create_member(
    rds: &aws_sdk_rds::Client,
    config: &Config,
    settings: &Settings,
    db: &str,
    cluster: &Database,
) -> Result<(), String> {
    let sent = rds
        .create_db_instance()
        .db_instance_identifier(drill::cluster_instance_identifier(&cluster.identifier))
        .db_cluster_identifier(&cluster.identifier)
        .engine(&cluster.engine)
        .db_instance_class(&settings.instance_class)
        .publicly_accessible(false)
        .set_tags(Some(drill_tags(config, db)))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_db_instance_already_exists_fault()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error::describe("CreateDBInstance", &e)),
    }
}

/// Deletes a drill database without a final snapshot: a cluster's instance first (RDS deletes a cluster only
/// once its instances are deleting), then the cluster. Already deleting, or gone, is done.
async fn delete(rds: &aws_sdk_rds::Client, db: &Database) -> Result<(), String> {
    let instance = match db.kind {
        Kind::Instance => db.identifier.clone(),
        Kind::Cluster => drill::cluster_instance_identifier(&db.identifier),
    };
    let sent = rds
        .delete_db_instance()
        .db_instance_identifier(&instance)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await;
    match sent {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_db_instance_not_found_fault() || e.is_invalid_db_instance_state_fault()) => {}
        Err(e) => return Err(aws_error::describe("DeleteDBInstance", &e)),
    }
    if db.kind == Kind::Instance {
        return Ok(());
    }
    let sent = rds
        .delete_db_cluster()
        .db_cluster_identifier(&db.identifier)
        .skip_final_snapshot(true)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_db_cluster_not_found_fault()) => Ok(()),
        // Its instance is still being deleted: the next invocation deletes the cluster.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_invalid_db_cluster_state_fault()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error::describe("DeleteDBCluster", &e)),
    }
}

/// The drills' metrics: `RestoreDrillSeconds` per database finished with a measured RTO, and `RestoreDrillMissed`
/// for the policy (1 when any drill finished failed or over its target).
pub fn metric_values(finished: &[Finished]) -> (BTreeMap<String, i64>, Option<u32>) {
    let seconds = finished
        .iter()
        .filter_map(|f| f.rto_seconds.map(|s| (f.db.clone(), s)))
        .collect();
    let missed = finished.iter().map(|f| u32::from(f.status != Status::Passed)).max();
    (seconds, missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_restores_into_the_blocks_subnet_group_or_else_the_sources() {
        let mut settings = Settings {
            db_identifiers: BTreeSet::new(),
            instance_class: drill::DEFAULT_INSTANCE_CLASS.into(),
            subnet_group_name: None,
            vpc_security_group_ids: BTreeSet::new(),
            rto_target_minutes: 60,
        };
        let source = |group: Option<&str>| Database {
            identifier: "orders".into(),
            kind: Kind::Instance,
            engine: "postgres".into(),
            status: "available".into(),
            cluster: None,
            subnet_group: group.map(String::from),
            tags: BTreeMap::new(),
        };
        assert_eq!(subnet_group(&settings, &source(Some("app"))).as_deref(), Some("app"));
        assert_eq!(subnet_group(&settings, &source(Some("default"))), None);
        assert_eq!(subnet_group(&settings, &source(None)), None);
        settings.subnet_group_name = Some("drills".into());
        assert_eq!(subnet_group(&settings, &source(Some("app"))).as_deref(), Some("drills"));
    }
}

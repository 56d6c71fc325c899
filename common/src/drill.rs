//! A restore drill (`restore_drill` block, ../shared/CONTRACTS.md "Restore drills") as a small state machine
//! carried across invocations: a restore takes minutes to hours, longer than one Lambda run. Its state lives
//! where it survives a crash — the evidence record in S3 and the restored database itself (found by its name
//! and tags) — never in the function's memory; each invocation reads both and takes the one step this module
//! decides, so that every drill ends with its database deleted and its evidence finished.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::identifier;

/// The S3 prefix of the evidence records, `drills/<db>/<yyyymmddhhmm>.json`: kept for good, the history auditors
/// ask for.
pub const EVIDENCE_PREFIX: &str = "drills/";
/// The markers of drills in progress (`pending-drills/<db>/<yyyymmddhhmm>`): a run lists them once, instead of
/// reading every evidence record ever written to find the unfinished ones.
pub const MARKERS_PREFIX: &str = "pending-drills/";
/// What every drill database's identifier starts with.
pub const RESTORED_PREFIX: &str = "rdsbackup-drill-";
/// `schedule` of the block: Sundays at 05:00 UTC, after the night's backups.
pub const DEFAULT_SCHEDULE: &str = "cron(0 5 ? * SUN *)";
/// `instance_class` of the block: a small burstable class, enough to prove the data restores.
pub const DEFAULT_INSTANCE_CLASS: &str = "db.t3.medium";

/// The `restore_drill` block with its defaults resolved, as the provider writes it into the function's
/// environment (`env::DRILL`, a JSON object).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The databases to drill; empty means every database the policy selects.
    #[serde(default)]
    pub db_identifiers: BTreeSet<String>,
    pub instance_class: String,
    /// `None`: the source's subnet group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_group_name: Option<String>,
    /// Empty: the VPC's default security group, as RDS does.
    #[serde(default)]
    pub vpc_security_group_ids: BTreeSet<String>,
    pub rto_target_minutes: u32,
}

impl Settings {
    pub fn rto_target_seconds(&self) -> i64 {
        i64::from(self.rto_target_minutes) * 60
    }

    /// Whether `db` is drilled (among the databases the policy selects).
    pub fn drills(&self, db: &str) -> bool {
        self.db_identifiers.is_empty() || self.db_identifiers.contains(db)
    }
}

/// The value of `env::DRILL`.
pub fn to_env(settings: &Settings) -> String {
    serde_json::to_string(settings).expect("drill settings serialize")
}

/// Reads `to_env`'s form; an empty value means no drills.
pub fn from_env(value: &str) -> Result<Option<Settings>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let settings: Settings =
        serde_json::from_str(value).map_err(|e| format!("must be the restore_drill block as JSON: {e}"))?;
    let range = crate::limits::RTO_TARGET_MINUTES;
    if !range.contains(settings.rto_target_minutes) {
        return Err(format!(
            "rto_target_minutes must be from {} to {}, not {}",
            range.min, range.max, settings.rto_target_minutes
        ));
    }
    Ok(Some(settings))
}

/// The drill database of `db`'s drill of `slot`: `rdsbackup-drill-<h8>-<yyyymmddhhmm>` (37 characters, within
/// RDS's 63), deterministic so that a repeated invocation finds the database it restored.
pub fn restored_identifier(policy: &str, db: &str, slot: &str) -> String {
    format!("{RESTORED_PREFIX}{}-{slot}", identifier::h8(policy, db))
}

/// The one instance a drilled cluster gets (a cluster without an instance cannot be connected to).
pub fn cluster_instance_identifier(restored: &str) -> String {
    format!("{restored}-1")
}

/// `drills/<db>/<yyyymmddhhmm>.json`.
pub fn evidence_key(db: &str, slot: &str) -> String {
    format!("{EVIDENCE_PREFIX}{db}/{slot}.json")
}

/// `pending-drills/<db>/<yyyymmddhhmm>`.
pub fn marker_key(db: &str, slot: &str) -> String {
    format!("{MARKERS_PREFIX}{db}/{slot}")
}

/// The database and slot of a drill marker.
pub fn parse_marker(key: &str) -> Option<(&str, &str)> {
    let (db, slot) = key.strip_prefix(MARKERS_PREFIX)?.split_once('/')?;
    (!db.is_empty() && slot.len() == 12 && slot.bytes().all(|b| b.is_ascii_digit())).then_some((db, slot))
}

/// The evidence record as stored (../shared/CONTRACTS.md, "Restore drills"): times RFC 3339 UTC. An evidence
/// record without `deleted_at` marks a drill in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub policy: String,
    pub db_identifier: String,
    /// `instance` or `cluster`.
    pub kind: identifier::SnapshotKind,
    /// Empty when the policy had no available snapshot of the database to restore.
    pub snapshot_identifier: String,
    pub restored_identifier: String,
    pub instance_class: String,
    pub rto_target_seconds: i64,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// `available_at` − `started_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<i64>,
    /// `passed`, `failed` or `over_target`, once the drill is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the evidence record `drills/<db>/<yyyymmddhhmm>.json` says so far. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    pub started_at: i64,
    pub available_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// Set when the drill failed: the restore was refused, or never became available.
    pub error: Option<String>,
}

/// The restored database as RDS describes it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    Absent,
    /// `creating`, `backing-up`, `modifying` and the like: not usable yet.
    Creating,
    Available,
    Deleting,
    /// `failed`, `incompatible-restore`, `inaccessible-encryption-credentials`...: it will not become available.
    Failed,
}

impl Restored {
    /// RDS's status of an instance or cluster, as the drill sees it.
    pub fn of(status: &str) -> Restored {
        match status {
            "available" => Restored::Available,
            "deleting" => Restored::Deleting,
            s if s == "failed" || s.starts_with("incompatible") || s.starts_with("inaccessible") => Restored::Failed,
            _ => Restored::Creating,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Passed,
    OverTarget,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::OverTarget => "over_target",
            Status::Failed => "failed",
        }
    }
}

/// The one thing an invocation does for a drill.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// No evidence and no database: write the evidence with `started_at`, then restore the snapshot (in that
    /// order: a database without evidence is a leftover, and is deleted).
    Start,
    /// Nothing to do now: the restore or the deletion is under way, or the drill is finished.
    Wait,
    /// The database became available: write `available_at` (the RTO is measured up to it), then delete it.
    Available { at: i64 },
    /// Delete the database (no final snapshot, deletion protection off).
    Delete,
    /// Record why the drill failed, then delete the database if there is one.
    Fail { error: String },
    /// The database is gone: finish the evidence with `deleted_at` and its status.
    Finish { status: Status },
}

/// How long a restore may take before the drill is failed (it then deletes what was made): a day, well past any
/// sensible RTO target, and far less than a week's drill schedule.
pub const BUDGET_SECONDS: i64 = 24 * 3600;
/// How long a database just restored may be missing from RDS's listing (its eventual consistency) before the
/// drill says it was never made.
pub const GRACE_SECONDS: i64 = 15 * 60;

pub fn step(evidence: Option<&Evidence>, restored: Restored, now: i64, rto_target_seconds: i64) -> Action {
    let Some(e) = evidence else {
        // A database without evidence is a leftover (the evidence is written before the restore): it is deleted,
        // and the drill starts afresh. The caller deletes only a database named and tagged as this drill's.
        return match restored {
            Restored::Absent => Action::Start,
            Restored::Deleting => Action::Wait,
            _ => Action::Delete,
        };
    };
    if e.deleted_at.is_some() {
        return Action::Wait;
    }
    if e.error.is_some() || e.available_at.is_some() {
        return match restored {
            Restored::Absent => Action::Finish {
                status: match (e.error.is_some(), e.available_at) {
                    (false, Some(at)) if at - e.started_at <= rto_target_seconds => Status::Passed,
                    (false, Some(_)) => Status::OverTarget,
                    _ => Status::Failed,
                },
            },
            Restored::Deleting => Action::Wait,
            _ => Action::Delete,
        };
    }
    let waited = now - e.started_at;
    match restored {
        Restored::Available => Action::Available { at: now },
        Restored::Failed => Action::Fail {
            error: "the restored database failed and will not become available".into(),
        },
        Restored::Creating if waited > BUDGET_SECONDS => Action::Fail {
            error: format!("the restore was not available within {} hours", BUDGET_SECONDS / 3600),
        },
        Restored::Creating => Action::Wait,
        Restored::Deleting => Action::Fail {
            error: "the restored database was deleted before it became available".into(),
        },
        Restored::Absent if waited > GRACE_SECONDS => Action::Fail {
            error: "the restored database does not exist: the restore was refused or it was deleted".into(),
        },
        Restored::Absent => Action::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TARGET: i64 = 3600;

    #[test]
    fn names_follow_the_contract_and_settings_round_trip() {
        let restored = restored_identifier("nightly", "orders", "202612060500");
        assert_eq!(
            restored,
            format!("rdsbackup-drill-{}-202612060500", identifier::h8("nightly", "orders"))
        );
        assert_eq!(restored.len(), 37);
        assert!(cluster_instance_identifier(&restored).len() <= 63);
        assert_eq!(
            evidence_key("orders", "202612060500"),
            "drills/orders/202612060500.json"
        );
        assert_eq!(
            parse_marker(&marker_key("orders", "202612060500")),
            Some(("orders", "202612060500"))
        );
        assert_eq!(parse_marker("pending-drills/orders/2026"), None);
        let settings = Settings {
            db_identifiers: BTreeSet::from(["orders".to_string()]),
            instance_class: DEFAULT_INSTANCE_CLASS.into(),
            subnet_group_name: None,
            vpc_security_group_ids: BTreeSet::new(),
            rto_target_minutes: 60,
        };
        assert_eq!(from_env(&to_env(&settings)), Ok(Some(settings.clone())));
        assert!(settings.drills("orders") && !settings.drills("billing"));
        assert_eq!(from_env(" "), Ok(None));
        let late = to_env(&Settings {
            rto_target_minutes: 2000,
            ..settings
        });
        assert!(from_env(&late).unwrap_err().contains("rto_target_minutes"));
    }

    fn started(at: i64) -> Evidence {
        Evidence {
            started_at: at,
            available_at: None,
            deleted_at: None,
            error: None,
        }
    }

    #[test]
    fn a_drill_from_start_to_passed() {
        assert_eq!(step(None, Restored::Absent, 0, TARGET), Action::Start);
        let e = started(0);
        assert_eq!(step(Some(&e), Restored::Creating, 600, TARGET), Action::Wait);
        assert_eq!(
            step(Some(&e), Restored::Available, 1200, TARGET),
            Action::Available { at: 1200 }
        );
        let e = Evidence {
            available_at: Some(1200),
            ..e
        };
        assert_eq!(step(Some(&e), Restored::Available, 1300, TARGET), Action::Delete);
        assert_eq!(step(Some(&e), Restored::Deleting, 1400, TARGET), Action::Wait);
        assert_eq!(
            step(Some(&e), Restored::Absent, 1500, TARGET),
            Action::Finish { status: Status::Passed }
        );
        let late = Evidence {
            available_at: Some(TARGET + 1),
            ..started(0)
        };
        assert_eq!(
            step(Some(&late), Restored::Absent, 9000, TARGET),
            Action::Finish {
                status: Status::OverTarget
            }
        );
    }

    #[test]
    fn a_leftover_without_evidence_is_deleted_and_a_stuck_restore_failed() {
        assert_eq!(step(None, Restored::Available, 0, TARGET), Action::Delete);
        assert!(matches!(
            step(Some(&started(0)), Restored::Creating, BUDGET_SECONDS + 1, TARGET),
            Action::Fail { .. }
        ));
        assert_eq!(
            step(Some(&started(0)), Restored::Absent, 60, TARGET),
            Action::Wait,
            "not listed yet"
        );
        assert!(matches!(
            step(Some(&started(0)), Restored::Absent, GRACE_SECONDS + 1, TARGET),
            Action::Fail { .. }
        ));
    }

    /// How RDS answers the drill's requests, one invocation later: a restore in progress may become available,
    /// fail or stay; a deletion may finish or not.
    fn world() -> impl Strategy<Value = Vec<(u8, i64)>> {
        prop::collection::vec((0u8..4, 60i64..7200), 1..200)
    }

    proptest! {
        /// Whatever RDS does, and however often the function crashes between two of its requests, the drill ends with its database deleted and its evidence finished, with the
        /// status that its times say.
        #[test]
        fn every_drill_ends_deleted_with_evidence(moves in world(), refused in any::<bool>(), crashes in prop::collection::vec(any::<bool>(), 200)) {
            let mut evidence: Option<Evidence> = None;
            let mut restored = Restored::Absent;
            let mut now = 0;
            let mut finished = None;
            // After the world's moves, time runs on with RDS settling, so that every drill can end.
            let settle = std::iter::repeat_n((3u8, 3600), 60);
            for (i, (roll, pause)) in moves.into_iter().chain(settle).enumerate() {
                now += pause;
                let crash = crashes.get(i).copied().unwrap_or(false);
                match step(evidence.as_ref(), restored, now, TARGET) {
                    // The evidence first; a crash before the restore leaves evidence without a database.
                    Action::Start => {
                        evidence = Some(started(now));
                        if !refused && !crash {
                            restored = Restored::Creating;
                        }
                    }
                    Action::Wait => {}
                    Action::Available { at } => {
                        if let Some(e) = evidence.as_mut() { e.available_at = Some(at) }
                        if !crash { restored = Restored::Deleting; }
                    }
                    Action::Delete => restored = Restored::Deleting,
                    Action::Fail { error } => {
                        if let Some(e) = evidence.as_mut() { e.error = Some(error) }
                        if restored != Restored::Absent && !crash { restored = Restored::Deleting; }
                    }
                    Action::Finish { status } => {
                        prop_assert_eq!(restored, Restored::Absent, "finished with the database still there");
                        let e = evidence.as_mut().unwrap();
                        e.deleted_at = Some(now);
                        finished = Some((status, e.clone()));
                    }
                }
                // RDS moves on.
                restored = match (restored, roll) {
                    (Restored::Creating, 0) => Restored::Available,
                    (Restored::Creating, 1) => Restored::Failed,
                    (Restored::Deleting, r) if r >= 2 => Restored::Absent,
                    (other, _) => other,
                };
            }
            let (status, e) = finished.expect("the drill finished");
            prop_assert_eq!(restored, Restored::Absent);
            match status {
                Status::Passed => prop_assert!(e.error.is_none() && e.available_at.unwrap() - e.started_at <= TARGET),
                Status::OverTarget => prop_assert!(e.error.is_none() && e.available_at.unwrap() - e.started_at > TARGET),
                Status::Failed => prop_assert!(e.error.is_some()),
            }
        }
    }
}

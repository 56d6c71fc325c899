//! The `archive` block (../shared/CONTRACTS.md, "Archive to S3 Glacier"): RDS cannot move a snapshot to Glacier,
//! but it can export a snapshot's data to S3 (Apache Parquet), which a lifecycle rule then moves to the block's
//! storage class. Which snapshots are exported (the first available own snapshot of each period of each
//! database), under which export task identifier, and how many at once (RDS runs at most 5 exports per
//! account) is decided here without I/O, so that its promises can be checked exhaustively. Also the block as the
//! provider writes it into the function's environment (`env::ARCHIVE`, a JSON object).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identifier;

/// Where exports go in the policy's bucket: `exports/<db>/<snapshot identifier>/`.
pub const EXPORTS_PREFIX: &str = "exports/";
/// The markers of exports still running (`pending-exports/<db>/<task identifier>`), which later runs resolve into
/// their records.
pub const MARKERS_PREFIX: &str = "pending-exports/";
/// RDS's limit of snapshot exports in progress per account.
pub const MAX_IN_FLIGHT: usize = 5;
/// A period's export is started at most this many times (the first and two retries after a failure); then the
/// failure is reported and the period given up.
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Week,
    Month,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    Glacier,
    DeepArchive,
    GlacierIr,
}

impl StorageClass {
    pub const ALL: [StorageClass; 3] = [
        StorageClass::Glacier,
        StorageClass::DeepArchive,
        StorageClass::GlacierIr,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
            StorageClass::GlacierIr => "GLACIER_IR",
        }
    }

    pub fn parse(value: &str) -> Option<StorageClass> {
        StorageClass::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// S3's minimum storage duration of the class: an object deleted sooner is charged for this many days.
    pub fn minimum_days(self) -> u32 {
        match self {
            StorageClass::Glacier | StorageClass::GlacierIr => 90,
            StorageClass::DeepArchive => 180,
        }
    }
}

/// The block with every default resolved, and the export role the provider made for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archive {
    pub every: Every,
    pub kms_key_arn: String,
    pub storage_class: StorageClass,
    pub transition_days: u32,
    pub retention_days: u32,
    /// The role RDS assumes to write the export (`iam:PassRole`d by the function).
    pub role_arn: String,
}

/// The value of `env::ARCHIVE`.
pub fn to_env(archive: &Archive) -> String {
    serde_json::to_string(archive).expect("an archive serializes")
}

/// Reads `to_env`'s form; an empty value means no archive.
pub fn from_env(value: &str) -> Result<Option<Archive>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(value)
        .map(Some)
        .map_err(|e| format!("must be the archive block as JSON: {e}"))
}

/// `exports/<db>/<snapshot identifier>/`.
pub fn s3_prefix(db: &str, snapshot_identifier: &str) -> String {
    format!("{EXPORTS_PREFIX}{db}/{snapshot_identifier}/")
}

/// The export task of `db`'s snapshot of `slot`: `rdsbackup-<h8>-<yyyymmddhhmm>`, `-<attempt>` appended from the
/// second attempt on. Deterministic, so that a repeated invocation finds the task it started; at most 33
/// characters, within RDS's 60 for an export task identifier.
pub fn task_identifier(policy: &str, db: &str, slot: &str, attempt: u32) -> String {
    let base = format!("rdsbackup-{}-{slot}", identifier::h8(policy, db));
    if attempt <= 1 {
        base
    } else {
        format!("{base}-{attempt}")
    }
}

/// The slot and attempt of one of `db`'s export tasks; `None` for any other task.
pub fn parse_task<'a>(policy: &str, db: &str, task: &'a str) -> Option<(&'a str, u32)> {
    let rest = task.strip_prefix(&format!("rdsbackup-{}-", identifier::h8(policy, db)))?;
    let (slot, attempt) = match rest.split_once('-') {
        Some((slot, attempt)) => (slot, attempt.parse().ok().filter(|a| *a >= 2)?),
        None => (rest, 1),
    };
    (slot.len() == 12 && slot.bytes().all(|b| b.is_ascii_digit())).then_some((slot, attempt))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), after Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The period a slot (`yyyymmddhhmm`, UTC) falls in, as a string that orders as periods do: `2026-12` for a
/// month, the date of the Monday that starts its ISO 8601 week for a week (`2026-11-30`).
pub fn period(slot: &str, every: Every) -> Option<String> {
    let digits = |range: std::ops::Range<usize>| slot.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    Some(match every {
        Every::Month => format!("{y:04}-{m:02}"),
        Every::Week => {
            let days = days_from_civil(y, m, d);
            // 1970-01-01 was a Thursday: Monday is 0 here.
            let monday = days - (days + 3).rem_euclid(7);
            let (y, m, d) = civil_from_days(monday);
            format!("{y:04}-{m:02}-{d:02}")
        }
    })
}

/// One of the policy's own snapshots of a database.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub id: String,
    pub slot: String,
    pub available: bool,
}

/// One of the account's export tasks, as RDS describes it (status lowercase: `starting`, `in_progress`,
/// `complete`, `canceling`, `canceled`, `failed`).
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id: String,
    pub status: String,
}

impl Task {
    fn in_flight(&self) -> bool {
        matches!(self.status.as_str(), "starting" | "in_progress" | "canceling")
    }

    fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "canceled")
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// (db, snapshot identifier, task identifier) to start now, oldest first.
    pub start: Vec<(String, String, String)>,
    /// The same, waiting for room under RDS's limit: a later invocation starts them.
    pub queued: Vec<(String, String, String)>,
    /// (db, task identifier) of a period given up after `MAX_ATTEMPTS` failed exports: reported.
    pub given_up: Vec<(String, String)>,
}

/// What to export now. `snapshots` are the policy's own per database; `tasks` every export task of the account
/// (other policies' count toward RDS's limit too). A period is exported once: the first available snapshot of
/// it, unless a task of the period is in flight or complete; a failed one is retried on the same snapshot up to
/// `MAX_ATTEMPTS`. Only the two most recent periods with an available snapshot, up to `now_slot`'s, are
/// considered (the current one and, normally, the one before), so that enabling the block does not export every
/// period retention still holds, while a period whose end found the queue full is still exported.
pub fn plan(
    policy: &str,
    every: Every,
    snapshots: &BTreeMap<String, Vec<Snapshot>>,
    tasks: &[Task],
    now_slot: &str,
) -> Plan {
    let mut plan = Plan::default();
    let Some(now) = period(now_slot, every) else {
        return plan;
    };
    let mut wanted = Vec::new();
    for (db, own) in snapshots {
        // The tasks of this database by period: (slot, attempt, task).
        let mut by_period: BTreeMap<String, Vec<(&str, u32, &Task)>> = BTreeMap::new();
        for task in tasks {
            if let Some((slot, attempt)) = parse_task(policy, db, &task.id)
                && let Some(p) = period(slot, every)
            {
                by_period.entry(p).or_default().push((slot, attempt, task));
            }
        }
        let mut firsts: BTreeMap<String, &Snapshot> = BTreeMap::new();
        for s in own.iter().filter(|s| s.available) {
            if let Some(p) = period(&s.slot, every) {
                let first = firsts.entry(p).or_insert(s);
                if s.slot < first.slot {
                    *first = s;
                }
            }
        }
        let recent: Vec<String> = firsts.keys().filter(|p| **p <= now).rev().take(2).cloned().collect();
        for p in recent {
            let first = firsts[&p];
            match by_period.get(&p) {
                None => wanted.push((first.slot.clone(), db.clone(), first.id.clone(), 1)),
                Some(found) if found.iter().any(|(_, _, t)| !t.failed()) => {}
                Some(found) => {
                    let (slot, attempt, task) = found.iter().max_by_key(|(_, a, _)| *a).expect("not empty");
                    if *attempt >= MAX_ATTEMPTS {
                        plan.given_up.push((db.clone(), task.id.clone()));
                    } else if let Some(s) = own.iter().find(|s| s.slot == *slot && s.available) {
                        wanted.push((s.slot.clone(), db.clone(), s.id.clone(), attempt + 1));
                    }
                }
            }
        }
    }
    wanted.sort();
    let room = MAX_IN_FLIGHT.saturating_sub(tasks.iter().filter(|t| t.in_flight()).count());
    for (i, (slot, db, id, attempt)) in wanted.into_iter().enumerate() {
        let task = task_identifier(policy, &db, &slot, attempt);
        if i < room {
            plan.start.push((db, id, task));
        } else {
            plan.queued.push((db, id, task));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: &str = "nightly";

    fn snapshot(db: &str, slot: &str) -> Snapshot {
        Snapshot {
            id: identifier::build(POLICY, db, identifier::SnapshotKind::Instance, slot),
            slot: slot.into(),
            available: true,
        }
    }

    fn of(dbs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<Snapshot>> {
        dbs.iter()
            .map(|(db, slots)| (db.to_string(), slots.iter().map(|s| snapshot(db, s)).collect()))
            .collect()
    }

    #[test]
    fn periods_are_months_and_iso_weeks_starting_monday() {
        assert_eq!(period("202612010300", Every::Month).unwrap(), "2026-12");
        // 1 December 2026 is a Tuesday: its week starts on Monday 30 November.
        assert_eq!(period("202612010300", Every::Week).unwrap(), "2026-11-30");
        assert_eq!(period("202611300000", Every::Week).unwrap(), "2026-11-30");
        assert_eq!(period("202611292359", Every::Week).unwrap(), "2026-11-23");
        // 1 January 2027 is a Friday, in the week of Monday 28 December 2026.
        assert_eq!(period("202701010300", Every::Week).unwrap(), "2026-12-28");
        assert_eq!(period("2026", Every::Month), None);
    }

    #[test]
    fn task_identifiers_round_trip_and_fit_rds() {
        let first = task_identifier(POLICY, "orders", "202612010300", 1);
        assert!(
            first.starts_with("rdsbackup-") && first.ends_with("-202612010300"),
            "{first}"
        );
        assert_eq!(parse_task(POLICY, "orders", &first), Some(("202612010300", 1)));
        let third = task_identifier(POLICY, "orders", "202612010300", 3);
        assert_eq!(third, format!("{first}-3"));
        assert_eq!(parse_task(POLICY, "orders", &third), Some(("202612010300", 3)));
        assert_eq!(parse_task(POLICY, "billing", &first), None, "another database's");
        assert!(third.len() <= 60);
    }

    #[test]
    fn the_first_of_a_month_exports_once_and_the_next_month_once_more() {
        let dbs = of(&[("orders", &["202612010300"]), ("billing", &["202612010300"])]);
        let first = plan(POLICY, Every::Month, &dbs, &[], "202612010300");
        assert_eq!(first.start.len(), 2);
        let done: Vec<Task> = first
            .start
            .iter()
            .map(|(_, _, id)| Task {
                id: id.clone(),
                status: "complete".into(),
            })
            .collect();
        let dbs = of(&[
            ("orders", &["202612010300", "202612020300"]),
            ("billing", &["202612010300", "202612020300"]),
        ]);
        assert_eq!(
            plan(POLICY, Every::Month, &dbs, &done, "202612020300"),
            Plan::default(),
            "none on the 2nd"
        );
        let dbs = of(&[
            ("orders", &["202612010300", "202612020300", "202701010300"]),
            ("billing", &["202612010300", "202612020300", "202701010300"]),
        ]);
        let next = plan(POLICY, Every::Month, &dbs, &done, "202701010300");
        let slots: Vec<&str> = next.start.iter().map(|(_, _, t)| &t[t.len() - 12..]).collect();
        assert_eq!(slots, ["202701010300", "202701010300"]);
    }

    #[test]
    fn a_failed_export_is_retried_then_given_up() {
        let dbs = of(&[("orders", &["202612010300"])]);
        let mut tasks = Vec::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let p = plan(POLICY, Every::Month, &dbs, &tasks, "202612020300");
            assert_eq!(p.start.len(), 1, "attempt {attempt}");
            assert_eq!(p.start[0].2, task_identifier(POLICY, "orders", "202612010300", attempt));
            tasks.push(Task {
                id: p.start[0].2.clone(),
                status: "failed".into(),
            });
        }
        let p = plan(POLICY, Every::Month, &dbs, &tasks, "202612020300");
        assert!(p.start.is_empty());
        assert_eq!(
            p.given_up,
            [(
                "orders".to_string(),
                task_identifier(POLICY, "orders", "202612010300", 3)
            )]
        );
    }

    fn arbitrary_case() -> impl Strategy<Value = (BTreeMap<String, Vec<Snapshot>>, Vec<Task>, String)> {
        let slot = (1u32..29, 0u32..24).prop_map(|(d, h)| format!("202612{d:02}{h:02}00"));
        let dbs = prop::collection::btree_map(
            prop_oneof![
                Just("orders"),
                Just("billing"),
                Just("a"),
                Just("b"),
                Just("c"),
                Just("d"),
                Just("e")
            ]
            .prop_map(String::from),
            prop::collection::vec((slot.clone(), any::<bool>()), 0..4),
            0..7,
        );
        let others = prop::collection::vec(
            prop_oneof![Just("starting"), Just("in_progress"), Just("complete"), Just("failed")],
            0..7,
        );
        (dbs, others, slot).prop_map(|(dbs, others, now)| {
            let dbs = dbs
                .into_iter()
                .map(|(db, slots)| {
                    // One snapshot per slot, as RDS holds one per identifier (the slot names it).
                    let mut own: Vec<Snapshot> = Vec::new();
                    for (slot, available) in slots {
                        if !own.iter().any(|s| s.slot == slot) {
                            own.push(Snapshot {
                                available,
                                ..snapshot(&db, &slot)
                            });
                        }
                    }
                    (db, own)
                })
                .collect();
            // Tasks of other policies of the account.
            let tasks = others
                .into_iter()
                .enumerate()
                .map(|(i, status)| Task {
                    id: format!("someone-else-{i}"),
                    status: status.into(),
                })
                .collect();
            (dbs, tasks, now)
        })
    }

    proptest! {
        /// RDS's limit holds; no period is exported twice, even by a repeated invocation; what starts is an
        /// available snapshot, the first available of its period.
        #[test]
        fn the_queue_holds_at_five_and_no_period_is_exported_twice((dbs, tasks, now) in arbitrary_case()) {
            let first = plan(POLICY, Every::Month, &dbs, &tasks, &now);
            let in_flight = tasks.iter().filter(|t| t.in_flight()).count();
            prop_assert!(in_flight + first.start.len() <= MAX_IN_FLIGHT.max(in_flight));
            for (db, id, _) in &first.start {
                let s = dbs[db].iter().find(|s| &s.id == id).unwrap();
                prop_assert!(s.available);
                let p = period(&s.slot, Every::Month);
                prop_assert!(!dbs[db].iter().any(|o| o.available && period(&o.slot, Every::Month) == p && o.slot < s.slot));
            }
            let mut after = tasks.clone();
            after.extend(first.start.iter().map(|(_, _, id)| Task { id: id.clone(), status: "starting".into() }));
            let again = plan(POLICY, Every::Month, &dbs, &after, &now);
            for (_, _, id) in &again.start {
                prop_assert!(!first.start.iter().any(|(_, _, started)| started == id), "{} twice", id);
            }
            let started: Vec<(&String, Option<String>)> = first.start.iter().chain(&again.start)
                .map(|(db, id, _)| (db, dbs[db].iter().find(|s| &s.id == id).and_then(|s| period(&s.slot, Every::Month))))
                .collect();
            let mut unique = started.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), started.len(), "a period exported twice");
        }
    }
}

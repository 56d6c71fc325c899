//! Which snapshots retention deletes, decided without any I/O so that the rules can be checked exhaustively:
//! only snapshots this policy owns, only once older than the retention period, and never so many that fewer than
//! `min_snapshots` newer available ones of the database remain.

use std::cmp::Reverse;

use rdsbackup_common::identifier::{self, SnapshotKind};
use time::{Duration, OffsetDateTime};

use crate::slot::Slot;

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub id: String,
    /// The `rdsbackup:policy` tag, if any.
    pub policy: Option<String>,
    /// The `rdsbackup:db` tag, if any.
    pub db: Option<String>,
    /// `manual` or `automated`; automated snapshots belong to RDS's own backup retention.
    pub snapshot_type: String,
    pub status: String,
    /// RDS's `SnapshotCreateTime`; absent while a snapshot is still being created, and on some failed ones.
    pub created: Option<OffsetDateTime>,
}

impl Snapshot {
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// Available or failed: nothing more will happen to it by itself.
    pub fn is_settled(&self) -> bool {
        self.is_available() || self.status == "failed"
    }

    /// Being made (creating, copying, pending...): neither settled nor on its way out.
    pub fn is_in_progress(&self) -> bool {
        !self.is_settled() && self.status != "deleting"
    }

    /// This snapshot as a copy of it in another region is judged: as old as its source, which RDS says of a copy
    /// of an instance snapshot (`OriginalSnapshotCreateTime`) but not of a cluster snapshot's (aged by its slot).
    pub fn as_copy(&self, kind: SnapshotKind) -> Snapshot {
        Snapshot {
            created: self.created.filter(|_| kind == SnapshotKind::Instance),
            ..self.clone()
        }
    }
}

/// Whose snapshots these are: one database of one policy.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    pub policy: &'a str,
    pub db: &'a str,
    pub kind: SnapshotKind,
}

impl Owner<'_> {
    /// Manual, tagged for this policy and database, and named in one of the policy's identifier forms for it: a
    /// copy that carries the tags under another identifier is not the policy's.
    pub fn owns(&self, s: &Snapshot) -> bool {
        identifier::is_own(
            &s.snapshot_type,
            s.policy.as_deref(),
            s.db.as_deref(),
            &s.id,
            self.policy,
            self.db,
            self.kind,
        )
    }

    /// Whether it is the policy's copy of one of its snapshots onto the vault key (`identifier::Form::Shareable`).
    pub fn is_shareable_copy(&self, s: &Snapshot) -> bool {
        self.owns(s)
            && identifier::parse(&s.id, self.policy, self.db, self.kind)
                .is_some_and(|p| p.form == identifier::Form::Shareable)
    }

    /// When the snapshot was taken: RDS's create time, else (a failed snapshot may have none) its slot.
    pub fn taken(&self, s: &Snapshot) -> Option<OffsetDateTime> {
        s.created
            .or_else(|| Slot::from_identifier(&s.id, self.policy, self.db, self.kind).map(Slot::time))
    }
}

pub struct Rules<'a> {
    pub owner: Owner<'a>,
    pub retention_days: u32,
    pub min_snapshots: u32,
    pub now: OffsetDateTime,
}

/// The identifiers to delete, oldest first. The copies onto the vault key are a series of their own: they hold
/// the same data as their sources, so they never count toward the sources' `min_snapshots` (nor the reverse).
pub fn expired(snapshots: &[Snapshot], rules: &Rules) -> Vec<String> {
    let (copies, sources): (Vec<&Snapshot>, Vec<&Snapshot>) = snapshots
        .iter()
        .filter(|s| rules.owner.owns(s))
        .partition(|s| rules.owner.is_shareable_copy(s));
    let mut delete = expired_in(sources, rules);
    delete.extend(expired_in(copies, rules));
    delete
}

fn expired_in(series: Vec<&Snapshot>, rules: &Rules) -> Vec<String> {
    let cutoff = rules.now - Duration::days(rules.retention_days.into());
    let mut owned: Vec<(OffsetDateTime, &Snapshot)> = series
        .into_iter()
        .filter_map(|s| Some((rules.owner.taken(s)?, s)))
        .collect();
    // Newest first, so that each snapshot is judged against the newer ones that are being kept; ties go by
    // identifier, whose slot orders snapshots of one policy and database.
    owned.sort_by_key(|(created, s)| Reverse((*created, s.id.as_str())));
    let mut kept_available = 0u32;
    let mut delete = Vec::new();
    for (created, snapshot) in owned {
        // Snapshots in transition (creating, deleting, copying...) are left for a later run to judge.
        if created < cutoff && snapshot.is_settled() && kept_available >= rules.min_snapshots {
            delete.push(snapshot.id.clone());
        } else if snapshot.is_available() {
            kept_available += 1;
        }
    }
    delete.reverse();
    delete
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const POLICY: &str = "nightly";
    const DB: &str = "orders";
    const OWNER: Owner<'static> = Owner {
        policy: POLICY,
        db: DB,
        kind: SnapshotKind::Instance,
    };

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    /// An identifier of this policy and database for the minute `minutes_old` before now.
    fn own_id(minutes_old: i64) -> String {
        let slot = Slot::of(now() - Duration::minutes(minutes_old));
        identifier::build(POLICY, DB, SnapshotKind::Instance, &slot.compact())
    }

    fn snapshot(id: &str, policy: Option<&str>, days_old: i64, status: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            policy: policy.map(String::from),
            db: Some(DB.into()),
            snapshot_type: "manual".into(),
            status: status.into(),
            created: Some(now() - Duration::days(days_old)),
        }
    }

    fn own(days_old: i64, status: &str) -> Snapshot {
        snapshot(&own_id(days_old * 24 * 60), Some(POLICY), days_old, status)
    }

    fn rules(retention_days: u32, min_snapshots: u32) -> Rules<'static> {
        Rules {
            owner: OWNER,
            retention_days,
            min_snapshots,
            now: now(),
        }
    }

    #[test]
    fn deletes_expired_snapshots_beyond_the_minimum() {
        let snapshots = [
            own(0, "available"),
            own(10, "available"),
            own(40, "available"),
            own(50, "available"),
            own(60, "failed"),
        ];
        let ids = |days: &[i64]| days.iter().map(|d| own_id(d * 24 * 60)).collect::<Vec<_>>();
        assert_eq!(expired(&snapshots, &rules(35, 2)), ids(&[60, 50, 40]));
        assert_eq!(expired(&snapshots, &rules(35, 3)), ids(&[60, 50]));
        assert_eq!(expired(&snapshots, &rules(55, 1)), ids(&[60]));
    }

    #[test]
    fn never_touches_foreign_automated_copied_or_unfinished_snapshots() {
        let mut automated = own(90, "available");
        automated.snapshot_type = "automated".into();
        let mut creating = own(91, "creating");
        creating.created = None;
        // A same-region copy that copied the tags: the policy's tags, another identifier.
        let copy = snapshot("copy-of-orders", Some(POLICY), 92, "available");
        let mut other_db = own(93, "available");
        other_db.db = Some("billing".into());
        let old_form = "rdsbackup-nightly-orders-202001010000";
        let snapshots = [
            own(0, "available"),
            own(1, "available"),
            automated,
            creating,
            copy.clone(),
            other_db,
            snapshot(&own_id(94 * 24 * 60), None, 94, "available"),
            snapshot(&own_id(95 * 24 * 60), Some("weekly"), 95, "available"),
            own(96, "deleting"),
        ];
        assert!(expired(&snapshots, &rules(7, 1)).is_empty());
        assert!(!OWNER.owns(&copy));
        // The 0.1 form is still the policy's.
        assert!(OWNER.owns(&snapshot(old_form, Some(POLICY), 90, "available")));
    }

    #[test]
    fn copies_do_not_count_towards_the_minimum() {
        let snapshots = [
            snapshot("copy-1", Some(POLICY), 0, "available"),
            snapshot("copy-2", Some(POLICY), 1, "available"),
            own(40, "available"),
        ];
        assert!(expired(&snapshots, &rules(35, 1)).is_empty());
    }

    #[test]
    fn failed_snapshots_without_a_create_time_age_by_their_slot() {
        let mut failed = own(40, "failed");
        failed.created = None;
        let snapshots = [own(0, "available"), failed.clone()];
        assert_eq!(expired(&snapshots, &rules(35, 1)), [failed.id]);
    }

    #[test]
    fn unavailable_snapshots_do_not_count_towards_the_minimum() {
        let snapshots = [own(0, "creating"), own(1, "failed"), own(40, "available")];
        assert!(expired(&snapshots, &rules(35, 1)).is_empty());
    }

    #[derive(Clone, Copy, Debug)]
    enum Form {
        Source,
        Shareable,
        Foreign,
    }

    fn shareable_id(minutes_old: i64) -> String {
        let slot = Slot::of(now() - Duration::minutes(minutes_old));
        identifier::build_shareable(POLICY, DB, SnapshotKind::Instance, &slot.compact())
    }

    #[test]
    fn copies_onto_the_vault_key_are_a_series_of_their_own() {
        let copy = |days_old: i64| snapshot(&shareable_id(days_old * 24 * 60), Some(POLICY), days_old, "available");
        // Two sources and their two copies, all expired: one of each stays.
        let snapshots = [own(40, "available"), copy(40), own(50, "available"), copy(50)];
        assert!(OWNER.is_shareable_copy(&snapshots[1]) && !OWNER.is_shareable_copy(&snapshots[0]));
        assert_eq!(
            expired(&snapshots, &rules(35, 1)),
            [own_id(50 * 24 * 60), shareable_id(50 * 24 * 60)]
        );
        // A copy never stands in for a source under min_snapshots.
        let snapshots = [copy(0), copy(1), own(40, "available")];
        assert_eq!(expired(&snapshots, &rules(35, 1)), Vec::<String>::new());
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = Snapshot> {
        (
            prop_oneof![4 => Just(Some(POLICY)), 1 => Just(Some("weekly")), 1 => Just(None)],
            prop_oneof![4 => Just(Some(DB)), 1 => Just(Some("billing")), 1 => Just(None)],
            prop_oneof![4 => Just(Form::Source), 2 => Just(Form::Shareable), 1 => Just(Form::Foreign)],
            prop_oneof![4 => Just("manual"), 1 => Just("automated")],
            prop_oneof![4 => Just("available"), 1 => Just("creating"), 1 => Just("failed"), 1 => Just("deleting")],
            prop::option::weighted(0.9, 0i64..24 * 400),
            0i64..24 * 400,
        )
            .prop_map(
                |(policy, db, form, snapshot_type, status, hours_old, slot_hours)| Snapshot {
                    id: match form {
                        Form::Source => own_id(slot_hours * 60),
                        Form::Shareable => shareable_id(slot_hours * 60),
                        Form::Foreign => format!("copy-{slot_hours}"),
                    },
                    policy: policy.map(String::from),
                    db: db.map(String::from),
                    snapshot_type: snapshot_type.into(),
                    status: status.into(),
                    created: hours_old.map(|h| now() - Duration::hours(h)),
                },
            )
    }

    fn arbitrary_snapshots() -> impl Strategy<Value = Vec<Snapshot>> {
        prop::collection::vec(arbitrary_snapshot(), 0..40).prop_map(|mut snapshots| {
            // Identifiers are unique in a region.
            let mut seen = HashSet::new();
            snapshots.retain(|s| seen.insert(s.id.clone()));
            snapshots
        })
    }

    proptest! {
        #[test]
        fn retention_keeps_its_promises(
            snapshots in arbitrary_snapshots(),
            retention_days in 1u32..400,
            min_snapshots in 1u32..10,
        ) {
            let rules = rules(retention_days, min_snapshots);
            let cutoff = now() - Duration::days(retention_days.into());
            let deleted: HashSet<String> = expired(&snapshots, &rules).into_iter().collect();
            let key = |s: &Snapshot| (OWNER.taken(s), s.id.clone());
            // Sources and copies onto the vault key are judged each in their own series.
            let kept_newer = |s: &Snapshot| {
                snapshots
                    .iter()
                    .filter(|n| OWNER.is_shareable_copy(n) == OWNER.is_shareable_copy(s))
                    .filter(|n| OWNER.owns(n) && n.is_available() && !deleted.contains(&n.id))
                    .filter(|n| key(n) > key(s))
                    .count()
            };
            for s in &snapshots {
                if deleted.contains(&s.id) {
                    // Only what it owns, only once expired.
                    prop_assert!(OWNER.owns(s), "{s:?}");
                    prop_assert!(OWNER.taken(s).unwrap() < cutoff, "{s:?}");
                    // At least min_snapshots newer available own snapshots remain.
                    prop_assert!(kept_newer(s) >= min_snapshots as usize, "{s:?}");
                } else if OWNER.owns(s) && OWNER.taken(s).is_some_and(|c| c < cutoff) && s.is_settled() {
                    // Everything else expired and settled is deleted: what is kept is what the minimum needs.
                    prop_assert!(kept_newer(s) < min_snapshots as usize, "{s:?} kept");
                }
            }
            let sources = |s: &&Snapshot| OWNER.owns(s) && !OWNER.is_shareable_copy(s) && s.is_available();
            let owned_available = snapshots.iter().filter(sources).count();
            let remaining = snapshots.iter().filter(sources).filter(|s| !deleted.contains(&s.id)).count();
            // At least min_snapshots sources stay, whatever the copies.
            prop_assert!(remaining >= owned_available.min(min_snapshots as usize));
        }
    }
}

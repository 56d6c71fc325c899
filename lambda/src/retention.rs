//! Which snapshots retention deletes, decided without any I/O so that the rules can be checked exhaustively:
//! only snapshots this policy owns, only once older than the retention period, and never so many that fewer than
//! `min_snapshots` newer available ones of the database remain.

use std::cmp::Reverse;

use time::{Duration, OffsetDateTime};

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub id: String,
    /// The `rdsbackup:policy` tag, if any.
    pub policy: Option<String>,
    /// `manual` or `automated`; automated snapshots belong to RDS's own backup retention.
    pub snapshot_type: String,
    pub status: String,
    /// RDS's `SnapshotCreateTime`; absent while a snapshot is still being created.
    pub created: Option<OffsetDateTime>,
}

impl Snapshot {
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    fn owned_by(&self, policy: &str) -> bool {
        self.snapshot_type == "manual" && self.policy.as_deref() == Some(policy)
    }
}

pub struct Rules<'a> {
    pub policy: &'a str,
    pub retention_days: u32,
    pub min_snapshots: u32,
    pub now: OffsetDateTime,
}

/// The identifiers to delete, oldest first.
pub fn expired(snapshots: &[Snapshot], rules: &Rules) -> Vec<String> {
    let cutoff = rules.now - Duration::days(rules.retention_days.into());
    let mut owned: Vec<(OffsetDateTime, &Snapshot)> = snapshots
        .iter()
        .filter(|s| s.owned_by(rules.policy))
        .filter_map(|s| Some((s.created?, s)))
        .collect();
    // Newest first, so that each snapshot is judged against the newer ones that are being kept; ties go by
    // identifier, whose slot suffix orders snapshots of one policy and database.
    owned.sort_by_key(|(created, s)| Reverse((*created, s.id.as_str())));
    let mut kept_available = 0u32;
    let mut delete = Vec::new();
    for (created, snapshot) in owned {
        // Snapshots in transition (creating, deleting, copying...) are left for a later run to judge.
        let settled = snapshot.is_available() || snapshot.status == "failed";
        if created < cutoff && settled && kept_available >= rules.min_snapshots {
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

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn snapshot(id: &str, policy: Option<&str>, days_old: i64, status: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            policy: policy.map(String::from),
            snapshot_type: "manual".into(),
            status: status.into(),
            created: Some(now() - Duration::days(days_old)),
        }
    }

    fn rules(retention_days: u32, min_snapshots: u32) -> Rules<'static> {
        Rules {
            policy: POLICY,
            retention_days,
            min_snapshots,
            now: now(),
        }
    }

    #[test]
    fn deletes_expired_snapshots_beyond_the_minimum() {
        let snapshots = [
            snapshot("d0", Some(POLICY), 0, "available"),
            snapshot("d10", Some(POLICY), 10, "available"),
            snapshot("d40", Some(POLICY), 40, "available"),
            snapshot("d50", Some(POLICY), 50, "available"),
            snapshot("d60", Some(POLICY), 60, "failed"),
        ];
        assert_eq!(expired(&snapshots, &rules(35, 2)), ["d60", "d50", "d40"]);
        assert_eq!(expired(&snapshots, &rules(35, 3)), ["d60", "d50"]);
        assert_eq!(expired(&snapshots, &rules(55, 1)), ["d60"]);
    }

    #[test]
    fn never_touches_foreign_automated_or_unfinished_snapshots() {
        let mut automated = snapshot("rds:orders-2026", Some(POLICY), 90, "available");
        automated.snapshot_type = "automated".into();
        let mut creating = snapshot("creating", Some(POLICY), 90, "creating");
        creating.created = None;
        let snapshots = [
            snapshot("new1", Some(POLICY), 0, "available"),
            snapshot("new2", Some(POLICY), 1, "available"),
            automated,
            creating,
            snapshot("foreign", None, 90, "available"),
            snapshot("other", Some("weekly"), 90, "available"),
            snapshot("deleting", Some(POLICY), 90, "deleting"),
        ];
        assert!(expired(&snapshots, &rules(7, 1)).is_empty());
    }

    #[test]
    fn unavailable_snapshots_do_not_count_towards_the_minimum() {
        let snapshots = [
            snapshot("creating", Some(POLICY), 0, "creating"),
            snapshot("failed", Some(POLICY), 1, "failed"),
            snapshot("old", Some(POLICY), 40, "available"),
        ];
        assert!(expired(&snapshots, &rules(35, 1)).is_empty());
    }

    fn arbitrary_snapshot() -> impl Strategy<Value = Snapshot> {
        (
            prop_oneof![Just(Some(POLICY)), Just(Some("weekly")), Just(None)],
            prop_oneof![4 => Just("manual"), 1 => Just("automated")],
            prop_oneof![4 => Just("available"), 1 => Just("creating"), 1 => Just("failed"), 1 => Just("deleting")],
            prop::option::weighted(0.95, 0i64..24 * 400),
        )
            .prop_map(|(policy, snapshot_type, status, hours_old)| Snapshot {
                id: String::new(),
                policy: policy.map(String::from),
                snapshot_type: snapshot_type.into(),
                status: status.into(),
                created: hours_old.map(|h| now() - Duration::hours(h)),
            })
    }

    fn arbitrary_snapshots() -> impl Strategy<Value = Vec<Snapshot>> {
        prop::collection::vec(arbitrary_snapshot(), 0..40).prop_map(|mut snapshots| {
            for (i, s) in snapshots.iter_mut().enumerate() {
                s.id = format!("s{i:03}");
            }
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
            let key = |s: &Snapshot| (s.created, s.id.clone());
            for s in &snapshots {
                if deleted.contains(&s.id) {
                    // Only what it owns, only once expired.
                    prop_assert!(s.owned_by(POLICY), "{s:?}");
                    prop_assert!(s.created.unwrap() < cutoff, "{s:?}");
                    // At least min_snapshots newer available snapshots remain.
                    let newer = snapshots
                        .iter()
                        .filter(|n| n.owned_by(POLICY) && n.is_available() && !deleted.contains(&n.id))
                        .filter(|n| n.created.is_some() && key(n) > key(s))
                        .count();
                    prop_assert!(newer >= min_snapshots as usize, "{s:?} leaves {newer}");
                } else if s.owned_by(POLICY)
                    && s.created.is_some_and(|c| c < cutoff)
                    && (s.is_available() || s.status == "failed")
                {
                    // Everything else expired and settled is deleted: what is kept is what the minimum needs.
                    let newer_kept = snapshots
                        .iter()
                        .filter(|n| n.owned_by(POLICY) && n.is_available() && !deleted.contains(&n.id))
                        .filter(|n| n.created.is_some() && key(n) > key(s))
                        .count();
                    prop_assert!(newer_kept < min_snapshots as usize, "{s:?} kept with {newer_kept} newer");
                }
            }
            let owned_available = snapshots.iter().filter(|s| s.owned_by(POLICY) && s.is_available()).count();
            let remaining = owned_available - deleted.iter().filter(|id| snapshots.iter().any(|s| &&s.id == id && s.is_available())).count();
            prop_assert!(remaining >= owned_available.min(min_snapshots as usize));
        }
    }
}

//! Copies in other regions, decided without I/O so that the rules can be checked exhaustively: per database and
//! destination, which of the policy's copies retention deletes there and which snapshots still need a copy (those
//! the destination's retention would keep once copied); across databases, which copies a run starts within RDS's
//! limit of copies in flight per destination region. Retention there is the home rules with the block's numbers,
//! on the policy's own copies only (the same ownership: tags and identifier form), aged by their source.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::retention::{self, Rules, Snapshot};

/// One database in one destination region.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The policy's copies there that retention deletes, oldest first.
    pub expired: Vec<String>,
    /// The policy's available snapshots at home without a copy there that the destination's retention would
    /// keep, newest first: the newest is the most valuable copy to have.
    pub missing: Vec<String>,
    /// The policy's copies there still in progress.
    pub in_flight: usize,
    /// Identifiers of missing copies held there by a snapshot that is not the policy's copy: never overwritten,
    /// never counted, reported.
    pub taken: Vec<String>,
    /// When the data of the newest available copy kept there was taken.
    pub newest: Option<OffsetDateTime>,
}

impl Decision {
    /// Whether a copy of `id` is still to come: a missing copy the destination's retention wants.
    pub fn awaits(&self, id: &str) -> bool {
        self.missing.iter().any(|m| m == id)
    }
}

/// `home`: the database's snapshots at home; `away`: its snapshots in the destination; `rules`: the
/// destination's retention for the database.
pub fn decide(home: &[Snapshot], away: &[Snapshot], rules: &Rules) -> Decision {
    let owner = rules.owner;
    let expired = retention::expired(away, rules);
    let gone: BTreeSet<&str> = expired.iter().map(String::as_str).collect();
    let own_away: Vec<&Snapshot> = away.iter().filter(|s| owner.owns(s)).collect();
    let newest = own_away
        .iter()
        .filter(|s| s.is_available() && !gone.contains(s.id.as_str()))
        .filter_map(|s| owner.taken(s))
        .max();
    let mut candidates = Vec::new();
    let mut taken = Vec::new();
    // Sources only: a copy onto the vault key holds the same data as its source.
    for snapshot in home
        .iter()
        .filter(|s| owner.owns(s) && !owner.is_shareable_copy(s) && s.is_available())
    {
        match away.iter().find(|a| a.id == snapshot.id) {
            Some(copy) if owner.owns(copy) => {}
            Some(_) => taken.push(snapshot.id.clone()),
            None => candidates.push(snapshot),
        }
    }
    // Copied, would it be kept? Retention judges the destination as it would be with every candidate copied
    // (available, as old as its source): what it would delete at once is not worth a copy, and a copy that
    // retention deleted earlier is not made again.
    let mut imagined: Vec<Snapshot> = away.to_vec();
    imagined.extend(candidates.iter().map(|s| s.as_copy(owner.kind)));
    let unwanted: BTreeSet<String> = retention::expired(&imagined, rules).into_iter().collect();
    candidates.retain(|s| !unwanted.contains(&s.id));
    candidates.sort_by_key(|s| Reverse((owner.taken(&s.as_copy(owner.kind)), s.id.clone())));
    Decision {
        expired,
        missing: candidates.into_iter().map(|s| s.id.clone()).collect(),
        in_flight: own_away.iter().filter(|s| s.is_in_progress()).count(),
        taken,
        newest,
    }
}

/// Which databases start a copy into one region (indices into `decisions`): the newest missing copy of each
/// database with no copy of its own in progress there (RDS copies one database's snapshots one after the
/// other, and the next copy is then incremental), least recently copied databases first, while the policy's
/// copies in flight to the region stay within `limit`. The rest wait for a later invocation.
pub fn choose(decisions: &[&Decision], limit: usize) -> Vec<usize> {
    let in_flight: usize = decisions.iter().map(|d| d.in_flight).sum();
    let mut ready: Vec<usize> = (0..decisions.len())
        .filter(|&i| decisions[i].in_flight == 0 && !decisions[i].missing.is_empty())
        .collect();
    ready.sort_by_key(|&i| (decisions[i].newest, i));
    ready.truncate(limit.saturating_sub(in_flight));
    ready.sort_unstable();
    ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::Owner;
    use crate::slot::Slot;
    use proptest::prelude::*;
    use rdsbackup_common::identifier::{self, SnapshotKind};
    use time::Duration;

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

    fn id(days_old: i64) -> String {
        identifier::build(
            POLICY,
            DB,
            SnapshotKind::Instance,
            &Slot::of(now() - Duration::days(days_old)).compact(),
        )
    }

    fn snapshot(days_old: i64, status: &str) -> Snapshot {
        Snapshot {
            id: id(days_old),
            policy: Some(POLICY.into()),
            db: Some(DB.into()),
            snapshot_type: "manual".into(),
            status: status.into(),
            created: Some(now() - Duration::days(days_old)),
        }
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
    fn a_new_available_snapshot_is_missing_until_copied() {
        let home = [snapshot(0, "available"), snapshot(1, "creating")];
        let decision = decide(&home, &[], &rules(35, 3));
        assert_eq!(decision.missing, [id(0)], "only an available snapshot is copied");
        assert!(decision.awaits(&id(0)) && !decision.awaits(&id(1)));
        let copied = decide(&home, &[snapshot(0, "copying")], &rules(35, 3));
        assert!(copied.missing.is_empty());
        assert_eq!((copied.in_flight, copied.newest), (1, None));
        let done = decide(&home, &[snapshot(0, "available")], &rules(35, 3));
        assert_eq!((done.in_flight, done.newest), (0, Some(now())));
    }

    #[test]
    fn only_what_the_destination_keeps_is_copied_newest_first() {
        let home: Vec<Snapshot> = [0, 10, 40, 50, 100].map(|d| snapshot(d, "available")).to_vec();
        // 30 days there, at least 2: the two newest, and nothing older than 30 days beyond them.
        assert_eq!(decide(&home, &[], &rules(30, 2)).missing, [id(0), id(10)]);
        // At least 4: the minimum keeps older ones.
        assert_eq!(
            decide(&home, &[], &rules(30, 4)).missing,
            [id(0), id(10), id(40), id(50)]
        );
        // A copy retention deleted there (40) is not made again while newer copies satisfy the rules.
        let away = [snapshot(0, "available"), snapshot(10, "available")];
        assert!(decide(&home, &away, &rules(30, 2)).missing.is_empty());
    }

    #[test]
    fn retention_there_deletes_only_the_policys_expired_copies() {
        let mut foreign = snapshot(200, "available");
        foreign.policy = Some("weekly".into());
        let mut by_hand = snapshot(201, "available");
        by_hand.id = "orders-by-hand".into();
        let away = [
            snapshot(0, "available"),
            snapshot(95, "available"),
            snapshot(100, "available"),
            foreign.clone(),
            by_hand,
        ];
        let decision = decide(&[], &away, &rules(90, 1));
        assert_eq!(decision.expired, [id(100), id(95)]);
        assert_eq!(decision.newest, Some(now()));
        // The foreign snapshot under one of our identifiers is never the policy's copy.
        let home = [{
            let mut s = foreign.clone();
            s.policy = Some(POLICY.into());
            s
        }];
        let blocked = decide(&home, &[foreign], &rules(365, 1));
        assert_eq!(blocked.taken, [id(200)]);
        assert!(blocked.missing.is_empty());
    }

    fn decision(missing: usize, in_flight: usize, newest_days: Option<i64>) -> Decision {
        Decision {
            missing: (0..missing as i64).map(id).collect(),
            in_flight,
            newest: newest_days.map(|d| now() - Duration::days(d)),
            ..Decision::default()
        }
    }

    #[test]
    fn a_region_gets_at_most_its_limit_of_copies_in_flight() {
        let busy = decision(3, 1, Some(1));
        let stale = decision(1, 0, Some(9));
        let never = decision(2, 0, None);
        let fresh = decision(1, 0, Some(0));
        let done = decision(0, 0, Some(0));
        let all = [&busy, &stale, &never, &fresh, &done];
        assert_eq!(
            choose(&all, 20),
            [1, 2, 3],
            "one per database, none where one is in progress"
        );
        // One copy in flight (busy's) and a limit of 3: the two least recently copied go first.
        assert_eq!(choose(&all, 3), [1, 2]);
        assert_eq!(choose(&all, 1), Vec::<usize>::new());
    }

    proptest! {
        #[test]
        fn choose_keeps_the_limit_and_one_copy_per_database(
            shapes in prop::collection::vec((0usize..3, 0usize..3, prop::option::of(0i64..30)), 0..40),
            limit in 0usize..25,
        ) {
            let decisions: Vec<Decision> = shapes.iter().map(|&(m, f, n)| decision(m, f, n)).collect();
            let refs: Vec<&Decision> = decisions.iter().collect();
            let chosen = choose(&refs, limit);
            let in_flight: usize = decisions.iter().map(|d| d.in_flight).sum();
            prop_assert!(chosen.len() + in_flight <= limit.max(in_flight));
            for &i in &chosen {
                prop_assert!(decisions[i].in_flight == 0 && !decisions[i].missing.is_empty());
            }
            let ready = decisions.iter().filter(|d| d.in_flight == 0 && !d.missing.is_empty()).count();
            // Everything ready starts when the limit allows it.
            prop_assert_eq!(chosen.len(), ready.min(limit.saturating_sub(in_flight)));
        }

        #[test]
        fn a_copy_is_never_wanted_that_retention_there_would_delete(
            ages in prop::collection::btree_set(0i64..400, 0..12),
            copied in prop::collection::btree_set(0i64..400, 0..6),
            retention_days in 1u32..200,
            min_snapshots in 1u32..5,
        ) {
            let home: Vec<Snapshot> = ages.iter().map(|&d| snapshot(d, "available")).collect();
            let away: Vec<Snapshot> = copied.iter().map(|&d| snapshot(d, "available")).collect();
            let rules = rules(retention_days, min_snapshots);
            let decision = decide(&home, &away, &rules);
            let mut after: Vec<Snapshot> = away.clone();
            after.extend(home.iter().filter(|s| decision.missing.contains(&s.id)).cloned());
            let expired = retention::expired(&after, &rules);
            for id in &decision.missing {
                prop_assert!(!expired.contains(id), "{id} would be copied and deleted");
                prop_assert!(!away.iter().any(|a| &a.id == id), "{id} is there already");
            }
        }
    }
}

//! What one run of a vault's function does (`rdsbackup_vault`), decided without I/O so that its promises can be
//! checked exhaustively: copy each available snapshot its sources share with it once, and apply the vault's
//! retention per (source account, database) to its own copies only. Times are slots (`yyyymmddhhmm`, UTC), which
//! order as they compare.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::identifier::{self, SnapshotKind};
use crate::vault;

/// A snapshot shared with the vault, as RDS lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Shared {
    pub arn: String,
    pub kind: SnapshotKind,
    pub status: String,
    /// When it was taken, as a slot: the vault copy's identifier takes it when the source's does not carry one.
    pub created_slot: String,
    /// The source database, as the copy's `rdsbackup:db` tag will name it: its series in the vault.
    pub db: String,
}

/// A manual snapshot of the vault account, with the tags that say whether it is a copy of this vault.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub id: String,
    /// The `rdsbackup:vault` tag.
    pub vault: Option<String>,
    /// The `rdsbackup:db` tag.
    pub db: Option<String>,
    pub status: String,
}

pub struct Rules<'a> {
    pub vault: &'a str,
    pub source_accounts: &'a BTreeSet<String>,
    pub min_snapshots: u32,
    /// Copies taken before this slot are past `retention_days`.
    pub cutoff_slot: &'a str,
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// (shared snapshot's ARN, vault copy identifier) for each copy to make.
    pub copy: Vec<(String, String)>,
    /// Vault copies of shares already copied.
    pub existing: Vec<String>,
    /// Vault copies retention deletes, oldest first.
    pub expired: Vec<String>,
    /// Per source account, the slot of its newest available vault copy: the "vault copy overdue" alarm watches
    /// its age, so an account without one (it stopped sharing) is missing data, which the alarm treats as late.
    pub newest: BTreeMap<String, String>,
}

impl Held {
    /// A copy this vault made: tagged with its name and named in the vault copy form. The tag alone is not
    /// enough (anyone in the vault account may tag a snapshot), nor the name alone.
    fn owned_by(&self, vault: &str) -> Option<(&str, &str)> {
        identifier::parse_vault_copy(&self.id).filter(|_| self.vault.as_deref() == Some(vault))
    }
}

pub fn plan(shared: &[Shared], held: &[Held], rules: &Rules) -> Plan {
    let mut plan = Plan::default();
    let held_ids: BTreeSet<&str> = held.iter().map(|h| h.id.as_str()).collect();
    // Shares past retention are copied only while their series holds fewer than `min_snapshots` copies (newest
    // first): retention would delete any other at once, and the next run copy it back, forever.
    let mut in_series: BTreeMap<(String, String), u32> = BTreeMap::new();
    for h in held.iter().filter(|h| h.status != "failed") {
        if let (Some((account, _)), Some(db)) = (h.owned_by(rules.vault), h.db.as_deref()) {
            *in_series.entry((account.to_string(), db.to_string())).or_default() += 1;
        }
    }
    let mut past_retention = Vec::new();
    for s in shared
        .iter()
        .filter(|s| s.status == "available" && vault::takes(rules.source_accounts, &s.arn))
    {
        let (account, id) = vault::shared_source(&s.arn).expect("taken snapshots have an RDS ARN");
        let Some(copy) = identifier::build_vault_copy(account, id, s.kind, &s.created_slot) else {
            continue;
        };
        if held_ids.contains(copy.as_str()) {
            plan.existing.push(copy);
        } else if plan.copy.iter().any(|(_, c)| *c == copy) || past_retention.iter().any(|(_, c, _)| *c == copy) {
        } else if identifier::parse_vault_copy(&copy).is_some_and(|(_, slot)| slot < rules.cutoff_slot) {
            past_retention.push((s, copy, (account.to_string(), s.db.clone())));
        } else {
            *in_series.entry((account.to_string(), s.db.clone())).or_default() += 1;
            plan.copy.push((s.arn.clone(), copy));
        }
    }
    past_retention
        .sort_by_key(|(_, copy, _)| Reverse(identifier::parse_vault_copy(copy).map(|(_, slot)| slot.to_string())));
    for (s, copy, series) in past_retention {
        let count = in_series.entry(series).or_default();
        if *count < rules.min_snapshots {
            *count += 1;
            plan.copy.push((s.arn.clone(), copy));
        }
    }
    let mut series: BTreeMap<(&str, &str), Vec<(&str, &Held)>> = BTreeMap::new();
    for h in held {
        if let (Some((account, slot)), Some(db)) = (h.owned_by(rules.vault), h.db.as_deref()) {
            series.entry((account, db)).or_default().push((slot, h));
        }
    }
    for ((account, _), mut copies) in series {
        // Newest first, so that each copy is judged against the newer ones kept.
        copies.sort_by_key(|(slot, h)| Reverse((*slot, h.id.as_str())));
        let mut kept_available = 0;
        for (slot, h) in copies {
            let available = h.status == "available";
            if available {
                let newest = plan.newest.entry(account.to_string()).or_default();
                if newest.as_str() < slot {
                    *newest = slot.to_string();
                }
            }
            // A failed copy is deleted at once, so that a later run copies its share again (its identifier is
            // the share's); a copy still being made, or being deleted, is left for a later run to judge.
            let past = slot < rules.cutoff_slot && available && kept_available >= rules.min_snapshots;
            if h.status == "failed" || past {
                plan.expired.push(h.id.clone());
            } else if available {
                kept_available += 1;
            }
        }
    }
    plan.expired
        .sort_by_key(|id| identifier::parse_vault_copy(id).map(|(_, slot)| slot.to_string()));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VAULT: &str = "central";

    fn source_id(db: &str, slot: &str) -> String {
        identifier::build("nightly", db, SnapshotKind::Instance, slot)
    }

    fn shared(account: &str, db: &str, slot: &str, status: &str) -> Shared {
        Shared {
            arn: format!("arn:aws:rds:eu-west-1:{account}:snapshot:{}", source_id(db, slot)),
            kind: SnapshotKind::Instance,
            status: status.into(),
            created_slot: slot.into(),
            db: db.into(),
        }
    }

    fn copy_of(account: &str, db: &str, slot: &str, status: &str) -> Held {
        Held {
            id: identifier::build_vault_copy(account, &source_id(db, slot), SnapshotKind::Instance, slot).unwrap(),
            vault: Some(VAULT.into()),
            db: Some(db.into()),
            status: status.into(),
        }
    }

    fn sources() -> BTreeSet<String> {
        ["111111111111".to_string(), "222222222222".to_string()].into()
    }

    fn rules<'a>(sources: &'a BTreeSet<String>, min_snapshots: u32, cutoff_slot: &'a str) -> Rules<'a> {
        Rules {
            vault: VAULT,
            source_accounts: sources,
            min_snapshots,
            cutoff_slot,
        }
    }

    #[test]
    fn each_available_share_of_a_source_is_copied_once() {
        let sources = sources();
        let shared = [
            shared("111111111111", "orders", "202612010300", "available"),
            shared("222222222222", "orders", "202612010300", "available"),
            shared("111111111111", "billing", "202612010300", "creating"),
            shared("333333333333", "orders", "202612010300", "available"),
        ];
        let first = plan(&shared, &[], &rules(&sources, 7, "000000000000"));
        assert_eq!(first.copy.len(), 2, "{first:?}");
        assert!(
            first
                .copy
                .iter()
                .all(|(arn, _)| !arn.contains("333333333333") && !arn.contains("billing"))
        );
        assert_ne!(
            first.copy[0].1, first.copy[1].1,
            "the two accounts' copies are told apart"
        );
        let held: Vec<Held> = first
            .copy
            .iter()
            .map(|(_, id)| Held {
                id: id.clone(),
                vault: Some(VAULT.into()),
                db: Some("orders".into()),
                status: "available".into(),
            })
            .collect();
        let second = plan(&shared, &held, &rules(&sources, 7, "000000000000"));
        assert!(second.copy.is_empty(), "{second:?}");
        assert_eq!(second.existing.len(), 2, "{second:?}");
        assert_eq!(second.newest.len(), 2);
    }

    #[test]
    fn retention_runs_per_account_and_database_on_this_vault_s_copies_only() {
        let sources = sources();
        let mut held = vec![
            copy_of("111111111111", "orders", "202601010300", "available"),
            copy_of("111111111111", "orders", "202602010300", "available"),
            copy_of("111111111111", "orders", "202612010300", "available"),
            // Another account's only old copy of the same database is its own series, and its minimum.
            copy_of("222222222222", "orders", "202601010300", "available"),
        ];
        let mut foreign = copy_of("111111111111", "orders", "202501010300", "available");
        foreign.vault = Some("other".into());
        held.push(foreign);
        let plan = plan(&[], &held, &rules(&sources, 2, "202611010000"));
        assert_eq!(plan.expired, [held[0].id.clone()]);
        assert_eq!(plan.newest["111111111111"], "202612010300");
        assert_eq!(plan.newest["222222222222"], "202601010300");
    }

    #[test]
    fn a_failed_copy_is_deleted_and_its_share_copied_again_by_the_next_run() {
        let sources = sources();
        let shared = [shared("111111111111", "orders", "202612010300", "available")];
        let failed = copy_of("111111111111", "orders", "202612010300", "failed");
        let first = plan(
            &shared,
            std::slice::from_ref(&failed),
            &rules(&sources, 7, "000000000000"),
        );
        assert_eq!(first.expired, std::slice::from_ref(&failed.id));
        assert!(first.copy.is_empty(), "not onto the identifier still held: {first:?}");
        let next = plan(&shared, &[], &rules(&sources, 7, "000000000000"));
        assert_eq!(next.copy, [(shared[0].arn.clone(), failed.id.clone())]);
    }

    #[test]
    fn a_share_past_retention_is_copied_only_to_reach_the_minimum() {
        let sources = sources();
        let shared: Vec<Shared> = ["202601010300", "202602010300", "202603010300", "202612010300"]
            .iter()
            .map(|slot| shared("111111111111", "orders", slot, "available"))
            .collect();
        let first = plan(&shared, &[], &rules(&sources, 2, "202611010000"));
        let slots: Vec<&str> = first
            .copy
            .iter()
            .map(|(_, id)| identifier::parse_vault_copy(id).unwrap().1)
            .collect();
        assert_eq!(
            slots,
            ["202612010300", "202603010300"],
            "the recent one, and the newest old one to reach 2"
        );
    }

    fn arbitrary_held() -> impl Strategy<Value = Held> {
        (
            prop_oneof![Just("111111111111"), Just("222222222222")],
            prop_oneof![Just("orders"), Just("billing")],
            (2025u32..2027, 1u32..13, 1u32..29),
            prop_oneof![Just("available"), Just("copying"), Just("failed"), Just("deleting")],
            prop_oneof![4 => Just(Some(VAULT)), 1 => Just(Some("other")), 1 => Just(None)],
        )
            .prop_map(|(account, db, (y, m, d), status, vault)| {
                let slot = format!("{y}{m:02}{d:02}0300");
                Held {
                    vault: vault.map(String::from),
                    ..copy_of(account, db, &slot, status)
                }
            })
    }

    fn arbitrary_shared() -> impl Strategy<Value = Shared> {
        (
            prop_oneof![Just("111111111111"), Just("222222222222"), Just("333333333333")],
            prop_oneof![Just("orders"), Just("billing")],
            (2025u32..2027, 1u32..13, 1u32..29),
            prop_oneof![4 => Just("available"), 1 => Just("creating")],
        )
            .prop_map(|(account, db, (y, m, d), status)| shared(account, db, &format!("{y}{m:02}{d:02}0300"), status))
    }

    proptest! {
        /// What a run copies, the next run (the copies made available) neither copies again nor deletes: no
        /// copy and delete back and forth, whatever the shares' ages.
        #[test]
        fn what_is_copied_stays_copied(
            shared in prop::collection::vec(arbitrary_shared(), 0..20),
            held in prop::collection::vec(arbitrary_held(), 0..10).prop_map(|mut held| {
                let mut seen = BTreeSet::new();
                held.retain(|h| seen.insert(h.id.clone()));
                held
            }),
            min_snapshots in 1u32..4,
            (y, m) in (2025u32..2027, 1u32..13),
        ) {
            let sources = sources();
            let cutoff = format!("{y}{m:02}010000");
            let first = plan(&shared, &held, &rules(&sources, min_snapshots, &cutoff));
            let mut after = held.clone();
            for (arn, id) in &first.copy {
                let s = shared.iter().find(|s| &s.arn == arn).unwrap();
                after.push(Held {
                    id: id.clone(),
                    vault: Some(VAULT.into()),
                    db: Some(s.db.clone()),
                    status: "available".into(),
                });
            }
            let second = plan(&shared, &after, &rules(&sources, min_snapshots, &cutoff));
            prop_assert!(second.copy.is_empty(), "copied again: {:?}", second.copy);
            for (_, id) in &first.copy {
                prop_assert!(!second.expired.contains(id), "{} copied, then deleted", id);
            }
        }

        #[test]
        fn retention_keeps_its_promises(
            // RDS identifiers are unique in an account.
            held in prop::collection::vec(arbitrary_held(), 0..30).prop_map(|mut held| {
                let mut seen = BTreeSet::new();
                held.retain(|h| seen.insert(h.id.clone()));
                held
            }),
            min_snapshots in 1u32..5,
            (y, m) in (2025u32..2027, 1u32..13),
        ) {
            let sources = sources();
            let cutoff = format!("{y}{m:02}010000");
            let plan = plan(&[], &held, &rules(&sources, min_snapshots, &cutoff));
            let doomed = |h: &Held| plan.expired.contains(&h.id);
            for h in held.iter().filter(|h| doomed(h)) {
                let (account, slot) = identifier::parse_vault_copy(&h.id).unwrap();
                // Only this vault's copies: failed ones (copied again once deleted), or available ones past
                // retention...
                prop_assert_eq!(h.vault.as_deref(), Some(VAULT));
                if h.status == "failed" {
                    continue;
                }
                prop_assert!(slot < cutoff.as_str() && h.status == "available");
                // ...and never below the minimum of newer available ones of its series.
                let kept = held.iter().filter(|k| {
                    k.vault.as_deref() == Some(VAULT) && k.db == h.db && !doomed(k) && k.status == "available"
                        && identifier::parse_vault_copy(&k.id).is_some_and(|(a, s)| a == account && s > slot)
                }).count();
                prop_assert!(kept >= min_snapshots as usize, "{} kept for {}", kept, h.id);
            }
        }
    }
}

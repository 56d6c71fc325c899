//! Snapshot identifiers (contract 0.2): `rdsbackup-<policy>-<db>-<yyyymmddhhmm>-<h8>`, built and parsed here
//! only, so that the Lambda that names a snapshot, the retention that recognises it and the provider that checks
//! limits can never disagree.
//!
//! `<h8>` (the first 8 hex digits of SHA-256 of `<policy>/<db>`) makes the identifier unambiguous: without it,
//! policy `prod` + database `eu-orders` and policy `prod-eu` + database `orders` name the same snapshot. It also
//! keeps a cut `<db>` (cluster snapshot identifiers are limited to 63 characters) unique.

use sha2::{Digest, Sha256};

/// The longest policy name: with it, a cluster snapshot identifier keeps at least 6 characters of `<db>`.
pub const POLICY_NAME_MAX: usize = 24;

/// Which RDS API a database and its snapshots belong to (`instance` or `cluster` in records and outputs); it
/// decides the identifier's length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    Instance,
    Cluster,
}

impl SnapshotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotKind::Instance => "instance",
            SnapshotKind::Cluster => "cluster",
        }
    }

    /// RDS's limit for the kind's snapshot identifier: 255 for a DB snapshot, 63 for a DB cluster snapshot.
    pub const fn max_len(self) -> usize {
        match self {
            SnapshotKind::Instance => 255,
            SnapshotKind::Cluster => 63,
        }
    }
}

/// What every identifier of the policy starts with (both forms): the role's grants on its own snapshots name
/// `<prefix>*`.
pub fn prefix(policy: &str) -> String {
    format!("rdsbackup-{policy}-")
}

/// The 8 lowercase hex digits of SHA-256 of `<policy>/<db>`, with `db` the full identifier.
pub fn h8(policy: &str, db: &str) -> String {
    let digest = Sha256::digest(format!("{policy}/{db}").as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The slot's snapshot identifier for `db`. `slot` is "now" in UTC as `yyyymmddhhmm`.
pub fn build(policy: &str, db: &str, kind: SnapshotKind, slot: &str) -> String {
    cut_to_fit(policy, db, kind, slot, "")
}

/// What ends the identifier of a snapshot's copy onto the `vault` block's key, made in the home region because
/// RDS cannot share a snapshot encrypted with the AWS managed key.
pub const SHAREABLE_SUFFIX: &str = "-v";

/// The identifier of the slot's snapshot's copy onto the vault key: the snapshot's form with `<db>` cut so that
/// `SHAREABLE_SUFFIX` still fits (short, so that a 63-character cluster identifier keeps 4 characters of `<db>`).
pub fn build_shareable(policy: &str, db: &str, kind: SnapshotKind, slot: &str) -> String {
    cut_to_fit(policy, db, kind, slot, SHAREABLE_SUFFIX)
}

fn cut_to_fit(policy: &str, db: &str, kind: SnapshotKind, slot: &str, suffix: &str) -> String {
    let hash = h8(policy, db);
    // prefix + db + - + slot + - + h8 + suffix
    let fixed = prefix(policy).len() + 1 + slot.len() + 1 + hash.len() + suffix.len();
    let room = kind.max_len().saturating_sub(fixed);
    let mut cut = &db[..db.len().min(room)];
    // RDS refuses a hyphen before another one; the cut may end on one.
    cut = cut.trim_end_matches('-');
    format!("{}{cut}-{slot}-{hash}{suffix}", prefix(policy))
}

/// What every vault copy's identifier starts with (`rdsbackup_vault`): `rdsbackup-vault-<source account>-`.
pub const VAULT_COPY_PREFIX: &str = "rdsbackup-vault-";

/// The identifier of a vault's copy of `source_id`, a snapshot shared by `account`:
/// `rdsbackup-vault-<account>-<policy>-<db>-<yyyymmddhhmm>-<h8>`, with `<policy>-<db>` taken from the source's
/// identifier (cut to fit the kind's limit) and `<h8>` over `<account>/<source_id>`. Unique across source
/// accounts (the account is whole in it) and across every snapshot of one account (the hash is over the whole
/// source identifier, so a cut never makes two alike). `slot` is the source's when its identifier carries one
/// (either form, and the copy onto the vault key), else `fallback_slot` (its create time); `None` when the
/// source's identifier does not start with `rdsbackup-`.
pub fn build_vault_copy(account: &str, source_id: &str, kind: SnapshotKind, fallback_slot: &str) -> Option<String> {
    let rest = source_id.strip_prefix("rdsbackup-")?;
    let rest = rest.strip_suffix(SHAREABLE_SUFFIX).unwrap_or(rest);
    let twelve_digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    let eight_hex = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (body, slot) = match rest.rsplit_once('-') {
        // 0.2: <policy>-<db>-<slot>-<h8>
        Some((head, hash)) if eight_hex(hash) => match head.rsplit_once('-') {
            Some((body, slot)) if twelve_digits(slot) => (body, slot),
            _ => (rest, fallback_slot),
        },
        // 0.1: <policy>-<db>-<slot>
        Some((body, slot)) if twelve_digits(slot) => (body, slot),
        _ => (rest, fallback_slot),
    };
    let hash = h8(account, source_id);
    let fixed = VAULT_COPY_PREFIX.len() + account.len() + 1 + 1 + slot.len() + 1 + hash.len();
    let room = kind.max_len().saturating_sub(fixed);
    // RDS refuses a hyphen before another one, and at the end of a cut.
    let cut = body[..body.len().min(room)].trim_end_matches('-');
    Some(match cut {
        "" => format!("{VAULT_COPY_PREFIX}{account}-{slot}-{hash}"),
        cut => format!("{VAULT_COPY_PREFIX}{account}-{cut}-{slot}-{hash}"),
    })
}

/// The policy and database of a snapshot identifier of the 0.2 form (or its copy onto the vault key) whose
/// `<db>` is whole: the `<h8>` tells where `<policy>` ends. `None` when no split matches (a cut `<db>`, another
/// form): the vault then reads the snapshot's tags.
pub fn owner_of(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix("rdsbackup-")?;
    let rest = rest.strip_suffix(SHAREABLE_SUFFIX).unwrap_or(rest);
    let (head, hash) = rest.rsplit_once('-')?;
    let (body, _slot) = head.rsplit_once('-')?;
    body.match_indices('-')
        .map(|(i, _)| (&body[..i], &body[i + 1..]))
        .find(|(policy, db)| h8(policy, db) == hash)
}

/// The source account and slot of a vault copy's identifier (`build_vault_copy`'s form); `None` for any other.
pub fn parse_vault_copy(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix(VAULT_COPY_PREFIX)?;
    let (account, rest) = rest.split_once('-')?;
    let (head, hash) = rest.rsplit_once('-')?;
    let slot = head.rsplit_once('-').map_or(head, |(_, slot)| slot);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(account, 12) && digits(slot, 12) && hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((account, slot))
}

/// Which of the policy's identifier forms an identifier has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `rdsbackup-<policy>-<db>-<yyyymmddhhmm>`, written by 0.1.
    V01,
    /// `rdsbackup-<policy>-<db>-<yyyymmddhhmm>-<h8>`.
    V02,
    /// `rdsbackup-<policy>-<db>-<yyyymmddhhmm>-<h8>-v`: the copy of a V02 snapshot onto the vault key.
    Shareable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// `yyyymmddhhmm`, twelve digits (not checked to be a date).
    pub slot: &'a str,
    pub form: Form,
}

/// Reads an identifier as one this policy made for `db` (of `kind`) in either form; `None` when it is not one, so
/// that a copy carrying the policy's tags under another identifier is not the policy's.
pub fn parse<'a>(identifier: &'a str, policy: &str, db: &str, kind: SnapshotKind) -> Option<Parsed<'a>> {
    if let Some(base) = identifier.strip_suffix(SHAREABLE_SUFFIX)
        && let Some(parsed) = parse_v02(base, policy, db, kind, SHAREABLE_SUFFIX)
    {
        return Some(Parsed {
            form: Form::Shareable,
            ..parsed
        });
    }
    if let Some(parsed) = parse_v02(identifier, policy, db, kind, "") {
        return Some(parsed);
    }
    let rest = identifier.strip_prefix(&prefix(policy))?;
    let twelve_digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    // 0.1: ...-<db>-<slot>
    let slot = rest.strip_prefix(db)?.strip_prefix('-')?;
    twelve_digits(slot).then_some(Parsed { slot, form: Form::V01 })
}

/// `identifier` (without `suffix`) as `cut_to_fit` makes it with `suffix`.
fn parse_v02<'a>(identifier: &'a str, policy: &str, db: &str, kind: SnapshotKind, suffix: &str) -> Option<Parsed<'a>> {
    let rest = identifier.strip_prefix(&prefix(policy))?;
    let twelve_digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    // 0.2: ...-<slot>-<h8>, and the whole identifier exactly as `build` makes it.
    if let Some((head, hash)) = rest.rsplit_once('-')
        && let Some((_, slot)) = head.rsplit_once('-')
        && twelve_digits(slot)
        && hash.len() == 8
        && cut_to_fit(policy, db, kind, slot, suffix).strip_suffix(suffix) == Some(identifier)
    {
        let start = identifier.len() - hash.len() - 1 - slot.len();
        return Some(Parsed {
            slot: &identifier[start..start + 12],
            form: Form::V02,
        });
    }
    None
}

/// Whether a snapshot is one of the policy's own (the contract's rule, for retention and the snapshots data source
/// alike): manual, tagged `rdsbackup:policy` = `policy` and `rdsbackup:db` = `db`, and named in one of the policy's
/// identifier forms for that database. A copy that carries the tags under another identifier is not.
pub fn is_own(
    snapshot_type: &str,
    policy_tag: Option<&str>,
    db_tag: Option<&str>,
    id: &str,
    policy: &str,
    db: &str,
    kind: SnapshotKind,
) -> bool {
    snapshot_type == "manual"
        && policy_tag == Some(policy)
        && db_tag == Some(db)
        && parse(id, policy, db, kind).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_contract_example() {
        assert_eq!(
            build("nightly", "db-a", SnapshotKind::Instance, "202611280300"),
            "rdsbackup-nightly-db-a-202611280300-9ca323f5"
        );
    }

    #[test]
    fn pairs_that_0_1_confused_are_told_apart() {
        let a = build("prod", "eu-orders", SnapshotKind::Instance, "202611280300");
        let b = build("prod-eu", "orders", SnapshotKind::Instance, "202611280300");
        assert_ne!(a, b);
        assert!(parse(&a, "prod", "eu-orders", SnapshotKind::Instance).is_some());
        assert_eq!(parse(&a, "prod-eu", "orders", SnapshotKind::Instance), None);
        assert_eq!(parse(&b, "prod", "eu-orders", SnapshotKind::Instance), None);
    }

    #[test]
    fn cluster_identifiers_are_cut_to_63_without_a_trailing_hyphen() {
        let policy = "a".repeat(POLICY_NAME_MAX);
        let db = "analytics-warehouse-eu-west-1-primary";
        let id = build(&policy, db, SnapshotKind::Cluster, "202611280300");
        assert_eq!(id.len(), 63, "{id}");
        assert!(id.contains("-analyt-202611280300-"), "{id}");
        // A cut that ends on a hyphen drops it.
        let id = build(&policy, "abcde-fgh", SnapshotKind::Cluster, "202611280300");
        assert!(id.contains("-abcde-202611280300-"), "{id}");
        assert_eq!(
            parse(&id, &policy, "abcde-fgh", SnapshotKind::Cluster).map(|p| p.slot),
            Some("202611280300")
        );
        // Instance snapshots keep the whole identifier.
        assert!(build(&policy, db, SnapshotKind::Instance, "202611280300").contains(db));
    }

    #[test]
    fn the_0_1_form_is_still_recognised() {
        let old = "rdsbackup-nightly-orders-202611280300";
        assert_eq!(
            parse(old, "nightly", "orders", SnapshotKind::Instance),
            Some(Parsed {
                slot: "202611280300",
                form: Form::V01
            })
        );
        for other in [
            "rdsbackup-nightly-orders-20261128030",
            "rdsbackup-nightly-orders-copy-202611280300",
            "copy-of-rdsbackup-nightly-orders-202611280300",
            "rdsbackup-nightly-orders-202611280300-00000000",
        ] {
            assert_eq!(
                parse(other, "nightly", "orders", SnapshotKind::Instance),
                None,
                "{other}"
            );
        }
    }

    fn policy_name() -> impl Strategy<Value = String> {
        "[a-z]([a-z0-9]|-[a-z0-9]){0,22}"
            .prop_filter("at most 24 characters", |s| (2..=POLICY_NAME_MAX).contains(&s.len()))
    }

    fn db_identifier() -> impl Strategy<Value = String> {
        "[a-z]([a-z0-9]|-[a-z0-9]){0,40}".prop_filter("at most 63 characters", |s| s.len() <= 63)
    }

    fn slot() -> impl Strategy<Value = String> {
        "[0-9]{12}"
    }

    fn kind() -> impl Strategy<Value = SnapshotKind> {
        prop_oneof![Just(SnapshotKind::Instance), Just(SnapshotKind::Cluster)]
    }

    /// RDS's rule for a snapshot identifier of the kind.
    fn rds_accepts(id: &str, kind: SnapshotKind) -> bool {
        (1..=kind.max_len()).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_alphabetic())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !id.ends_with('-')
            && !id.contains("--")
    }

    #[test]
    fn the_shareable_copy_is_the_snapshot_s_form_with_a_suffix_and_fits() {
        let id = build_shareable("nightly", "db-a", SnapshotKind::Instance, "202611280300");
        assert_eq!(id, "rdsbackup-nightly-db-a-202611280300-9ca323f5-v");
        assert_eq!(
            parse(&id, "nightly", "db-a", SnapshotKind::Instance),
            Some(Parsed {
                slot: "202611280300",
                form: Form::Shareable
            })
        );
        let policy = "a".repeat(POLICY_NAME_MAX);
        let id = build_shareable(&policy, "analytics-warehouse", SnapshotKind::Cluster, "202611280300");
        assert_eq!(id.len(), 63, "{id}");
        assert_eq!(
            parse(&id, &policy, "analytics-warehouse", SnapshotKind::Cluster).map(|p| p.form),
            Some(Form::Shareable)
        );
        // The suffix on an identifier that is not exactly the policy's form is not the policy's.
        let plain = build(&policy, "analytics-warehouse", SnapshotKind::Cluster, "202611280300");
        assert_eq!(
            parse(
                &format!("{plain}{SHAREABLE_SUFFIX}"),
                &policy,
                "analytics-warehouse",
                SnapshotKind::Cluster
            ),
            None
        );
    }

    #[test]
    fn a_vault_copy_names_its_source_account_policy_database_and_slot() {
        let source = build("nightly", "db-a", SnapshotKind::Instance, "202611280300");
        let id = build_vault_copy("111111111111", &source, SnapshotKind::Instance, "209901010000").unwrap();
        assert_eq!(
            id,
            format!(
                "rdsbackup-vault-111111111111-nightly-db-a-202611280300-{}",
                h8("111111111111", &source)
            )
        );
        assert_eq!(parse_vault_copy(&id), Some(("111111111111", "202611280300")));
        // The copy onto the vault key and the 0.1 form give the slot too; another form takes the fallback.
        let shareable = build_shareable("nightly", "db-a", SnapshotKind::Instance, "202611280300");
        let of_shareable = build_vault_copy("111111111111", &shareable, SnapshotKind::Instance, "x").unwrap();
        assert_eq!(parse_vault_copy(&of_shareable), Some(("111111111111", "202611280300")));
        assert_ne!(of_shareable, id);
        let old = build_vault_copy(
            "111111111111",
            "rdsbackup-nightly-db-a-202611280300",
            SnapshotKind::Instance,
            "x",
        );
        assert_eq!(parse_vault_copy(&old.unwrap()), Some(("111111111111", "202611280300")));
        let other = build_vault_copy(
            "111111111111",
            "rdsbackup-by-hand",
            SnapshotKind::Cluster,
            "202612010000",
        );
        assert_eq!(
            parse_vault_copy(&other.unwrap()),
            Some(("111111111111", "202612010000"))
        );
        assert_eq!(
            build_vault_copy("111111111111", "manual-snapshot", SnapshotKind::Instance, "x"),
            None
        );
        // Two accounts sharing the same identifier get two copies.
        assert_ne!(
            build_vault_copy("222222222222", &source, SnapshotKind::Instance, "x")
                .unwrap()
                .strip_prefix("rdsbackup-vault-222222222222"),
            id.strip_prefix("rdsbackup-vault-111111111111")
        );
        assert_eq!(parse_vault_copy(&source), None);
    }

    proptest! {
        #[test]
        fn vault_copies_are_valid_for_rds_and_unique_across_accounts_and_snapshots(
            policy in policy_name(), d1 in db_identifier(), d2 in db_identifier(), kind in kind(),
            slot in slot(), fallback in slot(), a1 in "[0-9]{12}", a2 in "[0-9]{12}", shareable in any::<bool>(),
            longer in "(-[a-z0-9]{1,8})?", same_account in any::<bool>()
        ) {
            // Often the same account and a database whose name only goes on longer: a cut must not merge them.
            let d2 = if longer.is_empty() { d2 } else { format!("{d1}{longer}") };
            let a2 = if same_account { a1.clone() } else { a2 };
            let source = |db: &str| if shareable {
                build_shareable(&policy, db, kind, &slot)
            } else {
                build(&policy, db, kind, &slot)
            };
            let id = build_vault_copy(&a1, &source(&d1), kind, &fallback).unwrap();
            prop_assert!(rds_accepts(&id, kind), "{id}");
            prop_assert_eq!(parse_vault_copy(&id), Some((a1.as_str(), slot.as_str())));
            if (&a1, &d1) != (&a2, &d2) {
                prop_assert_ne!(&id, &build_vault_copy(&a2, &source(&d2), kind, &fallback).unwrap());
            }
        }

        #[test]
        fn shareable_identifiers_are_valid_for_rds_and_parse_back(
            policy in policy_name(), db in db_identifier(), kind in kind(), slot in slot()
        ) {
            let id = build_shareable(&policy, &db, kind, &slot);
            prop_assert!(rds_accepts(&id, kind), "{id}");
            prop_assert_eq!(parse(&id, &policy, &db, kind), Some(Parsed { slot: &slot, form: Form::Shareable }));
            prop_assert_ne!(id, build(&policy, &db, kind, &slot));
        }

        #[test]
        fn every_identifier_is_valid_for_rds_and_parses_back(
            policy in policy_name(), db in db_identifier(), kind in kind(), slot in slot()
        ) {
            let id = build(&policy, &db, kind, &slot);
            prop_assert!(rds_accepts(&id, kind), "{id}");
            // At least 6 characters of the database remain (or all of it).
            prop_assert!(id.contains(&db[..db.len().min(6)].trim_end_matches('-').to_string()), "{id}");
            prop_assert_eq!(parse(&id, &policy, &db, kind), Some(Parsed { slot: &slot, form: Form::V02 }));
        }

        #[test]
        fn different_databases_or_policies_never_share_an_identifier(
            p1 in policy_name(), d1 in db_identifier(), p2 in policy_name(), d2 in db_identifier(),
            kind in kind(), slot in slot()
        ) {
            prop_assume!((&p1, &d1) != (&p2, &d2));
            let id = build(&p1, &d1, kind, &slot);
            prop_assert_ne!(&id, &build(&p2, &d2, kind, &slot));
            prop_assert_eq!(parse(&id, &p2, &d2, kind), None);
        }
    }
}

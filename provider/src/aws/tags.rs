//! The one comparison of a part's tags, for drift and ensure of every part alike: what to remove (keys the
//! wanted tags no longer have: tagging calls only add and overwrite) and what to set (new or changed values).

use std::collections::BTreeMap;
use std::future::Future;

use super::error::{AwsError, Result};

/// A part found under the stack's name is the stack's only if it carries the stack's ownership tag
/// (`rdsbackup:policy` = the policy, or a vault's `rdsbackup:vault` = the vault, which every part is created
/// with): anything else of that name is someone else's, and is refused rather than silently taken over.
pub fn claim(found: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>, what: &str) -> Result<()> {
    use rdsbackup_common::tags::{POLICY, VAULT};
    let (key, stack) = if wanted.contains_key(VAULT) {
        (VAULT, "vault")
    } else {
        (POLICY, "policy")
    };
    match (found.get(key), wanted.get(key)) {
        (Some(found), Some(wanted)) if found == wanted => Ok(()),
        (found, wanted) => Err(AwsError::new(format!(
            "{what} exists but is not this {stack}'s: it carries {key} = {}, not {}. Delete or rename it (or tag it \
             {key} = {} if it is this {stack}'s)",
            found.map_or("nothing".to_string(), |v| format!("{v:?}")),
            wanted.map_or("nothing".to_string(), |v| format!("{v:?}")),
            wanted.map_or(String::new(), Clone::clone),
        ))),
    }
}

/// The tags found on a stack's part as its resource's `tags` and `tags_all`: all but the owner tag; a tag equal
/// to a default tag is the resource's own only if its configuration (`recorded`) sets it too.
pub fn reflect(
    found: &BTreeMap<String, String>,
    owner_key: &str,
    recorded: Option<&BTreeMap<String, String>>,
    default_tags: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut all = found.clone();
    all.remove(owner_key);
    let own = all
        .iter()
        .filter(|(k, v)| recorded.is_some_and(|r| r.contains_key(*k)) || default_tags.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (own, all)
}

/// The tags in a service's own tag type, built by `make` (each SDK has its own, most with a fallible builder).
pub fn list<T, E: std::fmt::Display>(
    tags: &BTreeMap<String, String>,
    make: impl Fn(&str, &str) -> std::result::Result<T, E>,
) -> Result<Vec<T>> {
    tags.iter()
        .map(|(k, v)| make(k, v).map_err(|e| AwsError::new(e.to_string())))
        .collect()
}

#[derive(Debug, PartialEq)]
pub struct TagChange {
    pub remove: Vec<String>,
    pub set: BTreeMap<String, String>,
}

/// `None` when the tags found are the tags wanted.
pub fn change(found: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> Option<TagChange> {
    let change = TagChange {
        remove: found.keys().filter(|key| !wanted.contains_key(*key)).cloned().collect(),
        set: wanted
            .iter()
            .filter(|(key, value)| found.get(*key) != Some(value))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    (!change.remove.is_empty() || !change.set.is_empty()).then_some(change)
}

impl TagChange {
    /// Applies the change with the part's own calls, untagging first; a call with nothing to do is not made.
    pub async fn apply<U, T>(
        self,
        untag: impl FnOnce(Vec<String>) -> U,
        tag: impl FnOnce(BTreeMap<String, String>) -> T,
    ) -> Result<()>
    where
        U: Future<Output = Result<()>>,
        T: Future<Output = Result<()>>,
    {
        if !self.remove.is_empty() {
            untag(self.remove).await?;
        }
        if !self.set.is_empty() {
            tag(self.set).await?;
        }
        Ok(())
    }
}

/// An RDS `TagList` (as the describe calls return it with every database and snapshot) as a map.
pub fn rds_map(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_claimed_only_with_the_policys_tag() {
        let ours = BTreeMap::from([(rdsbackup_common::tags::POLICY.to_string(), "nightly".to_string())]);
        assert!(claim(&ours, &ours, "role r").is_ok());
        let other = BTreeMap::from([(rdsbackup_common::tags::POLICY.to_string(), "weekly".to_string())]);
        let refused = claim(&other, &ours, "role r").unwrap_err().message;
        assert!(
            refused.starts_with("role r exists but is not this policy's"),
            "{refused}"
        );
        assert!(refused.contains(r#""weekly""#), "{refused}");
        assert!(claim(&BTreeMap::new(), &ours, "role r").is_err());
    }

    #[test]
    fn a_vault_claims_only_its_own_parts_not_a_policy_of_the_same_name() {
        let vault = map(&[(rdsbackup_common::tags::VAULT, "central")]);
        assert!(claim(&vault, &vault, "role rdsbackup-vault-central").is_ok());
        // A policy named `vault-central` has the same AWS names: its parts are not the vault's.
        let policy = map(&[(rdsbackup_common::tags::POLICY, "vault-central")]);
        let refused = claim(&policy, &vault, "role rdsbackup-vault-central")
            .unwrap_err()
            .message;
        assert!(refused.contains("is not this vault's"), "{refused}");
        assert!(claim(&vault, &policy, "role rdsbackup-vault-central").is_err());
    }

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_what_differs_is_removed_or_set() {
        let found = map(&[("team", "data"), ("old", "x"), ("owner", "platform")]);
        let wanted = map(&[("team", "shop"), ("owner", "platform"), ("new", "y")]);
        assert_eq!(
            change(&found, &wanted),
            Some(TagChange {
                remove: vec!["old".into()],
                set: map(&[("new", "y"), ("team", "shop")]),
            })
        );
        assert_eq!(change(&wanted, &wanted), None);
    }
}

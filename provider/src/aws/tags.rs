//! The one comparison of a part's tags, for drift and ensure of every part alike: what to remove (keys the
//! wanted tags no longer have: tagging calls only add and overwrite) and what to set (new or changed values).

use std::collections::BTreeMap;
use std::future::Future;

use super::error::{AwsError, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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

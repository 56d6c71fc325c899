//! The `vault` block's step for one snapshot, decided without I/O: share it with the vault account once it is
//! available, or first copy it onto the block's key when RDS could not share it as it is (the AWS managed key)
//! or the vault account might not use its key (another customer managed key). Every step is what the listing
//! says is next, so a repeated run takes the same step again or the one after it, never a second copy.

use rdsbackup_common::vault::VaultTarget;

use crate::retention::Snapshot;

/// What becomes of one snapshot's share in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Not yet: the snapshot is still being created (`waiting`), or its copy onto the key is (`copying`).
    Wait { shared: String, status: &'static str },
    /// Copy the snapshot onto the key as `shareable` (the copy is shared by a later run, once available).
    Copy { shareable: String },
    /// Share this snapshot (the source itself, or its available copy onto the key).
    Share { shared: String },
    /// Nothing can be shared: the snapshot (or its copy onto the key) failed.
    Failed { shared: String, why: String },
}

impl Step {
    /// The identifier of what is (or will be) shared, for the record.
    pub fn shared(&self) -> &str {
        match self {
            Step::Wait { shared, .. } | Step::Share { shared } | Step::Failed { shared, .. } => shared,
            Step::Copy { shareable } => shareable,
        }
    }
}

/// The snapshot as the share needs it.
pub struct Source<'a> {
    pub snapshot: &'a Snapshot,
    pub encrypted: bool,
    pub kms_key_id: Option<&'a str>,
}

/// `shareable_id`: the identifier of the source's copy onto the key; `shareable`: that copy as listed, if it
/// exists (it must be the policy's own: the caller finds it through the ownership rule).
pub fn step(target: &VaultTarget, source: &Source, shareable_id: &str, shareable: Option<&Snapshot>) -> Step {
    let id = &source.snapshot.id;
    if target.shareable_as_is(source.encrypted, source.kms_key_id) {
        return match source.snapshot.status.as_str() {
            "available" => Step::Share { shared: id.clone() },
            "failed" => Step::Failed {
                shared: id.clone(),
                why: format!("snapshot {id} failed: there is nothing to share"),
            },
            _ => Step::Wait {
                shared: id.clone(),
                status: "waiting",
            },
        };
    }
    match (source.snapshot.status.as_str(), shareable.map(|s| s.status.as_str())) {
        (_, Some("available")) => Step::Share {
            shared: shareable_id.to_string(),
        },
        (_, Some("failed")) => Step::Failed {
            shared: shareable_id.to_string(),
            why: format!("the copy {shareable_id} of {id} onto the vault key failed"),
        },
        (_, Some(_)) => Step::Wait {
            shared: shareable_id.to_string(),
            status: "copying",
        },
        ("available", None) => Step::Copy {
            shareable: shareable_id.to_string(),
        },
        ("failed", None) => Step::Failed {
            shared: id.clone(),
            why: format!("snapshot {id} failed: there is nothing to share"),
        },
        (_, None) => Step::Wait {
            shared: shareable_id.to_string(),
            status: "waiting",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/vault";
    const AWS_MANAGED: &str = "arn:aws:kms:eu-west-1:123456789012:key/aws-rds";

    fn target() -> VaultTarget {
        VaultTarget {
            account_id: "210987654321".into(),
            kms_key_arn: KEY.into(),
        }
    }

    fn snapshot(id: &str, status: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            policy: Some("nightly".into()),
            db: Some("orders".into()),
            snapshot_type: "manual".into(),
            status: status.into(),
            created: None,
        }
    }

    fn source<'a>(snapshot: &'a Snapshot, key: Option<&'a str>) -> Source<'a> {
        Source {
            snapshot,
            encrypted: key.is_some(),
            kms_key_id: key,
        }
    }

    #[test]
    fn unencrypted_or_on_the_vault_key_is_shared_as_it_is_once_available() {
        for key in [None, Some(KEY)] {
            let available = snapshot("s", "available");
            assert_eq!(
                step(&target(), &source(&available, key), "s-v", None),
                Step::Share { shared: "s".into() }
            );
            let creating = snapshot("s", "creating");
            assert!(matches!(
                step(&target(), &source(&creating, key), "s-v", None),
                Step::Wait { status: "waiting", .. }
            ));
            let failed = snapshot("s", "failed");
            assert!(matches!(
                step(&target(), &source(&failed, key), "s-v", None),
                Step::Failed { .. }
            ));
        }
    }

    #[test]
    fn another_key_is_copied_onto_the_vault_key_and_the_copy_shared() {
        let available = snapshot("s", "available");
        let on_aws_key = source(&available, Some(AWS_MANAGED));
        assert_eq!(
            step(&target(), &on_aws_key, "s-v", None),
            Step::Copy {
                shareable: "s-v".into()
            }
        );
        let copying = snapshot("s-v", "copying");
        assert_eq!(
            step(&target(), &on_aws_key, "s-v", Some(&copying)),
            Step::Wait {
                shared: "s-v".into(),
                status: "copying"
            }
        );
        let copied = snapshot("s-v", "available");
        assert_eq!(
            step(&target(), &on_aws_key, "s-v", Some(&copied)),
            Step::Share { shared: "s-v".into() }
        );
        let creating = snapshot("s", "creating");
        assert!(matches!(
            step(&target(), &source(&creating, Some(AWS_MANAGED)), "s-v", None),
            Step::Wait { status: "waiting", .. }
        ));
    }

    proptest! {
        /// Never shares a snapshot on a key the vault may not use, never copies twice, and only starts a copy of
        /// an available snapshot.
        #[test]
        fn steps_keep_their_promises(
            status in prop_oneof![Just("creating"), Just("available"), Just("failed")],
            key in prop_oneof![Just(None), Just(Some(KEY)), Just(Some(AWS_MANAGED)), Just(Some("other"))],
            copy in prop::option::of(prop_oneof![Just("creating"), Just("copying"), Just("available"), Just("failed")]),
        ) {
            let snap = snapshot("s", status);
            let listed = copy.map(|status| snapshot("s-v", status));
            let src = source(&snap, key);
            let taken = step(&target(), &src, "s-v", listed.as_ref());
            match &taken {
                Step::Share { shared } if shared == "s" => {
                    prop_assert!(key.is_none() || key == Some(KEY));
                    prop_assert_eq!(status, "available");
                }
                Step::Share { shared } => {
                    prop_assert_eq!(shared.as_str(), "s-v");
                    prop_assert_eq!(listed.as_ref().map(|l| l.status.as_str()), Some("available"));
                }
                Step::Copy { .. } => {
                    prop_assert!(listed.is_none());
                    prop_assert_eq!(status, "available");
                    prop_assert!(key.is_some() && key != Some(KEY));
                }
                Step::Wait { .. } | Step::Failed { .. } => {}
            }
        }
    }
}

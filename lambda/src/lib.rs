//! The backup run deployed by the provider. For now it holds the contract's snapshot naming, which the provider
//! and the function must agree on; the handler arrives with its own issue.

/// `rdsbackup-<policy>-<db>-<yyyymmddhhmm>`: one snapshot per database and scheduled slot, so that a repeated
/// event finds the snapshot it already made instead of taking another.
pub fn snapshot_identifier(policy: &str, db: &str, slot_yyyymmddhhmm: &str) -> String {
    format!("rdsbackup-{policy}-{db}-{slot_yyyymmddhhmm}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_follows_the_contract() {
        assert_eq!(
            snapshot_identifier("nightly", "orders", "202611280300"),
            "rdsbackup-nightly-orders-202611280300"
        );
    }
}

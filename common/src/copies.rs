//! Copies in other regions (`copy` blocks): each destination as the provider writes it into the function's
//! environment (`env::COPIES`, a JSON list with every default resolved) and the Lambda reads it back, and the
//! limits both sides hold to.

use serde::{Deserialize, Serialize};

/// At most this many `copy` blocks on a policy.
pub const MAX_DESTINATIONS: usize = 5;

/// RDS runs at most this many snapshot copies into one destination region per account at once; the run starts
/// no more than that (counting its own copies in flight).
pub const MAX_IN_FLIGHT_PER_REGION: usize = 20;

/// One `copy` block, resolved: its retention, or the policy's where the block leaves it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub region: String,
    /// The key in `region` the copies are encrypted with; without it an encrypted snapshot cannot be copied
    /// across regions (an unencrypted one is copied unencrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    pub retention_days: u32,
    pub min_snapshots: u32,
}

/// The value of `env::COPIES`.
pub fn to_env(destinations: &[Destination]) -> String {
    serde_json::to_string(destinations).expect("destinations serialize")
}

/// Reads `to_env`'s form; an empty value means no copies.
pub fn from_env(value: &str) -> Result<Vec<Destination>, String> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(value).map_err(|e| {
        format!(
            "must be a JSON list of objects such as [{{\"region\":\"us-west-2\",\"retention_days\":35,\
             \"min_snapshots\":3}}]: {e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_round_trip_through_the_environment() {
        let destinations = vec![
            Destination {
                region: "us-west-2".into(),
                kms_key_arn: None,
                retention_days: 35,
                min_snapshots: 3,
            },
            Destination {
                region: "eu-west-1".into(),
                kms_key_arn: Some("arn:aws:kms:eu-west-1:123456789012:key/k".into()),
                retention_days: 90,
                min_snapshots: 1,
            },
        ];
        let value = to_env(&destinations);
        assert!(!value.contains("null"), "{value}");
        assert_eq!(from_env(&value).unwrap(), destinations);
        assert_eq!(from_env(" ").unwrap(), vec![]);
        assert!(from_env("us-west-2").unwrap_err().contains("JSON list"));
    }
}

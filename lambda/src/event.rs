//! What invoked the function. Only the backup schedule's event takes snapshots (and anything that is not one of
//! the policy's other rules counts as that: `bootstrap --once`, a test, a hand-made `{"time": ...}`); RDS's
//! events and the reconcile schedule only advance pending work; the drill schedule starts restore drills.

use rdsbackup_common::rules;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Take the slot's snapshots, apply retention, then advance pending work.
    Backup,
    /// Advance pending work only: records of snapshots not settled, copies, drills in progress.
    Advance,
    /// Start a restore drill of each drilled database (the `restore_drill` block's rule), then advance.
    Drill,
}

impl Trigger {
    pub fn of(event: &Value, policy: &str) -> Trigger {
        if event.get("source").and_then(Value::as_str) == Some("aws.rds") {
            return Trigger::Advance;
        }
        let from = |rule: String| {
            let rule = format!(":rule/{rule}");
            event
                .get("resources")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().filter_map(Value::as_str).any(|arn| arn.ends_with(&rule)))
        };
        if from(rules::reconcile(policy)) {
            Trigger::Advance
        } else if from(rules::drill(policy)) {
            Trigger::Drill
        } else {
            Trigger::Backup
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Backup => "backup",
            Trigger::Advance => "advance",
            Trigger::Drill => "drill",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_backup_schedule_takes_snapshots() {
        let scheduled = |rule: &str| {
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": "2026-11-28T03:00:00Z",
                   "resources": [format!("arn:aws:events:eu-west-1:123456789012:rule/{rule}")]})
        };
        assert_eq!(Trigger::of(&scheduled("rdsbackup-nightly"), "nightly"), Trigger::Backup);
        assert_eq!(
            Trigger::of(&scheduled("rdsbackup-nightly-reconcile"), "nightly"),
            Trigger::Advance
        );
        // Another policy's reconcile rule is not this one's (and cannot target this function anyway).
        assert_eq!(
            Trigger::of(&scheduled("rdsbackup-nightly-reconcile"), "night"),
            Trigger::Backup
        );
        let snapshot_event = json!({"detail-type": "RDS DB Snapshot Event", "source": "aws.rds",
            "detail": {"SourceIdentifier": "rdsbackup-nightly-orders-202611280300-9ca323f5"}});
        assert_eq!(Trigger::of(&snapshot_event, "nightly"), Trigger::Advance);
        assert_eq!(Trigger::of(&json!({}), "nightly"), Trigger::Backup);
        assert_eq!(
            Trigger::of(&scheduled("rdsbackup-nightly-drill"), "nightly"),
            Trigger::Drill
        );
        assert_eq!(
            Trigger::of(&scheduled("rdsbackup-nightly-drill"), "night"),
            Trigger::Backup
        );
    }
}

//! "Now" and the slot it falls in. The slot names the snapshot, so a repeated or retried event maps to the same
//! identifier and finds the snapshot it already made.

use rdsbackup_common::identifier::{self, SnapshotKind};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The event's `time` (EventBridge sets it to the scheduled time, identical on retries), else the clock.
pub fn now(event: &Value, clock: OffsetDateTime) -> Result<OffsetDateTime, String> {
    match event.get("time") {
        None | Some(Value::Null) => Ok(clock),
        Some(Value::String(time)) => OffsetDateTime::parse(time, &Rfc3339)
            .map(|t| t.to_offset(UtcOffset::UTC))
            .map_err(|e| format!("the event's time {time:?} is not an RFC 3339 timestamp: {e}")),
        Some(other) => Err(format!("the event's time {other} is not an RFC 3339 timestamp")),
    }
}

/// "Now" in UTC, to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(OffsetDateTime);

impl Slot {
    pub fn of(now: OffsetDateTime) -> Slot {
        let utc = now.to_offset(UtcOffset::UTC);
        Slot(utc.replace_time(time::Time::from_hms(utc.hour(), utc.minute(), 0).expect("a valid time of day")))
    }

    /// `yyyymmddhhmm`, the last part of the snapshot identifier.
    pub fn compact(&self) -> String {
        let t = self.0;
        format!(
            "{:04}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    }

    pub fn rfc3339(&self) -> String {
        rfc3339(self.0)
    }

    pub fn time(self) -> OffsetDateTime {
        self.0
    }

    /// The slot's snapshot identifier for a database of the policy.
    pub fn identifier(&self, policy: &str, db: &str, kind: SnapshotKind) -> String {
        identifier::build(policy, db, kind, &self.compact())
    }

    /// The slot of an identifier this policy made for this database (either form), for records rebuilt from a
    /// snapshot alone and for snapshots RDS gives no create time.
    pub fn from_identifier(id: &str, policy: &str, db: &str, kind: SnapshotKind) -> Option<Slot> {
        Slot::from_compact(identifier::parse(id, policy, db, kind)?.slot)
    }

    /// The slot written `yyyymmddhhmm` (`compact`'s form), as identifiers carry it.
    pub fn from_compact(compact: &str) -> Option<Slot> {
        let field = |range: std::ops::Range<usize>| compact.get(range)?.parse::<u8>().ok();
        let date = time::Date::from_calendar_date(
            compact.get(..4)?.parse().ok()?,
            time::Month::try_from(field(4..6)?).ok()?,
            field(6..8)?,
        )
        .ok()?;
        let time = time::Time::from_hms(field(8..10)?, field(10..12)?, 0).ok()?;
        Some(Slot(date.with_time(time).assume_utc()))
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .expect("every UTC time from year 0 to 9999 formats as RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap()
    }

    #[test]
    fn now_is_the_event_time_in_utc() {
        let clock = at("2030-01-01T00:00:00Z");
        let event = json!({"detail-type": "Scheduled Event", "time": "2026-11-28T04:30:59+01:00"});
        assert_eq!(now(&event, clock).unwrap(), at("2026-11-28T03:30:59Z"));
        assert_eq!(now(&json!({}), clock).unwrap(), clock);
        assert_eq!(now(&json!({"time": null}), clock).unwrap(), clock);
        assert!(
            now(&json!({"time": "yesterday"}), clock)
                .unwrap_err()
                .contains("yesterday")
        );
        assert!(now(&json!({"time": 5}), clock).is_err());
    }

    #[test]
    fn slot_truncates_to_the_minute() {
        let slot = Slot::of(at("2026-11-28T03:00:59.999Z"));
        assert_eq!(slot.compact(), "202611280300");
        assert_eq!(slot.rfc3339(), "2026-11-28T03:00:00Z");
        assert_eq!(
            slot.identifier("nightly", "db-a", SnapshotKind::Instance),
            "rdsbackup-nightly-db-a-202611280300-9ca323f5"
        );
    }

    #[test]
    fn slot_is_read_back_only_from_this_policy_and_database() {
        const I: SnapshotKind = SnapshotKind::Instance;
        let id = "rdsbackup-nightly-db-a-202611280300-9ca323f5";
        assert_eq!(
            Slot::from_identifier(id, "nightly", "db-a", I).unwrap().rfc3339(),
            "2026-11-28T03:00:00Z"
        );
        assert_eq!(Slot::from_identifier(id, "nightly", "db", I), None);
        let old = "rdsbackup-nightly-orders-202611280300";
        assert_eq!(
            Slot::from_identifier(old, "nightly", "orders", I).unwrap().rfc3339(),
            "2026-11-28T03:00:00Z"
        );
        assert_eq!(
            Slot::from_identifier("rdsbackup-nightly-orders-20261128030", "nightly", "orders", I),
            None
        );
        assert_eq!(
            Slot::from_identifier("rdsbackup-nightly-orders-202613280300", "nightly", "orders", I),
            None
        );
    }

    proptest! {
        #[test]
        fn compact_and_identifier_round_trip(seconds in 0i64..253_402_300_799) {
            let t = OffsetDateTime::from_unix_timestamp(seconds).unwrap();
            let slot = Slot::of(t);
            prop_assert!(slot.0 <= t && t - slot.0 < time::Duration::MINUTE);
            let id = slot.identifier("pp", "db", SnapshotKind::Cluster);
            prop_assert_eq!(Slot::from_identifier(&id, "pp", "db", SnapshotKind::Cluster), Some(slot));
        }
    }
}

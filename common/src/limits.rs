//! Ranges and defaults the provider validates and the Lambda re-checks when it reads its environment: one home,
//! so the two can never accept different values.

/// A whole-number setting: `min..=max`, and the value used when the configuration leaves it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

impl Range {
    pub const fn contains(&self, n: u32) -> bool {
        self.min <= n && n <= self.max
    }
}

/// `retention_days`: snapshots older than this are deleted, `min_snapshots` permitting.
pub const RETENTION_DAYS: Range = Range {
    min: 1,
    max: 3650,
    default: 35,
};

/// `min_snapshots`: retention never leaves fewer own available snapshots of a database.
pub const MIN_SNAPSHOTS: Range = Range {
    min: 1,
    max: 100,
    default: 3,
};

/// A vault's `retention_days`: its copies are kept for a year by default, longer than any source's.
pub const VAULT_RETENTION_DAYS: Range = Range {
    default: 365,
    ..RETENTION_DAYS
};

/// A vault's `min_snapshots`: a week of daily copies of each source database.
pub const VAULT_MIN_SNAPSHOTS: Range = Range {
    default: 7,
    ..MIN_SNAPSHOTS
};

/// `restore_drill.rto_target_minutes`: a drill restoring slower than this is `over_target`.
pub const RTO_TARGET_MINUTES: Range = Range {
    min: 5,
    max: 1440,
    default: 60,
};

//! The plan's warning when a policy's steady state would not fit RDS's manual snapshot quota: each listed
//! database keeps about `retention_days` times the schedule's runs per day (at least `min_snapshots`), plus the
//! one being taken, and the quota (100 DB snapshots and 100 DB cluster snapshots per region by default) is shared
//! with every other manual snapshot of the account. Past it, `CreateDBSnapshot` fails with
//! `SnapshotQuotaExceeded` and backups stop: better said at plan time.

use std::collections::BTreeSet;

use super::schema::PolicyModel;
use crate::aws::account_quota::{Memo, SnapshotQuotas};
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::schedule;

/// How many snapshots a policy keeps of each listed instance and cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SteadyState {
    pub instances: i64,
    pub clusters: i64,
}

/// Snapshots kept of one database: retention's window at the schedule's rate (rounded up), at least the
/// minimum, and the one a run is taking.
pub fn kept_per_database(retention_days: i64, min_snapshots: i64, runs_per_day: f64) -> i64 {
    let in_window = (retention_days as f64 * runs_per_day).ceil() as i64;
    in_window.max(min_snapshots) + 1
}

/// `None` while something it depends on is not known.
pub fn steady_state(model: &PolicyModel) -> Option<SteadyState> {
    let kept = kept_per_database(
        *model.retention_days.known()?,
        *model.min_snapshots.known()?,
        schedule::runs_per_day_at_most(model.schedule.known()?)?,
    );
    let count = |ids: Option<&BTreeSet<String>>| ids.map_or(0, |ids| ids.len() as i64);
    Some(SteadyState {
        instances: kept * count(model.db_instance_identifiers.known()),
        clusters: kept * count(model.db_cluster_identifiers.known()),
    })
}

/// The warnings for a plan from `prior` (the default, empty, on create) to `planned`, against `quotas`. The
/// prior steady state's snapshots are already among the quota's used ones, so only the growth is added.
pub fn judge(prior: SteadyState, planned: SteadyState, quotas: &SnapshotQuotas) -> Diagnostics {
    let mut d = Diagnostics::new();
    for (kind, attribute, grown, usage) in [
        (
            "DB snapshots",
            "db_instance_identifiers",
            planned.instances - prior.instances,
            quotas.instance,
        ),
        (
            "DB cluster snapshots",
            "db_cluster_identifiers",
            planned.clusters - prior.clusters,
            quotas.cluster,
        ),
    ] {
        if grown > 0 && usage.used + grown > usage.max {
            d.attribute_warning(
                AttrPath::root(attribute),
                "Snapshot quota would be exceeded",
                format!(
                    "This policy keeps up to {grown} more manual {kind} in this region (the listed databases times \
                     retention_days at the schedule's rate, at least min_snapshots, plus the one being taken; \
                     databases selected by tags come on top). The region already holds {} of the {} the account \
                     may have, so backups would fail with SnapshotQuotaExceeded. Lower retention_days, spread the \
                     databases across regions, or ask AWS to raise the quota.",
                    usage.used, usage.max
                ),
            );
        }
    }
    d
}

/// Reads the quotas when the plan changes the steady state; a quota that cannot be read is said, not hidden.
pub async fn check(
    quotas: &Memo,
    rds: &aws_sdk_rds::Client,
    prior: Option<&PolicyModel>,
    planned: &PolicyModel,
) -> Diagnostics {
    let Some(planned) = steady_state(planned) else {
        return Diagnostics::new();
    };
    let prior = prior.and_then(steady_state).unwrap_or_default();
    if planned.instances <= prior.instances && planned.clusters <= prior.clusters {
        return Diagnostics::new();
    }
    match quotas.manual_snapshots(rds).await {
        Ok(quotas) => judge(prior, planned, &quotas),
        Err(e) => {
            // An endpoint without the call (moto) answers with a page, not an AWS error: say so in a line.
            let why = match &e.code {
                Some(code) => format!("rds:DescribeAccountAttributes failed with {code}"),
                None => "rds:DescribeAccountAttributes got no AWS answer (an endpoint without it, such as moto, or \
                         no connection)"
                    .to_string(),
            };
            let mut d = Diagnostics::new();
            d.warning(
                "Snapshot quota not checked",
                format!(
                    "The account's manual snapshot quota could not be read, so the plan cannot tell whether this \
                     policy's snapshots fit it: {why}."
                ),
            );
            d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::account_quota::Usage;
    use crate::plugin::diag::Severity;

    fn quotas(used: i64) -> SnapshotQuotas {
        SnapshotQuotas {
            instance: Usage { used, max: 100 },
            cluster: Usage { used: 0, max: 100 },
        }
    }

    #[test]
    fn kept_snapshots_follow_retention_and_the_schedule() {
        // Daily for 35 days: 35 in the window and today's.
        assert_eq!(kept_per_database(35, 3, 1.0), 36);
        // The minimum wins over a short window.
        assert_eq!(kept_per_database(1, 7, 1.0), 8);
        assert_eq!(kept_per_database(7, 1, 24.0), 169);
    }

    #[test]
    fn growth_past_the_quota_warns_on_the_attribute() {
        let planned = SteadyState {
            instances: 72,
            clusters: 0,
        };
        let d = judge(SteadyState::default(), planned, &quotas(40));
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].severity, Severity::Warning);
        assert_eq!(d.0[0].path, Some(AttrPath::root("db_instance_identifiers")));
        assert!(d.0[0].detail.contains("holds 40 of the 100"), "{}", d.0[0].detail);
        assert!(judge(SteadyState::default(), planned, &quotas(20)).0.is_empty());
        // An update adds only what it grows by: its snapshots so far are among the used ones.
        assert!(judge(planned, planned, &quotas(99)).0.is_empty());
    }
}

//! RDS's manual snapshot quotas of the account in the region, as `DescribeAccountAttributes` reports them (100
//! DB snapshots and 100 DB cluster snapshots by default, raised on request).

use aws_sdk_rds::Client;
use aws_sdk_rds::config::retry::RetryConfig;

use super::error::{AwsError, Result, failed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub used: i64,
    pub max: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotQuotas {
    pub instance: Usage,
    pub cluster: Usage,
}

/// One attempt more than none: the check only informs a plan, which must not wait out a retry schedule for it
/// (endpoints that lack the call answer 500, which the SDK would retry).
pub async fn manual_snapshots(rds: &Client) -> Result<SnapshotQuotas> {
    let output = rds
        .describe_account_attributes()
        .customize()
        .config_override(
            aws_sdk_rds::config::Builder::default().retry_config(RetryConfig::standard().with_max_attempts(2)),
        )
        .send()
        .await
        .map_err(failed("rds:DescribeAccountAttributes", "the account"))?;
    let usage = |name: &str| {
        output
            .account_quotas()
            .iter()
            .find(|q| q.account_quota_name() == Some(name))
            .map(|q| Usage {
                used: q.used().unwrap_or_default(),
                max: q.max().unwrap_or_default(),
            })
            .ok_or_else(|| AwsError::new(format!("rds:DescribeAccountAttributes reported no {name} quota")))
    };
    Ok(SnapshotQuotas {
        instance: usage("ManualSnapshots")?,
        cluster: usage("ManualClusterSnapshots")?,
    })
}

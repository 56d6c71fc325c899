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

/// Read once per provider process, that is per account and region (one provider configuration each): every
/// policy's plan in a Terraform command asks, and the answer does not change within one.
#[derive(Default)]
pub struct Memo(tokio::sync::OnceCell<Result<SnapshotQuotas>>);

impl Memo {
    pub async fn manual_snapshots(&self, rds: &Client) -> Result<SnapshotQuotas> {
        self.0.get_or_init(|| manual_snapshots(rds)).await.clone()
    }
}

/// One attempt: the check only informs a plan, which must not wait out a retry's back-off for it (endpoints
/// that lack the call answer 500, which the SDK would retry after half a second or more); a failure is said as a
/// warning.
async fn manual_snapshots(rds: &Client) -> Result<SnapshotQuotas> {
    let output = rds
        .describe_account_attributes()
        .customize()
        .config_override(
            aws_sdk_rds::config::Builder::default().retry_config(RetryConfig::standard().with_max_attempts(1)),
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

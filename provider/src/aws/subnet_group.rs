//! Whether the `restore_drill` block's DB subnet group exists in the region: every drill restores into it, so a
//! name RDS does not know would fail each drill, days after the apply that set it. Checked at plan time.

use aws_sdk_rds::Client;

use super::error::{OrAbsent, Result, failed};

/// True when RDS knows the DB subnet group `name` in the client's region.
pub async fn exists(rds: &Client, name: &str) -> Result<bool> {
    let found = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name(name)
        .send()
        .await
        .map_err(failed("rds:DescribeDBSubnetGroups", name))
        .or_absent(&["DBSubnetGroupNotFoundFault"])?;
    Ok(found.is_some())
}

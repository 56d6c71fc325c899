//! Which listed DB instances are members of a DB cluster (Aurora, or a Multi-AZ DB cluster). RDS refuses an
//! instance snapshot of a member, so the run snapshots its cluster instead, and the role must be allowed
//! `rds:CreateDBClusterSnapshot` on that cluster. RDS says which: it is read at apply and at every refresh, so a
//! member moved to another cluster shows as a change of the role's policy.

use std::collections::BTreeSet;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Filter;

use super::error::{Result, failed};

/// RDS takes up to 100 values per describe filter.
const FILTER_VALUES: usize = 100;

/// The clusters that the listed instances belong to; instances that do not exist (yet) have none.
pub async fn clusters_of(rds: &Client, instances: &BTreeSet<String>) -> Result<BTreeSet<String>> {
    let mut clusters = BTreeSet::new();
    let instances: Vec<&String> = instances.iter().collect();
    for chunk in instances.chunks(FILTER_VALUES) {
        let filter = Filter::builder()
            .name("db-instance-id")
            .set_values(Some(chunk.iter().map(|id| id.to_string()).collect()))
            .build();
        let mut pages = rds.describe_db_instances().filters(filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(failed("rds:DescribeDBInstances", "the listed DB instances"))?;
            clusters.extend(
                page.db_instances()
                    .iter()
                    .filter_map(|db| db.db_cluster_identifier().map(String::from)),
            );
        }
    }
    Ok(clusters)
}

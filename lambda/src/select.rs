//! Which databases a run backs up: the listed instances and clusters, plus every one carrying all the selection
//! tags. Tags come from the describe calls' `TagList`, one call per page of databases, never one per database:
//! per-database tag calls are what gets backup tools throttled on large accounts.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::aws_error;
use crate::config::Config;

/// Instance or cluster: the kind of a database and of its snapshots.
pub use rdsbackup_common::identifier::SnapshotKind as Kind;

#[derive(Clone, Debug, PartialEq)]
pub struct Database {
    pub identifier: String,
    pub kind: Kind,
    pub engine: String,
    pub status: String,
    /// For an instance, the cluster it belongs to: Aurora members are backed up through their cluster, since RDS
    /// refuses instance snapshots of them.
    pub cluster: Option<String>,
    /// The DB subnet group it lives in: a restore drill restores into it unless its block names another.
    pub subnet_group: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Failure {
    pub db: String,
    pub kind: Kind,
    pub error: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Selection {
    pub databases: Vec<Database>,
    pub failed: Vec<Failure>,
}

pub fn select(config: &Config, instances: &[Database], clusters: &[Database]) -> Selection {
    let instance_by_id: HashMap<&str, &Database> = instances.iter().map(|db| (db.identifier.as_str(), db)).collect();
    let cluster_by_id: HashMap<&str, &Database> = clusters.iter().map(|db| (db.identifier.as_str(), db)).collect();
    // A drill database (which RDS may restore with its source's tags) is never backed up.
    let tagged = |db: &&Database| {
        !config.selection_tags.is_empty()
            && config.selection_tags.iter().all(|(k, v)| db.tags.get(k) == Some(v))
            && !db.tags.contains_key(rdsbackup_common::tags::DRILL)
    };
    let mut chosen: BTreeMap<(Kind, &str), &Database> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut fail = |db: &str, kind: Kind, error: String| {
        failed.push(Failure {
            db: db.to_string(),
            kind,
            error,
        })
    };

    let wanted_instances = config.db_instances.iter().map(String::as_str);
    for name in wanted_instances.chain(instances.iter().filter(tagged).map(|db| db.identifier.as_str())) {
        let Some(instance) = instance_by_id.get(name) else {
            fail(name, Kind::Instance, "DB instance not found".into());
            continue;
        };
        match &instance.cluster {
            None => {
                chosen.insert((Kind::Instance, name), instance);
            }
            Some(cluster) => match cluster_by_id.get(cluster.as_str()) {
                Some(db) => {
                    chosen.insert((Kind::Cluster, db.identifier.as_str()), db);
                }
                None => fail(
                    name,
                    Kind::Instance,
                    format!("member of DB cluster {cluster}, which was not found"),
                ),
            },
        }
    }
    let wanted_clusters = config.db_clusters.iter().map(String::as_str);
    for name in wanted_clusters.chain(clusters.iter().filter(tagged).map(|db| db.identifier.as_str())) {
        match cluster_by_id.get(name) {
            Some(db) => {
                chosen.insert((Kind::Cluster, name), db);
            }
            None => fail(name, Kind::Cluster, "DB cluster not found".into()),
        }
    }

    failed.sort();
    failed.dedup();
    Selection {
        databases: chosen.into_values().cloned().collect(),
        failed,
    }
}

/// Every instance and cluster in the region, with tags, following `Marker` through all pages.
pub async fn describe(rds: &aws_sdk_rds::Client) -> Result<(Vec<Database>, Vec<Database>), String> {
    let mut instances = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error::describe("DescribeDBInstances", &e))?;
        instances.extend(page.db_instances().iter().map(|db| {
            Database {
                identifier: db.db_instance_identifier().unwrap_or_default().to_string(),
                kind: Kind::Instance,
                engine: db.engine().unwrap_or_default().to_string(),
                status: db.db_instance_status().unwrap_or_default().to_string(),
                cluster: db.db_cluster_identifier().map(String::from),
                subnet_group: db
                    .db_subnet_group()
                    .and_then(|g| g.db_subnet_group_name())
                    .map(String::from),
                tags: tags(db.tag_list()),
            }
        }));
    }
    let mut clusters = Vec::new();
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error::describe("DescribeDBClusters", &e))?;
        clusters.extend(page.db_clusters().iter().map(|db| Database {
            identifier: db.db_cluster_identifier().unwrap_or_default().to_string(),
            kind: Kind::Cluster,
            engine: db.engine().unwrap_or_default().to_string(),
            status: db.status().unwrap_or_default().to_string(),
            cluster: None,
            subnet_group: db.db_subnet_group().map(String::from),
            tags: tags(db.tag_list()),
        }));
    }
    Ok((instances, clusters))
}

pub fn tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|tag| Some((tag.key()?.to_string(), tag.value().unwrap_or_default().to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(identifier: &str, kind: Kind, cluster: Option<&str>, tags: &[(&str, &str)]) -> Database {
        Database {
            identifier: identifier.into(),
            kind,
            engine: "postgres".into(),
            status: "available".into(),
            cluster: cluster.map(String::from),
            subnet_group: None,
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn config(instances: &[&str], clusters: &[&str], tags: &[(&str, &str)]) -> Config {
        Config {
            policy: "nightly".into(),
            bucket: "b".into(),
            db_instances: instances.iter().map(|s| s.to_string()).collect(),
            db_clusters: clusters.iter().map(|s| s.to_string()).collect(),
            selection_tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            retention_days: 35,
            min_snapshots: 3,
            kms_key_arn: None,
            bucket_owner: "123456789012".into(),
            copies: Vec::new(),
            vault: None,
            archive: None,
            drill: None,
        }
    }

    fn chosen(selection: &Selection) -> Vec<(Kind, &str)> {
        selection
            .databases
            .iter()
            .map(|db| (db.kind, db.identifier.as_str()))
            .collect()
    }

    fn fleet() -> (Vec<Database>, Vec<Database>) {
        let instances = vec![
            db(
                "orders",
                Kind::Instance,
                None,
                &[("backup", "nightly"), ("team", "shop")],
            ),
            db("billing", Kind::Instance, None, &[("backup", "nightly")]),
            db("scratch", Kind::Instance, None, &[]),
            db(
                "analytics-1",
                Kind::Instance,
                Some("analytics"),
                &[("backup", "nightly"), ("team", "shop")],
            ),
            db("reports-1", Kind::Instance, Some("reports"), &[]),
        ];
        let clusters = vec![
            db("analytics", Kind::Cluster, None, &[]),
            db("reports", Kind::Cluster, None, &[]),
            db(
                "ledger",
                Kind::Cluster,
                None,
                &[("backup", "nightly"), ("team", "shop")],
            ),
        ];
        (instances, clusters)
    }

    #[test]
    fn listed_databases_are_chosen_and_missing_ones_fail() {
        let (instances, clusters) = fleet();
        let selection = select(
            &config(&["scratch", "ghost"], &["reports", "nowhere"], &[]),
            &instances,
            &clusters,
        );
        assert_eq!(
            chosen(&selection),
            [(Kind::Instance, "scratch"), (Kind::Cluster, "reports")]
        );
        assert_eq!(
            selection.failed,
            [
                Failure {
                    db: "ghost".into(),
                    kind: Kind::Instance,
                    error: "DB instance not found".into()
                },
                Failure {
                    db: "nowhere".into(),
                    kind: Kind::Cluster,
                    error: "DB cluster not found".into()
                },
            ]
        );
    }

    #[test]
    fn tags_select_databases_carrying_all_of_them() {
        let (instances, clusters) = fleet();
        let selection = select(
            &config(&[], &[], &[("backup", "nightly"), ("team", "shop")]),
            &instances,
            &clusters,
        );
        // analytics-1 matches, but is an Aurora member: its cluster is backed up instead.
        assert_eq!(
            chosen(&selection),
            [
                (Kind::Instance, "orders"),
                (Kind::Cluster, "analytics"),
                (Kind::Cluster, "ledger")
            ]
        );
        assert!(selection.failed.is_empty());
        // A drill database restored with its source's tags is not backed up.
        let mut drilled = instances[0].clone();
        drilled.identifier = "rdsbackup-drill-0123abcd-202612060500".into();
        drilled.tags.insert(rdsbackup_common::tags::DRILL.into(), "true".into());
        let with_drill: Vec<Database> = instances.iter().cloned().chain([drilled]).collect();
        let again = select(
            &config(&[], &[], &[("backup", "nightly"), ("team", "shop")]),
            &with_drill,
            &clusters,
        );
        assert_eq!(chosen(&again), chosen(&selection));
    }

    #[test]
    fn no_selection_tags_select_nothing_by_tag() {
        let (instances, clusters) = fleet();
        assert_eq!(
            chosen(&select(&config(&["orders"], &[], &[]), &instances, &clusters)),
            [(Kind::Instance, "orders")]
        );
    }

    #[test]
    fn a_listed_aurora_member_is_backed_up_through_its_cluster_once() {
        let (instances, clusters) = fleet();
        let selection = select(&config(&["reports-1"], &["reports"], &[]), &instances, &clusters);
        assert_eq!(chosen(&selection), [(Kind::Cluster, "reports")]);
        let orphan = [db("lost-1", Kind::Instance, Some("lost"), &[])];
        let selection = select(&config(&["lost-1"], &[], &[]), &orphan, &clusters);
        assert!(selection.databases.is_empty());
        assert_eq!(
            selection.failed[0].error,
            "member of DB cluster lost, which was not found"
        );
    }

    #[test]
    fn tag_values_must_match_exactly() {
        let (instances, clusters) = fleet();
        let selection = select(&config(&[], &[], &[("backup", "weekly")]), &instances, &clusters);
        assert!(selection.databases.is_empty() && selection.failed.is_empty());
    }
}

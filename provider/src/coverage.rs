//! `data "rdsbackup_coverage"`: every DB instance and cluster of the provider's region, split into `protected`
//! (selected by some policy of this account and region) and `unprotected`. The policies are read from their
//! functions' environments (one `ListFunctions` page per request, environments included), the databases from the
//! describe calls (tags included, one request per page), so the answer costs a few pages, not a call per database.
//! A member instance is protected when its cluster is, and a listed member protects its cluster, as the backup run
//! backs members up through their cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rdsbackup_common::env;

use crate::plugin::data_source::TypedDataSource;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::schema::{AttrType, Attribute, Block, Schema};
use crate::plugin::typed::Tf;
use crate::provider::{ProviderState, validate_tags};
use crate::tf_object;

tf_object! {
    pub struct CoverageModel {
        pub exclude_tags: BTreeMap<String, String>,
        pub protected: BTreeSet<String>,
        pub unprotected: BTreeSet<String>,
    }
}

pub struct CoverageDataSource {
    schema: Schema,
    provider: Arc<ProviderState>,
}

impl CoverageDataSource {
    pub fn new(provider: Arc<ProviderState>) -> CoverageDataSource {
        use Attribute as A;
        let schema = Schema {
            version: 0,
            block: Block {
                description: "Which DB instances and clusters of the provider's region some `rdsbackup_policy` of \
                              this account backs up, and which none does: put `unprotected` in a `check` block or a \
                              precondition and a new database left out fails the plan.",
                attributes: vec![
                    A::optional(
                        "exclude_tags",
                        AttrType::map_of_strings(),
                        "Databases carrying all of these tags are left out of both sets (scratch databases, say).",
                    ),
                    A::computed(
                        "protected",
                        AttrType::set_of_strings(),
                        "Identifiers of the instances and clusters some policy selects, by identifier or by its \
                         selection tags; members of a selected cluster included.",
                    ),
                    A::computed(
                        "unprotected",
                        AttrType::set_of_strings(),
                        "Identifiers of the instances and clusters no policy selects.",
                    ),
                ],
                blocks: vec![],
            },
        };
        CoverageDataSource { schema, provider }
    }
}

/// What one policy selects, as its function's environment says.
#[derive(Debug, Default, PartialEq)]
pub struct Selection {
    pub instances: BTreeSet<String>,
    pub clusters: BTreeSet<String>,
    pub tags: BTreeMap<String, String>,
}

impl Selection {
    fn from_env(vars: &std::collections::HashMap<String, String>) -> Option<Selection> {
        vars.get(env::POLICY)?;
        let ids = |name: &str| vars.get(name).map(|v| env::split_identifiers(v)).unwrap_or_default();
        Some(Selection {
            instances: ids(env::DB_INSTANCES),
            clusters: ids(env::DB_CLUSTERS),
            tags: vars
                .get(env::SELECTION_TAGS)
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default(),
        })
    }

    fn tagged(&self, tags: &BTreeMap<String, String>) -> bool {
        !self.tags.is_empty() && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

/// A database of the region.
#[derive(Debug, Clone)]
pub struct Database {
    pub identifier: String,
    pub cluster: bool,
    /// For an instance: the cluster it is a member of.
    pub member_of: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// (protected, unprotected), without the databases carrying all of `exclude`.
pub fn split(
    databases: &[Database],
    policies: &[Selection],
    exclude: &BTreeMap<String, String>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let selected = |db: &Database| {
        policies.iter().any(|p| {
            p.tagged(&db.tags)
                || if db.cluster {
                    p.clusters.contains(&db.identifier)
                } else {
                    p.instances.contains(&db.identifier)
                }
        })
    };
    let mut protected: BTreeSet<String> = databases
        .iter()
        .filter(|db| selected(db))
        .map(|db| db.identifier.clone())
        .collect();
    // A listed member protects its cluster; a protected cluster protects its members.
    for db in databases {
        if let Some(cluster) = &db.member_of
            && protected.contains(&db.identifier)
        {
            protected.insert(cluster.clone());
        }
    }
    for db in databases {
        if let Some(cluster) = &db.member_of
            && protected.contains(cluster)
        {
            protected.insert(db.identifier.clone());
        }
    }
    let excluded = |db: &Database| !exclude.is_empty() && exclude.iter().all(|(k, v)| db.tags.get(k) == Some(v));
    let mut unprotected = BTreeSet::new();
    for db in databases {
        if excluded(db) {
            protected.remove(&db.identifier);
        } else if !protected.contains(&db.identifier) {
            unprotected.insert(db.identifier.clone());
        }
    }
    (protected, unprotected)
}

async fn policies(lambda: &aws_sdk_lambda::Client) -> Result<Vec<Selection>, String> {
    let mut found = Vec::new();
    let mut pages = lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            format!(
                "lambda:ListFunctions: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            )
        })?;
        found.extend(
            page.functions()
                .iter()
                .filter(|f| f.function_name().is_some_and(|n| n.starts_with("rdsbackup-")))
                .filter_map(|f| Selection::from_env(f.environment()?.variables()?)),
        );
    }
    Ok(found)
}

async fn databases(rds: &aws_sdk_rds::Client) -> Result<Vec<Database>, String> {
    let instances = async {
        let mut found = Vec::new();
        let mut pages = rds.describe_db_instances().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "rds:DescribeDBInstances: {}",
                    aws_sdk_rds::error::DisplayErrorContext(e)
                )
            })?;
            found.extend(page.db_instances().iter().map(|i| Database {
                identifier: i.db_instance_identifier().unwrap_or_default().into(),
                cluster: false,
                member_of: i.db_cluster_identifier().map(String::from),
                tags: crate::aws::tags::rds_map(i.tag_list()),
            }));
        }
        Ok::<_, String>(found)
    };
    let clusters = async {
        let mut found = Vec::new();
        let mut pages = rds.describe_db_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| format!("rds:DescribeDBClusters: {}", aws_sdk_rds::error::DisplayErrorContext(e)))?;
            found.extend(page.db_clusters().iter().map(|c| Database {
                identifier: c.db_cluster_identifier().unwrap_or_default().into(),
                cluster: true,
                member_of: None,
                tags: crate::aws::tags::rds_map(c.tag_list()),
            }));
        }
        Ok::<_, String>(found)
    };
    let (instances, clusters) = tokio::join!(instances, clusters);
    let mut all = instances?;
    all.extend(clusters?);
    Ok(all)
}

#[tonic::async_trait]
impl TypedDataSource for CoverageDataSource {
    type Model = CoverageModel;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &CoverageModel) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Some(tags) = config.exclude_tags.known() {
            validate_tags(&mut d, &AttrPath::root("exclude_tags"), tags);
        }
        d
    }

    async fn read(&self, mut config: CoverageModel) -> Result<CoverageModel, Diagnostics> {
        let fail = |detail: String| {
            let mut d = Diagnostics::new();
            d.error("Cannot read rdsbackup_coverage", detail);
            d
        };
        let aws = self
            .provider
            .aws
            .get()
            .ok_or_else(|| fail("The provider was not configured before use; this is a bug.".into()))?;
        let (policies, databases) = tokio::join!(policies(&aws.clients.lambda), databases(&aws.clients.rds));
        let (policies, databases) = (policies.map_err(fail)?, databases.map_err(fail)?);
        let exclude = config.exclude_tags.known().cloned().unwrap_or_default();
        let (protected, unprotected) = split(&databases, &policies, &exclude);
        config.protected = Tf::Known(protected);
        config.unprotected = Tf::Known(unprotected);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(id: &str, cluster: bool, member_of: Option<&str>, tags: &[(&str, &str)]) -> Database {
        Database {
            identifier: id.into(),
            cluster,
            member_of: member_of.map(String::from),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn listed_tagged_and_cluster_members_are_protected_the_rest_is_not() {
        let databases = [
            db("orders", false, None, &[]),
            db("tagged", false, None, &[("backup", "nightly")]),
            db("forgotten", false, None, &[]),
            db("scratch", false, None, &[("scratch", "yes")]),
            db("analytics", true, None, &[]),
            db("analytics-1", false, Some("analytics"), &[]),
            db("reports", true, None, &[]),
            db("reports-1", false, Some("reports"), &[]),
            db("ledger", true, None, &[]),
        ];
        let policies = [
            Selection {
                instances: ["orders".to_string(), "reports-1".to_string()].into(),
                clusters: ["analytics".to_string()].into(),
                tags: BTreeMap::new(),
            },
            Selection {
                tags: [("backup".to_string(), "nightly".to_string())].into(),
                ..Selection::default()
            },
        ];
        let exclude = BTreeMap::from([("scratch".to_string(), "yes".to_string())]);
        let (protected, unprotected) = split(&databases, &policies, &exclude);
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            protected,
            set(&["analytics", "analytics-1", "orders", "reports", "reports-1", "tagged"])
        );
        assert_eq!(unprotected, set(&["forgotten", "ledger"]));
    }
}

//! `data "rdsbackup_snapshots"`: the policy's own snapshots in a region (at home, or a copy region), newest first,
//! and the newest available one per database (`latest`), what a restore pipeline feeds to `snapshot_identifier`.
//! "Own" is the contract's retention rule (`identifier::is_own`), judged from the tags the describe calls return:
//! instance and cluster snapshots are listed at once, each a page (100) per request, filtered by the database when
//! one is given.

use std::collections::BTreeMap;
use std::sync::Arc;

use rdsbackup_common::identifier::{self, Form, SnapshotKind};
use rdsbackup_common::tags;

use crate::plugin::data_source::TypedDataSource;
use crate::plugin::diag::{AttrPath, Diagnostics};
use crate::plugin::schema::{AttrType, Attribute, Block, Schema};
use crate::plugin::typed::Tf;
use crate::provider::ProviderState;
use crate::{rules, tf_object};

tf_object! {
    pub struct SnapshotsModel {
        pub policy: String,
        pub db_identifier: String,
        pub region: String,
        pub snapshots: Vec<SnapshotEntry>,
        pub latest: BTreeMap<String, String>,
    }
}

tf_object! {
    pub struct SnapshotEntry {
        pub db_identifier: String,
        pub kind: String,
        pub snapshot_identifier: String,
        pub snapshot_arn: String,
        pub created_at: String,
        pub status: String,
        pub region: String,
    }
}

pub struct SnapshotsDataSource {
    schema: Schema,
    provider: Arc<ProviderState>,
}

fn entry_type() -> AttrType {
    AttrType::Object(
        [
            "db_identifier",
            "kind",
            "snapshot_identifier",
            "snapshot_arn",
            "created_at",
            "status",
            "region",
        ]
        .into_iter()
        .map(|name| (name, AttrType::String))
        .collect(),
    )
}

impl SnapshotsDataSource {
    pub fn new(provider: Arc<ProviderState>) -> SnapshotsDataSource {
        use Attribute as A;
        let schema = Schema {
            version: 0,
            block: Block {
                description: "The snapshots a policy owns in a region (its own region, or a `copy` block's), newest \
                              first, and the newest available one per database: what to restore from.",
                attributes: vec![
                    A::required(
                        "policy",
                        AttrType::String,
                        "Name of the `rdsbackup_policy` whose snapshots to list.",
                    ),
                    A::optional(
                        "db_identifier",
                        AttrType::String,
                        "Only the snapshots of this database (instance or cluster).",
                    ),
                    A::optional_computed(
                        "region",
                        AttrType::String,
                        "Where to look, e.g. a `copy` block's region. Defaults to the provider's region.",
                    ),
                    A::computed(
                        "snapshots",
                        AttrType::List(Box::new(entry_type())),
                        "The policy's own snapshots there (manual, tagged for the policy and the database, in the \
                         policy's identifier form), newest first by `created_at` (RDS's `SnapshotCreateTime`, RFC \
                         3339 UTC): `db_identifier`, `kind` (`instance` or `cluster`), `snapshot_identifier`, \
                         `snapshot_arn`, `created_at`, `status`, `region`.",
                    ),
                    A::computed(
                        "latest",
                        AttrType::map_of_strings(),
                        "From each database to its newest *available* snapshot's identifier, ready for \
                         `snapshot_identifier` of a restore. A copy onto the `vault` block's key (`<identifier>-v`) \
                         is listed in `snapshots` but never named here: it holds its source's data.",
                    ),
                ],
                blocks: vec![],
            },
        };
        SnapshotsDataSource { schema, provider }
    }
}

/// One snapshot as listed, before the ownership test.
struct Listed {
    kind: SnapshotKind,
    id: String,
    arn: String,
    snapshot_type: String,
    status: String,
    created: Option<aws_sdk_rds::primitives::DateTime>,
    tags: BTreeMap<String, String>,
}

async fn list(rds: &aws_sdk_rds::Client, db: Option<&str>) -> Result<Vec<Listed>, String> {
    let instances = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_snapshots()
            .set_db_instance_identifier(db.map(String::from))
            .snapshot_type("manual")
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "rds:DescribeDBSnapshots: {}",
                    aws_sdk_rds::error::DisplayErrorContext(e)
                )
            })?;
            found.extend(page.db_snapshots().iter().map(|s| Listed {
                kind: SnapshotKind::Instance,
                id: s.db_snapshot_identifier().unwrap_or_default().into(),
                arn: s.db_snapshot_arn().unwrap_or_default().into(),
                snapshot_type: s.snapshot_type().unwrap_or_default().into(),
                status: s.status().unwrap_or_default().into(),
                created: s.snapshot_create_time().cloned(),
                tags: crate::aws::tags::rds_map(s.tag_list()),
            }));
        }
        Ok::<_, String>(found)
    };
    let clusters = async {
        let mut found = Vec::new();
        let mut pages = rds
            .describe_db_cluster_snapshots()
            .set_db_cluster_identifier(db.map(String::from))
            .snapshot_type("manual")
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                format!(
                    "rds:DescribeDBClusterSnapshots: {}",
                    aws_sdk_rds::error::DisplayErrorContext(e)
                )
            })?;
            found.extend(page.db_cluster_snapshots().iter().map(|s| Listed {
                kind: SnapshotKind::Cluster,
                id: s.db_cluster_snapshot_identifier().unwrap_or_default().into(),
                arn: s.db_cluster_snapshot_arn().unwrap_or_default().into(),
                snapshot_type: s.snapshot_type().unwrap_or_default().into(),
                status: s.status().unwrap_or_default().into(),
                created: s.snapshot_create_time().cloned(),
                tags: crate::aws::tags::rds_map(s.tag_list()),
            }));
        }
        Ok::<_, String>(found)
    };
    let (instances, clusters) = tokio::join!(instances, clusters);
    let mut all = instances?;
    all.extend(clusters?);
    Ok(all)
}

/// The policy's own among `listed`, newest first (ties by identifier), and the newest available per database.
fn own(policy: &str, region: &str, listed: Vec<Listed>) -> (Vec<SnapshotEntry>, BTreeMap<String, String>) {
    // Newest first to the nanosecond RDS gives: snapshots made within one second are still told apart.
    let mut own: Vec<(Option<i128>, Listed, String)> = listed
        .into_iter()
        .filter_map(|s| {
            let db = s.tags.get(tags::DB)?.clone();
            let policy_tag = s.tags.get(tags::POLICY).map(String::as_str);
            identifier::is_own(&s.snapshot_type, policy_tag, Some(&db), &s.id, policy, &db, s.kind)
                .then(|| (s.created.map(|t| t.as_nanos()), s, db))
        })
        .collect();
    own.sort_by(|a, b| (b.0, &b.1.id).cmp(&(a.0, &a.1.id)));
    let mut latest = BTreeMap::new();
    let entries = own
        .into_iter()
        .map(|(_, s, db)| {
            // A copy onto the vault key holds its source's data, made later: `latest` names the source, so that
            // a restore pipeline fed by it does not switch identifiers when the copy appears.
            let copy = identifier::parse(&s.id, policy, &db, s.kind).is_some_and(|p| p.form == Form::Shareable);
            if s.status == "available" && !copy {
                latest.entry(db.clone()).or_insert_with(|| s.id.clone());
            }
            let created_at = s
                .created
                .and_then(|t| t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime).ok())
                .map_or(Tf::Null, Tf::Known);
            SnapshotEntry {
                db_identifier: Tf::Known(db),
                kind: Tf::Known(s.kind.as_str().to_string()),
                snapshot_identifier: Tf::Known(s.id),
                snapshot_arn: Tf::Known(s.arn),
                created_at,
                status: Tf::Known(s.status),
                region: Tf::Known(region.to_string()),
            }
        })
        .collect();
    (entries, latest)
}

#[tonic::async_trait]
impl TypedDataSource for SnapshotsDataSource {
    type Model = SnapshotsModel;

    fn schema(&self) -> &Schema {
        &self.schema
    }

    fn validate(&self, config: &SnapshotsModel) -> Diagnostics {
        let mut d = Diagnostics::new();
        let mut check = |attribute: &str, value: &Tf<String>, rule: fn(&str) -> rules::Check| {
            if let Some(Err(message)) = value.known().map(|v| rule(v)) {
                d.attribute_error(AttrPath::root(attribute), format!("Invalid {attribute}"), message);
            }
        };
        check("policy", &config.policy, rules::policy_name);
        check("db_identifier", &config.db_identifier, rules::db_identifier);
        check("region", &config.region, rules::region);
        d
    }

    async fn read(&self, mut config: SnapshotsModel) -> Result<SnapshotsModel, Diagnostics> {
        let fail = |detail: String| {
            let mut d = Diagnostics::new();
            d.error("Cannot read rdsbackup_snapshots", detail);
            d
        };
        let aws = self
            .provider
            .aws
            .get()
            .ok_or_else(|| fail("The provider was not configured before use; this is a bug.".into()))?;
        let region = config
            .region
            .known()
            .cloned()
            .unwrap_or_else(|| aws.region().to_string());
        let rds = if region == aws.region() {
            aws.clients.rds.clone()
        } else {
            let conf = aws
                .clients
                .rds
                .config()
                .to_builder()
                .region(aws_config::Region::new(region.clone()))
                .build();
            aws_sdk_rds::Client::from_conf(conf)
        };
        let policy = config.policy.known().cloned().unwrap_or_default();
        let listed = list(&rds, config.db_identifier.known().map(String::as_str))
            .await
            .map_err(fail)?;
        let (snapshots, latest) = own(&policy, &region, listed);
        config.region = Tf::Known(region);
        config.snapshots = Tf::Known(snapshots);
        config.latest = Tf::Known(latest);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, db: &str, policy: &str, status: &str, created: i64) -> Listed {
        Listed {
            kind: SnapshotKind::Instance,
            id: id.into(),
            arn: format!("arn:aws:rds:eu-west-1:123456789012:snapshot:{id}"),
            snapshot_type: "manual".into(),
            status: status.into(),
            created: Some(aws_sdk_rds::primitives::DateTime::from_secs(created)),
            tags: [
                (tags::POLICY.to_string(), policy.to_string()),
                (tags::DB.to_string(), db.to_string()),
            ]
            .into(),
        }
    }

    #[test]
    fn own_snapshots_newest_first_and_the_newest_available_per_database() {
        let id = |db: &str, slot: &str| identifier::build("nightly", db, SnapshotKind::Instance, slot);
        let (entries, latest) = own(
            "nightly",
            "eu-west-1",
            vec![
                listed(&id("orders", "202611270300"), "orders", "nightly", "available", 1_000),
                listed(&id("orders", "202611280300"), "orders", "nightly", "creating", 2_000),
                listed(&id("billing", "202611280300"), "billing", "nightly", "available", 1_500),
                listed("orders-by-hand", "orders", "nightly", "available", 3_000),
                listed(&id("orders", "202611290300"), "orders", "weekly", "available", 4_000),
                // The copy of the newest available orders snapshot onto the vault key, made later.
                listed(
                    &identifier::build_shareable("nightly", "orders", SnapshotKind::Instance, "202611270300"),
                    "orders",
                    "nightly",
                    "available",
                    5_000,
                ),
            ],
        );
        let ids: Vec<&str> = entries
            .iter()
            .map(|e| e.snapshot_identifier.known().unwrap().as_str())
            .collect();
        assert_eq!(
            ids,
            [
                format!("{}-v", id("orders", "202611270300")),
                id("orders", "202611280300"),
                id("billing", "202611280300"),
                id("orders", "202611270300")
            ]
        );
        assert_eq!(entries[1].created_at, Tf::Known("1970-01-01T00:33:20Z".into()));
        assert_eq!(
            latest,
            BTreeMap::from([
                ("billing".to_string(), id("billing", "202611280300")),
                ("orders".to_string(), id("orders", "202611270300")),
            ]),
            "a snapshot still creating is not what to restore from, nor a copy onto the vault key"
        );
    }
}

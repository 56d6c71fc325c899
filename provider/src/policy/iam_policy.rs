//! The function role's inline policy, least privilege: describe calls may use `*`; snapshot creation only of the
//! selected databases (by ARN, or by tag condition for `selection_tags`) into snapshots named for this policy;
//! deletion only of snapshots tagged `rdsbackup:policy = <name>`; copies only of its own snapshots into the
//! `copy` blocks' regions, under its own names there, onto the blocks' keys through RDS in that region, and
//! deletion there only of its own tagged copies; with a `vault` block, copies at home onto the vault key and
//! sharing (the `restore` attribute) only of its own tagged snapshots; S3 only under the policy's bucket's `snapshots/` and `pending/`
//! prefixes; logs only to its log group; KMS only with the configured keys.

use std::collections::{BTreeMap, BTreeSet};

use rdsbackup_common::archive::{Archive, EXPORTS_PREFIX, MARKERS_PREFIX};
use rdsbackup_common::copies::Destination;
use rdsbackup_common::drill;
use rdsbackup_common::vault::VaultTarget;
use rdsbackup_common::{PENDING_PREFIX, RECORDS_PREFIX, identifier, tags};
use serde_json::{Value, json};

use super::names::Location;

pub struct Grants<'a> {
    pub policy: &'a str,
    pub bucket: &'a str,
    pub log_group: &'a str,
    pub instances: &'a BTreeSet<String>,
    pub clusters: &'a BTreeSet<String>,
    /// Clusters of listed instances that are cluster members, as RDS reports them.
    pub member_clusters: &'a BTreeSet<String>,
    pub selection_tags: &'a BTreeMap<String, String>,
    pub kms_key_arn: Option<&'a str>,
    pub copies: &'a [Destination],
    pub vault: Option<&'a VaultTarget>,
    pub archive: Option<&'a Archive>,
    pub drill: Option<&'a drill::Settings>,
}

/// A statement allowing `actions` on one key, by key ARN, or (IAM cannot name a key by alias ARN) on whichever
/// key carries that alias; `via` adds the `kms:ViaService` condition.
pub(crate) fn key_statement(sid: String, actions: Value, key: &str, via: Option<String>) -> Value {
    let mut statement = match key.split_once(":alias/") {
        Some((_, alias)) => json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": format!("alias/{alias}")}}
        }),
        None => json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": key}),
    };
    if let Some(via) = via {
        statement["Condition"]["StringEquals"] = json!({"kms:ViaService": via});
    }
    statement
}

/// The export role's inline policy: RDS's export service writes the export's files under `exports/` of the
/// policy's bucket and nowhere else (the actions StartExportTask's documentation requires), with the block's key.
pub fn export_document(bucket: &str, kms_key_arn: &str, here: &Location) -> Value {
    let bucket_arn = here.bucket_arn(bucket);
    json!({"Version": "2012-10-17", "Statement": [
        {
            "Sid": "WriteExports",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*"],
            "Resource": format!("{bucket_arn}/{EXPORTS_PREFIX}*")
        },
        {
            "Sid": "ListExports",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn.clone(),
            "Condition": {"StringLike": {"s3:prefix": format!("{EXPORTS_PREFIX}*")}}
        },
        {
            "Sid": "BucketLocation",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": bucket_arn
        },
        key_statement(
            "ExportKey".into(),
            json!(["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]),
            kms_key_arn,
            None,
        )
    ]})
}

/// The function's own log streams, in its log group only (every stack's function has this one).
pub(crate) fn logs_statement(log_group: &str, here: &Location) -> Value {
    json!({
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": format!(
            "arn:{}:logs:{}:{}:log-group:{log_group}:*",
            here.partition, here.region, here.account_id
        )
    })
}

pub fn document(grants: &Grants, here: &Location) -> Value {
    let rds_in = |region: &str, kind: &str, id: &str| {
        format!("arn:{}:rds:{region}:{}:{kind}:{id}", here.partition, here.account_id)
    };
    let rds = |kind: &str, id: &str| rds_in(&here.region, kind, id);
    let own_prefix = format!("{}*", identifier::prefix(grants.policy));
    // The policy's own snapshots, at home and (its copies) in every destination.
    let own = |kind: &str| {
        std::iter::once(here.region.as_str())
            .chain(grants.copies.iter().map(|d| d.region.as_str()))
            .map(|region| rds_in(region, kind, &own_prefix))
            .collect::<Vec<_>>()
    };
    let both = |instances: Vec<String>, clusters: Vec<String>| -> Vec<String> {
        instances.into_iter().chain(clusters).collect()
    };
    let mut statements = vec![json!({
        "Sid": "Describe",
        "Effect": "Allow",
        "Action": [
            "rds:DescribeDBClusterSnapshots",
            "rds:DescribeDBClusters",
            "rds:DescribeDBInstances",
            "rds:DescribeDBSnapshots",
            "rds:ListTagsForResource"
        ],
        "Resource": "*"
    })];
    let mut selected = |sid: &str, action: &str, kind: &str, ids: &BTreeSet<String>, tag_key: &str| {
        if !ids.is_empty() {
            statements.push(json!({
                "Sid": format!("{sid}Listed"),
                "Effect": "Allow",
                "Action": action,
                "Resource": ids.iter().map(|id| rds(kind, id)).collect::<Vec<_>>()
            }));
        }
        if !grants.selection_tags.is_empty() {
            let condition: serde_json::Map<String, Value> = grants
                .selection_tags
                .iter()
                .map(|(k, v)| (format!("rds:{tag_key}/{k}"), Value::String(v.clone())))
                .collect();
            statements.push(json!({
                "Sid": format!("{sid}Tagged"),
                "Effect": "Allow",
                "Action": action,
                "Resource": rds(kind, "*"),
                "Condition": {"StringEquals": condition}
            }));
        }
    };
    selected(
        "SnapshotInstances",
        "rds:CreateDBSnapshot",
        "db",
        grants.instances,
        "db-tag",
    );
    let clusters: BTreeSet<String> = grants.clusters.union(grants.member_clusters).cloned().collect();
    selected(
        "SnapshotClusters",
        "rds:CreateDBClusterSnapshot",
        "cluster",
        &clusters,
        "cluster-tag",
    );
    statements.push(json!({
        "Sid": "CreateOwnSnapshots",
        "Effect": "Allow",
        "Action": ["rds:CreateDBClusterSnapshot", "rds:CreateDBSnapshot"],
        "Resource": [rds("snapshot", &own_prefix), rds("cluster-snapshot", &own_prefix)]
    }));
    let copying = !grants.copies.is_empty() || grants.vault.is_some();
    if copying {
        // A copy is authorized on its source (the policy's own snapshot at home) and on its target (the
        // policy's name in the destination), both named here.
        statements.push(json!({
            "Sid": "CopyOwnSnapshots",
            "Effect": "Allow",
            "Action": ["rds:CopyDBClusterSnapshot", "rds:CopyDBSnapshot"],
            "Resource": both(own("snapshot"), own("cluster-snapshot"))
        }));
    }
    statements.push(json!({
        "Sid": "TagOwnSnapshots",
        "Effect": "Allow",
        "Action": "rds:AddTagsToResource",
        "Resource": both(own("snapshot"), own("cluster-snapshot")),
        "Condition": {"StringEquals": {format!("aws:RequestTag/{}", tags::POLICY): grants.policy}}
    }));
    let one_or_many = |mut arns: Vec<String>| {
        if arns.len() == 1 {
            json!(arns.remove(0))
        } else {
            json!(arns)
        }
    };
    // `action` on `resource`, snapshots of `kind` (`snapshot` or `cluster-snapshot`) that carry the policy's tag.
    let own_tagged = |sid: &str, action: &str, kind: &str, resource: Value| {
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Action": action,
            "Resource": resource,
            "Condition": {"StringEquals": {format!("rds:{kind}-tag/{}", tags::POLICY): grants.policy}}
        })
    };
    statements.push(own_tagged(
        "DeleteOwnInstanceSnapshots",
        "rds:DeleteDBSnapshot",
        "snapshot",
        one_or_many(own("snapshot")),
    ));
    statements.push(own_tagged(
        "DeleteOwnClusterSnapshots",
        "rds:DeleteDBClusterSnapshot",
        "cluster-snapshot",
        one_or_many(own("cluster-snapshot")),
    ));
    // RDS encrypts a copy with the block's key through a grant it creates in the caller's name; the grant is
    // limited to RDS in that region.
    for (i, destination) in grants.copies.iter().enumerate() {
        if let Some(key) = &destination.kms_key_arn {
            statements.push(key_statement(
                format!("CopyKey{}", i + 1),
                json!(["kms:CreateGrant", "kms:DescribeKey"]),
                key,
                Some(format!("rds.{}.amazonaws.com", destination.region)),
            ));
        }
    }
    if let Some(vault) = grants.vault {
        // The copy onto the vault key is made at home, and RDS shares a snapshot through its `restore` attribute:
        // both only on the policy's own snapshots (by name and tag).
        statements.push(key_statement(
            "VaultKey".into(),
            json!(["kms:CreateGrant", "kms:DescribeKey"]),
            &vault.kms_key_arn,
            Some(format!("rds.{}.amazonaws.com", here.region)),
        ));
        statements.push(own_tagged(
            "ShareOwnInstanceSnapshots",
            "rds:ModifyDBSnapshotAttribute",
            "snapshot",
            json!(rds("snapshot", &own_prefix)),
        ));
        statements.push(own_tagged(
            "ShareOwnClusterSnapshots",
            "rds:ModifyDBClusterSnapshotAttribute",
            "cluster-snapshot",
            json!(rds("cluster-snapshot", &own_prefix)),
        ));
    }
    if let Some(settings) = grants.drill {
        statements.extend(drill_statements(grants, settings, here, &own_prefix));
    }
    if copying || grants.drill.is_some() {
        // The source snapshot's key (a database's customer managed key, unknown to the policy) is used by RDS at
        // home for a cross-region copy or a drill's restore, through a grant limited to RDS in the home region.
        let home_keys = format!("arn:{}:kms:{}:{}:key/*", here.partition, here.region, here.account_id);
        let via_rds = format!("rds.{}.amazonaws.com", here.region);
        statements.push(json!({
            "Sid": "CopySourceKeyGrants",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": home_keys,
            "Condition": {
                "StringEquals": {"kms:ViaService": via_rds},
                "Bool": {"kms:GrantIsForAWSResource": "true"}
            }
        }));
        statements.push(json!({
            "Sid": "CopySourceKeyDescribe",
            "Effect": "Allow",
            "Action": "kms:DescribeKey",
            "Resource": home_keys,
            "Condition": {"StringEquals": {"kms:ViaService": via_rds}}
        }));
    }
    if let Some(archive) = grants.archive {
        // Exports of the policy's own snapshots only, through the export role only (passed to RDS's export
        // service only); StartExportTask is authorized on the snapshot exported.
        statements.push(json!({
            "Sid": "ExportOwnSnapshots",
            "Effect": "Allow",
            "Action": "rds:StartExportTask",
            "Resource": [rds("snapshot", &own_prefix), rds("cluster-snapshot", &own_prefix)]
        }));
        statements.push(json!({
            "Sid": "DescribeExports",
            "Effect": "Allow",
            "Action": "rds:DescribeExportTasks",
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "PassTheExportRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": archive.role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "export.rds.amazonaws.com"}}
        }));
        statements.push(json!({
            "Sid": "ExportMarkers",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": format!("{}/{MARKERS_PREFIX}*", here.bucket_arn(grants.bucket))
        }));
        // RDS encrypts the export with the block's key through a grant it makes in the caller's name: the
        // function itself uses the key through RDS only (a direct grant could give anyone the exports' key).
        let via_rds = format!("rds.{}.amazonaws.com", here.region);
        let mut grant = key_statement(
            "ExportKeyGrants".into(),
            json!("kms:CreateGrant"),
            &archive.kms_key_arn,
            Some(via_rds.clone()),
        );
        grant["Condition"]["Bool"] = json!({"kms:GrantIsForAWSResource": "true"});
        statements.push(grant);
        statements.push(key_statement(
            "ExportKeyDescribe".into(),
            json!("kms:DescribeKey"),
            &archive.kms_key_arn,
            Some(via_rds),
        ));
    }
    let bucket_arn = here.bucket_arn(grants.bucket);
    if grants.drill.is_some() {
        statements.push(json!({
            "Sid": "DrillEvidence",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": format!("{bucket_arn}/{}*", drill::EVIDENCE_PREFIX)
        }));
        statements.push(json!({
            "Sid": "DrillMarkers",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:PutObject"],
            "Resource": format!("{bucket_arn}/{}*", drill::MARKERS_PREFIX)
        }));
    }
    statements.push(json!({
        "Sid": "Records",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": format!("{bucket_arn}/{RECORDS_PREFIX}*")
    }));
    statements.push(json!({
        "Sid": "PendingRecords",
        "Effect": "Allow",
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": format!("{bucket_arn}/{PENDING_PREFIX}*")
    }));
    // Unconditional on the policy's own bucket: with it S3 answers a missing record with 404, without it 403
    // (S3 checks ListBucket without a prefix then). The run lists `pending/` with it.
    statements.push(json!({
        "Sid": "ListRecords",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn
    }));
    statements.push(logs_statement(grants.log_group, here));
    if let Some(key) = grants.kms_key_arn {
        statements.push(key_statement(
            "RecordsKey".into(),
            json!(["kms:Decrypt", "kms:GenerateDataKey"]),
            key,
            None,
        ));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A drill restores only the policy's own snapshots, only into databases named and tagged as its drills
/// (`aws:RequestTag`, checked on every resource of the request), and deletes only databases carrying both its
/// drill tag and its policy tag. The subnet group, option group and parameter groups a restore names are the
/// account's (the source's, or the block's subnet group); RDS checks them too.
fn drill_statements(grants: &Grants, settings: &drill::Settings, here: &Location, own_prefix: &str) -> Vec<Value> {
    let rds = |kind: &str, id: &str| {
        format!(
            "arn:{}:rds:{}:{}:{kind}:{id}",
            here.partition, here.region, here.account_id
        )
    };
    let drills = format!("{}*", drill::RESTORED_PREFIX);
    let tag = |prefix: &str| {
        json!({
            format!("{prefix}/{}", tags::DRILL): "true",
            format!("{prefix}/{}", tags::POLICY): grants.policy,
        })
    };
    let subnet_group = settings.subnet_group_name.as_deref().unwrap_or("*");
    vec![
        json!({
            "Sid": "RestoreDrills",
            "Effect": "Allow",
            "Action": [
                "rds:AddTagsToResource",
                "rds:CreateDBInstance",
                "rds:RestoreDBClusterFromSnapshot",
                "rds:RestoreDBInstanceFromDBSnapshot"
            ],
            "Resource": [rds("cluster", &drills), rds("db", &drills)],
            "Condition": {"StringEquals": tag("aws:RequestTag")}
        }),
        json!({
            "Sid": "RestoreOwnSnapshots",
            "Effect": "Allow",
            "Action": ["rds:RestoreDBClusterFromSnapshot", "rds:RestoreDBInstanceFromDBSnapshot"],
            "Resource": [rds("cluster-snapshot", own_prefix), rds("snapshot", own_prefix)]
        }),
        json!({
            "Sid": "DrillGroups",
            "Effect": "Allow",
            "Action": [
                "rds:CreateDBInstance",
                "rds:RestoreDBClusterFromSnapshot",
                "rds:RestoreDBInstanceFromDBSnapshot"
            ],
            "Resource": [
                rds("cluster-pg", "*"),
                rds("og", "*"),
                rds("pg", "*"),
                rds("secgrp", "*"),
                rds("subgrp", subnet_group)
            ]
        }),
        json!({
            "Sid": "DeleteDrillInstances",
            "Effect": "Allow",
            "Action": "rds:DeleteDBInstance",
            "Resource": rds("db", &drills),
            "Condition": {"StringEquals": tag("rds:db-tag")}
        }),
        json!({
            "Sid": "DeleteDrillClusters",
            "Effect": "Allow",
            "Action": "rds:DeleteDBCluster",
            "Resource": rds("cluster", &drills),
            "Condition": {"StringEquals": tag("rds:cluster-tag")}
        }),
        // The service authorization reference lists a cluster snapshot as DeleteDBCluster's resource too (the
        // final snapshot, which drills skip): only under the drills' own names, where nothing else lives.
        json!({
            "Sid": "DrillClustersFinalSnapshot",
            "Effect": "Allow",
            "Action": "rds:DeleteDBCluster",
            "Resource": rds("cluster-snapshot", &drills)
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Location {
        Location::example()
    }

    fn statements(doc: &Value) -> Vec<Value> {
        doc["Statement"].as_array().unwrap().clone()
    }

    #[test]
    fn destructive_actions_are_scoped_by_arn_and_tag() {
        let instances = BTreeSet::from(["orders".to_string()]);
        let none = BTreeSet::new();
        let doc = document(
            &Grants {
                policy: "nightly",
                bucket: "b",
                log_group: "/aws/lambda/rdsbackup-nightly",
                instances: &instances,
                clusters: &none,
                member_clusters: &none,
                selection_tags: &BTreeMap::new(),
                kms_key_arn: None,
                copies: &[],
                vault: None,
                archive: None,
                drill: None,
            },
            &here(),
        );
        for statement in statements(&doc) {
            let actions = statement["Action"].to_string();
            if statement["Resource"] == "*" {
                assert_eq!(
                    statement["Sid"], "Describe",
                    "only describe calls may use *: {statement}"
                );
            }
            if actions.contains("s3:DeleteObject") {
                assert_eq!(statement["Action"], json!(["s3:DeleteObject", "s3:PutObject"]));
                assert_eq!(
                    statement["Resource"], "arn:aws:s3:::b/pending/*",
                    "only the pending markers"
                );
            } else if actions.contains("Delete") {
                assert!(
                    statement["Resource"].to_string().contains("rdsbackup-nightly-*"),
                    "{statement}"
                );
                assert!(
                    statement["Condition"].to_string().contains("rdsbackup:policy"),
                    "{statement}"
                );
                assert!(statement["Condition"].to_string().contains("nightly"), "{statement}");
            }
        }
        let listed = statements(&doc)
            .into_iter()
            .find(|s| s["Sid"] == "SnapshotInstancesListed")
            .unwrap();
        assert_eq!(
            listed["Resource"],
            json!(["arn:aws:rds:eu-west-1:123456789012:db:orders"])
        );
        assert!(
            !doc.to_string().contains("SnapshotClusters"),
            "no cluster grant without clusters"
        );
    }

    #[test]
    fn a_listed_cluster_member_grants_its_cluster_snapshot() {
        let instances = BTreeSet::from(["reports-1".to_string()]);
        let members = BTreeSet::from(["reports".to_string()]);
        let none = BTreeSet::new();
        let doc = document(
            &Grants {
                policy: "nightly",
                bucket: "b",
                log_group: "g",
                instances: &instances,
                clusters: &none,
                member_clusters: &members,
                selection_tags: &BTreeMap::new(),
                kms_key_arn: None,
                copies: &[],
                vault: None,
                archive: None,
                drill: None,
            },
            &here(),
        );
        let listed = statements(&doc)
            .into_iter()
            .find(|s| s["Sid"] == "SnapshotClustersListed")
            .expect("a cluster grant for the member's cluster");
        assert_eq!(listed["Action"], "rds:CreateDBClusterSnapshot");
        assert_eq!(
            listed["Resource"],
            json!(["arn:aws:rds:eu-west-1:123456789012:cluster:reports"])
        );
    }

    #[test]
    fn selection_tags_become_conditions_and_keys_are_scoped() {
        let none = BTreeSet::new();
        let selection = BTreeMap::from([("backup".to_string(), "daily".to_string())]);
        let doc = document(
            &Grants {
                policy: "p",
                bucket: "b",
                log_group: "g",
                instances: &none,
                clusters: &none,
                member_clusters: &none,
                selection_tags: &selection,
                kms_key_arn: Some("arn:aws:kms:eu-west-1:123456789012:key/k1"),
                copies: &[],
                vault: None,
                archive: None,
                drill: None,
            },
            &here(),
        );
        let tagged = statements(&doc)
            .into_iter()
            .find(|s| s["Sid"] == "SnapshotClustersTagged")
            .unwrap();
        assert_eq!(tagged["Condition"]["StringEquals"]["rds:cluster-tag/backup"], "daily");
        let key = statements(&doc).into_iter().find(|s| s["Sid"] == "RecordsKey").unwrap();
        assert_eq!(key["Resource"], "arn:aws:kms:eu-west-1:123456789012:key/k1");
    }

    #[test]
    fn copies_are_granted_only_into_the_named_regions_onto_the_named_keys() {
        let instances = BTreeSet::from(["orders".to_string()]);
        let none = BTreeSet::new();
        let copies = [
            Destination {
                region: "us-west-2".into(),
                kms_key_arn: Some("arn:aws:kms:us-west-2:123456789012:key/west".into()),
                retention_days: 35,
                min_snapshots: 3,
            },
            Destination {
                region: "eu-central-1".into(),
                kms_key_arn: None,
                retention_days: 90,
                min_snapshots: 1,
            },
        ];
        let doc = document(
            &Grants {
                policy: "nightly",
                bucket: "b",
                log_group: "/aws/lambda/rdsbackup-nightly",
                instances: &instances,
                clusters: &none,
                member_clusters: &none,
                selection_tags: &BTreeMap::new(),
                kms_key_arn: None,
                copies: &copies,
                vault: None,
                archive: None,
                drill: None,
            },
            &here(),
        );
        let by_sid = |sid: &str| {
            statements(&doc)
                .into_iter()
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("no {sid}"))
        };
        let snapshot = |region: &str| format!("arn:aws:rds:{region}:123456789012:snapshot:rdsbackup-nightly-*");
        let copy = by_sid("CopyOwnSnapshots");
        assert!(copy.get("Condition").is_none());
        let resources = copy["Resource"].as_array().unwrap();
        for region in ["eu-west-1", "us-west-2", "eu-central-1"] {
            assert!(resources.contains(&json!(snapshot(region))), "{region}: {copy}");
        }
        assert_eq!(
            resources.len(),
            6,
            "instance and cluster snapshots in three regions only"
        );
        let delete = by_sid("DeleteOwnInstanceSnapshots");
        assert_eq!(
            delete["Resource"],
            json!([snapshot("eu-west-1"), snapshot("us-west-2"), snapshot("eu-central-1")])
        );
        assert_eq!(
            delete["Condition"]["StringEquals"]["rds:snapshot-tag/rdsbackup:policy"],
            "nightly"
        );
        let key = by_sid("CopyKey1");
        assert_eq!(key["Resource"], "arn:aws:kms:us-west-2:123456789012:key/west");
        assert_eq!(key["Action"], json!(["kms:CreateGrant", "kms:DescribeKey"]));
        assert_eq!(
            key["Condition"]["StringEquals"]["kms:ViaService"],
            "rds.us-west-2.amazonaws.com"
        );
        assert!(
            statements(&doc).iter().all(|s| s["Sid"] != "CopyKey2"),
            "no key, no grant"
        );
        let grants = by_sid("CopySourceKeyGrants");
        assert_eq!(grants["Action"], "kms:CreateGrant");
        assert_eq!(grants["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
        for sid in ["CopySourceKeyGrants", "CopySourceKeyDescribe"] {
            let source = by_sid(sid);
            assert_eq!(source["Resource"], "arn:aws:kms:eu-west-1:123456789012:key/*");
            assert_eq!(
                source["Condition"]["StringEquals"]["kms:ViaService"],
                "rds.eu-west-1.amazonaws.com"
            );
        }
    }
}

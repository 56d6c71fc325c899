//! The function's log group, created before the function so that Lambda never creates one without retention.

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::Client;

use super::error::{OrAbsent, Result, failed};
use super::part::Part;
use super::settings::Clients;
use super::tags::{self, TagChange};

/// The retentions CloudWatch Logs' PutRetentionPolicy accepts, in days.
pub const RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

pub struct LogGroupSpec<'a> {
    pub name: &'a str,
    /// Without the `:*` suffix, as the tagging calls take it.
    pub arn: &'a str,
    pub retention_days: i32,
    pub kms_key_arn: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct LogGroup {
    pub retention_days: Option<i32>,
    kms_key_arn: Option<String>,
    tags: BTreeMap<String, String>,
}

/// What differs between the log group found and the spec: the one comparison that drift describes and ensure
/// applies.
#[derive(Debug, PartialEq)]
enum Change {
    /// Missing: created with the key and the tags.
    Create,
    Retention(i32),
    KmsKey(Option<String>),
    Tags(TagChange),
}

fn changes(found: Option<&LogGroup>, spec: &LogGroupSpec) -> Vec<Change> {
    let Some(group) = found else {
        return vec![Change::Create, Change::Retention(spec.retention_days)];
    };
    let mut changes = Vec::new();
    if group.retention_days != Some(spec.retention_days) {
        changes.push(Change::Retention(spec.retention_days));
    }
    if group.kms_key_arn.as_deref() != spec.kms_key_arn {
        changes.push(Change::KmsKey(spec.kms_key_arn.map(str::to_string)));
    }
    if let Some(change) = tags::change(&group.tags, spec.tags) {
        changes.push(Change::Tags(change));
    }
    changes
}

impl Change {
    fn describe(&self, name: &str) -> String {
        match self {
            Change::Create => format!("log group {name} is missing"),
            Change::Retention(_) => format!("log group {name}: retention differs"),
            Change::KmsKey(_) => format!("log group {name}: KMS key differs"),
            Change::Tags(_) => format!("log group {name}: tags differ"),
        }
    }
}

impl Part for LogGroupSpec<'_> {
    type Found = LogGroup;

    fn missing(&self) -> String {
        format!("log group {} is missing", self.name)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<LogGroup>> {
        read(&aws.logs, self.name).await
    }

    fn drift(&self, found: &LogGroup) -> Vec<String> {
        changes(Some(found), self)
            .iter()
            .map(|c| c.describe(self.name))
            .collect()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        ensure(&aws.logs, self).await
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        delete(&aws.logs, self.name).await
    }
}

async fn read(logs: &Client, name: &str) -> Result<Option<LogGroup>> {
    let mut pages = logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("logs:DescribeLogGroups", name))?;
        if let Some(group) = page.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            let arn = group.arn().unwrap_or_default().trim_end_matches(":*").to_string();
            let tags = logs
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(failed("logs:ListTagsForResource", name))?
                .tags
                .unwrap_or_default()
                .into_iter()
                .collect();
            return Ok(Some(LogGroup {
                retention_days: group.retention_in_days(),
                kms_key_arn: group.kms_key_id().map(str::to_string),
                tags,
            }));
        }
    }
    Ok(None)
}

async fn ensure(logs: &Client, spec: &LogGroupSpec<'_>) -> Result<()> {
    let (name, arn) = (spec.name, spec.arn);
    let current = read(logs, name).await?;
    if let Some(found) = &current {
        tags::claim(&found.tags, spec.tags, &format!("log group {name}"))?;
    }
    for change in changes(current.as_ref(), spec) {
        match change {
            Change::Create => {
                let created = logs
                    .create_log_group()
                    .log_group_name(name)
                    .set_kms_key_id(spec.kms_key_arn.map(str::to_string))
                    .set_tags(Some(spec.tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(failed("logs:CreateLogGroup", name));
                match created {
                    // An earlier attempt made it and its answer was lost: ours if it carries our tag.
                    Err(e) if e.is("ResourceAlreadyExistsException") => {
                        let found = read(logs, name).await?.ok_or(e)?;
                        tags::claim(&found.tags, spec.tags, &format!("log group {name}"))?;
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
            Change::Retention(days) => {
                logs.put_retention_policy()
                    .log_group_name(name)
                    .retention_in_days(days)
                    .send()
                    .await
                    .map_err(failed("logs:PutRetentionPolicy", name))?;
            }
            Change::KmsKey(Some(key)) => {
                logs.associate_kms_key()
                    .log_group_name(name)
                    .kms_key_id(key)
                    .send()
                    .await
                    .map_err(failed("logs:AssociateKmsKey", name))?;
            }
            Change::KmsKey(None) => {
                logs.disassociate_kms_key()
                    .log_group_name(name)
                    .send()
                    .await
                    .map_err(failed("logs:DisassociateKmsKey", name))?;
            }
            Change::Tags(change) => {
                change
                    .apply(
                        |keys| async move {
                            logs.untag_resource()
                                .resource_arn(arn)
                                .set_tag_keys(Some(keys))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("logs:UntagResource", name))
                        },
                        |set| async move {
                            logs.tag_resource()
                                .resource_arn(arn)
                                .set_tags(Some(set.into_iter().collect()))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("logs:TagResource", name))
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

async fn delete(logs: &Client, name: &str) -> Result<()> {
    logs.delete_log_group()
        .log_group_name(name)
        .send()
        .await
        .map_err(failed("logs:DeleteLogGroup", name))
        .or_absent(&["ResourceNotFoundException"])
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_and_ensure_see_the_same_changes() {
        let tags = BTreeMap::from([("team".to_string(), "data".to_string())]);
        let spec = LogGroupSpec {
            name: "/aws/lambda/rdsbackup-nightly",
            arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/rdsbackup-nightly",
            retention_days: 30,
            kms_key_arn: None,
            tags: &tags,
        };
        assert_eq!(changes(None, &spec), [Change::Create, Change::Retention(30)]);
        let found = LogGroup {
            retention_days: Some(7),
            kms_key_arn: Some("arn:aws:kms:eu-west-1:123456789012:key/k".into()),
            tags: tags.clone(),
        };
        assert_eq!(
            changes(Some(&found), &spec),
            [Change::Retention(30), Change::KmsKey(None)]
        );
        assert_eq!(
            spec.drift(&found),
            [
                "log group /aws/lambda/rdsbackup-nightly: retention differs",
                "log group /aws/lambda/rdsbackup-nightly: KMS key differs"
            ]
        );
    }
}

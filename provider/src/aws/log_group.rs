//! The function's log group, created before the function so that Lambda never creates one without retention.

use std::collections::BTreeMap;

use aws_sdk_cloudwatchlogs::Client;

use super::error::{OrAbsent, Result, failed};
use super::tags;

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

impl LogGroup {
    pub fn drift(&self, spec: &LogGroupSpec) -> Vec<String> {
        let name = spec.name;
        let mut drift = Vec::new();
        if self.retention_days != Some(spec.retention_days) {
            drift.push(format!("log group {name}: retention differs"));
        }
        if self.kms_key_arn.as_deref() != spec.kms_key_arn {
            drift.push(format!("log group {name}: KMS key differs"));
        }
        if tags::change(&self.tags, spec.tags).is_some() {
            drift.push(format!("log group {name}: tags differ"));
        }
        drift
    }
}

pub async fn read(logs: &Client, name: &str) -> Result<Option<LogGroup>> {
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

pub async fn ensure(logs: &Client, spec: &LogGroupSpec<'_>) -> Result<()> {
    let (name, arn) = (spec.name, spec.arn);
    let current = read(logs, name).await?;
    match &current {
        None => {
            let created = logs
                .create_log_group()
                .log_group_name(name)
                .set_kms_key_id(spec.kms_key_arn.map(str::to_string))
                .set_tags(Some(spec.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(failed("logs:CreateLogGroup", name));
            match created {
                Err(e) if !e.is("ResourceAlreadyExistsException") => return Err(e),
                _ => {}
            }
        }
        Some(group) => {
            if group.kms_key_arn.as_deref() != spec.kms_key_arn {
                match spec.kms_key_arn {
                    Some(key) => logs
                        .associate_kms_key()
                        .log_group_name(name)
                        .kms_key_id(key)
                        .send()
                        .await
                        .map(drop)
                        .map_err(failed("logs:AssociateKmsKey", name))?,
                    None => logs
                        .disassociate_kms_key()
                        .log_group_name(name)
                        .send()
                        .await
                        .map(drop)
                        .map_err(failed("logs:DisassociateKmsKey", name))?,
                }
            }
            if let Some(change) = tags::change(&group.tags, spec.tags) {
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
    if current.as_ref().and_then(|g| g.retention_days) != Some(spec.retention_days) {
        logs.put_retention_policy()
            .log_group_name(name)
            .retention_in_days(spec.retention_days)
            .send()
            .await
            .map_err(failed("logs:PutRetentionPolicy", name))?;
    }
    Ok(())
}

pub async fn delete(logs: &Client, name: &str) -> Result<()> {
    logs.delete_log_group()
        .log_group_name(name)
        .send()
        .await
        .map_err(failed("logs:DeleteLogGroup", name))
        .or_absent(&["ResourceNotFoundException"])
        .map(drop)
}

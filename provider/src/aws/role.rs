//! A stack's IAM role: the function's (trusted by Lambda only) or the export role (trusted by RDS's export service
//! for this account's own exports only), each with one inline least-privilege policy built by the stack from its
//! ARNs. Documents are compared by meaning, after percent-decoding.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};

use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::{Part, expect_arn};
use super::policy_document;
use super::retry::{self, Backoff};
use super::settings::Clients;
use super::tags::{self, TagChange};

pub const INLINE_POLICY_NAME: &str = "rdsbackup";

pub struct RoleSpec<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    /// Who may assume it.
    pub trust: Value,
    pub description: &'static str,
    pub policy: &'a Value,
    pub tags: &'a BTreeMap<String, String>,
}

/// The function's role: Lambda assumes it.
pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

#[derive(Debug)]
pub struct Role {
    pub arn: String,
    trust: Option<Value>,
    policy: Option<Value>,
    /// Managed policies attached to it: the role's rights are its inline policy only, so any of these was
    /// attached outside Terraform and widens what the function may do.
    attached: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl Role {
    /// Whether the role carries the owner tag `key = value` (a role of the same name may be another stack's).
    pub fn tagged(&self, key: &str, value: &str) -> bool {
        self.tags.get(key).map(String::as_str) == Some(value)
    }
}

/// What differs between the role found and the spec: the one comparison that drift describes and ensure
/// applies.
#[derive(Debug, PartialEq)]
enum Change {
    /// Missing: created with the trust policy and the tags.
    Create,
    Trust,
    InlinePolicy,
    Detach(String),
    Tags(TagChange),
}

fn changes(found: Option<&Role>, spec: &RoleSpec) -> Vec<Change> {
    let Some(role) = found else {
        return vec![Change::Create, Change::InlinePolicy];
    };
    let mut changes = Vec::new();
    if !role
        .trust
        .as_ref()
        .is_some_and(|t| policy_document::equivalent(t, &spec.trust))
    {
        changes.push(Change::Trust);
    }
    if !role
        .policy
        .as_ref()
        .is_some_and(|p| policy_document::equivalent(p, spec.policy))
    {
        changes.push(Change::InlinePolicy);
    }
    changes.extend(role.attached.iter().cloned().map(Change::Detach));
    if let Some(change) = tags::change(&role.tags, spec.tags) {
        changes.push(Change::Tags(change));
    }
    changes
}

impl Change {
    fn describe(&self, name: &str) -> String {
        match self {
            Change::Create => format!("role {name} is missing"),
            Change::Trust => format!("role {name}: trust policy differs"),
            Change::InlinePolicy => format!("role {name}: inline policy {INLINE_POLICY_NAME} is missing or differs"),
            Change::Detach(arn) => format!("role {name}: managed policy {arn} is attached outside the policy"),
            Change::Tags(_) => format!("role {name}: tags differ"),
        }
    }
}

impl Part for RoleSpec<'_> {
    type Found = Role;

    fn missing(&self) -> String {
        format!("role {} is missing", self.name)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Role>> {
        read(&aws.iam, self.name).await
    }

    fn drift(&self, found: &Role) -> Vec<String> {
        changes(Some(found), self)
            .iter()
            .map(|c| c.describe(self.name))
            .collect()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        expect_arn("iam:GetRole/CreateRole", &ensure(&aws.iam, self).await?, self.arn)
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        delete(&aws.iam, self.name).await
    }
}

async fn read(iam: &Client, name: &str) -> Result<Option<Role>> {
    let Some(role) = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(failed("iam:GetRole", name))
        .or_absent(&["NoSuchEntity"])?
        .map(|out| out.role)
    else {
        return Ok(None);
    };
    let Some(role) = role else { return Ok(None) };
    // Read together: a refresh costs one round trip more than GetRole, not two.
    let (policy, attached) = tokio::join!(
        iam.get_role_policy()
            .role_name(name)
            .policy_name(INLINE_POLICY_NAME)
            .send(),
        attached_policies(iam, name),
    );
    let policy = policy
        .map_err(failed("iam:GetRolePolicy", name))
        .or_absent(&["NoSuchEntity"])?
        .and_then(|out| policy_document::parse(out.policy_document()));
    Ok(Some(Role {
        arn: role.arn().to_string(),
        trust: role.assume_role_policy_document().and_then(policy_document::parse),
        policy,
        attached: attached?,
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// The ARNs of the managed policies attached to the role, all pages.
async fn attached_policies(iam: &Client, name: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("iam:ListAttachedRolePolicies", name))?;
        arns.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(String::from)),
        );
    }
    Ok(arns)
}

async fn detach(iam: &Client, name: &str, arns: &[String]) -> Result<()> {
    for arn in arns {
        iam.detach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(failed("iam:DetachRolePolicy", name))
            .or_absent(&["NoSuchEntity"])?;
    }
    Ok(())
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags::list(tags, |k, v| Tag::builder().key(k).value(v).build())
}

/// Creates or converges the role; returns its ARN.
async fn ensure(iam: &Client, spec: &RoleSpec<'_>) -> Result<String> {
    let name = spec.name;
    let current = read(iam, name).await?;
    if let Some(found) = &current {
        tags::claim(&found.tags, spec.tags, &format!("role {name}"))?;
    }
    let mut arn = current.as_ref().map(|role| role.arn.clone());
    for change in changes(current.as_ref(), spec) {
        match change {
            Change::Create => {
                let created = iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(spec.trust.to_string())
                    .description(spec.description)
                    .set_tags(Some(tag_list(spec.tags)?))
                    .send()
                    .await
                    .map_err(failed("iam:CreateRole", name));
                arn = match created {
                    Ok(created) => created.role.map(|r| r.arn().to_string()),
                    // An earlier attempt made it and its answer was lost: ours if it carries our tag.
                    Err(e) if e.is("EntityAlreadyExists") => {
                        let found = read(iam, name).await?.ok_or(e)?;
                        tags::claim(&found.tags, spec.tags, &format!("role {name}"))?;
                        Some(found.arn)
                    }
                    Err(e) => return Err(e),
                };
            }
            Change::Trust => {
                iam.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(spec.trust.to_string())
                    .send()
                    .await
                    .map_err(failed("iam:UpdateAssumeRolePolicy", name))?;
            }
            Change::InlinePolicy => {
                iam.put_role_policy()
                    .role_name(name)
                    .policy_name(INLINE_POLICY_NAME)
                    .policy_document(spec.policy.to_string())
                    .send()
                    .await
                    .map_err(failed("iam:PutRolePolicy", name))?;
            }
            Change::Detach(policy) => detach(iam, name, &[policy]).await?,
            Change::Tags(change) => {
                change
                    .apply(
                        |keys| async move {
                            iam.untag_role()
                                .role_name(name)
                                .set_tag_keys(Some(keys))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("iam:UntagRole", name))
                        },
                        |set| async move {
                            iam.tag_role()
                                .role_name(name)
                                .set_tags(Some(tag_list(&set)?))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("iam:TagRole", name))
                        },
                    )
                    .await?;
            }
        }
    }
    arn.ok_or_else(|| AwsError::new(format!("iam:CreateRole on {name} returned no role")))
}

/// Deletes the role's own inline policy, then the role: two requests. Only when IAM refuses (`DeleteConflict`:
/// a policy added outside the stack, inline or managed, which IAM wants gone first) are the role's policies
/// listed and removed, and the delete asked again, for as long as IAM takes to see the policies gone (its
/// propagation, seconds, up to two minutes as terraform-provider-aws allows it). Missing is fine.
async fn delete(iam: &Client, name: &str) -> Result<()> {
    iam.delete_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
        .map_err(failed("iam:DeleteRolePolicy", name))
        // Gone already (an earlier attempt deleted it), or the whole role is: DeleteRole tells which.
        .or_absent(&["NoSuchEntity"])?;
    match delete_role(iam, name).await {
        Err(e) if e.is("DeleteConflict") => {
            remove_policies(iam, name).await?;
            let propagation = Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(10),
                total: Duration::from_secs(120),
            };
            retry::until(propagation, |e| e.is("DeleteConflict"), || delete_role(iam, name)).await
        }
        done => done,
    }
}

async fn delete_role(iam: &Client, name: &str) -> Result<()> {
    iam.delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(failed("iam:DeleteRole", name))
        .or_absent(&["NoSuchEntity"])
        .map(drop)
}

/// Deletes every inline policy of the role and detaches every managed one.
async fn remove_policies(iam: &Client, name: &str) -> Result<()> {
    let Some(inline) = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(failed("iam:ListRolePolicies", name))
        .or_absent(&["NoSuchEntity"])?
        .map(|out| out.policy_names)
    else {
        return Ok(());
    };
    for policy in inline {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(&policy)
            .send()
            .await
            .map_err(failed("iam:DeleteRolePolicy", name))
            // Gone already: an earlier attempt deleted it and its answer was lost.
            .or_absent(&["NoSuchEntity"])?;
    }
    detach(iam, name, &attached_policies(iam, name).await?).await
}

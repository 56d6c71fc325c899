//! An EventBridge rule that invokes the function: on a schedule (the policy's backups, the reconcile run) or on
//! an event pattern (RDS's events on the policy's snapshots), the function as its one target receiving the event
//! unchanged, and the Lambda permission (a statement of its own per rule) that lets this rule, and only it,
//! invoke the function.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_eventbridge::types::{RuleState, Tag, Target};

use super::coalesce::Coalesced;
use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::Part;
use super::settings::Clients;
use super::tags::{self, TagChange};

pub const TARGET_ID: &str = "rdsbackup";

/// What fires the rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// A `cron(...)` or `rate(...)` expression.
    Schedule(String),
    /// An event pattern, compared as JSON (EventBridge may give it back formatted otherwise).
    Pattern(serde_json::Value),
}

pub struct RuleSpec<'a> {
    pub rule_name: String,
    pub rule_arn: String,
    /// What the names of all the stack's rules start with (its schedule rule's name): one listing finds them.
    pub name_prefix: &'a str,
    pub trigger: Trigger,
    pub enabled: bool,
    /// The trigger and state are the `schedule` and `enabled` arguments (reflected by the refresh as their
    /// change, not reported as drift).
    pub reflected: bool,
    pub description: &'static str,
    /// The Sid of the rule's statement in the function's resource policy.
    pub permission_id: &'static str,
    pub function_name: &'a str,
    pub function_arn: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    /// Whether the configuration wants the rule now (the drill rule, with a `restore_drill` block). One not wanted
    /// is read, reported and deleted only when it carries `owner`, the stack's tag: another stack's rule may have
    /// its name.
    pub wanted: bool,
    pub owner: (&'static str, &'a str),
}

#[derive(Debug)]
pub struct Rule {
    pub trigger: Option<Trigger>,
    pub enabled: bool,
    /// The targets as (id, ARN, whether they rewrite the event).
    targets: Vec<(String, String, bool)>,
    permitted: bool,
    tags: BTreeMap<String, String>,
}

/// What differs between the rule found and the spec: the one comparison that drift describes and ensure
/// applies.
#[derive(Debug, PartialEq)]
enum Change {
    /// Missing, or another trigger or state.
    Rule {
        create: bool,
    },
    /// Targets other than the function, by id, are removed first.
    Targets {
        extra: Vec<String>,
    },
    Permission,
    Tags(TagChange),
}

fn changes(found: Option<&Rule>, spec: &RuleSpec) -> Vec<Change> {
    let Some(rule) = found else {
        return vec![
            Change::Rule { create: true },
            Change::Targets { extra: Vec::new() },
            Change::Permission,
        ];
    };
    let mut changes = Vec::new();
    if rule.trigger.as_ref() != Some(&spec.trigger) || rule.enabled != spec.enabled {
        changes.push(Change::Rule { create: false });
    }
    if rule.targets != [(TARGET_ID.to_string(), spec.function_arn.to_string(), false)] {
        let extra = rule
            .targets
            .iter()
            .filter(|(id, _, _)| id != TARGET_ID)
            .map(|(id, _, _)| id.clone())
            .collect();
        changes.push(Change::Targets { extra });
    }
    if !rule.permitted {
        changes.push(Change::Permission);
    }
    if let Some(change) = tags::change(&rule.tags, spec.tags) {
        changes.push(Change::Tags(change));
    }
    changes
}

impl Change {
    fn describe(&self, spec: &RuleSpec) -> Option<String> {
        let rule = &spec.rule_name;
        match self {
            Change::Rule { .. } if spec.reflected => None,
            Change::Rule { .. } => Some(format!("rule {rule}: its trigger or state differs")),
            Change::Targets { .. } => Some(format!(
                "rule {rule}: targets differ (want only the function, event unchanged)"
            )),
            Change::Permission => Some(format!(
                "function {}: permission {} for rule {rule} is missing",
                spec.function_name, spec.permission_id
            )),
            Change::Tags(_) => Some(format!("rule {rule}: tags differ")),
        }
    }
}

impl Part for RuleSpec<'_> {
    type Found = Rule;

    fn missing(&self) -> String {
        format!("rule {} is missing", self.rule_name)
    }

    fn wanted(&self) -> bool {
        self.wanted
    }

    fn left_over(&self) -> String {
        format!(
            "rule {} is left over: the configuration no longer has it",
            self.rule_name
        )
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Rule>> {
        let found = read(aws, self).await?;
        let (key, owner) = self.owner;
        Ok(found.filter(|rule| self.wanted || rule.tags.get(key).map(String::as_str) == Some(owner)))
    }

    fn drift(&self, found: &Rule) -> Vec<String> {
        changes(Some(found), self)
            .iter()
            .filter_map(|c| c.describe(self))
            .collect()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        ensure(aws, self).await
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        if !self.wanted && self.read(aws).await?.is_none() {
            return Ok(());
        }
        delete(&aws.events, &self.rule_name).await?;
        // A wanted rule is deleted only with its whole stack, whose function goes later in the same destroy and
        // takes its resource policy with it; a rule the configuration dropped leaves a function that stays.
        if self.wanted {
            Ok(())
        } else {
            remove_permission(&aws.lambda, self).await
        }
    }
}

/// What the stack's rules are found as in one listing by name prefix: a refresh lists them once for all of
/// them, not once each.
#[derive(Clone, Debug)]
pub struct Listed {
    name: String,
    trigger: Option<Trigger>,
    enabled: bool,
}

/// The reads a stack's rules share while one is in flight (see `coalesce`), per provider configuration.
#[derive(Debug, Default)]
pub struct SharedReads {
    listings: Coalesced<Arc<Vec<Listed>>>,
    function_policies: Coalesced<Option<Arc<serde_json::Value>>>,
}

async fn read(aws: &Clients, spec: &RuleSpec<'_>) -> Result<Option<Rule>> {
    let rule = spec.rule_name.as_str();
    let listing = listed(aws, spec.name_prefix).await?;
    let Some(listed) = listing.iter().find(|r| r.name == rule) else {
        return Ok(None);
    };
    let (targets, tags, permitted) = tokio::join!(
        list_targets(&aws.events, rule),
        aws.events.list_tags_for_resource().resource_arn(&spec.rule_arn).send(),
        is_permitted(aws, spec),
    );
    let tags = tags.map_err(failed("events:ListTagsForResource", rule))?;
    Ok(Some(Rule {
        trigger: listed.trigger.clone(),
        enabled: listed.enabled,
        targets: targets?,
        permitted: permitted?,
        tags: tags
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// Every rule whose name starts with `prefix`, as `ListRules` gives them (the same fields as `DescribeRule`).
async fn listed(aws: &Clients, prefix: &str) -> Result<Arc<Vec<Listed>>> {
    let events = aws.events.clone();
    let owned = prefix.to_string();
    aws.rule_reads
        .listings
        .read(prefix, move || async move {
            let mut rules = Vec::new();
            let mut token = None;
            loop {
                let page = events
                    .list_rules()
                    .name_prefix(&owned)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(failed("events:ListRules", format!("the rules named {owned}*")))?;
                rules.extend(page.rules().iter().map(|r| Listed {
                    name: r.name().unwrap_or_default().to_string(),
                    trigger: match (r.schedule_expression(), r.event_pattern()) {
                        (Some(expression), _) => Some(Trigger::Schedule(expression.to_string())),
                        (None, Some(pattern)) => serde_json::from_str(pattern).ok().map(Trigger::Pattern),
                        (None, None) => None,
                    },
                    enabled: r.state() == Some(&RuleState::Enabled),
                }));
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(Arc::new(rules));
                }
            }
        })
        .await
}

async fn list_targets(events: &aws_sdk_eventbridge::Client, rule: &str) -> Result<Vec<(String, String, bool)>> {
    let mut targets = Vec::new();
    let mut token = None;
    loop {
        let page = events
            .list_targets_by_rule()
            .rule(rule)
            .set_next_token(token)
            .send()
            .await
            .map_err(failed("events:ListTargetsByRule", rule))?;
        targets.extend(page.targets().iter().map(|t| {
            let rewrites = t.input().is_some() || t.input_path().is_some() || t.input_transformer().is_some();
            (t.id().to_string(), t.arn().to_string(), rewrites)
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(targets);
        }
    }
}

async fn is_permitted(aws: &Clients, spec: &RuleSpec<'_>) -> Result<bool> {
    let Some(policy) = function_policy(aws, spec.function_name).await? else {
        return Ok(false);
    };
    let statements = policy["Statement"].as_array().map_or(&[][..], Vec::as_slice);
    Ok(statements.iter().any(|s| {
        s["Sid"] == spec.permission_id
            && s["Effect"] == "Allow"
            && s["Condition"]["ArnLike"]["AWS:SourceArn"] == spec.rule_arn.as_str()
            && s.to_string().contains("events.amazonaws.com")
    }))
}

/// The function's resource policy; `None` when it has none (or the function is gone).
async fn function_policy(aws: &Clients, function: &str) -> Result<Option<Arc<serde_json::Value>>> {
    let lambda = aws.lambda.clone();
    let owned = function.to_string();
    aws.rule_reads
        .function_policies
        .read(function, move || async move {
            let found = lambda
                .get_policy()
                .function_name(&owned)
                .send()
                .await
                .map_err(failed("lambda:GetPolicy", &owned))
                .or_absent(&["ResourceNotFoundException"])?;
            Ok(found.map(|p| Arc::new(serde_json::from_str(p.policy().unwrap_or_default()).unwrap_or_default())))
        })
        .await
}

fn tag_list(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags::list(tags, |k, v| Tag::builder().key(k).value(v).build())
}

async fn ensure(aws: &Clients, spec: &RuleSpec<'_>) -> Result<()> {
    let (events, lambda) = (&aws.events, &aws.lambda);
    let rule = spec.rule_name.as_str();
    let current = read(aws, spec).await?;
    if let Some(found) = &current {
        tags::claim(&found.tags, spec.tags, &format!("rule {rule}"))?;
    }
    let state = if spec.enabled {
        RuleState::Enabled
    } else {
        RuleState::Disabled
    };
    for change in changes(current.as_ref(), spec) {
        match change {
            Change::Rule { create } => {
                let (expression, pattern) = match &spec.trigger {
                    Trigger::Schedule(expression) => (Some(expression.clone()), None),
                    Trigger::Pattern(pattern) => (None, Some(pattern.to_string())),
                };
                events
                    .put_rule()
                    .name(rule)
                    .set_schedule_expression(expression)
                    .set_event_pattern(pattern)
                    .state(state.clone())
                    .description(spec.description)
                    .set_tags(create.then(|| tag_list(spec.tags)).transpose()?)
                    .send()
                    .await
                    .map_err(failed("events:PutRule", rule))?;
            }
            Change::Targets { extra } => {
                if !extra.is_empty() {
                    events
                        .remove_targets()
                        .rule(rule)
                        .set_ids(Some(extra))
                        .send()
                        .await
                        .map_err(failed("events:RemoveTargets", rule))?;
                }
                let target = Target::builder()
                    .id(TARGET_ID)
                    .arn(spec.function_arn)
                    .build()
                    .map_err(|e| AwsError::new(e.to_string()))?;
                let out = events
                    .put_targets()
                    .rule(rule)
                    .targets(target)
                    .send()
                    .await
                    .map_err(failed("events:PutTargets", rule))?;
                if let Some(entry) = out.failed_entries().first() {
                    return Err(AwsError::new(format!(
                        "events:PutTargets on {rule}: {}",
                        entry.error_message().unwrap_or("the target was refused")
                    )));
                }
            }
            Change::Permission => {
                // A statement with our id but another source (or a leftover) must go before the right one.
                let _ = lambda
                    .remove_permission()
                    .function_name(spec.function_name)
                    .statement_id(spec.permission_id)
                    .send()
                    .await;
                let added = lambda
                    .add_permission()
                    .function_name(spec.function_name)
                    .statement_id(spec.permission_id)
                    .action("lambda:InvokeFunction")
                    .principal("events.amazonaws.com")
                    .source_arn(&spec.rule_arn)
                    .send()
                    .await
                    .map_err(failed("lambda:AddPermission", spec.function_name));
                match added {
                    // The statement was removed just before: a conflict is this very request's earlier attempt,
                    // whose answer was lost. (What it holds is compared again at the next refresh.)
                    Err(e) if !e.is("ResourceConflictException") => return Err(e),
                    _ => {}
                }
            }
            Change::Tags(change) => {
                change
                    .apply(
                        |keys| async move {
                            events
                                .untag_resource()
                                .resource_arn(&spec.rule_arn)
                                .set_tag_keys(Some(keys))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("events:UntagResource", rule))
                        },
                        |set| async move {
                            events
                                .tag_resource()
                                .resource_arn(&spec.rule_arn)
                                .set_tags(Some(tag_list(&set)?))
                                .send()
                                .await
                                .map(drop)
                                .map_err(failed("events:TagResource", rule))
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// The rule's statement in the function's resource policy goes with the rule (a function already gone has none).
async fn remove_permission(lambda: &aws_sdk_lambda::Client, spec: &RuleSpec<'_>) -> Result<()> {
    lambda
        .remove_permission()
        .function_name(spec.function_name)
        .statement_id(spec.permission_id)
        .send()
        .await
        .map_err(failed("lambda:RemovePermission", spec.function_name))
        .or_absent(&["ResourceNotFoundException"])
        .map(drop)
}

/// Removes the function's target, then the rule (EventBridge refuses to delete a rule that still has targets);
/// targets someone else added are listed and removed only when they stop the delete.
async fn delete(events: &aws_sdk_eventbridge::Client, rule: &str) -> Result<()> {
    let removed = events
        .remove_targets()
        .rule(rule)
        .ids(TARGET_ID)
        .send()
        .await
        .map_err(failed("events:RemoveTargets", rule))
        .or_absent(&["ResourceNotFoundException"])?;
    if removed.is_none() {
        return Ok(());
    }
    match delete_rule(events, rule).await {
        Err(e) if e.is("ValidationException") => {
            let others: Vec<String> = list_targets(events, rule)
                .await?
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            if !others.is_empty() {
                events
                    .remove_targets()
                    .rule(rule)
                    .set_ids(Some(others))
                    .send()
                    .await
                    .map_err(failed("events:RemoveTargets", rule))?;
            }
            delete_rule(events, rule).await
        }
        done => done,
    }
}

async fn delete_rule(events: &aws_sdk_eventbridge::Client, rule: &str) -> Result<()> {
    events
        .delete_rule()
        .name(rule)
        .send()
        .await
        .map_err(failed("events:DeleteRule", rule))
        .or_absent(&["ResourceNotFoundException"])
        .map(drop)
}

//! The alarms of a stack and the SNS topic they notify: two parts of the stack. Which alarms a stack has (and
//! their metrics, thresholds and words) is the stack's to say; this module makes CloudWatch hold them.
//!
//! Two kinds of alarm serve every stack: the function's `Errors` (AWS/Lambda) above 0 in an hour
//! ([`Shape::function_errors`]), and an age metric the Lambda emits past a threshold in hours
//! ([`Shape::age_over`]), in hourly periods with missing data breaching: a run reports an age near 0, so the
//! alarm stays OK while runs report fresh backups within the window, and fires when they report stale ones or
//! stop reporting at all (a broken schedule, a failing function). CloudWatch looks back at most 7 days with
//! hourly periods. Alarms a stack no longer names under its `stale_prefixes` (a removed `copy` block, a source
//! account dropped from a vault) are found by name and owner tag and deleted.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, StandardUnit, Statistic, Tag};
use rdsbackup_common::metrics;

use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::{Part, expect_arn};
use super::settings::Clients;
use super::tags;

pub struct AlarmsSpec<'a> {
    /// Every alarm of the stack, by name.
    pub alarms: Vec<(String, Shape)>,
    /// What every alarm of the stack starts with (one listing finds them all).
    pub name_prefix: String,
    /// Alarms under these prefixes (or of these names) that `alarms` does not name, and that carry the `owner`
    /// tag, are left over.
    pub stale_prefixes: Vec<String>,
    /// The tag that marks the stack's own parts (`rdsbackup:policy` or `rdsbackup:vault`, with the name).
    pub owner: (&'static str, &'a str),
    /// The alarm whose threshold and topic are reported through the resource's attributes, not as drift.
    pub reflected: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

/// Everything that makes an alarm what it is, comparable between the spec and what CloudWatch holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    namespace: String,
    metric: String,
    dimensions: Vec<(String, String)>,
    statistic: Statistic,
    period: i32,
    evaluation_periods: i32,
    datapoints_to_alarm: i32,
    threshold: f64,
    comparison: ComparisonOperator,
    treat_missing_data: String,
    actions: Vec<String>,
    actions_enabled: bool,
    description: String,
}

impl Shape {
    /// The function failed at least once in an hour.
    pub fn function_errors(function_name: &str, topic_arn: &str, description: String) -> Shape {
        Shape {
            namespace: "AWS/Lambda".into(),
            metric: "Errors".into(),
            dimensions: vec![("FunctionName".into(), function_name.into())],
            statistic: Statistic::Sum,
            period: 3600,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 0.0,
            comparison: ComparisonOperator::GreaterThanThreshold,
            treat_missing_data: "notBreaching".into(),
            actions: vec![topic_arn.into()],
            actions_enabled: true,
            description,
        }
    }

    /// The Lambda's age `metric` (namespace `RDSBackup`) with `dimensions` above `threshold_hours` in every
    /// hourly period CloudWatch can look back over (at most 7 days), missing data breaching. `enabled` false
    /// silences its notifications (a paused policy).
    pub fn age_over(
        metric: &str,
        mut dimensions: Vec<(String, String)>,
        threshold_hours: i32,
        enabled: bool,
        topic_arn: &str,
        description: String,
    ) -> Shape {
        let periods = threshold_hours.min(168);
        dimensions.sort();
        Shape {
            namespace: metrics::NAMESPACE.into(),
            metric: metric.into(),
            dimensions,
            statistic: Statistic::Maximum,
            period: 3600,
            evaluation_periods: periods,
            datapoints_to_alarm: periods,
            threshold: f64::from(threshold_hours),
            comparison: ComparisonOperator::GreaterThanThreshold,
            treat_missing_data: "breaching".into(),
            actions: vec![topic_arn.into()],
            actions_enabled: enabled,
            description,
        }
    }
}

impl Shape {
    /// The Lambda's age `metric` in days above `threshold_days` over the last day. Missing data is not breaching:
    /// the metric exists only once a first export completed, and a run that stops reporting altogether is the
    /// backup-overdue alarm's to catch.
    pub fn days_over(
        metric: &str,
        dimensions: Vec<(String, String)>,
        threshold_days: i32,
        enabled: bool,
        topic_arn: &str,
        description: String,
    ) -> Shape {
        Shape {
            period: 86_400,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: f64::from(threshold_days),
            treat_missing_data: "notBreaching".into(),
            ..Shape::age_over(metric, dimensions, 1, enabled, topic_arn, description)
        }
    }
}

impl Shape {
    /// The Lambda's 0-or-1 `metric` at 1 in an hour. Missing data keeps the state: the metric is reported only
    /// when something it flags happens (a drill finishing), so the alarm stays raised until a report of 0.
    pub fn flag_raised(metric: &str, dimensions: Vec<(String, String)>, topic_arn: &str, description: String) -> Shape {
        Shape {
            period: 3600,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 1.0,
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing_data: "ignore".into(),
            ..Shape::age_over(metric, dimensions, 1, true, topic_arn, description)
        }
    }
}

impl AlarmsSpec<'_> {
    fn alarms(&self) -> impl Iterator<Item = (&str, &Shape)> {
        self.alarms.iter().map(|(name, shape)| (name.as_str(), shape))
    }

    /// An alarm of this stack under the stale prefix that the spec no longer names (its tag says whose it is).
    fn is_stale(&self, name: &str, tags: &BTreeMap<String, String>) -> bool {
        self.stale_prefixes.iter().any(|p| name.starts_with(p.as_str()))
            && !self.alarms.iter().any(|(n, _)| n == name)
            && tags.get(self.owner.0).map(String::as_str) == Some(self.owner.1)
    }

    fn is_ours(&self, name: &str) -> bool {
        self.alarms.iter().any(|(n, _)| n == name) || self.stale_prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

fn shape(alarm: &MetricAlarm) -> Shape {
    let mut dimensions: Vec<(String, String)> = alarm
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    dimensions.sort();
    let mut actions: Vec<String> = alarm.alarm_actions().to_vec();
    // OK notifications go to the same topic; a difference there is a difference of the alarm.
    if alarm.ok_actions() != alarm.alarm_actions() {
        actions.extend(alarm.ok_actions().iter().map(|a| format!("ok:{a}")));
    }
    Shape {
        namespace: alarm.namespace().unwrap_or_default().into(),
        metric: alarm.metric_name().unwrap_or_default().into(),
        dimensions,
        statistic: alarm.statistic().cloned().unwrap_or(Statistic::SampleCount),
        period: alarm.period().unwrap_or_default(),
        evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
        datapoints_to_alarm: alarm
            .datapoints_to_alarm()
            .unwrap_or(alarm.evaluation_periods().unwrap_or_default()),
        threshold: alarm.threshold().unwrap_or_default(),
        comparison: alarm
            .comparison_operator()
            .cloned()
            .unwrap_or(ComparisonOperator::GreaterThanThreshold),
        treat_missing_data: alarm.treat_missing_data().unwrap_or("missing").into(),
        actions,
        actions_enabled: alarm.actions_enabled().unwrap_or(true),
        description: alarm.alarm_description().unwrap_or_default().into(),
    }
}

#[derive(Debug)]
pub struct Alarms {
    found: BTreeMap<String, (Shape, String, BTreeMap<String, String>)>,
}

impl Alarms {
    /// An alarm's threshold in hours, as found.
    pub fn threshold_hours(&self, alarm: &str) -> Option<i64> {
        self.found.get(alarm).map(|(shape, _, _)| shape.threshold as i64)
    }

    /// The topic an alarm notifies, as found.
    pub fn topic_arn(&self, alarm: &str) -> Option<String> {
        self.found
            .get(alarm)
            .and_then(|(shape, _, _)| shape.actions.first().cloned())
    }
}

/// The reflected alarm's threshold (and what follows from it) and topic are reported through attributes (a
/// policy's `max_backup_age_hours` and `alarm_sns_topic_arn`); drift is the rest.
fn without_reflected(shape: &Shape, reflected: bool) -> Shape {
    if !reflected {
        return shape.clone();
    }
    Shape {
        threshold: 0.0,
        evaluation_periods: 0,
        datapoints_to_alarm: 0,
        description: String::new(),
        actions: Vec::new(),
        ..shape.clone()
    }
}

/// `None` when no alarm of the stack exists. One listing by the stack's name prefix (paginated) finds them all,
/// left-over ones included; alarms of other stacks under the prefix are left out by name.
async fn read(cloudwatch: &aws_sdk_cloudwatch::Client, spec: &AlarmsSpec<'_>) -> Result<Option<Alarms>> {
    let mut listed = Vec::new();
    let mut pages = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(&spec.name_prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(failed("cloudwatch:DescribeAlarms", &spec.name_prefix))?;
        listed.extend(page.metric_alarms().iter().cloned());
    }
    // One tag call per alarm, all at once: a refresh waits for the slowest, not the sum.
    let tagged = listed
        .iter()
        .filter_map(|alarm| Some((alarm, alarm.alarm_name()?, alarm.alarm_arn()?)))
        .filter(|(_, name, _)| spec.is_ours(name));
    let found: BTreeMap<_, _> = futures_util::future::try_join_all(tagged.map(|(alarm, name, arn)| async move {
        let listed = cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(failed("cloudwatch:ListTagsForResource", name))?;
        let tags = listed
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        Ok::<_, AwsError>((name.to_string(), (shape(alarm), arn.to_string(), tags)))
    }))
    .await?
    .into_iter()
    .collect();
    Ok((!found.is_empty()).then_some(Alarms { found }))
}

async fn topic_exists(sns: &aws_sdk_sns::Client, arn: &str) -> Result<bool> {
    let found = sns
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .map_err(failed("sns:GetTopicAttributes", arn));
    Ok(found.or_absent(&["NotFound", "NotFoundException"])?.is_some())
}

/// Creates the provider's topic (idempotent: CreateTopic returns the existing one); returns its ARN.
async fn ensure_topic(sns: &aws_sdk_sns::Client, name: &str, tags: &BTreeMap<String, String>) -> Result<String> {
    let sns_tags = tags::list(tags, |k, v| aws_sdk_sns::types::Tag::builder().key(k).value(v).build())?;
    let created = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(failed("sns:CreateTopic", name))?;
    let arn = created
        .topic_arn()
        .ok_or_else(|| AwsError::new(format!("sns:CreateTopic on {name} returned no ARN")))?;
    if !sns_tags.is_empty() {
        sns.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sns_tags))
            .send()
            .await
            .map_err(failed("sns:TagResource", name))?;
    }
    Ok(arn.to_string())
}

async fn delete_topic(sns: &aws_sdk_sns::Client, arn: &str) -> Result<()> {
    sns.delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .map_err(failed("sns:DeleteTopic", arn))
        .or_absent(&["NotFound", "NotFoundException"])
        .map(drop)
}

async fn ensure(cloudwatch: &aws_sdk_cloudwatch::Client, spec: &AlarmsSpec<'_>) -> Result<()> {
    let current = read(cloudwatch, spec)
        .await?
        .unwrap_or(Alarms { found: BTreeMap::new() });
    let stale = current.stale(spec);
    if !stale.is_empty() {
        delete_alarms(cloudwatch, stale).await?;
    }
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    for (name, wanted) in spec.alarms() {
        let wanted = wanted.clone();
        let found = current.found.get(name);
        if let Some((_, _, found_tags)) = found {
            tags::claim(found_tags, spec.tags, &format!("alarm {name}"))?;
        }
        if found.map(|(shape, _, _)| shape) != Some(&wanted) {
            let unit = (wanted.namespace == metrics::NAMESPACE).then_some(StandardUnit::None);
            cloudwatch
                .put_metric_alarm()
                .alarm_name(name)
                .alarm_description(&wanted.description)
                .namespace(&wanted.namespace)
                .metric_name(&wanted.metric)
                .set_dimensions(Some(
                    wanted
                        .dimensions
                        .iter()
                        .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                        .collect(),
                ))
                .statistic(wanted.statistic.clone())
                .set_unit(unit)
                .period(wanted.period)
                .evaluation_periods(wanted.evaluation_periods)
                .datapoints_to_alarm(wanted.datapoints_to_alarm)
                .threshold(wanted.threshold)
                .comparison_operator(wanted.comparison.clone())
                .treat_missing_data(&wanted.treat_missing_data)
                .actions_enabled(wanted.actions_enabled)
                .set_alarm_actions(Some(wanted.actions.clone()))
                .set_ok_actions(Some(wanted.actions.clone()))
                .set_tags(found.is_none().then(|| tags.clone()))
                .send()
                .await
                .map_err(failed("cloudwatch:PutMetricAlarm", name))?;
        }
        if let Some((_, arn, found_tags)) = found
            && let Some(change) = tags::change(found_tags, spec.tags)
        {
            change
                .apply(
                    |keys| async move {
                        cloudwatch
                            .untag_resource()
                            .resource_arn(arn)
                            .set_tag_keys(Some(keys))
                            .send()
                            .await
                            .map(drop)
                            .map_err(failed("cloudwatch:UntagResource", name))
                    },
                    |set| async move {
                        cloudwatch
                            .tag_resource()
                            .resource_arn(arn)
                            .set_tags(Some(
                                set.iter()
                                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                                    .collect(),
                            ))
                            .send()
                            .await
                            .map(drop)
                            .map_err(failed("cloudwatch:TagResource", name))
                    },
                )
                .await?;
        }
    }
    Ok(())
}

/// Deletes every alarm of the stack: those of the spec, and those left over from before.
async fn delete(cloudwatch: &aws_sdk_cloudwatch::Client, spec: &AlarmsSpec<'_>) -> Result<()> {
    let mut names: Vec<String> = spec.alarms().map(|(name, _)| name.to_string()).collect();
    if let Some(found) = read(cloudwatch, spec).await? {
        names.extend(found.stale(spec));
    }
    delete_alarms(cloudwatch, names).await
}

async fn delete_alarms(cloudwatch: &aws_sdk_cloudwatch::Client, names: Vec<String>) -> Result<()> {
    // DeleteAlarms takes up to 100 names; a policy has at most 7, a vault one per source account and one more.
    let label = names.join(", ");
    cloudwatch
        .delete_alarms()
        .set_alarm_names(Some(names))
        .send()
        .await
        .map(drop)
        .map_err(failed("cloudwatch:DeleteAlarms", label))
}

impl Alarms {
    fn stale(&self, spec: &AlarmsSpec<'_>) -> Vec<String> {
        self.found
            .iter()
            .filter(|(name, (_, _, tags))| spec.is_stale(name, tags))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

impl Part for AlarmsSpec<'_> {
    type Found = Alarms;

    fn missing(&self) -> String {
        let names: Vec<&str> = self.alarms().map(|(name, _)| name).collect();
        format!("alarms {} are missing", names.join(", "))
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Alarms>> {
        read(&aws.cloudwatch, self).await
    }

    fn drift(&self, alarms: &Alarms) -> Vec<String> {
        let mut drift = Vec::new();
        for (name, wanted) in self.alarms() {
            match alarms.found.get(name) {
                None => drift.push(format!("alarm {name} is missing")),
                Some((found, _, tags)) => {
                    let reflected = self.reflected == Some(name);
                    if without_reflected(found, reflected) != without_reflected(wanted, reflected) {
                        drift.push(format!("alarm {name}: configuration differs"));
                    }
                    if tags::change(tags, self.tags).is_some() {
                        drift.push(format!("alarm {name}: tags differ"));
                    }
                }
            }
        }
        drift.extend(
            alarms
                .stale(self)
                .into_iter()
                .map(|name| format!("alarm {name} is left over: the configuration no longer names it")),
        );
        drift
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        ensure(&aws.cloudwatch, self).await
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        delete(&aws.cloudwatch, self).await
    }
}

/// The SNS topic the alarms notify: the provider's own when `alarm_sns_topic_arn` is left unset, created and
/// deleted with the stack; a topic given by ARN is the user's.
pub struct TopicSpec<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    pub owned: bool,
    pub tags: &'a BTreeMap<String, String>,
}

impl Part for TopicSpec<'_> {
    type Found = ();

    fn owned(&self) -> bool {
        self.owned
    }

    fn missing(&self) -> String {
        format!("SNS topic {} is missing", self.arn)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<()>> {
        Ok(topic_exists(&aws.sns, self.arn).await?.then_some(()))
    }

    fn drift(&self, _: &()) -> Vec<String> {
        Vec::new()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        expect_arn(
            "sns:CreateTopic",
            &ensure_topic(&aws.sns, self.name, self.tags).await?,
            self.arn,
        )
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        delete_topic(&aws.sns, self.arn).await
    }
}

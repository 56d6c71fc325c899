//! The whole stack of one policy as AWS should hold it (`Desired`, derived from the policy's attributes), its
//! parts declared once (`stack_parts!`), and what is done to them: converge (create or repair, in dependency order,
//! each step idempotent so a retried apply continues where a failed one stopped), observe (every part read
//! concurrently), drift, destroy.

use std::collections::{BTreeMap, BTreeSet};

use rdsbackup_common::archive::{self, Archive, Every, StorageClass};
use rdsbackup_common::copies::{self, Destination};
use rdsbackup_common::drill;
use rdsbackup_common::vault::{self, VaultTarget};
use rdsbackup_common::{env, metrics, rules, tags};

use super::iam_policy::{self, Grants};
use super::names::{self, Location};
use super::schema::PolicyModel;
use crate::aws::alarms::{AlarmsSpec, Shape, TopicSpec};
use crate::aws::bucket::{BucketSpec, ExportsLifecycle};
use crate::aws::dashboard::DashboardSpec;
use crate::aws::event_rule::{RuleSpec, Trigger};
use crate::aws::function::FunctionSpec;
use crate::aws::log_group::LogGroupSpec;
use crate::aws::role::RoleSpec;
use crate::stack::{FunctionSettings, StackCore, need, small};

/// Every name, ARN and setting of a policy's stack. Built only from wholly known attributes. What every stack has
/// (function, role, log group, topic, tags) is its `core`, which it derefs to.
pub struct Desired {
    pub core: StackCore,
    pub policy: String,
    pub bucket: String,
    pub rule: String,
    pub overdue_alarm: String,
    pub errors_alarm: String,
    pub kms_key_arn: Option<String>,
    /// The `copy` blocks, every default resolved, in the configuration's order.
    pub copies: Vec<Destination>,
    /// The `vault` block.
    pub vault: Option<VaultTarget>,
    /// The `archive` block, every default resolved, with its export role.
    pub archive: Option<Archive>,
    pub export_role: String,
    pub export_role_arn: String,
    pub export_overdue_alarm: String,
    /// The export role's inline policy, with an `archive` block.
    pub export_policy: Option<serde_json::Value>,
    /// The `restore_drill` block, every default resolved, and its schedule.
    pub drill: Option<drill::Settings>,
    pub drill_schedule: String,
    pub drill_alarm: String,
    pub deny_insecure_transport: bool,
    pub glacier_transition_days: i32,
    pub schedule: String,
    pub enabled: bool,
    pub threshold_hours: i32,
}

impl std::ops::Deref for Desired {
    type Target = StackCore;

    fn deref(&self) -> &StackCore {
        &self.core
    }
}

impl Desired {
    /// `bucket` is passed separately: on import it is found on AWS rather than in the attributes;
    /// `member_clusters` too: the clusters of listed instances that are members, as RDS says.
    pub fn new(
        model: &PolicyModel,
        here: &Location,
        bucket: String,
        member_clusters: &BTreeSet<String>,
    ) -> std::result::Result<Desired, String> {
        let policy = need(&model.name, "name")?.clone();
        let empty_set = BTreeSet::new();
        let empty_map = BTreeMap::new();
        let instances = model.db_instance_identifiers.known().unwrap_or(&empty_set);
        let clusters = model.db_cluster_identifiers.known().unwrap_or(&empty_set);
        let selection_tags = model.selection_tags.known().unwrap_or(&empty_map);
        let kms_key_arn = model.kms_key_arn.known().cloned();
        let log_group = names::log_group_name(&policy);
        let mut tags = model.tags_all.known().cloned().unwrap_or_default();
        tags.insert(tags::POLICY.to_string(), policy.clone());
        let retention_days = *need(&model.retention_days, "retention_days")?;
        let min_snapshots = *need(&model.min_snapshots, "min_snapshots")?;
        let copies = destinations(model, retention_days, min_snapshots)?;
        let vault = vault_target(model)?;
        let archive = archive_target(model, here)?;
        let (drill, drill_schedule) = drill_settings(model)?;
        let environment = BTreeMap::from([
            (env::POLICY.to_string(), policy.clone()),
            (env::BUCKET.to_string(), bucket.clone()),
            (env::BUCKET_OWNER.to_string(), here.account_id.clone()),
            (env::DB_INSTANCES.to_string(), env::join_identifiers(instances)),
            (env::DB_CLUSTERS.to_string(), env::join_identifiers(clusters)),
            (
                env::SELECTION_TAGS.to_string(),
                serde_json::to_string(selection_tags).expect("a map of strings"),
            ),
            (env::RETENTION_DAYS.to_string(), retention_days.to_string()),
            (env::MIN_SNAPSHOTS.to_string(), min_snapshots.to_string()),
        ])
        .into_iter()
        .chain(kms_key_arn.clone().map(|key| (env::KMS_KEY_ARN.to_string(), key)))
        // Only with copies: a policy without them keeps the environment it always had.
        .chain((!copies.is_empty()).then(|| (env::COPIES.to_string(), copies::to_env(&copies))))
        .chain(vault.as_ref().map(|v| (env::VAULT.to_string(), vault::to_env(v))))
        .chain(archive.as_ref().map(|a| (env::ARCHIVE.to_string(), archive::to_env(a))))
        .chain(drill.as_ref().map(|d| (env::DRILL.to_string(), drill::to_env(d))))
        .collect();
        let iam_policy = iam_policy::document(
            &Grants {
                policy: &policy,
                bucket: &bucket,
                log_group: &log_group,
                instances,
                clusters,
                member_clusters,
                selection_tags,
                kms_key_arn: kms_key_arn.as_deref(),
                copies: &copies,
                vault: vault.as_ref(),
                archive: archive.as_ref(),
                drill: drill.as_ref(),
            },
            here,
        );
        let export_policy = archive
            .as_ref()
            .map(|a| iam_policy::export_document(&bucket, &a.kms_key_arn, here));
        let core = StackCore::new(
            &policy,
            here,
            model.alarm_sns_topic_arn.known(),
            tags,
            FunctionSettings {
                memory_mb: small(*need(&model.lambda_memory_mb, "lambda_memory_mb")?, "lambda_memory_mb")?,
                timeout_seconds: small(
                    *need(&model.lambda_timeout_seconds, "lambda_timeout_seconds")?,
                    "lambda_timeout_seconds",
                )?,
                log_retention_days: small(
                    *need(&model.log_retention_days, "log_retention_days")?,
                    "log_retention_days",
                )?,
                log_kms_key_arn: kms_key_arn.clone(),
                environment,
                iam_policy,
            },
        );
        Ok(Desired {
            core,
            rule: names::schedule_rule_name(&policy),
            overdue_alarm: names::overdue_alarm_name(&policy),
            errors_alarm: names::errors_alarm_name(&policy),
            deny_insecure_transport: *need(&model.deny_insecure_transport, "deny_insecure_transport")?,
            glacier_transition_days: small(
                *need(&model.glacier_transition_days, "glacier_transition_days")?,
                "glacier_transition_days",
            )?,
            schedule: need(&model.schedule, "schedule")?.clone(),
            enabled: *need(&model.enabled, "enabled")?,
            threshold_hours: small(
                *need(&model.max_backup_age_hours, "max_backup_age_hours")?,
                "max_backup_age_hours",
            )?,
            export_role: names::export_role_name(&policy),
            export_role_arn: here.export_role_arn(&policy),
            export_overdue_alarm: names::export_overdue_alarm_name(&policy),
            export_policy,
            drill,
            drill_schedule,
            drill_alarm: names::drill_alarm_name(&policy),
            kms_key_arn,
            copies,
            vault,
            archive,
            bucket,
            policy,
        })
    }

    /// What AWS would refuse only after part of the stack exists: the inline policy over IAM's 10,240 characters
    /// (IAM does not count whitespace, which the compact JSON has none of) and the function's environment over
    /// Lambda's 4 KB. Each problem names the attribute that makes it.
    pub fn limits_exceeded(&self) -> Vec<(&'static str, String)> {
        const POLICY_MAX: usize = 10_240;
        const ENVIRONMENT_MAX: usize = 4096;
        let mut problems = Vec::new();
        let policy = self.iam_policy.to_string().len();
        if policy > POLICY_MAX {
            problems.push((
                "db_instance_identifiers",
                format!(
                    "The function role's inline policy would be {policy} characters, over IAM's limit of {POLICY_MAX}: \
                     each listed database adds its ARN. List fewer databases in this policy (split them across \
                     policies) or select them with selection_tags."
                ),
            ));
        }
        let environment: usize = self.environment.iter().map(|(k, v)| k.len() + v.len()).sum();
        if environment > ENVIRONMENT_MAX {
            problems.push((
                "db_instance_identifiers",
                format!(
                    "The function's environment would be {environment} bytes, over Lambda's limit of \
                     {ENVIRONMENT_MAX}: it carries the listed identifiers. List fewer databases in this policy \
                     (split them across policies) or select them with selection_tags."
                ),
            ));
        }
        problems
    }

    pub fn bucket_spec(&self) -> BucketSpec<'_> {
        BucketSpec {
            name: &self.bucket,
            owner: &self.account_id,
            region: &self.region,
            partition: &self.partition,
            kms_key_arn: self.kms_key_arn.as_deref(),
            deny_insecure_transport: self.deny_insecure_transport,
            glacier_transition_days: Some(self.glacier_transition_days),
            exports: self.archive.as_ref().map(|a| ExportsLifecycle {
                storage_class: a.storage_class.as_str(),
                transition_days: a.transition_days as i32,
                retention_days: a.retention_days as i32,
            }),
            object_lock_days: None,
            // Destroy refuses a bucket with records unless `force_destroy`, before anything is deleted.
            keep_records: false,
            tags: &self.tags,
        }
    }

    fn rule_spec(&self, rule_name: String, trigger: Trigger, permission_id: &'static str) -> RuleSpec<'_> {
        RuleSpec {
            rule_arn: self.rule_arn(&rule_name),
            rule_name,
            name_prefix: &self.rule,
            trigger,
            enabled: true,
            reflected: false,
            description: "",
            permission_id,
            function_name: &self.function,
            function_arn: &self.function_arn,
            tags: &self.tags,
            wanted: true,
            owner: (tags::POLICY, &self.policy),
        }
    }

    pub fn schedule_spec(&self) -> RuleSpec<'_> {
        RuleSpec {
            enabled: self.enabled,
            reflected: true,
            description: "rdsbackup: runs the backup function on the policy's schedule",
            ..self.rule_spec(
                self.rule.clone(),
                Trigger::Schedule(self.schedule.clone()),
                "rdsbackup-schedule",
            )
        }
    }

    /// The safety net for lost snapshot events: pending work advances at least hourly. It runs while the policy
    /// is paused too (pausing stops new backups, not the copies and records of those taken).
    pub fn reconcile_spec(&self) -> RuleSpec<'_> {
        RuleSpec {
            description: "rdsbackup: advances the policy's pending work (records, copies) hourly",
            ..self.rule_spec(
                rules::reconcile(&self.policy),
                Trigger::Schedule(rules::RECONCILE_SCHEDULE.into()),
                "rdsbackup-reconcile",
            )
        }
    }

    /// The `restore_drill` block's schedule: its events start drills (the function tells them by the rule's ARN
    /// in the event). Wanted only with the block; removing it deletes the rule and its permission.
    pub fn drill_spec(&self) -> RuleSpec<'_> {
        RuleSpec {
            description: "rdsbackup: starts the policy's restore drills",
            wanted: self.drill.is_some(),
            ..self.rule_spec(
                rules::drill(&self.policy),
                Trigger::Schedule(self.drill_schedule.clone()),
                "rdsbackup-drill",
            )
        }
    }

    /// RDS's events on the policy's own snapshots (by identifier prefix; a longer policy name sharing the prefix
    /// costs an idle invocation at most), so that a copy starts as soon as its snapshot is available. With a
    /// `restore_drill` block, also the events of drill databases (every policy's drills share the prefix: another
    /// policy's costs an idle invocation), so that the invocation that finds a drill database available, and
    /// measures its restore time, follows RDS's event rather than the next hourly reconcile.
    pub fn snapshot_events_spec(&self) -> RuleSpec<'_> {
        let mut types = vec!["RDS DB Snapshot Event", "RDS DB Cluster Snapshot Event"];
        let mut prefixes = vec![serde_json::json!({"prefix": rdsbackup_common::identifier::prefix(&self.policy)})];
        if self.drill.is_some() {
            types.extend(["RDS DB Instance Event", "RDS DB Cluster Event"]);
            prefixes.push(serde_json::json!({"prefix": drill::RESTORED_PREFIX}));
        }
        let pattern = serde_json::json!({
            "source": ["aws.rds"],
            "detail-type": types,
            "detail": {"SourceIdentifier": prefixes}
        });
        RuleSpec {
            description: "rdsbackup: advances the policy's pending work when RDS reports on its snapshots",
            ..self.rule_spec(
                rules::snapshot_events(&self.policy),
                Trigger::Pattern(pattern),
                "rdsbackup-snapshot-events",
            )
        }
    }

    /// `rdsbackup-<name>-backup-overdue` (`NewestSnapshotAgeHours` past `max_backup_age_hours`),
    /// `rdsbackup-<name>-errors`, and `rdsbackup-<name>-copy-overdue-<region>` per `copy` block
    /// (`NewestCopyAgeHours` past `max_backup_age_hours` + [`COPY_SLACK_HOURS`]). A paused policy's age alarms
    /// are silenced with its schedule, or it would page every day.
    pub fn alarms_spec(&self) -> AlarmsSpec<'_> {
        let policy = |name: &str| (metrics::DIMENSION_POLICY.to_string(), name.to_string());
        let mut alarms = vec![
            (
                self.overdue_alarm.clone(),
                Shape::age_over(
                    metrics::NEWEST_SNAPSHOT_AGE_HOURS,
                    vec![policy(&self.policy)],
                    self.threshold_hours,
                    self.enabled,
                    &self.topic_arn,
                    format!(
                        "rdsbackup policy {}: no snapshot newer than {} hours has been reported for some database.",
                        self.policy, self.threshold_hours
                    ),
                ),
            ),
            (
                self.errors_alarm.clone(),
                Shape::function_errors(
                    &self.function,
                    &self.topic_arn,
                    format!(
                        "rdsbackup policy {}: the backup function failed; its log group holds the failed databases \
                         and why.",
                        self.policy
                    ),
                ),
            ),
        ];
        let threshold = self.threshold_hours + COPY_SLACK_HOURS;
        alarms.extend(self.copies.iter().map(|d| {
            (
                names::copy_overdue_alarm_name(&self.policy, &d.region),
                Shape::age_over(
                    metrics::NEWEST_COPY_AGE_HOURS,
                    vec![
                        policy(&self.policy),
                        (metrics::DIMENSION_REGION.to_string(), d.region.clone()),
                    ],
                    threshold,
                    self.enabled,
                    &self.topic_arn,
                    format!(
                        "rdsbackup policy {}: no copy in {} newer than {threshold} hours has been reported for some \
                         database.",
                        self.policy, d.region
                    ),
                ),
            )
        }));
        if let Some(archive) = &self.archive {
            // A period plus two days: the export of a period's first snapshot starts on its first day and takes
            // hours; RDS queues it behind at most 4 others.
            let days = match archive.every {
                Every::Week => 7 + 2,
                Every::Month => 31 + 2,
            };
            alarms.push((
                self.export_overdue_alarm.clone(),
                Shape::days_over(
                    metrics::NEWEST_EXPORT_AGE_DAYS,
                    vec![policy(&self.policy)],
                    days,
                    self.enabled,
                    &self.topic_arn,
                    format!(
                        "rdsbackup policy {}: no export newer than {days} days has completed: a period went without \
                         its archive.",
                        self.policy
                    ),
                ),
            ));
        }
        if let Some(d) = &self.drill {
            alarms.push((
                self.drill_alarm.clone(),
                Shape::flag_raised(
                    metrics::RESTORE_DRILL_MISSED,
                    vec![policy(&self.policy)],
                    &self.topic_arn,
                    format!(
                        "rdsbackup policy {}: a restore drill failed or took longer than {} minutes; its evidence \
                         is under drills/ of the bucket {}.",
                        self.policy, d.rto_target_minutes, self.bucket
                    ),
                ),
            ));
        }
        AlarmsSpec {
            alarms,
            name_prefix: names::alarm_name_prefix(&self.policy),
            stale_prefixes: vec![
                names::copy_overdue_alarm_prefix(&self.policy),
                names::export_overdue_alarm_name(&self.policy),
                names::drill_alarm_name(&self.policy),
            ],
            owner: (tags::POLICY, &self.policy),
            reflected: Some(&self.overdue_alarm),
            tags: &self.tags,
        }
    }
}

impl Desired {
    /// The role RDS's export service assumes for this policy's exports: trusted for this account's own exports in
    /// this region only (`aws:SourceAccount`, `aws:SourceArn`, against the confused deputy), writing only under
    /// `exports/`. Owned while the `archive` block is there; removing the block deletes it.
    pub fn export_role_spec(&self) -> ExportRoleSpec<'_> {
        static NO_POLICY: serde_json::Value = serde_json::Value::Null;
        ExportRoleSpec(
            RoleSpec {
                name: &self.export_role,
                arn: &self.export_role_arn,
                trust: serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "export.rds.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": self.account_id},
                            "ArnLike": {"aws:SourceArn": format!("arn:{}:rds:{}:{}:*", self.partition, self.region, self.account_id)}
                        }
                    }]
                }),
                description: "Lets RDS write the rdsbackup policy's snapshot exports under exports/ of its bucket.",
                policy: self.export_policy.as_ref().unwrap_or(&NO_POLICY),
                tags: &self.tags,
            },
            self.archive.is_some(),
        )
    }
}

/// Copies start once their snapshot is available and take hours: a day more than a snapshot before "overdue".
pub const COPY_SLACK_HOURS: i32 = 24;

/// The `copy` blocks with the policy's retention where a block leaves its own out.
fn destinations(
    model: &PolicyModel,
    retention_days: i64,
    min_snapshots: i64,
) -> std::result::Result<Vec<Destination>, String> {
    let count = |value: Option<&i64>, default: i64, attribute: &str| {
        u32::try_from(value.copied().unwrap_or(default)).map_err(|_| format!("copy.{attribute} is out of range"))
    };
    model
        .copy
        .known()
        .into_iter()
        .flatten()
        .map(|block| {
            Ok(Destination {
                region: need(&block.region, "copy.region")?.clone(),
                kms_key_arn: block.kms_key_arn.known().cloned(),
                retention_days: count(block.retention_days.known(), retention_days, "retention_days")?,
                min_snapshots: count(block.min_snapshots.known(), min_snapshots, "min_snapshots")?,
            })
        })
        .collect()
}

/// The `vault` block, if any.
fn vault_target(model: &PolicyModel) -> std::result::Result<Option<VaultTarget>, String> {
    let Some(block) = model.vault.known() else {
        return Ok(None);
    };
    Ok(Some(VaultTarget {
        account_id: need(&block.account_id, "vault.account_id")?.clone(),
        kms_key_arn: need(&block.kms_key_arn, "vault.kms_key_arn")?.clone(),
    }))
}

/// The `archive` block with its defaults resolved, and the export role the stack makes for it.
fn archive_target(model: &PolicyModel, here: &Location) -> std::result::Result<Option<Archive>, String> {
    use super::schema::{ARCHIVE_EVERY, ARCHIVE_RETENTION_DAYS, ARCHIVE_STORAGE_CLASS, ARCHIVE_TRANSITION_DAYS};
    let Some(block) = model.archive.known() else {
        return Ok(None);
    };
    let days = |value: &crate::plugin::typed::Tf<i64>, default: i64, attribute: &str| {
        u32::try_from(value.known().copied().unwrap_or(default))
            .map_err(|_| format!("archive.{attribute} is out of range"))
    };
    let class = block
        .storage_class
        .known()
        .map_or(ARCHIVE_STORAGE_CLASS, String::as_str);
    Ok(Some(Archive {
        every: match block.every.known().map_or(ARCHIVE_EVERY, String::as_str) {
            "week" => Every::Week,
            _ => Every::Month,
        },
        kms_key_arn: need(&block.kms_key_arn, "archive.kms_key_arn")?.clone(),
        storage_class: StorageClass::parse(class)
            .ok_or_else(|| format!("archive.storage_class {class:?} is not known"))?,
        transition_days: days(&block.transition_days, ARCHIVE_TRANSITION_DAYS, "transition_days")?,
        retention_days: days(&block.retention_days, ARCHIVE_RETENTION_DAYS, "retention_days")?,
        role_arn: here.export_role_arn(need(&model.name, "name")?),
    }))
}

/// The `restore_drill` block with its defaults resolved, and its schedule.
fn drill_settings(model: &PolicyModel) -> std::result::Result<(Option<drill::Settings>, String), String> {
    let Some(block) = model.restore_drill.known() else {
        return Ok((None, drill::DEFAULT_SCHEDULE.to_string()));
    };
    let known = |value: &crate::plugin::typed::Tf<String>, attribute: &str| match value {
        crate::plugin::typed::Tf::Unknown => Err(format!("restore_drill.{attribute} is not known yet")),
        other => Ok(other.known().cloned()),
    };
    let set = |value: &crate::plugin::typed::Tf<BTreeSet<String>>, attribute: &str| match value {
        crate::plugin::typed::Tf::Unknown => Err(format!("restore_drill.{attribute} is not known yet")),
        other => Ok(other.known().cloned().unwrap_or_default()),
    };
    let rto = match block.rto_target_minutes.known() {
        Some(minutes) => {
            u32::try_from(*minutes).map_err(|_| "restore_drill.rto_target_minutes is out of range".to_string())?
        }
        None => rdsbackup_common::limits::RTO_TARGET_MINUTES.default,
    };
    let settings = drill::Settings {
        db_identifiers: set(&block.db_identifiers, "db_identifiers")?,
        instance_class: known(&block.instance_class, "instance_class")?
            .unwrap_or_else(|| drill::DEFAULT_INSTANCE_CLASS.to_string()),
        subnet_group_name: known(&block.subnet_group_name, "subnet_group_name")?,
        vpc_security_group_ids: set(&block.vpc_security_group_ids, "vpc_security_group_ids")?,
        rto_target_minutes: rto,
    };
    let schedule = known(&block.schedule, "schedule")?.unwrap_or_else(|| drill::DEFAULT_SCHEDULE.to_string());
    Ok((Some(settings), schedule))
}

/// The export role is a role like the function's, wanted only while the `archive` block is there: without it a
/// role of that name of the policy's is left over, and converge deletes it.
pub struct ExportRoleSpec<'a>(RoleSpec<'a>, bool);

impl crate::aws::part::Part for ExportRoleSpec<'_> {
    type Found = <RoleSpec<'static> as crate::aws::part::Part>::Found;

    fn wanted(&self) -> bool {
        self.1
    }

    fn left_over(&self) -> String {
        format!("role {} is left over: the archive block is gone", self.0.name)
    }

    fn missing(&self) -> String {
        self.0.missing()
    }

    /// Only a role of the policy's: `rdsbackup-<name>-export` is also the function role's name of a policy called
    /// `<name>-export`, which is neither reported nor deleted as this one's.
    async fn read(&self, aws: &crate::aws::settings::Clients) -> crate::aws::error::Result<Option<Self::Found>> {
        let found = self.0.read(aws).await?;
        let owner = self.0.tags.get(tags::POLICY).map_or("", String::as_str);
        Ok(found.filter(|role| self.1 || role.tagged(tags::POLICY, owner)))
    }

    fn drift(&self, found: &Self::Found) -> Vec<String> {
        self.0.drift(found)
    }

    async fn ensure(&self, aws: &crate::aws::settings::Clients) -> crate::aws::error::Result<()> {
        self.0.ensure(aws).await
    }

    async fn delete(&self, aws: &crate::aws::settings::Clients) -> crate::aws::error::Result<()> {
        let owner = self.0.tags.get(tags::POLICY).map_or("", String::as_str);
        match self.0.read(aws).await? {
            Some(role) if role.tagged(tags::POLICY, owner) => self.0.delete(aws).await,
            _ => Ok(()),
        }
    }
}

impl Desired {
    pub fn dashboard_spec(&self) -> DashboardSpec<'_> {
        DashboardSpec {
            name: &self.dashboard,
            body: super::dashboard::body(self),
        }
    }
}

crate::aws::part::stack_parts! {
    Desired;
    bucket: BucketSpec = bucket_spec => 3,
    export_role: ExportRoleSpec = export_role_spec => 2,
    role: RoleSpec = role_spec => 2,
    log_group: LogGroupSpec = log_group_spec => 2,
    function: FunctionSpec = function_spec => 1,
    topic: TopicSpec = topic_spec => 2,
    schedule: RuleSpec = schedule_spec => 0,
    reconcile: RuleSpec = reconcile_spec => 0,
    snapshot_events: RuleSpec = snapshot_events_spec => 0,
    drill_rule: RuleSpec = drill_spec => 0,
    alarms: AlarmsSpec = alarms_spec => 0,
    dashboard: DashboardSpec = dashboard_spec => 0,
}

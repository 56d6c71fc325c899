//! The AWS names a policy derives from its `name` (../shared/CONTRACTS.md): every module that creates, reads or
//! imports a part of the stack finds it through these.

pub fn function_name(policy: &str) -> String {
    format!("rdsbackup-{policy}")
}

pub fn role_name(policy: &str) -> String {
    format!("rdsbackup-{policy}")
}

pub fn schedule_rule_name(policy: &str) -> String {
    rdsbackup_common::rules::schedule(policy)
}

pub fn dashboard_name(policy: &str) -> String {
    format!("rdsbackup-{policy}")
}

pub fn log_group_name(policy: &str) -> String {
    format!("/aws/lambda/{}", function_name(policy))
}

pub fn default_bucket_name(policy: &str, account_id: &str) -> String {
    format!("rdsbackup-{policy}-{account_id}")
}

pub fn alarm_topic_name(policy: &str) -> String {
    format!("rdsbackup-{policy}-alarms")
}

/// Where the stack lives: with it, every ARN of the stack is known before it exists, so plans show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub partition: String,
    pub region: String,
    pub account_id: String,
}

impl Location {
    /// Where the configured provider manages stacks.
    pub fn of(aws: &crate::aws::AwsSettings) -> Location {
        Location {
            partition: aws.partition.clone(),
            region: aws.region().to_string(),
            account_id: aws.account_id.clone(),
        }
    }

    pub fn role_arn(&self, policy: &str) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account_id,
            role_name(policy)
        )
    }

    pub fn function_arn(&self, policy: &str) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition,
            self.region,
            self.account_id,
            function_name(policy)
        )
    }

    pub fn schedule_rule_arn(&self, policy: &str) -> String {
        self.rule_arn(&schedule_rule_name(policy))
    }

    /// Any rule of the stack by name (the schedule, reconcile and snapshot events rules).
    pub fn rule_arn(&self, rule: &str) -> String {
        format!(
            "arn:{}:events:{}:{}:rule/{rule}",
            self.partition, self.region, self.account_id
        )
    }

    pub fn alarm_topic_arn(&self, policy: &str) -> String {
        format!(
            "arn:{}:sns:{}:{}:{}",
            self.partition,
            self.region,
            self.account_id,
            alarm_topic_name(policy)
        )
    }

    pub fn export_role_arn(&self, policy: &str) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition,
            self.account_id,
            export_role_name(policy)
        )
    }

    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition)
    }
}

pub fn overdue_alarm_name(policy: &str) -> String {
    format!("{}backup-overdue", alarm_name_prefix(policy))
}

/// The `archive` block's alarm: no export completed in a period.
pub fn export_overdue_alarm_name(policy: &str) -> String {
    format!("{}export-overdue", alarm_name_prefix(policy))
}

/// The `restore_drill` block's alarm: a drill failed or missed its RTO target.
pub fn drill_alarm_name(policy: &str) -> String {
    format!("{}restore-drill", alarm_name_prefix(policy))
}

/// The role RDS's export service assumes to write a policy's exports (`archive` block).
pub fn export_role_name(policy: &str) -> String {
    format!("rdsbackup-{policy}-export")
}

pub fn errors_alarm_name(policy: &str) -> String {
    format!("{}errors", alarm_name_prefix(policy))
}

#[cfg(test)]
impl Location {
    /// The location the unit tests plan into.
    pub fn example() -> Location {
        Location {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

/// The "copy overdue" alarm of one `copy` block.
pub fn copy_overdue_alarm_name(policy: &str, region: &str) -> String {
    format!("{}{region}", copy_overdue_alarm_prefix(policy))
}

/// What every "copy overdue" alarm of the policy starts with: alarms under it that no block names any more are
/// found by it and deleted.
pub fn copy_overdue_alarm_prefix(policy: &str) -> String {
    format!("{}copy-overdue-", alarm_name_prefix(policy))
}

/// What every alarm of the policy starts with (and, as a prefix, those of longer policy names too).
pub fn alarm_name_prefix(policy: &str) -> String {
    format!("rdsbackup-{policy}-")
}

/// The optional blocks that bring an alarm of their own.
#[derive(Clone, Copy, Debug, Default)]
pub struct WithAlarms {
    pub archive: bool,
    pub drill: bool,
}

/// Every alarm of the policy, sorted, as the `alarm_names` attribute is: `regions` are the `copy` blocks'.
pub fn alarm_names<'a>(policy: &str, regions: impl IntoIterator<Item = &'a str>, with: WithAlarms) -> Vec<String> {
    let mut names = vec![overdue_alarm_name(policy), errors_alarm_name(policy)];
    names.extend(with.archive.then(|| export_overdue_alarm_name(policy)));
    names.extend(with.drill.then(|| drill_alarm_name(policy)));
    names.extend(
        regions
            .into_iter()
            .map(|region| copy_overdue_alarm_name(policy, region)),
    );
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        assert_eq!(function_name("nightly"), "rdsbackup-nightly");
        assert_eq!(role_name("nightly"), "rdsbackup-nightly");
        assert_eq!(schedule_rule_name("nightly"), "rdsbackup-nightly");
        assert_eq!(log_group_name("nightly"), "/aws/lambda/rdsbackup-nightly");
        assert_eq!(
            default_bucket_name("nightly", "123456789012"),
            "rdsbackup-nightly-123456789012"
        );
        let here = Location::example();
        assert_eq!(
            here.role_arn("nightly"),
            "arn:aws:iam::123456789012:role/rdsbackup-nightly"
        );
        assert_eq!(
            here.function_arn("nightly"),
            "arn:aws:lambda:eu-west-1:123456789012:function:rdsbackup-nightly"
        );
        assert_eq!(
            here.schedule_rule_arn("nightly"),
            "arn:aws:events:eu-west-1:123456789012:rule/rdsbackup-nightly"
        );
        assert_eq!(
            here.alarm_topic_arn("nightly"),
            "arn:aws:sns:eu-west-1:123456789012:rdsbackup-nightly-alarms"
        );
        assert_eq!(here.bucket_arn("b"), "arn:aws:s3:::b");
        assert_eq!(
            alarm_names("nightly", ["us-west-2", "eu-west-1"], WithAlarms::default()),
            [
                "rdsbackup-nightly-backup-overdue",
                "rdsbackup-nightly-copy-overdue-eu-west-1",
                "rdsbackup-nightly-copy-overdue-us-west-2",
                "rdsbackup-nightly-errors",
            ]
        );
    }
}

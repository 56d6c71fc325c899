//! The AWS names a policy derives from its `name` (../shared/CONTRACTS.md): every module that creates, reads or
//! imports a part of the stack finds it through these.

pub fn function_name(policy: &str) -> String {
    format!("rdsbackup-{policy}")
}

pub fn role_name(policy: &str) -> String {
    format!("rdsbackup-{policy}")
}

pub fn schedule_rule_name(policy: &str) -> String {
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
        format!(
            "arn:{}:events:{}:{}:rule/{}",
            self.partition,
            self.region,
            self.account_id,
            schedule_rule_name(policy)
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

    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition)
    }
}

pub fn overdue_alarm_name(policy: &str) -> String {
    format!("rdsbackup-{policy}-backup-overdue")
}

pub fn errors_alarm_name(policy: &str) -> String {
    format!("rdsbackup-{policy}-errors")
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

/// Sorted, as the `alarm_names` attribute is.
pub fn alarm_names(policy: &str) -> Vec<String> {
    vec![overdue_alarm_name(policy), errors_alarm_name(policy)]
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
        let alarms = alarm_names("nightly");
        let mut sorted = alarms.clone();
        sorted.sort();
        assert_eq!(alarms, sorted);
    }
}

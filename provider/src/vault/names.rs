//! The AWS names a vault derives from its `name` (../shared/CONTRACTS.md, "The vault account"): every part is
//! `rdsbackup-vault-<name>`, the bucket `rdsbackup-vault-<name>-<account_id>`. They are a policy's names for
//! `vault-<name>`, so one function of the policy's makes each; the `rdsbackup:vault` tag tells a vault's parts
//! from those of a policy that would be called `vault-<name>` (`aws::tags::claim`).

use crate::policy::names::{self as policy, Location};

/// The stem every name of the vault's stack is made from.
pub fn stem(vault: &str) -> String {
    format!("vault-{vault}")
}

pub fn function_name(vault: &str) -> String {
    policy::function_name(&stem(vault))
}

pub fn log_group_name(vault: &str) -> String {
    policy::log_group_name(&stem(vault))
}

pub fn schedule_rule_name(vault: &str) -> String {
    policy::schedule_rule_name(&stem(vault))
}

pub fn bucket_name(vault: &str, account_id: &str) -> String {
    policy::default_bucket_name(&stem(vault), account_id)
}

pub fn errors_alarm_name(vault: &str) -> String {
    policy::errors_alarm_name(&stem(vault))
}

/// The "vault copy overdue" alarm of one source account.
pub fn overdue_alarm_name(vault: &str, source_account: &str) -> String {
    format!("{}{source_account}", overdue_alarm_prefix(vault))
}

/// What every "vault copy overdue" alarm starts with: those of accounts no longer listed are found by it.
pub fn overdue_alarm_prefix(vault: &str) -> String {
    format!("{}copy-overdue-", alarm_name_prefix(vault))
}

pub fn alarm_name_prefix(vault: &str) -> String {
    policy::alarm_name_prefix(&stem(vault))
}

/// Every alarm of the vault, sorted as `alarm_names` holds them.
pub fn alarm_names<'a>(vault: &str, source_accounts: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = source_accounts
        .into_iter()
        .map(|account| overdue_alarm_name(vault, account))
        .chain([errors_alarm_name(vault)])
        .collect();
    names.sort();
    names
}

impl Location {
    pub fn vault_role_arn(&self, vault: &str) -> String {
        self.role_arn(&stem(vault))
    }

    pub fn vault_alarm_topic_arn(&self, vault: &str) -> String {
        self.alarm_topic_arn(&stem(vault))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_names() {
        assert_eq!(function_name("central"), "rdsbackup-vault-central");
        assert_eq!(schedule_rule_name("central"), "rdsbackup-vault-central");
        assert_eq!(log_group_name("central"), "/aws/lambda/rdsbackup-vault-central");
        assert_eq!(
            bucket_name("central", "210987654321"),
            "rdsbackup-vault-central-210987654321"
        );
        assert_eq!(
            alarm_names("central", &["222222222222".to_string(), "111111111111".to_string()]),
            [
                "rdsbackup-vault-central-copy-overdue-111111111111",
                "rdsbackup-vault-central-copy-overdue-222222222222",
                "rdsbackup-vault-central-errors"
            ]
        );
        let here = Location::example();
        assert_eq!(
            here.vault_role_arn("central"),
            "arn:aws:iam::123456789012:role/rdsbackup-vault-central"
        );
    }
}

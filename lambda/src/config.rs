//! The function's configuration, read once at start from the environment the provider sets. Every problem names
//! the variable, so that a misconfigured deployment fails at init with a message that says what to fix.

use std::collections::BTreeMap;
use std::fmt;

use rdsbackup_common::copies::{self, Destination};
use rdsbackup_common::vault::{self, VaultTarget};
use rdsbackup_common::{env, limits};

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub policy: String,
    pub bucket: String,
    pub db_instances: Vec<String>,
    pub db_clusters: Vec<String>,
    pub selection_tags: BTreeMap<String, String>,
    pub retention_days: u32,
    pub min_snapshots: u32,
    pub kms_key_arn: Option<String>,
    /// The bucket's account, sent as `ExpectedBucketOwner`.
    pub bucket_owner: String,
    /// The `copy` blocks, in the policy's order.
    pub copies: Vec<Destination>,
    /// The `vault` block: the account every snapshot is shared with.
    pub vault: Option<VaultTarget>,
    /// The `archive` block: snapshot exports to S3.
    pub archive: Option<rdsbackup_common::archive::Archive>,
    /// The `restore_drill` block.
    pub drill: Option<rdsbackup_common::drill::Settings>,
}

#[derive(Debug, PartialEq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()))
    }

    /// Reads through `lookup` rather than the process environment so that tests need not mutate it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let optional = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &str| optional(name).ok_or_else(|| ConfigError(format!("{name} is not set")));
        let config = Config {
            policy: required(env::POLICY)?,
            bucket: required(env::BUCKET)?,
            db_instances: identifiers(optional(env::DB_INSTANCES)),
            db_clusters: identifiers(optional(env::DB_CLUSTERS)),
            selection_tags: selection_tags(optional(env::SELECTION_TAGS))?,
            retention_days: number(
                env::RETENTION_DAYS,
                &required(env::RETENTION_DAYS)?,
                limits::RETENTION_DAYS,
            )?,
            min_snapshots: number(
                env::MIN_SNAPSHOTS,
                &required(env::MIN_SNAPSHOTS)?,
                limits::MIN_SNAPSHOTS,
            )?,
            kms_key_arn: optional(env::KMS_KEY_ARN),
            bucket_owner: account_id(env::BUCKET_OWNER, &required(env::BUCKET_OWNER)?)?,
            copies: destinations(optional(env::COPIES))?,
            vault: vault_target(optional(env::VAULT))?,
            archive: rdsbackup_common::archive::from_env(&optional(env::ARCHIVE).unwrap_or_default())
                .map_err(|e| ConfigError(format!("{} {e}", env::ARCHIVE)))?,
            drill: rdsbackup_common::drill::from_env(&optional(env::DRILL).unwrap_or_default())
                .map_err(|e| ConfigError(format!("{} {e}", env::DRILL)))?,
        };
        if config.db_instances.is_empty() && config.db_clusters.is_empty() && config.selection_tags.is_empty() {
            return Err(ConfigError(format!(
                "nothing to back up: {}, {} and {} are all empty",
                env::DB_INSTANCES,
                env::DB_CLUSTERS,
                env::SELECTION_TAGS
            )));
        }
        Ok(config)
    }
}

/// A vault's function (`rdsbackup_vault`): set when `env::VAULT_NAME` is.
#[derive(Clone, Debug, PartialEq)]
pub struct VaultConfig {
    pub name: String,
    pub bucket: String,
    pub bucket_owner: String,
    pub source_accounts: std::collections::BTreeSet<String>,
    /// The vault's key: every vault copy and record is encrypted with it.
    pub kms_key_arn: String,
    pub retention_days: u32,
    pub min_snapshots: u32,
}

impl VaultConfig {
    /// `None` when the function is a policy's.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Result<VaultConfig, ConfigError>> {
        let optional = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let required = |name: &str| optional(name).ok_or_else(|| ConfigError(format!("{name} is not set")));
        let name = optional(env::VAULT_NAME)?;
        let read = || {
            let source_accounts = identifiers(optional(env::SOURCE_ACCOUNTS))
                .into_iter()
                .map(|a| account_id(env::SOURCE_ACCOUNTS, &a))
                .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
            if source_accounts.is_empty() {
                return Err(ConfigError(format!("{} is not set", env::SOURCE_ACCOUNTS)));
            }
            Ok(VaultConfig {
                name: name.clone(),
                bucket: required(env::BUCKET)?,
                bucket_owner: account_id(env::BUCKET_OWNER, &required(env::BUCKET_OWNER)?)?,
                source_accounts,
                kms_key_arn: required(env::KMS_KEY_ARN)?,
                retention_days: number(
                    env::RETENTION_DAYS,
                    &required(env::RETENTION_DAYS)?,
                    limits::VAULT_RETENTION_DAYS,
                )?,
                min_snapshots: number(
                    env::MIN_SNAPSHOTS,
                    &required(env::MIN_SNAPSHOTS)?,
                    limits::VAULT_MIN_SNAPSHOTS,
                )?,
            })
        };
        Some(read())
    }
}

/// Sorted, without duplicates (see `env::split_identifiers`).
fn identifiers(value: Option<String>) -> Vec<String> {
    value
        .as_deref()
        .map(env::split_identifiers)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn selection_tags(value: Option<String>) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(&value).map_err(|e| {
        ConfigError(format!(
            "{} must be a JSON object of strings such as {{\"backup\":\"nightly\"}}: {e}",
            env::SELECTION_TAGS
        ))
    })
}

fn destinations(value: Option<String>) -> Result<Vec<Destination>, ConfigError> {
    let name = env::COPIES;
    let destinations =
        copies::from_env(value.as_deref().unwrap_or_default()).map_err(|e| ConfigError(format!("{name} {e}")))?;
    if destinations.len() > copies::MAX_DESTINATIONS {
        return Err(ConfigError(format!(
            "{name} lists {} destinations; at most {} are allowed",
            destinations.len(),
            copies::MAX_DESTINATIONS
        )));
    }
    for d in &destinations {
        let ranged = [
            ("retention_days", d.retention_days, limits::RETENTION_DAYS),
            ("min_snapshots", d.min_snapshots, limits::MIN_SNAPSHOTS),
        ];
        if let Some((field, n, range)) = ranged.into_iter().find(|(_, n, range)| !range.contains(*n)) {
            return Err(ConfigError(format!(
                "{name}: {field} of {} must be from {} to {}, not {n}",
                d.region, range.min, range.max
            )));
        }
    }
    Ok(destinations)
}

fn vault_target(value: Option<String>) -> Result<Option<VaultTarget>, ConfigError> {
    let name = env::VAULT;
    let target =
        vault::from_env(value.as_deref().unwrap_or_default()).map_err(|e| ConfigError(format!("{name} {e}")))?;
    if let Some(target) = &target {
        account_id(&format!("{name}: account_id"), &target.account_id)?;
    }
    Ok(target)
}

fn account_id(name: &str, value: &str) -> Result<String, ConfigError> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err(ConfigError(format!(
            "{name} must be a 12-digit AWS account id, not {value:?}"
        )))
    }
}

fn number(name: &str, value: &str, range: limits::Range) -> Result<u32, ConfigError> {
    value.parse::<u32>().ok().filter(|n| range.contains(*n)).ok_or_else(|| {
        ConfigError(format!(
            "{name} must be a whole number from {} to {}, not {value:?}",
            range.min, range.max
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const MINIMAL: [(&str, &str); 6] = [
        (env::POLICY, "nightly"),
        (env::BUCKET_OWNER, "123456789012"),
        (env::BUCKET, "rdsbackup-nightly-123456789012"),
        (env::DB_INSTANCES, "orders"),
        (env::RETENTION_DAYS, "35"),
        (env::MIN_SNAPSHOTS, "3"),
    ];

    fn with(overrides: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = MINIMAL
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
            .copied()
            .collect();
        vars.extend(overrides.iter().filter(|(_, v)| !v.is_empty()).copied());
        vars
    }

    #[test]
    fn reads_every_variable() {
        let config = parse(&with(&[
            (env::DB_INSTANCES, " orders,billing,,orders "),
            (env::DB_CLUSTERS, "analytics"),
            (env::SELECTION_TAGS, r#"{"backup":"nightly"}"#),
            (env::KMS_KEY_ARN, "arn:aws:kms:us-east-1:123456789012:key/k"),
            (
                env::COPIES,
                r#"[{"region":"us-west-2","retention_days":7,"min_snapshots":1}]"#,
            ),
            (
                env::VAULT,
                r#"{"account_id":"210987654321","kms_key_arn":"arn:aws:kms:us-east-1:123456789012:key/v"}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(
            config,
            Config {
                policy: "nightly".into(),
                bucket: "rdsbackup-nightly-123456789012".into(),
                db_instances: vec!["billing".into(), "orders".into()],
                db_clusters: vec!["analytics".into()],
                selection_tags: [("backup".to_string(), "nightly".to_string())].into(),
                retention_days: 35,
                min_snapshots: 3,
                kms_key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()),
                bucket_owner: "123456789012".into(),
                copies: vec![Destination {
                    region: "us-west-2".into(),
                    kms_key_arn: None,
                    retention_days: 7,
                    min_snapshots: 1,
                }],
                vault: Some(VaultTarget {
                    account_id: "210987654321".into(),
                    kms_key_arn: "arn:aws:kms:us-east-1:123456789012:key/v".into(),
                }),
                archive: None,
                drill: None,
            }
        );
    }

    #[test]
    fn a_vault_s_function_reads_its_own_variables() {
        let vars: HashMap<&str, &str> = [
            (env::VAULT_NAME, "central"),
            (env::BUCKET, "rdsbackup-vault-central-210987654321"),
            (env::BUCKET_OWNER, "210987654321"),
            (env::SOURCE_ACCOUNTS, "111111111111,222222222222"),
            (env::KMS_KEY_ARN, "arn:aws:kms:eu-west-1:210987654321:key/v"),
            (env::RETENTION_DAYS, "365"),
            (env::MIN_SNAPSHOTS, "7"),
        ]
        .into();
        let read =
            |without: &str| VaultConfig::from_lookup(|n| vars.get(n).filter(|_| n != without).map(|v| v.to_string()));
        let config = read("").unwrap().unwrap();
        assert_eq!(config.source_accounts.len(), 2);
        assert_eq!(config.min_snapshots, 7);
        assert!(read(env::VAULT_NAME).is_none(), "a policy's function");
        for variable in [env::SOURCE_ACCOUNTS, env::KMS_KEY_ARN, env::BUCKET] {
            let error = read(variable).unwrap().unwrap_err().to_string();
            assert!(error.contains(variable), "{error}");
        }
    }

    #[test]
    fn optional_variables_may_be_absent_or_empty() {
        let config = parse(&with(&[(env::SELECTION_TAGS, "{}"), (env::KMS_KEY_ARN, " ")])).unwrap();
        assert!(config.db_clusters.is_empty() && config.selection_tags.is_empty());
        assert_eq!(config.kms_key_arn, None);
    }

    #[test]
    fn errors_name_the_variable() {
        for (vars, variable) in [
            (with(&[(env::POLICY, "")]), env::POLICY),
            (with(&[(env::BUCKET, "")]), env::BUCKET),
            (with(&[(env::BUCKET_OWNER, "")]), env::BUCKET_OWNER),
            (with(&[(env::BUCKET_OWNER, "1234")]), env::BUCKET_OWNER),
            (with(&[(env::RETENTION_DAYS, "")]), env::RETENTION_DAYS),
            (with(&[(env::RETENTION_DAYS, "0")]), env::RETENTION_DAYS),
            (with(&[(env::RETENTION_DAYS, "3651")]), env::RETENTION_DAYS),
            (with(&[(env::MIN_SNAPSHOTS, "many")]), env::MIN_SNAPSHOTS),
            (with(&[(env::MIN_SNAPSHOTS, "101")]), env::MIN_SNAPSHOTS),
            (with(&[(env::SELECTION_TAGS, r#"{"backup":1}"#)]), env::SELECTION_TAGS),
            (with(&[(env::SELECTION_TAGS, "backup=nightly")]), env::SELECTION_TAGS),
            (with(&[(env::DB_INSTANCES, " , ")]), env::DB_INSTANCES),
            (with(&[(env::COPIES, "us-west-2")]), env::COPIES),
            (with(&[(env::VAULT, "210987654321")]), env::VAULT),
            (with(&[(env::DRILL, "{}")]), env::DRILL),
            (
                with(&[(env::VAULT, r#"{"account_id":"vault","kms_key_arn":"k"}"#)]),
                env::VAULT,
            ),
            (
                with(&[(
                    env::COPIES,
                    r#"[{"region":"us-west-2","retention_days":0,"min_snapshots":1}]"#,
                )]),
                env::COPIES,
            ),
        ] {
            let error = parse(&vars).unwrap_err().to_string();
            assert!(error.contains(variable), "{error} should name {variable}");
        }
    }
}

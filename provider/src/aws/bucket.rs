//! The records bucket: SSE-KMS by default, versioning, all four public-access blocks, `BucketOwnerEnforced`,
//! a lifecycle rule (a policy's), S3 Object Lock in compliance mode (a vault's), and optionally a bucket policy
//! statement denying requests without TLS. `ensure` converges an
//! existing bucket by rewriting only the settings that differ; `read` reports each setting found different. The
//! lifecycle rule and the policy statement are the provider's by their ID and Sid: rules and statements others
//! added are kept, in the lifecycle configuration and the bucket policy alike.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    DefaultRetention, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionTransition,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule, ObjectOwnership,
    OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    TransitionStorageClass,
};
use serde_json::json;

use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::Part;
use super::settings::Clients;
use super::{policy_document, tags};

const LIFECYCLE_RULE_ID: &str = "rdsbackup-glacier";
const EXPORTS_RULE_ID: &str = "rdsbackup-exports";

/// The exports' lifecycle: into `storage_class` after `transition_days`, expired after `retention_days` (the
/// current version; a noncurrent one, the bucket being versioned, a day later).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportsLifecycle<'a> {
    pub storage_class: &'a str,
    pub transition_days: i32,
    pub retention_days: i32,
}
/// S3 does not transition objects under 128 KB by default, and Glacier's 40 KB per-object overhead would make
/// small ones dearer: the rule moves noncurrent versions of 128 KB or more only (records are about 1 KB).
const LIFECYCLE_MIN_SIZE: i64 = 128 * 1024 - 1;
const TLS_STATEMENT_ID: &str = "DenyInsecureTransport";

pub struct BucketSpec<'a> {
    pub name: &'a str,
    /// The account that must own it (`ExpectedBucketOwner`).
    pub owner: &'a str,
    pub region: &'a str,
    pub partition: &'a str,
    pub kms_key_arn: Option<&'a str>,
    pub deny_insecure_transport: bool,
    /// The provider's lifecycle rule `rdsbackup-glacier` with its days; `None` for a bucket without it.
    pub glacier_transition_days: Option<i32>,
    /// The provider's lifecycle rule `rdsbackup-exports` (an `archive` block): `exports/` moved to the archive
    /// class and expired.
    pub exports: Option<ExportsLifecycle<'a>>,
    /// Object Lock in compliance mode, every new object version locked this many days (a vault's records): no
    /// one, the account's root user included, can delete or overwrite a locked version before then.
    pub object_lock_days: Option<i32>,
    /// Destroy leaves the bucket when it holds objects (a vault's records), rather than emptying it.
    pub keep_records: bool,
    pub tags: &'a BTreeMap<String, String>,
}

impl BucketSpec<'_> {
    fn tls_statement(&self) -> serde_json::Value {
        let arn = format!("arn:{}:s3:::{}", self.partition, self.name);
        json!({
            "Sid": TLS_STATEMENT_ID,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        })
    }

    fn lifecycle_rule(&self) -> Result<LifecycleRule> {
        built(
            LifecycleRule::builder()
                .id(LIFECYCLE_RULE_ID)
                .filter(
                    LifecycleRuleFilter::builder()
                        .object_size_greater_than(LIFECYCLE_MIN_SIZE)
                        .build(),
                )
                .status(ExpirationStatus::Enabled)
                .noncurrent_version_transitions(
                    NoncurrentVersionTransition::builder()
                        .set_noncurrent_days(self.glacier_transition_days)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                )
                .build(),
        )
    }
}

impl BucketSpec<'_> {
    fn exports_rule(&self, exports: &ExportsLifecycle) -> Result<LifecycleRule> {
        built(
            LifecycleRule::builder()
                .id(EXPORTS_RULE_ID)
                .filter(
                    LifecycleRuleFilter::builder()
                        .prefix(rdsbackup_common::archive::EXPORTS_PREFIX)
                        .build(),
                )
                .status(ExpirationStatus::Enabled)
                .transitions(
                    aws_sdk_s3::types::Transition::builder()
                        .days(exports.transition_days)
                        .storage_class(TransitionStorageClass::from(exports.storage_class))
                        .build(),
                )
                .expiration(
                    aws_sdk_s3::types::LifecycleExpiration::builder()
                        .days(exports.retention_days)
                        .build(),
                )
                .noncurrent_version_expiration(
                    aws_sdk_s3::types::NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build(),
        )
    }
}

/// The exports rule as found, in the terms of the spec; `None` when it is not there as the provider writes it.
fn found_exports(rules: &[LifecycleRule]) -> Option<(String, i32, i32)> {
    let rule = rules.iter().find(|r| r.id() == Some(EXPORTS_RULE_ID))?;
    let transition = rule.transitions().first()?;
    (rule.status() == &ExpirationStatus::Enabled && rule.noncurrent_version_expiration().is_some()).then_some(())?;
    Some((
        transition.storage_class()?.as_str().to_string(),
        transition.days()?,
        rule.expiration()?.days()?,
    ))
}

fn glacier_rule_differs(found: &Bucket, spec: &BucketSpec) -> bool {
    spec.glacier_transition_days.is_some() && found.glacier_days != spec.glacier_transition_days
}

fn exports_rule_differs(found: &Bucket, spec: &BucketSpec) -> bool {
    found_exports(&found.lifecycle_rules)
        != spec
            .exports
            .map(|e| (e.storage_class.to_string(), e.transition_days, e.retention_days))
}

/// A bucket's managed settings as found.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Default encryption: algorithm and KMS key id, if any.
    encryption: Option<(String, Option<String>)>,
    versioning: Option<String>,
    public_access_blocks: [bool; 4],
    ownership: Option<String>,
    /// Days of the GLACIER transition of the provider's lifecycle rule, if that rule is there as it writes it.
    glacier_days: Option<i32>,
    /// Every lifecycle rule found, the provider's and others'.
    lifecycle_rules: Vec<LifecycleRule>,
    /// Object Lock's default retention: compliance mode's days, `None` when Object Lock is off or has another
    /// default.
    object_lock_days: Option<i32>,
    /// The statements of the bucket policy, the provider's and others'.
    policy_statements: Vec<serde_json::Value>,
    tags: BTreeMap<String, String>,
}

impl Bucket {
    /// The customer key in use, `None` for the AWS managed key (or no SSE-KMS at all, reported as drift).
    pub fn kms_key_arn(&self) -> Option<String> {
        match &self.encryption {
            Some((algorithm, Some(key))) if algorithm == "aws:kms" && key != "alias/aws/s3" => Some(key.clone()),
            _ => None,
        }
    }

    pub fn denies_insecure_transport(&self) -> bool {
        self.own_statement().is_some()
    }

    fn own_statement(&self) -> Option<&serde_json::Value> {
        self.policy_statements.iter().find(|s| s["Sid"] == TLS_STATEMENT_ID)
    }

    /// The bucket policy with the provider's statement as the spec wants it and every other statement kept;
    /// `None` when no statement is left.
    fn merged_policy(&self, spec: &BucketSpec) -> Option<serde_json::Value> {
        let mut statements: Vec<serde_json::Value> = self
            .policy_statements
            .iter()
            .filter(|s| s["Sid"] != TLS_STATEMENT_ID)
            .cloned()
            .collect();
        if spec.deny_insecure_transport {
            statements.push(spec.tls_statement());
        }
        (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
    }

    pub fn glacier_transition_days(&self) -> Option<i32> {
        self.glacier_days
    }

    fn encryption_matches(&self, spec: &BucketSpec) -> bool {
        match &self.encryption {
            Some((algorithm, key)) => {
                algorithm == "aws:kms" && key.as_deref().filter(|k| *k != "alias/aws/s3") == spec.kms_key_arn
            }
            None => false,
        }
    }

    fn policy_matches(&self, spec: &BucketSpec) -> bool {
        let document = |statement: &serde_json::Value| json!({"Version": "2012-10-17", "Statement": [statement]});
        match (self.own_statement(), spec.deny_insecure_transport) {
            (Some(found), true) => policy_document::equivalent(&document(found), &document(&spec.tls_statement())),
            (None, false) => true,
            (Some(_), false) | (None, true) => false,
        }
    }
}

/// What differs between the bucket found and the spec: the one comparison that drift describes and ensure
/// applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    PublicAccessBlock,
    Ownership,
    Encryption,
    Versioning,
    ObjectLock,
    Lifecycle,
    Policy,
    Tags,
}

fn changes(found: &Bucket, spec: &BucketSpec) -> Vec<Change> {
    [
        (Change::PublicAccessBlock, found.public_access_blocks != [true; 4]),
        (
            Change::Ownership,
            found.ownership.as_deref() != Some("BucketOwnerEnforced"),
        ),
        (Change::Encryption, !found.encryption_matches(spec)),
        (Change::Versioning, found.versioning.as_deref() != Some("Enabled")),
        (
            Change::ObjectLock,
            spec.object_lock_days.is_some() && found.object_lock_days != spec.object_lock_days,
        ),
        (
            Change::Lifecycle,
            glacier_rule_differs(found, spec) || exports_rule_differs(found, spec),
        ),
        (Change::Policy, !found.policy_matches(spec)),
        (Change::Tags, tags::change(&found.tags, spec.tags).is_some()),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(change, _)| change)
    .collect()
}

impl Change {
    fn describe(self, found: &Bucket, spec: &BucketSpec) -> String {
        let name = spec.name;
        match self {
            Change::Encryption => format!("bucket {name}: default encryption is not SSE-KMS with the configured key"),
            Change::Versioning => format!(
                "bucket {name}: versioning is {}",
                found.versioning.as_deref().unwrap_or("off")
            ),
            Change::PublicAccessBlock => format!("bucket {name}: public access is not fully blocked"),
            Change::Ownership => format!("bucket {name}: object ownership is not BucketOwnerEnforced"),
            Change::ObjectLock => format!(
                "bucket {name}: Object Lock is not in compliance mode for {} days",
                spec.object_lock_days.unwrap_or_default()
            ),
            Change::Lifecycle => {
                let mut rules = Vec::new();
                if glacier_rule_differs(found, spec) {
                    rules.push(format!("lifecycle rule {LIFECYCLE_RULE_ID} is missing or changed"));
                }
                if exports_rule_differs(found, spec) {
                    rules.push(format!(
                        "lifecycle rule {EXPORTS_RULE_ID} is missing, changed or left over"
                    ));
                }
                format!("bucket {name}: {}", rules.join("; "))
            }
            Change::Policy => {
                format!("bucket {name}: bucket policy statement {TLS_STATEMENT_ID} is missing, differs or is left over")
            }
            Change::Tags => format!("bucket {name}: tags differ"),
        }
    }
}

fn built<T, E: std::fmt::Display>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|e| AwsError::new(format!("invalid S3 request: {e}")))
}

impl Part for BucketSpec<'_> {
    type Found = Bucket;

    fn missing(&self) -> String {
        format!("bucket {} is missing", self.name)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Bucket>> {
        read(&aws.s3, self).await
    }

    fn drift(&self, found: &Bucket) -> Vec<String> {
        changes(found, self).iter().map(|c| c.describe(found, self)).collect()
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        ensure(&aws.s3, self).await
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        if self.keep_records && !is_empty(&aws.s3, self.name, self.owner).await? {
            return Ok(());
        }
        delete(&aws.s3, self).await
    }
}

/// `Ok(None)` when the bucket does not exist.
/// `owner` (the stack's account) goes with every call as `ExpectedBucketOwner`: a bucket of that name in another
/// account is refused by S3 rather than read, written or emptied.
async fn read(s3: &Client, spec: &BucketSpec<'_>) -> Result<Option<Bucket>> {
    let (name, owner) = (spec.name, spec.owner);
    // Every read at once, the existence check included: a refresh pays one round trip for the bucket, not two.
    // Object Lock is read only where the spec has it (a policy's bucket pays no call for it).
    let object_lock = async {
        match spec.object_lock_days {
            Some(_) => Some(
                s3.get_object_lock_configuration()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .send()
                    .await,
            ),
            None => None,
        }
    };
    // Every bucket has a versioning state, so its read doubles as the existence check (no HeadBucket).
    let (encryption, versioning, blocks, ownership, lifecycle, policy, tags, object_lock) = tokio::join!(
        s3.get_bucket_encryption()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_versioning()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_public_access_block()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_ownership_controls()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_lifecycle_configuration()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send(),
        s3.get_bucket_policy().bucket(name).expected_bucket_owner(owner).send(),
        s3.get_bucket_tagging().bucket(name).expected_bucket_owner(owner).send(),
        object_lock,
    );
    let Some(versioning) = versioning
        .map_err(failed("s3:GetBucketVersioning", name))
        .or_absent(&["NoSuchBucket"])?
    else {
        return Ok(None);
    };
    // Each "not configured" error code means the setting is absent, which is drift, not failure.
    let encryption = encryption
        .map_err(failed("s3:GetBucketEncryption", name))
        .or_absent(&["ServerSideEncryptionConfigurationNotFoundError"])?;
    let blocks = blocks
        .map_err(failed("s3:GetPublicAccessBlock", name))
        .or_absent(&["NoSuchPublicAccessBlockConfiguration"])?;
    let ownership = ownership
        .map_err(failed("s3:GetBucketOwnershipControls", name))
        .or_absent(&["OwnershipControlsNotFoundError"])?;
    let lifecycle = lifecycle
        .map_err(failed("s3:GetBucketLifecycleConfiguration", name))
        .or_absent(&["NoSuchLifecycleConfiguration"])?;
    let policy = policy
        .map_err(failed("s3:GetBucketPolicy", name))
        .or_absent(&["NoSuchBucketPolicy"])?;
    let tags = tags
        .map_err(failed("s3:GetBucketTagging", name))
        .or_absent(&["NoSuchTagSet", "NoSuchTagSetError"])?;
    let object_lock = object_lock
        .transpose()
        .map_err(failed("s3:GetObjectLockConfiguration", name))
        .or_absent(&["ObjectLockConfigurationNotFoundError"])?
        .flatten();
    let object_lock_days = object_lock.and_then(|out| {
        let configuration = out.object_lock_configuration()?;
        (configuration.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled)).then_some(())?;
        let retention = configuration.rule()?.default_retention()?;
        // S3 holds either days or years; moto also answers an empty <Years> beside the days.
        (retention.mode() == Some(&ObjectLockRetentionMode::Compliance)).then_some(retention.days())?
    });

    let encryption = encryption.and_then(|out| {
        let rule = out
            .server_side_encryption_configuration()?
            .rules()
            .first()?
            .apply_server_side_encryption_by_default()?;
        Some((
            rule.sse_algorithm().as_str().to_string(),
            rule.kms_master_key_id().map(str::to_string),
        ))
    });
    let public_access_blocks = blocks
        .and_then(|out| {
            let c = out.public_access_block_configuration()?;
            Some(
                [
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                ]
                .map(|b| b == Some(true)),
            )
        })
        .unwrap_or_default();
    let ownership = ownership.and_then(|out| {
        Some(
            out.ownership_controls()?
                .rules()
                .first()?
                .object_ownership()
                .as_str()
                .to_string(),
        )
    });
    let lifecycle_rules = lifecycle.map(|out| out.rules().to_vec()).unwrap_or_default();
    // Only the rule as this provider writes it counts: a 0.1 rule (which also transitioned current objects,
    // whatever their size) is rewritten. The size filter is not compared: moto drops `ObjectSizeGreaterThan`, so
    // a comparison would be drift forever there; ensure always writes it.
    let glacier_days = lifecycle_rules
        .iter()
        .find(|r| r.id() == Some(LIFECYCLE_RULE_ID))
        .filter(|r| r.status() == &ExpirationStatus::Enabled && r.transitions().is_empty())
        .and_then(|r| {
            r.noncurrent_version_transitions()
                .iter()
                .find(|t| t.storage_class() == Some(&TransitionStorageClass::Glacier))?
                .noncurrent_days()
        });
    Ok(Some(Bucket {
        encryption,
        versioning: versioning.status().map(|s| s.as_str().to_string()),
        public_access_blocks,
        ownership,
        glacier_days,
        lifecycle_rules,
        object_lock_days,
        policy_statements: policy
            .and_then(|out| out.policy().and_then(policy_document::parse))
            .map(|document| match &document["Statement"] {
                serde_json::Value::Array(statements) => statements.clone(),
                serde_json::Value::Null => Vec::new(),
                single => vec![single.clone()],
            })
            .unwrap_or_default(),
        tags: tags
            .map(|out| {
                out.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    }))
}

/// Creates the bucket if missing, then rewrites every setting that differs from the spec.
async fn ensure(s3: &Client, spec: &BucketSpec<'_>) -> Result<()> {
    let (name, owner) = (spec.name, spec.owner);
    let current = match read(s3, spec).await? {
        // S3 cannot tag a bucket as it creates it: an untagged empty bucket of ours is what a create whose answer
        // was lost leaves, and is taken; anything else must carry the policy's tag.
        Some(bucket) if bucket.tags.is_empty() && is_empty(s3, name, owner).await? => bucket,
        Some(bucket) => {
            tags::claim(&bucket.tags, spec.tags, &format!("bucket {name}"))?;
            bucket
        }
        None => {
            let mut create = s3
                .create_bucket()
                .bucket(name)
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .set_object_lock_enabled_for_bucket(spec.object_lock_days.map(|_| true));
            // us-east-1 is the one region that refuses its own name as a location constraint.
            if spec.region != "us-east-1" {
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(spec.region))
                        .build(),
                );
            }
            match create.send().await.map_err(failed("s3:CreateBucket", name)) {
                Err(e) if e.is("BucketAlreadyExists") => {
                    return Err(AwsError::new(format!(
                        "the S3 bucket name {name} is taken by another AWS account: set bucket_name to another name"
                    )));
                }
                Err(e) if !e.is("BucketAlreadyOwnedByYou") => return Err(e),
                _ => {}
            }
            Bucket::default()
        }
    };

    for change in changes(&current, spec) {
        match change {
            Change::PublicAccessBlock => {
                s3.put_public_access_block()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .public_access_block_configuration(
                        PublicAccessBlockConfiguration::builder()
                            .block_public_acls(true)
                            .ignore_public_acls(true)
                            .block_public_policy(true)
                            .restrict_public_buckets(true)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(failed("s3:PutPublicAccessBlock", name))?;
            }
            Change::Ownership => {
                let rule = built(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build(),
                )?;
                s3.put_bucket_ownership_controls()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .ownership_controls(built(OwnershipControls::builder().rules(rule).build())?)
                    .send()
                    .await
                    .map_err(failed("s3:PutBucketOwnershipControls", name))?;
            }
            Change::Encryption => {
                let default = built(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::AwsKms)
                        .set_kms_master_key_id(spec.kms_key_arn.map(str::to_string))
                        .build(),
                )?;
                let rule = ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .bucket_key_enabled(true)
                    .build();
                s3.put_bucket_encryption()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .server_side_encryption_configuration(built(
                        ServerSideEncryptionConfiguration::builder().rules(rule).build(),
                    )?)
                    .send()
                    .await
                    .map_err(failed("s3:PutBucketEncryption", name))?;
            }
            Change::Versioning => {
                s3.put_bucket_versioning()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .versioning_configuration(
                        aws_sdk_s3::types::VersioningConfiguration::builder()
                            .status(BucketVersioningStatus::Enabled)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(failed("s3:PutBucketVersioning", name))?;
            }
            // S3 enables Object Lock on an existing bucket once versioning is on (ensured just before).
            Change::ObjectLock => {
                let retention = DefaultRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .set_days(spec.object_lock_days)
                    .build();
                s3.put_object_lock_configuration()
                    .bucket(name)
                    .expected_bucket_owner(owner)
                    .object_lock_configuration(
                        ObjectLockConfiguration::builder()
                            .object_lock_enabled(ObjectLockEnabled::Enabled)
                            .rule(ObjectLockRule::builder().default_retention(retention).build())
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(failed("s3:PutObjectLockConfiguration", name))?;
            }
            Change::Lifecycle => {
                // Every rule others added is kept; the provider's are written as the spec says.
                let mut rules: Vec<LifecycleRule> = current
                    .lifecycle_rules
                    .iter()
                    .filter(|r| r.id() != Some(LIFECYCLE_RULE_ID) && r.id() != Some(EXPORTS_RULE_ID))
                    .cloned()
                    .collect();
                if spec.glacier_transition_days.is_some() {
                    rules.push(spec.lifecycle_rule()?);
                }
                if let Some(exports) = &spec.exports {
                    rules.push(spec.exports_rule(exports)?);
                }
                if rules.is_empty() {
                    s3.delete_bucket_lifecycle()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .send()
                        .await
                        .map_err(failed("s3:DeleteBucketLifecycle", name))?;
                } else {
                    s3.put_bucket_lifecycle_configuration()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .lifecycle_configuration(built(
                            BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build(),
                        )?)
                        .send()
                        .await
                        .map_err(failed("s3:PutBucketLifecycleConfiguration", name))?;
                }
            }
            Change::Policy => {
                if let Some(policy) = current.merged_policy(spec) {
                    s3.put_bucket_policy()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .policy(policy.to_string())
                        .send()
                        .await
                        .map_err(failed("s3:PutBucketPolicy", name))?;
                } else {
                    s3.delete_bucket_policy()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .send()
                        .await
                        .map_err(failed("s3:DeleteBucketPolicy", name))?;
                }
            }
            // S3 replaces the whole tag set: the change decides whether, not what.
            Change::Tags => {
                if spec.tags.is_empty() {
                    s3.delete_bucket_tagging()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .send()
                        .await
                        .map_err(failed("s3:DeleteBucketTagging", name))?;
                } else {
                    let tags = tags::list(spec.tags, |k, v| Tag::builder().key(k).value(v).build())?;
                    s3.put_bucket_tagging()
                        .bucket(name)
                        .expected_bucket_owner(owner)
                        .tagging(built(Tagging::builder().set_tag_set(Some(tags)).build())?)
                        .send()
                        .await
                        .map_err(failed("s3:PutBucketTagging", name))?;
                }
            }
        }
    }
    Ok(())
}

/// True when the bucket holds no object version and no delete marker (or does not exist).
pub async fn is_empty(s3: &Client, name: &str, owner: &str) -> Result<bool> {
    let listed = s3
        .list_object_versions()
        .bucket(name)
        .expected_bucket_owner(owner)
        .max_keys(1)
        .send()
        .await;
    let listed = listed
        .map_err(failed("s3:ListObjectVersions", name))
        .or_absent(&["NoSuchBucket"])?;
    Ok(listed.is_none_or(|out| out.versions().is_empty() && out.delete_markers().is_empty()))
}

/// Deletes every object version and delete marker, then the bucket. Missing is fine. Versions Object Lock
/// keeps are no error: the bucket stays with them, and the caller reports it.
async fn delete(s3: &Client, spec: &BucketSpec<'_>) -> Result<()> {
    let (name, owner) = (spec.name, spec.owner);
    // The TLS-only policy is the provider's own; removing it first keeps endpoints that enforce Deny statements
    // without their conditions (moto) from refusing the deletions below.
    match s3
        .delete_bucket_policy()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .map_err(failed("s3:DeleteBucketPolicy", name))
    {
        Err(e) if e.is("NoSuchBucket") => return Ok(()),
        Err(e) if !e.is("NoSuchBucketPolicy") => return Err(e),
        _ => {}
    }
    loop {
        let page = s3
            .list_object_versions()
            .bucket(name)
            .expected_bucket_owner(owner)
            .send()
            .await
            .map_err(failed("s3:ListObjectVersions", name))?;
        let objects = page
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?, v.version_id())))
            .chain(
                page.delete_markers()
                    .iter()
                    .filter_map(|m| Some((m.key()?, m.version_id()))),
            )
            .map(|(key, version)| {
                built(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(str::to_string))
                        .build(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        if objects.is_empty() {
            break;
        }
        let deleted = s3
            .delete_objects()
            .bucket(name)
            .expected_bucket_owner(owner)
            .delete(built(
                aws_sdk_s3::types::Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build(),
            )?)
            .send()
            .await
            .map_err(failed("s3:DeleteObjects", name))?;
        // A refused object (Object Lock, a policy) would come back on every page: stop and say which, rather
        // than loop. Under Object Lock, refusals are the lock doing its work: the bucket stays.
        if spec.object_lock_days.is_some() && !deleted.errors().is_empty() {
            return Ok(());
        }
        if let Some(refused) = deleted.errors().first() {
            return Err(AwsError::new(format!(
                "s3:DeleteObjects {name}: {} object(s) not deleted, the first {:?}: {}: {}",
                deleted.errors().len(),
                refused.key().unwrap_or_default(),
                refused.code().unwrap_or("UnknownError"),
                refused.message().unwrap_or_default()
            )));
        }
    }
    s3.delete_bucket()
        .bucket(name)
        .expected_bucket_owner(owner)
        .send()
        .await
        .map_err(failed("s3:DeleteBucket", name))
        .or_absent(&["NoSuchBucket"])
        .map(drop)
}

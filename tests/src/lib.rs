//! Fixtures for the end-to-end tests: the local AWS (moto in server mode on a free loopback port, always
//! stopped), and the real Terraform CLI run with a `dev_overrides` CLI configuration pointing at the freshly
//! built provider.
//!
//! Acceptance mode: with `RDSBACKUP_ACCEPTANCE=1` and AWS credentials in the environment, the same tests run
//! against real AWS instead of moto.

pub mod fault_proxy;
pub mod runtime_api;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/rdsbackup/rdsbackup";
/// The account moto answers for when no role is assumed.
pub const MOTO_ACCOUNT: &str = "123456789012";

pub fn repo_root() -> PathBuf {
    // Cargo sets the variable when it runs the tests too: a test binary built in another checkout sharing the
    // target folder (CI's clean clone) and not rebuilt here would otherwise read and write that checkout.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The folder holding the provider binary of this build, next to the test executables' `deps` folder (under
/// `$CARGO_TARGET_DIR` when set). `scripts/test` builds it before running the tests.
pub fn provider_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf();
    let binary = dir.join("terraform-provider-rdsbackup");
    assert!(
        binary.is_file(),
        "{} is missing: run scripts/test, which builds the provider before testing (or `cargo build` first)",
        binary.display()
    );
    dir
}

pub fn provider_binary() -> PathBuf {
    provider_dir().join("terraform-provider-rdsbackup")
}

pub fn acceptance() -> bool {
    std::env::var("RDSBACKUP_ACCEPTANCE").as_deref() == Ok("1")
}

/// `%XX` escapes decoded, as in IAM's policy documents (which `GetRolePolicy` and `GetRole` return encoded) and,
/// with `+` for a space first, form-encoded requests.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the tests' AWS calls go: a moto server of the test's own, or real AWS in acceptance mode.
pub enum Aws {
    Moto(Moto),
    Real,
}

impl Aws {
    pub fn start() -> Aws {
        if acceptance() {
            Aws::Real
        } else {
            Aws::Moto(Moto::start())
        }
    }

    /// Environment for processes that talk to this AWS (Terraform, the Lambda): dummy credentials and the moto
    /// endpoint, or nothing added for real AWS.
    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Aws::Real => Vec::new(),
            Aws::Moto(moto) => [
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        }
    }
}

/// SDK clients of the AWS the tests use, for checking what the provider made (and changing it behind
/// Terraform's back).
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub rds: aws_sdk_rds::Client,
    pub kms: aws_sdk_kms::Client,
}

impl Clients {
    /// One client per service from `config`; S3 path-style for a custom endpoint (moto, LocalStack).
    pub fn new(config: &aws_config::SdkConfig) -> Clients {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: aws_sdk_iam::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
        }
    }
}

impl Aws {
    /// The SDK configuration of this AWS: the moto endpoint with dummy credentials, or the environment's.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Aws::Moto(moto) = self {
            loader = loader
                .endpoint_url(&moto.endpoint)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "testing", "testing", None, None, "moto",
                ));
        }
        loader.load().await
    }

    pub async fn clients(&self) -> Clients {
        Clients::new(&self.sdk_config().await)
    }
}

/// A moto server on a free loopback port, killed when dropped (also when a test panics).
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    pub fn start() -> Moto {
        let server = std::env::var_os("RDSBACKUP_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv/bin/moto_server"));
        Moto::start_command(server, &[])
    }

    /// moto with one gap filled (`tests/moto_sharing.py`): a snapshot shared by another account can be copied,
    /// as AWS allows and moto 5.1.22 does not. Everything else is moto's own.
    pub fn start_sharing() -> Moto {
        let script = repo_root().join("tests/moto_sharing.py");
        Moto::start_command(repo_root().join(".venv/bin/python"), &[script.to_str().unwrap()])
    }

    fn start_command(server: PathBuf, script: &[&str]) -> Moto {
        assert!(
            server.is_file(),
            "{} is missing: run scripts/setup first",
            server.display()
        );
        // A port the OS just handed out is free; moto binds it a moment later. On the rare clash, try another.
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::env::temp_dir().join(format!("rdsbackup-moto-{port}.log"));
            let child = Command::new(&server)
                .args(script)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let mut moto = Moto {
                endpoint: format!("http://127.0.0.1:{port}"),
                child,
            };
            if moto.wait_ready(port) {
                return moto;
            }
            eprintln!(
                "moto did not start on port {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("moto did not start after 5 attempts");
    }

    /// Empties every service, as a fresh server would be, without the start-up of one.
    pub fn reset(&self) {
        let port: u16 = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let answer = http(port, "POST", "/moto-api/reset").unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "moto reset: {answer}");
    }

    fn wait_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http_get(port, "/moto-api/").is_some_and(|response| response.starts_with("HTTP/1.1 200")) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http(port, "GET", path)
}

fn http(port: u16, method: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// A Terraform working directory with its own CLI configuration that uses the freshly built provider.
pub struct Terraform {
    /// The folder the test owns (removed on drop).
    pub dir: PathBuf,
    /// Where terraform runs: `dir`, or an example's folder inside it.
    pub workdir: PathBuf,
    env: Vec<(String, String)>,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != ".terraform" {
                copy_tree(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

static WORKSPACES: AtomicUsize = AtomicUsize::new(0);

impl Terraform {
    pub fn new(main_tf: &str, aws: &Aws) -> Terraform {
        let dev_overrides = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_ADDRESS}\" = \"{}\"\n  }}\n  direct {{}}\n}}\n",
            provider_dir().display()
        );
        Terraform::with_cli_config(main_tf, aws, &dev_overrides)
    }

    /// A working directory whose CLI configuration is `cli_config` (e.g. a `filesystem_mirror`).
    pub fn with_cli_config(main_tf: &str, aws: &Aws, cli_config: &str) -> Terraform {
        let dir = std::env::temp_dir().join(format!(
            "rdsbackup-e2e-{}-{}",
            std::process::id(),
            WORKSPACES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), main_tf).unwrap();
        let cli_config_path = dir.join("terraform.tfrc");
        std::fs::write(&cli_config_path, cli_config).unwrap();
        let cli_config = cli_config_path;
        let mut env = aws.env();
        env.extend(
            [
                ("TF_CLI_CONFIG_FILE", cli_config.to_str().unwrap()),
                ("TF_IN_AUTOMATION", "1"),
                ("TF_INPUT", "0"),
                ("CHECKPOINT_DISABLE", "1"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Terraform {
            workdir: dir.clone(),
            dir,
            env,
        }
    }

    /// Copies the whole `examples/` tree in (examples refer to each other's modules by relative path) and works
    /// in `examples/<example>`.
    pub fn in_examples(example: &str, aws: &Aws) -> Terraform {
        let mut terraform = Terraform::new("", aws);
        std::fs::remove_file(terraform.dir.join("main.tf")).unwrap();
        copy_tree(&repo_root().join("examples"), &terraform.dir.join("examples"));
        terraform.workdir = terraform.dir.join("examples").join(example);
        terraform
    }

    /// Copies an example's `.tf` files in, replacing `main.tf`.
    pub fn from_example(example: &str, aws: &Aws) -> Terraform {
        let source = repo_root().join("examples").join(example);
        let terraform = Terraform::new("", aws);
        std::fs::remove_file(terraform.dir.join("main.tf")).unwrap();
        for entry in std::fs::read_dir(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display())) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tf") {
                std::fs::copy(&path, terraform.dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        terraform
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Terraform {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new("terraform")
            .args(args)
            .arg("-no-color")
            .current_dir(&self.workdir)
            .env_remove("TF_LOG")
            .env_remove("TF_LOG_PROVIDER")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("terraform on PATH");
        Run::from(args, output)
    }
}

impl Drop for Terraform {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a terraform command did, with its output kept for assertions and failure messages.
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(args: &[&str], output: Output) -> Run {
        Run {
            command: format!("terraform {}", args.join(" ")),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "{} exited with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.expect_code(0)
    }

    /// Stdout and stderr together, with Terraform's line wrapping undone, for matching messages.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Databases for the tests to back up, made through the SDK (moto makes them available at once).
pub mod databases {
    use aws_sdk_rds::types::Tag;

    /// A create whose first attempt's answer was lost (a loaded machine: the SDK timed out and retried) fails
    /// on its own work, moto's automatic snapshot of the new instance or the instance itself: the database is
    /// there all the same.
    async fn made<T, E: std::fmt::Debug>(
        rds: &aws_sdk_rds::Client,
        id: &str,
        created: Result<T, aws_sdk_rds::error::SdkError<E>>,
    ) {
        let Err(e) = created else { return };
        let exists = rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .is_ok()
            || rds
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await
                .is_ok();
        let retried = format!("{e:?}");
        assert!(exists && (retried.contains("AlreadyExists")), "creating DB {id}: {e:?}");
    }

    fn tag_list(tags: &[(&str, &str)]) -> Vec<Tag> {
        tags.iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect()
    }

    /// An Aurora PostgreSQL cluster.
    pub async fn cluster(rds: &aws_sdk_rds::Client, id: &str, tags: &[(&str, &str)]) {
        let created = rds
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .master_username("admin")
            .master_user_password("password-123")
            .set_tags(Some(tag_list(tags)))
            .send()
            .await;
        made(rds, id, created).await;
    }

    /// The request every test instance starts from: the smallest class and storage RDS takes.
    fn small_instance(
        rds: &aws_sdk_rds::Client,
        id: &str,
        engine: &str,
    ) -> aws_sdk_rds::operation::create_db_instance::builders::CreateDBInstanceFluentBuilder {
        rds.create_db_instance()
            .db_instance_identifier(id)
            .db_instance_class("db.t3.micro")
            .engine(engine)
            .allocated_storage(20)
    }

    /// A DB instance of `engine`, a member of `cluster` when given.
    pub async fn instance(
        rds: &aws_sdk_rds::Client,
        id: &str,
        engine: &str,
        cluster: Option<&str>,
        tags: &[(&str, &str)],
    ) {
        let created = small_instance(rds, id, engine)
            .set_db_cluster_identifier(cluster.map(String::from))
            .set_tags(Some(tag_list(tags)))
            .send()
            .await;
        made(rds, id, created).await;
    }

    /// A PostgreSQL instance in DB subnet group `group` (see `subnet_group`).
    pub async fn instance_in_subnet_group(rds: &aws_sdk_rds::Client, id: &str, group: &str) {
        let created = small_instance(rds, id, "postgres")
            .db_subnet_group_name(group)
            .send()
            .await;
        made(rds, id, created).await;
    }

    /// `rds` in another region: the same endpoint and credentials.
    pub fn rds_in(rds: &aws_sdk_rds::Client, region: &str) -> aws_sdk_rds::Client {
        let conf = rds
            .config()
            .to_builder()
            .region(aws_sdk_rds::config::Region::new(region.to_string()))
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    /// A DB subnet group `name` over two of the default VPC's subnets of the client's region, on moto
    /// (`endpoint`). The subnets come from one EC2 query made by hand: the tests have no EC2 client (a large crate
    /// for one call), and moto routes a request by its `Authorization` scope and checks no signature.
    pub async fn subnet_group(rds: &aws_sdk_rds::Client, endpoint: &str, name: &str) {
        use std::io::{Read, Write};
        let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
        let region = rds.config().region().map_or("us-east-1", |r| r.as_ref()).to_string();
        let body = "Action=DescribeSubnets&Version=2016-11-15";
        let mut stream = std::net::TcpStream::connect(address).expect("moto");
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20261204/{region}/ec2/aws4_request, \
             SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let subnets: Vec<String> = answer
            .split("<subnetId>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</subnetId>").map(|(id, _)| id.to_string()))
            .take(2)
            .collect();
        assert_eq!(subnets.len(), 2, "the default VPC's subnets: {answer}");
        rds.create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description("the application's subnets")
            .set_subnet_ids(Some(subnets))
            .send()
            .await
            .unwrap();
    }

    /// A PostgreSQL instance with encrypted storage on RDS's default key (moto's stand-in for the AWS managed
    /// key, which RDS cannot share).
    pub async fn encrypted_instance(rds: &aws_sdk_rds::Client, id: &str) {
        let created = small_instance(rds, id, "postgres").storage_encrypted(true).send().await;
        made(rds, id, created).await;
    }

    /// Shares DB snapshot `id` with `account` (its `restore` attribute).
    pub async fn share(rds: &aws_sdk_rds::Client, id: &str, account: &str) {
        rds.modify_db_snapshot_attribute()
            .db_snapshot_identifier(id)
            .attribute_name("restore")
            .values_to_add(account)
            .send()
            .await
            .unwrap_or_else(|e| panic!("sharing {id}: {e:?}"));
    }

    /// A snapshot of `db` (an instance or a cluster) named and tagged as `policy` names and tags its own, for
    /// `slot`, shared with `account`; its identifier.
    pub async fn shared_policy_snapshot(
        rds: &aws_sdk_rds::Client,
        policy: &str,
        db: &str,
        kind: rdsbackup_common::identifier::SnapshotKind,
        slot: &str,
        account: &str,
    ) -> String {
        use rdsbackup_common::{identifier, tags};
        let id = identifier::build(policy, db, kind, slot);
        let tags = tag_list(&[(tags::POLICY, policy), (tags::DB, db)]);
        match kind {
            identifier::SnapshotKind::Instance => {
                rds.create_db_snapshot()
                    .db_instance_identifier(db)
                    .db_snapshot_identifier(&id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("snapshot {id}: {e:?}"));
                share(rds, &id, account).await;
            }
            identifier::SnapshotKind::Cluster => {
                rds.create_db_cluster_snapshot()
                    .db_cluster_identifier(db)
                    .db_cluster_snapshot_identifier(&id)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("snapshot {id}: {e:?}"));
                rds.modify_db_cluster_snapshot_attribute()
                    .db_cluster_snapshot_identifier(&id)
                    .attribute_name("restore")
                    .values_to_add(account)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("sharing {id}: {e:?}"));
            }
        }
        id
    }

    /// The accounts a DB snapshot is shared with (its `restore` attribute).
    pub async fn shared_with(rds: &aws_sdk_rds::Client, id: &str) -> Vec<String> {
        let output = rds
            .describe_db_snapshot_attributes()
            .db_snapshot_identifier(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describing the attributes of {id}: {e:?}"));
        output
            .db_snapshot_attributes_result()
            .map(|r| r.db_snapshot_attributes())
            .unwrap_or_default()
            .iter()
            .filter(|a| a.attribute_name() == Some("restore"))
            .flat_map(|a| a.attribute_values().iter().cloned())
            .collect()
    }
}

/// The clock, to the minute, in seconds since the epoch: moto stamps snapshots with the real time, so tests of
/// ages and slots start there.
pub fn clock_minute() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now / 60 * 60
}

/// RFC 3339 UTC of `seconds` since the epoch, as an event's `time`.
pub fn rfc3339(seconds: i64) -> String {
    aws_sdk_rds::primitives::DateTime::from_secs(seconds)
        .fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
        .unwrap()
}

/// A customer managed key of `owner` whose key policy also lets `vault_account` (if any) use it as RDS needs
/// for a shared snapshot: what a `vault` block names.
pub async fn vault_key(kms: &aws_sdk_kms::Client, owner: &str, vault_account: Option<&str>) -> String {
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().arn().unwrap().to_string();
    let mut statements = vec![serde_json::json!({"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{owner}:root")}, "Action": "kms:*", "Resource": "*"})];
    if let Some(account) = vault_account {
        statements.push(serde_json::json!({"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}));
    }
    let document = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    kms.put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(document.to_string())
        .send()
        .await
        .unwrap();
    key
}

/// The deployed function's own environment (its `RDSBACKUP_*` variables), against this AWS: what the Lambda runs
/// with when the tests run it as deployed.
pub async fn deployed_env(aws: &Aws, c: &Clients, function: &str) -> Vec<(String, String)> {
    let mut env = function_env(&c.lambda, function).await;
    env.extend(aws.env());
    env
}

/// The environment variables function `name` is configured with.
pub async fn function_env(lambda: &aws_sdk_lambda::Client, name: &str) -> Vec<(String, String)> {
    let found = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("function {name}: {e:?}"));
    found
        .environment()
        .and_then(|e| e.variables())
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The JSON object at `key` of `bucket` (a record).
pub async fn json_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> serde_json::Value {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
    serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap()
}

/// The titles of the widgets of the dashboard `name`, in order.
pub async fn dashboard_titles(c: &Clients, name: &str) -> Vec<String> {
    let dashboard = c.cloudwatch.get_dashboard().dashboard_name(name).send().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(dashboard.dashboard_body().unwrap()).unwrap();
    body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap().to_string())
        .collect()
}

/// terraform-provider-aws' CheckDestroy: `terraform destroy`, then every part of the policy's stack is looked
/// for on the endpoint and none may be left (an orphan is a part the state no longer knows).
pub async fn destroy_and_check(tf: &Terraform, c: &Clients, policy: &str) {
    tf.run(&["destroy", "-auto-approve"]).success();
    let left = leftovers(c, policy).await;
    assert!(left.is_empty(), "destroy left parts of the stack behind: {left:?}");
}

/// Every part of the policy's stack still on the endpoint, in words.
pub async fn leftovers(c: &Clients, policy: &str) -> Vec<String> {
    let stem = format!("rdsbackup-{policy}");
    let parts = stacks::Parts::find(c, |name| name == stem || name.starts_with(&format!("{stem}-")))
        .await
        .unwrap();
    parts.describe()
}

/// A name of its own for one test's stack, `<prefix>-<6 hex digits>`: tests run in parallel against one real
/// account (acceptance mode) never share a stack, and the sweeper finds leftovers by the prefix. At most 24
/// characters for a prefix of up to 17, as policy names must be.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()) as u64;
    let mixed =
        (u64::from(std::process::id()) << 20) ^ (NEXT.fetch_add(1, Ordering::Relaxed) as u64 * 0x9e37_79b9) ^ nanos;
    format!("{prefix}-{:06x}", mixed & 0xff_ffff)
}

/// The parts of policy stacks on an endpoint, found by name: what `destroy_and_check` expects to be gone and the
/// sweeper (`src/bin/sweep.rs`) deletes.
pub mod stacks {
    use aws_config::SdkConfig;

    fn err(what: &str, e: impl std::fmt::Debug) -> String {
        format!("{what}: {e:?}")
    }

    /// Names (topic ARNs for topics) whose part name `belongs`; a log group is judged without `/aws/lambda/`.
    #[derive(Debug, Default)]
    pub struct Parts {
        pub rules: Vec<String>,
        pub alarms: Vec<String>,
        pub topics: Vec<String>,
        pub functions: Vec<String>,
        pub log_groups: Vec<String>,
        pub roles: Vec<String>,
        pub buckets: Vec<String>,
        pub dashboards: Vec<String>,
    }

    impl Parts {
        pub async fn find(c: &super::Clients, belongs: impl Fn(&str) -> bool) -> Result<Parts, String> {
            let keep = |names: Vec<String>| names.into_iter().filter(|n| belongs(n)).collect::<Vec<_>>();
            let mut parts = Parts::default();
            let rules = c
                .events
                .list_rules()
                .name_prefix("rdsbackup-")
                .send()
                .await
                .map_err(|e| err("ListRules", e))?;
            parts.rules = keep(
                rules
                    .rules()
                    .iter()
                    .filter_map(|r| r.name().map(String::from))
                    .collect(),
            );
            let alarms = c
                .cloudwatch
                .describe_alarms()
                .alarm_name_prefix("rdsbackup-")
                .send()
                .await
                .map_err(|e| err("DescribeAlarms", e))?;
            parts.alarms = keep(
                alarms
                    .metric_alarms()
                    .iter()
                    .filter_map(|a| a.alarm_name().map(String::from))
                    .collect(),
            );
            let dashboards = c
                .cloudwatch
                .list_dashboards()
                .dashboard_name_prefix("rdsbackup-")
                .send()
                .await
                .map_err(|e| err("ListDashboards", e))?;
            parts.dashboards = keep(
                dashboards
                    .dashboard_entries()
                    .iter()
                    .filter_map(|d| d.dashboard_name().map(String::from))
                    .collect(),
            );
            let topics = c.sns.list_topics().send().await.map_err(|e| err("ListTopics", e))?;
            parts.topics = topics
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .filter(|arn| arn.rsplit(':').next().is_some_and(&belongs))
                .map(String::from)
                .collect();
            let mut functions = Vec::new();
            let mut pages = c.lambda.list_functions().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("ListFunctions", e))?;
                functions.extend(
                    page.functions()
                        .iter()
                        .filter_map(|f| f.function_name().map(String::from)),
                );
            }
            parts.functions = keep(functions);
            let groups = c
                .logs
                .describe_log_groups()
                .log_group_name_prefix("/aws/lambda/rdsbackup-")
                .send()
                .await
                .map_err(|e| err("DescribeLogGroups", e))?;
            parts.log_groups = groups
                .log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .filter(|g| g.strip_prefix("/aws/lambda/").is_some_and(&belongs))
                .map(String::from)
                .collect();
            let mut roles = Vec::new();
            let mut pages = c.iam.list_roles().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("ListRoles", e))?;
                roles.extend(page.roles().iter().map(|r| r.role_name().to_string()));
            }
            parts.roles = keep(roles);
            let buckets = c.s3.list_buckets().send().await.map_err(|e| err("ListBuckets", e))?;
            parts.buckets = keep(
                buckets
                    .buckets()
                    .iter()
                    .filter_map(|b| b.name().map(String::from))
                    .collect(),
            );
            Ok(parts)
        }

        pub fn describe(&self) -> Vec<String> {
            let kinds = [
                ("rule", &self.rules),
                ("alarm", &self.alarms),
                ("topic", &self.topics),
                ("function", &self.functions),
                ("log group", &self.log_groups),
                ("role", &self.roles),
                ("bucket", &self.buckets),
                ("dashboard", &self.dashboards),
            ];
            kinds
                .iter()
                .flat_map(|(kind, names)| names.iter().map(move |name| format!("{kind} {name}")))
                .collect()
        }
    }

    /// A stack the tests made: `rdsbackup-<prefix>-<6 hex digits>` (`unique_name`), alone or followed by `-...`
    /// (bucket, alarms, topic). A policy someone named `<prefix>-prod` is not one.
    pub fn is_test_stack(name: &str, prefix: &str) -> bool {
        let Some(rest) = name
            .strip_prefix("rdsbackup-")
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_prefix('-'))
        else {
            return false;
        };
        let (hex, after) = rest.split_at(rest.len().min(6));
        hex.len() == 6
            && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && (after.is_empty() || after.starts_with('-'))
    }

    /// Deletes every part of the tests' stacks named with `prefix` (never a snapshot) and returns what it deleted.
    pub async fn sweep(config: &SdkConfig, prefix: &str) -> Result<Vec<String>, String> {
        let c = super::Clients::new(config);
        let parts = Parts::find(&c, |name| is_test_stack(name, prefix)).await?;
        for rule in &parts.rules {
            let targets = c
                .events
                .list_targets_by_rule()
                .rule(rule)
                .send()
                .await
                .map_err(|e| err("ListTargetsByRule", e))?;
            let ids: Vec<String> = targets.targets().iter().map(|t| t.id().to_string()).collect();
            if !ids.is_empty() {
                c.events
                    .remove_targets()
                    .rule(rule)
                    .set_ids(Some(ids))
                    .send()
                    .await
                    .map_err(|e| err("RemoveTargets", e))?;
            }
            c.events
                .delete_rule()
                .name(rule)
                .send()
                .await
                .map_err(|e| err("DeleteRule", e))?;
        }
        if !parts.dashboards.is_empty() {
            c.cloudwatch
                .delete_dashboards()
                .set_dashboard_names(Some(parts.dashboards.clone()))
                .send()
                .await
                .map_err(|e| err("DeleteDashboards", e))?;
        }
        if !parts.alarms.is_empty() {
            c.cloudwatch
                .delete_alarms()
                .set_alarm_names(Some(parts.alarms.clone()))
                .send()
                .await
                .map_err(|e| err("DeleteAlarms", e))?;
        }
        for topic in &parts.topics {
            c.sns
                .delete_topic()
                .topic_arn(topic)
                .send()
                .await
                .map_err(|e| err("DeleteTopic", e))?;
        }
        for function in &parts.functions {
            c.lambda
                .delete_function()
                .function_name(function)
                .send()
                .await
                .map_err(|e| err("DeleteFunction", e))?;
        }
        for group in &parts.log_groups {
            c.logs
                .delete_log_group()
                .log_group_name(group)
                .send()
                .await
                .map_err(|e| err("DeleteLogGroup", e))?;
        }
        for role in &parts.roles {
            let inline = c
                .iam
                .list_role_policies()
                .role_name(role)
                .send()
                .await
                .map_err(|e| err("ListRolePolicies", e))?;
            for policy in inline.policy_names() {
                c.iam
                    .delete_role_policy()
                    .role_name(role)
                    .policy_name(policy)
                    .send()
                    .await
                    .map_err(|e| err("DeleteRolePolicy", e))?;
            }
            let attached = c
                .iam
                .list_attached_role_policies()
                .role_name(role)
                .send()
                .await
                .map_err(|e| err("ListAttachedRolePolicies", e))?;
            for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
                c.iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| err("DetachRolePolicy", e))?;
            }
            c.iam
                .delete_role()
                .role_name(role)
                .send()
                .await
                .map_err(|e| err("DeleteRole", e))?;
        }
        for bucket in &parts.buckets {
            empty_and_delete(&c.s3, bucket).await?;
        }
        Ok(parts.describe())
    }

    /// Every object version and delete marker, then the bucket (the provider's own destroy cannot serve here:
    /// it lives in the provider binary).
    async fn empty_and_delete(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), String> {
        let _ = s3.delete_bucket_policy().bucket(bucket).send().await;
        loop {
            let page = s3
                .list_object_versions()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("ListObjectVersions", e))?;
            let objects: Vec<_> = page
                .versions()
                .iter()
                .filter_map(|v| Some((v.key()?, v.version_id())))
                .chain(
                    page.delete_markers()
                        .iter()
                        .filter_map(|m| Some((m.key()?, m.version_id()))),
                )
                .filter_map(|(key, version)| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(key)
                        .set_version_id(version.map(String::from))
                        .build()
                        .ok()
                })
                .collect();
            if objects.is_empty() {
                break;
            }
            let delete = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .build()
                .map_err(|e| err("Delete", e))?;
            s3.delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| err("DeleteObjects", e))?;
        }
        s3.delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| err("DeleteBucket", e))?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::is_test_stack;

        #[test]
        fn only_the_tests_names_are_swept() {
            for name in [
                "rdsbackup-nightly-0a1b2c",
                "rdsbackup-nightly-0a1b2c-123456789012",
                "rdsbackup-nightly-0a1b2c-errors",
            ] {
                assert!(is_test_stack(name, "nightly"), "{name}");
            }
            for name in [
                "rdsbackup-nightly",
                "rdsbackup-nightly-prod",
                "rdsbackup-nightly-prod12-123456789012",
                "rdsbackup-nightly-0a1b2c3",
                "rdsbackup-nightly-0A1B2C",
                "rdsbackup-weekly-0a1b2c",
            ] {
                assert!(!is_test_stack(name, "nightly"), "{name}");
            }
        }
    }
}

/// Accounts of one moto server reached as a real deployment reaches them, through roles assumed with STS (moto
/// maps an assumed role's credentials to the role's account): the vault tests' sources and vault.
pub mod accounts {
    use super::Clients;

    pub const ROLE_NAME: &str = "rdsbackup-tests";

    /// The role the tests assume in `account`, as a provider's `assume_role` names it.
    pub fn role_arn(account: &str) -> String {
        format!("arn:aws:iam::{account}:role/{ROLE_NAME}")
    }

    /// Credentials that act in `account`, from moto's STS.
    async fn assume(endpoint: &str, account: &str) -> aws_sdk_sts::types::Credentials {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .endpoint_url(endpoint)
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .assume_role()
            .role_arn(role_arn(account))
            .role_session_name("tests")
            .send()
            .await
            .unwrap();
        out.credentials().unwrap().clone()
    }

    /// One account: the environment a process acting in it gets (the Lambda run as deployed there), and SDK
    /// clients acting in it.
    pub struct Account {
        pub env: Vec<(String, String)>,
        pub clients: Clients,
    }

    impl std::ops::Deref for Account {
        type Target = Clients;

        fn deref(&self) -> &Clients {
            &self.clients
        }
    }

    pub async fn account(endpoint: &str, id: &str) -> Account {
        let c = assume(endpoint, id).await;
        let env: Vec<(String, String)> = [
            ("AWS_ACCESS_KEY_ID", c.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key()),
            ("AWS_SESSION_TOKEN", c.session_token()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", endpoint),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "assumed",
            ))
            .load()
            .await;
        Account {
            env,
            clients: Clients::new(&sdk),
        }
    }

    impl Account {
        /// The environment of function `name` deployed in this account, with this account's credentials: what
        /// the Lambda runs with there.
        pub async fn deployed_env(&self, name: &str) -> Vec<(String, String)> {
            let mut env = super::function_env(&self.lambda, name).await;
            env.extend(self.env.iter().cloned());
            env
        }
    }
}

//! The fault matrix: every distinct AWS request of a recorded scenario, replayed once per fault kind with the
//! fault injected by the fault proxy at that request only, and what must hold after each case asserted.
//!
//! The provider's scenario is create (a policy with every optional part: KMS key, instances, a cluster, tags,
//! the provider's own topic), refresh (a plan), update (schedule, retention, tags, memory) and destroy. A
//! request is its signature (`FaultProxy`'s `Request::signature`: the operation, or a REST method and path) in
//! one step, at its first occurrence there; so a part or block added later is covered by its requests alone.
//!
//! Faults: throttling once (the SDK's retry absorbs it), a 500 on every attempt of the request (the command
//! fails naming the operation), a timeout after the endpoint did the work (the SDK retries over what was done),
//! and the answer lost after the endpoint did the work (the same, at once).
//!
//! `RDSBACKUP_FAULT_MATRIX=full` runs every case (`scripts/fault-matrix`, about 40 minutes on 2 cores); otherwise
//! the fixed `SAMPLE` runs (about a minute), checked against the recording so that it never names a request the
//! scenario stopped making. `RDSBACKUP_FAULT_MATRIX_ONLY=<part of "Step signature Fault">` picks cases by name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use rdsbackup_tests::fault_proxy::{Fault, FaultProxy};
use rdsbackup_tests::stacks::Parts;
use rdsbackup_tests::{Aws, Clients, MOTO_ACCOUNT, Moto, Terraform, databases};

const POLICY: &str = "matrix";
/// Every request gets this many attempts here (the product's default is 10, with backoff that would make a
/// persistent fault cost a minute per case).
const ATTEMPTS: usize = 3;
/// The SDK's attempt timeout here; a hung answer is held longer than that.
const ATTEMPT_TIMEOUT_SECONDS: &str = "2";
const HANG: Duration = Duration::from_millis(2500);
/// Cases run at once: each has its own moto, Terraform and provider.
const PARALLEL: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    Throttled,
    ServerError,
    TimedOut,
    AnswerLost,
}

impl FaultKind {
    const ALL: [FaultKind; 4] = [
        FaultKind::Throttled,
        FaultKind::ServerError,
        FaultKind::TimedOut,
        FaultKind::AnswerLost,
    ];

    /// The fault and on how many attempts of the request it is injected.
    fn fault(self) -> (Fault, usize) {
        match self {
            FaultKind::Throttled => (Fault::Throttle, 1),
            FaultKind::ServerError => (
                Fault::Error {
                    status: 500,
                    code: "InternalFailure",
                },
                ATTEMPTS,
            ),
            FaultKind::TimedOut => (Fault::Hang(HANG), 1),
            FaultKind::AnswerLost => (Fault::Drop, 1),
        }
    }

    /// Whether the command must still succeed: a fault on fewer attempts than the SDK makes is its to absorb.
    fn absorbed(self) -> bool {
        self.fault().1 < ATTEMPTS
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Create,
    Refresh,
    Update,
    Destroy,
}

impl Step {
    const ALL: [Step; 4] = [Step::Create, Step::Refresh, Step::Update, Step::Destroy];

    fn args(self) -> &'static [&'static str] {
        match self {
            Step::Create | Step::Update => &["apply", "-auto-approve"],
            Step::Refresh => &["plan"],
            Step::Destroy => &["destroy", "-auto-approve"],
        }
    }

    /// The configuration the step runs with (and a faulted step's next apply converges to).
    fn config(self, key_arn: &str) -> String {
        let updated = matches!(self, Step::Update | Step::Destroy);
        let (schedule, retention, team, memory) = if updated {
            ("rate(12 hours)", 14, "platform", 512)
        } else {
            ("cron(0 3 * * ? *)", 7, "data", 256)
        };
        format!(
            r#"
terraform {{
  required_providers {{
    rdsbackup = {{ source = "rdsbackup/rdsbackup" }}
  }}
}}

provider "rdsbackup" {{
  default_tags = {{ owner = "platform" }}
}}

resource "rdsbackup_policy" "p" {{
  name                    = "{POLICY}"
  db_instance_identifiers = ["orders"]
  db_cluster_identifiers  = ["analytics"]
  selection_tags          = {{ backup = "nightly" }}
  schedule                = "{schedule}"
  retention_days          = {retention}
  lambda_memory_mb        = {memory}
  kms_key_arn             = "{key_arn}"
  deny_insecure_transport = false
  force_destroy           = true
  tags                    = {{ team = "{team}" }}
}}
"#
        )
    }
}

/// One case: a fault at the first occurrence of a request in a step.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Case {
    step: Step,
    signature: String,
    fault: FaultKind,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {} {:?}", self.step, self.signature, self.fault)
    }
}

/// moto behind the fault proxy: the code under test goes through the proxy, the SDK clients (arranging and
/// inspecting) straight to moto. A worker keeps one and resets it for each case.
struct Endpoint {
    aws: Aws,
    proxy: FaultProxy,
    clients: Clients,
    runtime: tokio::runtime::Runtime,
}

impl Endpoint {
    fn start() -> Endpoint {
        let aws = Aws::Moto(Moto::start());
        let Aws::Moto(moto) = &aws else { unreachable!() };
        let proxy = FaultProxy::start(&moto.endpoint);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let clients = runtime.block_on(aws.clients());
        Endpoint {
            aws,
            proxy,
            clients,
            runtime,
        }
    }

    /// As fresh as a new server (moto's reset), the proxy's rules and records forgotten.
    fn reset(&self) {
        let Aws::Moto(moto) = &self.aws else { unreachable!() };
        moto.reset();
        self.proxy.reset();
    }

    /// The environment of the code under test: through the proxy, with the matrix's attempts and timeout.
    fn env(&self) -> Vec<(String, String)> {
        let mut vars = self.aws.env();
        vars.retain(|(k, _)| k != "AWS_ENDPOINT_URL");
        vars.extend(
            [
                ("AWS_ENDPOINT_URL", self.proxy.endpoint.clone()),
                ("AWS_MAX_ATTEMPTS", ATTEMPTS.to_string()),
                (
                    "RDSBACKUP_AWS_ATTEMPT_TIMEOUT_SECONDS",
                    ATTEMPT_TIMEOUT_SECONDS.to_string(),
                ),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        vars
    }
}

/// The provider's endpoint with what its scenario needs before it starts: a KMS key CloudWatch Logs may use, the
/// databases, and a snapshot of the policy that nothing may delete.
struct World {
    endpoint: Endpoint,
    key_arn: String,
}

const KEPT_SNAPSHOT: &str = "matrix-kept";

impl World {
    fn start() -> World {
        let endpoint = Endpoint::start();
        let key_arn = endpoint.runtime.block_on(arrange(&endpoint.clients));
        World { endpoint, key_arn }
    }

    /// As fresh as a new server, arranged again.
    fn reset(&mut self) {
        self.endpoint.reset();
        self.key_arn = self.endpoint.runtime.block_on(arrange(&self.endpoint.clients));
    }

    fn terraform(&self) -> Terraform {
        self.endpoint.env().iter().fold(
            Terraform::new(&Step::Create.config(&self.key_arn), &self.endpoint.aws),
            |tf, (k, v)| tf.with_env(k, v),
        )
    }

    /// Every part of any policy stack on the endpoint, in words.
    fn parts(&self) -> BTreeSet<String> {
        let parts = self
            .endpoint
            .runtime
            .block_on(Parts::find(&self.endpoint.clients, |_| true))
            .unwrap();
        parts.describe().into_iter().collect()
    }

    fn kept_snapshot_exists(&self) -> bool {
        let found = self.endpoint.runtime.block_on(
            self.endpoint
                .clients
                .rds
                .describe_db_snapshots()
                .db_snapshot_identifier(KEPT_SNAPSHOT)
                .send(),
        );
        found.is_ok_and(|out| !out.db_snapshots().is_empty())
    }
}

async fn arrange(c: &Clients) -> String {
    let key = c
        .kms
        .create_key()
        .description("rdsbackup fault matrix")
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    let account = MOTO_ACCOUNT;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Account","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"Logs","Effect":"Allow","Principal":{{"Service":"logs.us-east-1.amazonaws.com"}},
              "Action":["kms:Encrypt*","kms:Decrypt*","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*",
              "Condition":{{"ArnLike":{{"kms:EncryptionContext:aws:logs:arn":"arn:aws:logs:us-east-1:{account}:*"}}}}}}]}}"#
    );
    c.kms
        .put_key_policy()
        .key_id(key.key_id())
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .unwrap();
    databases::cluster(&c.rds, "analytics", &[]).await;
    databases::instance(&c.rds, "orders", "postgres", None, &[]).await;
    c.rds
        .create_db_snapshot()
        .db_instance_identifier("orders")
        .db_snapshot_identifier(KEPT_SNAPSHOT)
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(rdsbackup_common::tags::POLICY)
                .value(POLICY)
                .build(),
        )
        .send()
        .await
        .unwrap();
    key.arn().unwrap().to_string()
}

/// Runs the scenario without faults: the distinct requests of each step, and the parts a converged stack has.
fn record() -> (Vec<(Step, String)>, BTreeSet<String>) {
    let world = World::start();
    let tf = world.terraform();
    let mut requests = Vec::new();
    let mut converged = BTreeSet::new();
    for step in Step::ALL {
        std::fs::write(tf.dir.join("main.tf"), step.config(&world.key_arn)).unwrap();
        let seen = world.endpoint.proxy.requests().len();
        tf.run(step.args()).success();
        let mut distinct = BTreeSet::new();
        for request in &world.endpoint.proxy.requests()[seen..] {
            if distinct.insert(request.signature()) {
                requests.push((step, request.signature()));
            }
        }
        if step == Step::Create {
            converged = world.parts();
        }
    }
    assert!(
        world.parts().is_empty(),
        "the unfaulted scenario leaves nothing: {:?}",
        world.parts()
    );
    (requests, converged)
}

/// The error Terraform printed, without the plan around it.
fn error_of(text: &str) -> String {
    let error = text.find("Error:").map_or(text, |at| &text[at..]);
    error.chars().take(600).collect()
}

/// The end of a plan: what it would change.
fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(900)..].iter().collect()
}

/// Runs one case on a reset world and says what did not hold, if anything. A case after the create step starts
/// from a created stack (the create's own faults are its own cases).
fn run_case(world: &mut World, case: &Case, converged: &BTreeSet<String>) -> Result<(), String> {
    world.reset();
    let tf = world.terraform();
    let write = |step: Step| std::fs::write(tf.dir.join("main.tf"), step.config(&world.key_arn)).unwrap();
    if case.step != Step::Create {
        write(Step::Create);
        let run = tf.run(Step::Create.args());
        if run.code != Some(0) {
            return Err(format!("the unfaulted create failed: {}", error_of(&run.text())));
        }
    }
    write(case.step);
    let (fault, times) = case.fault.fault();
    world.endpoint.proxy.inject_at(&case.signature, 0, fault, times);
    let faulted = tf.run(case.step.args());
    let reached = world.endpoint.proxy.failed();
    world.endpoint.proxy.clear();
    if reached == 0 {
        return Err("the request was not made this time".into());
    }
    let text = faulted.text();
    if faulted.code != Some(0) {
        if case.fault.absorbed() {
            return Err(format!(
                "a fault the SDK retries failed the command: {}",
                error_of(&text)
            ));
        }
        let named = match case.signature.split_once(' ') {
            // REST requests: the error names an operation of that service.
            Some((service_method, _)) => {
                let service = service_method.split(':').next().unwrap_or_default();
                text.contains(&format!("{service}:"))
            }
            None => {
                text.contains(&case.signature) || text.contains(&case.signature.replace("monitoring:", "cloudwatch:"))
            }
        };
        if !named {
            return Err(format!(
                "the error does not name the operation {}: {}",
                case.signature,
                error_of(&text)
            ));
        }
    }
    if case.step == Step::Destroy {
        let again = tf.run(&["destroy", "-auto-approve"]);
        if again.code != Some(0) {
            return Err(format!("destroy after the fault failed: {}", error_of(&again.text())));
        }
    } else {
        let apply = tf.run(&["apply", "-auto-approve"]);
        if apply.code != Some(0) {
            return Err(format!("the next apply failed: {}", error_of(&apply.text())));
        }
        let plan = tf.run(&["plan", "-detailed-exitcode"]);
        if plan.code != Some(0) {
            return Err(format!(
                "the plan after the next apply is not empty: {}",
                tail(&plan.text())
            ));
        }
        let found = world.parts();
        if &found != converged {
            let orphans: Vec<_> = found.difference(converged).collect();
            let missing: Vec<_> = converged.difference(&found).collect();
            return Err(format!(
                "after the next apply, orphans {orphans:?}, missing {missing:?}"
            ));
        }
        let destroy = tf.run(&["destroy", "-auto-approve"]);
        if destroy.code != Some(0) {
            return Err(format!("destroy failed: {}", error_of(&destroy.text())));
        }
    }
    let left = world.parts();
    if !left.is_empty() {
        return Err(format!("destroy left {left:?}"));
    }
    if !world.kept_snapshot_exists() {
        return Err("a snapshot was deleted".into());
    }
    Ok(())
}

/// The fixed sample the test command runs (the full matrix is `scripts/fault-matrix`): each fault kind on the
/// requests where it hurts most — the creates and deletes whose answer is lost or late (the SDK retries into a
/// conflict or an absence), a persistent 500 on a write and a read, throttling on a create.
const SAMPLE: [(Step, &str, FaultKind); 12] = [
    (Step::Create, "iam:CreateRole", FaultKind::AnswerLost),
    (Step::Create, "lambda:POST /2015-03-31/functions", FaultKind::AnswerLost),
    (
        Step::Create,
        "s3:PUT /rdsbackup-matrix-123456789012/",
        FaultKind::AnswerLost,
    ),
    (Step::Create, "logs:CreateLogGroup", FaultKind::TimedOut),
    (Step::Create, "monitoring:PutMetricAlarm", FaultKind::AnswerLost),
    (Step::Create, "events:PutRule", FaultKind::ServerError),
    (Step::Create, "sns:CreateTopic", FaultKind::Throttled),
    (Step::Refresh, "iam:GetRolePolicy", FaultKind::ServerError),
    (
        Step::Update,
        "lambda:PUT /2015-03-31/functions/rdsbackup-matrix/configuration",
        FaultKind::AnswerLost,
    ),
    (Step::Destroy, "iam:DeleteRolePolicy", FaultKind::AnswerLost),
    (
        Step::Destroy,
        "lambda:DELETE /2015-03-31/functions/rdsbackup-matrix",
        FaultKind::TimedOut,
    ),
    (
        Step::Destroy,
        "s3:DELETE /rdsbackup-matrix-123456789012/",
        FaultKind::AnswerLost,
    ),
];

#[test]
fn every_request_survives_every_fault() {
    if rdsbackup_tests::acceptance() {
        eprintln!("skipped in acceptance mode: the faults are injected by the local fault proxy");
        return;
    }
    let full = std::env::var("RDSBACKUP_FAULT_MATRIX").as_deref() == Ok("full");
    let (requests, converged) = record();
    for (step, signature) in &requests {
        eprintln!("fault matrix: request {step:?} {signature}");
    }
    let mut cases: Vec<Case> = requests
        .iter()
        .flat_map(|(step, signature)| {
            FaultKind::ALL.map(|fault| Case {
                step: *step,
                signature: signature.clone(),
                fault,
            })
        })
        .collect();
    let matrix = cases.len();
    if !full {
        let sample: Vec<Case> = SAMPLE
            .iter()
            .map(|(step, signature, fault)| Case {
                step: *step,
                signature: signature.to_string(),
                fault: *fault,
            })
            .collect();
        let unknown: Vec<String> = sample
            .iter()
            .filter(|c| !cases.contains(c))
            .map(Case::to_string)
            .collect();
        assert!(
            unknown.is_empty(),
            "the sample names requests the scenario no longer makes: {unknown:?}"
        );
        cases = sample;
    }
    // One case or a few, to look at them again: a part of "<step> <signature> <fault>".
    if let Ok(only) = std::env::var("RDSBACKUP_FAULT_MATRIX_ONLY") {
        cases.retain(|case| case.to_string().contains(&only));
    }
    eprintln!(
        "fault matrix: {} distinct requests x {} faults = {matrix} cases; running {} ({})",
        requests.len(),
        FaultKind::ALL.len(),
        cases.len(),
        if full {
            "full"
        } else {
            "sample: RDSBACKUP_FAULT_MATRIX=full runs all"
        }
    );
    // In the scenario's order, creates first: `pop` takes from the end.
    let queue = Mutex::new(cases.iter().rev().cloned().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                let mut world = World::start();
                loop {
                    let Some(case) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let started = std::time::Instant::now();
                    let result = run_case(&mut world, &case, &converged);
                    let took = started.elapsed().as_secs_f64();
                    eprintln!(
                        "{case} ({took:.1} s): {}",
                        match &result {
                            Ok(()) => "held".to_string(),
                            Err(e) => format!("FAILED: {e}"),
                        }
                    );
                    results.lock().unwrap().push((case, result));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut per_kind: BTreeMap<FaultKind, (usize, usize)> = BTreeMap::new();
    for (case, result) in &results {
        let entry = per_kind.entry(case.fault).or_default();
        entry.0 += 1;
        entry.1 += usize::from(result.is_ok());
    }
    for (kind, (ran, held)) in &per_kind {
        eprintln!("fault matrix: {kind:?}: {held} of {ran} cases held");
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(case, result)| result.as_ref().err().map(|e| format!("{case:?}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

/// The backup run's scenario: two databases and an Aurora cluster (with a member), snapshots of others beside
/// them, run three times — the first run, a second slot, and a run eight days on that also expires the first two
/// runs' snapshots (retention 7 days, keeping 1).
mod backup_run {
    use super::*;
    use rdsbackup_common::identifier::{self, SnapshotKind};
    use rdsbackup_common::{env, record_key};
    use rdsbackup_tests::runtime_api::run_once_as_is;
    use serde_json::{Value, json};

    const BUCKET: &str = "rdsbackup-matrix-123456789012";
    const INSTANCES: [&str; 2] = ["billing", "orders"];
    const CLUSTER: &str = "analytics";
    /// Snapshots of the same databases that are not the policy's: by hand, and another policy's.
    const OTHERS: [(&str, &str); 2] = [
        ("orders", "by-hand"),
        ("billing", "rdsbackup-weekly-billing-202601010000"),
    ];

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Run {
        First,
        Second,
        Retention,
    }

    impl Run {
        pub const ALL: [Run; 3] = [Run::First, Run::Second, Run::Retention];

        /// The run's time: minutes apart, then eight days on (snapshots are made at the real time).
        fn at(self, start: i64) -> i64 {
            match self {
                Run::First => start,
                Run::Second => start + 60,
                Run::Retention => start + 8 * 86_400,
            }
        }
    }

    pub struct RunWorld {
        endpoint: Endpoint,
        start: i64,
    }

    fn rfc3339(seconds: i64) -> String {
        aws_sdk_rds::primitives::DateTime::from_secs(seconds)
            .fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
            .unwrap()
    }

    fn slot(seconds: i64) -> String {
        rfc3339(seconds).replace(['-', 'T', ':'], "")[..12].to_string()
    }

    impl RunWorld {
        /// `start`: the first run's time, the same for every world of the matrix, so that the records' keys (which
        /// carry the slot) are the same requests in every case.
        pub fn start(start: i64) -> RunWorld {
            let mut world = RunWorld {
                endpoint: Endpoint::start(),
                start,
            };
            world.arrange();
            world
        }

        pub fn reset(&mut self) {
            self.endpoint.reset();
            self.arrange();
        }

        fn arrange(&mut self) {
            let (rds, s3) = (&self.endpoint.clients.rds, &self.endpoint.clients.s3);
            self.endpoint.runtime.block_on(async {
                s3.create_bucket().bucket(BUCKET).send().await.unwrap();
                for db in INSTANCES {
                    databases::instance(rds, db, "postgres", None, &[]).await;
                }
                databases::cluster(rds, CLUSTER, &[]).await;
                databases::instance(rds, "analytics-1", "aurora-postgresql", Some(CLUSTER), &[]).await;
                for (db, id) in OTHERS {
                    let mut create = rds
                        .create_db_snapshot()
                        .db_instance_identifier(db)
                        .db_snapshot_identifier(id);
                    if id.starts_with("rdsbackup-weekly") {
                        create = create.tags(
                            aws_sdk_rds::types::Tag::builder()
                                .key(rdsbackup_common::tags::POLICY)
                                .value("weekly")
                                .build(),
                        );
                    }
                    create.send().await.unwrap();
                }
            });
        }

        fn env(&self) -> Vec<(String, String)> {
            let mut vars = self.endpoint.env();
            let instances: BTreeSet<String> = INSTANCES.iter().map(|s| s.to_string()).collect();
            let clusters: BTreeSet<String> = [CLUSTER.to_string()].into();
            vars.extend(
                [
                    (env::POLICY, POLICY.to_string()),
                    (env::BUCKET, BUCKET.to_string()),
                    (env::BUCKET_OWNER, MOTO_ACCOUNT.to_string()),
                    (env::DB_INSTANCES, env::join_identifiers(&instances)),
                    (env::DB_CLUSTERS, env::join_identifiers(&clusters)),
                    (env::RETENTION_DAYS, "7".to_string()),
                    (env::MIN_SNAPSHOTS, "1".to_string()),
                ]
                .map(|(k, v)| (k.to_string(), v)),
            );
            vars
        }

        /// One invocation at the run's time: whether it succeeded, and what it printed.
        pub fn invoke(&self, run: Run) -> (bool, String) {
            let event = json!({
                "version": "0",
                "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": MOTO_ACCOUNT,
                "time": rfc3339(run.at(self.start)),
                "region": "us-east-1",
                "resources": [format!("arn:aws:events:us-east-1:{MOTO_ACCOUNT}:rule/rdsbackup-{POLICY}")],
                "detail": {}
            });
            let (succeeded, stdout, stderr) = run_once_as_is(&self.env(), &event);
            (succeeded, format!("{stdout}{stderr}"))
        }

        pub fn proxy(&self) -> &FaultProxy {
            &self.endpoint.proxy
        }

        /// What did not hold after `run` and one more invocation of it: the slot's snapshot and record of every
        /// database, the snapshots of others untouched.
        pub fn check(&self, run: Run) -> Result<(), String> {
            let slot = slot(run.at(self.start));
            let expected = INSTANCES
                .iter()
                .map(|db| {
                    (
                        *db,
                        identifier::build(POLICY, db, SnapshotKind::Instance, &slot),
                        SnapshotKind::Instance,
                    )
                })
                .chain([(
                    CLUSTER,
                    identifier::build(POLICY, CLUSTER, SnapshotKind::Cluster, &slot),
                    SnapshotKind::Cluster,
                )]);
            let (rds, s3) = (&self.endpoint.clients.rds, &self.endpoint.clients.s3);
            self.endpoint.runtime.block_on(async {
                for (db, id, kind) in expected {
                    let found = match kind {
                        SnapshotKind::Instance => rds
                            .describe_db_snapshots()
                            .db_snapshot_identifier(&id)
                            .send()
                            .await
                            .is_ok_and(|o| !o.db_snapshots().is_empty()),
                        SnapshotKind::Cluster => rds
                            .describe_db_cluster_snapshots()
                            .db_cluster_snapshot_identifier(&id)
                            .send()
                            .await
                            .is_ok_and(|o| !o.db_cluster_snapshots().is_empty()),
                    };
                    if !found {
                        return Err(format!("{db} has no snapshot {id}"));
                    }
                    if s3
                        .head_object()
                        .bucket(BUCKET)
                        .key(record_key(db, &id))
                        .send()
                        .await
                        .is_err()
                    {
                        return Err(format!("{db} has no record of {id}"));
                    }
                }
                for (db, id) in OTHERS {
                    let kept = rds
                        .describe_db_snapshots()
                        .db_snapshot_identifier(id)
                        .send()
                        .await
                        .is_ok_and(|o| !o.db_snapshots().is_empty());
                    if !kept {
                        return Err(format!("{db}'s snapshot {id}, not the policy's, is gone"));
                    }
                }
                Ok(())
            })
        }
    }

    /// What the run printed names the operation that failed (`DescribeDBSnapshots`, `PutObject s3://...`) and
    /// counts the failure in its metrics or fails the invocation.
    pub fn failure_shows(signature: &str, text: &str) -> bool {
        let operation = match signature.split_once(' ') {
            // REST (S3): the run names S3 operations by name and URL.
            Some(_) => "s3://".to_string(),
            None => signature.split_once(':').map_or(signature, |(_, op)| op).to_string(),
        };
        let counted = text.contains(r#""SnapshotsFailed":1"#)
            || text.contains(r#""SnapshotsFailed":2"#)
            || text.contains(r#""SnapshotsFailed":3"#)
            || text.contains("RunFailed")
            || text.contains("Error:");
        text.contains(&operation) && counted
    }

    pub fn output_of(text: &str) -> Option<Value> {
        text.lines().rev().find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|v| v.get("created").is_some())
        })
    }
}

#[test]
fn every_backup_run_request_survives_every_fault() {
    use backup_run::{Run, RunWorld};
    if rdsbackup_tests::acceptance() {
        eprintln!("skipped in acceptance mode: it creates RDS databases and injects faults locally");
        return;
    }
    let full = std::env::var("RDSBACKUP_FAULT_MATRIX").as_deref() == Ok("full");
    // Record the requests of each run.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let start = now / 60 * 60;
    let world = RunWorld::start(start);
    let mut requests = Vec::new();
    for run in Run::ALL {
        let seen = world.proxy().requests().len();
        let (succeeded, text) = world.invoke(run);
        assert!(succeeded, "the unfaulted {run:?} run failed: {text}");
        let mut distinct = BTreeSet::new();
        for request in &world.proxy().requests()[seen..] {
            if distinct.insert(request.signature()) {
                requests.push((run, request.signature()));
            }
        }
        world.check(run).unwrap();
    }
    drop(world);
    for (run, signature) in &requests {
        eprintln!("fault matrix (run): request {run:?} {signature}");
    }
    let mut cases: Vec<(Run, String, FaultKind)> = requests
        .iter()
        .flat_map(|(run, signature)| FaultKind::ALL.map(|fault| (*run, signature.clone(), fault)))
        .collect();
    let matrix = cases.len();
    if !full {
        // The sample: each fault on the retention run's writes — an instance and a cluster snapshot, a deletion,
        // and the new record of one database.
        let new_record = requests
            .iter()
            .rev()
            .find(|(run, signature)| {
                *run == Run::Retention && signature.starts_with("s3:PUT") && signature.contains("/snapshots/orders/")
            })
            .map(|(_, signature)| signature.clone())
            .expect("the retention run writes the new record of orders");
        let writes = [
            "rds:CreateDBSnapshot",
            "rds:CreateDBClusterSnapshot",
            "rds:DeleteDBSnapshot",
        ];
        cases.retain(|(run, signature, _)| {
            *run == Run::Retention && (writes.contains(&signature.as_str()) || *signature == new_record)
        });
    }
    if let Ok(only) = std::env::var("RDSBACKUP_FAULT_MATRIX_ONLY") {
        cases.retain(|(run, signature, fault)| format!("{run:?} {signature} {fault:?}").contains(&only));
    }
    eprintln!(
        "fault matrix (run): {} distinct requests x {} faults = {matrix} cases; running {}",
        requests.len(),
        FaultKind::ALL.len(),
        cases.len()
    );
    let queue = Mutex::new(cases.iter().rev().cloned().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                let mut world = RunWorld::start(start);
                loop {
                    let Some((run, signature, fault)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    world.reset();
                    let result = (|| {
                        for before in Run::ALL.into_iter().take_while(|r| *r != run) {
                            let (succeeded, text) = world.invoke(before);
                            if !succeeded {
                                return Err(format!("the unfaulted {before:?} run failed: {text}"));
                            }
                        }
                        let (injected, times) = fault.fault();
                        world.proxy().inject_at(&signature, 0, injected, times);
                        let (succeeded, text) = world.invoke(run);
                        let reached = world.proxy().failed();
                        world.proxy().clear();
                        if reached == 0 {
                            return Err("the request was not made this time".into());
                        }
                        let failed_in_output = backup_run::output_of(&text)
                            .is_some_and(|o| o["failed"].as_array().is_some_and(|f| !f.is_empty()));
                        if (!succeeded || failed_in_output) && !backup_run::failure_shows(&signature, &text) {
                            return Err(format!(
                                "the faulted run's failure does not show what failed: {}",
                                tail(&text)
                            ));
                        }
                        let reported = !succeeded || failed_in_output;
                        if !fault.absorbed() && !reported {
                            return Err(format!(
                                "a request that failed on every attempt left no failure in the output: {}",
                                tail(&text)
                            ));
                        }
                        if fault.absorbed() && !succeeded {
                            return Err(format!("a fault the SDK retries failed the run: {}", tail(&text)));
                        }
                        // At-least-once delivery: the same invocation again settles what the fault left.
                        let (again, text) = world.invoke(run);
                        if !again {
                            return Err(format!("the next invocation failed: {}", tail(&text)));
                        }
                        world.check(run)
                    })();
                    eprintln!(
                        "Run {run:?} {signature} {fault:?}: {}",
                        match &result {
                            Ok(()) => "held".to_string(),
                            Err(e) => format!("FAILED: {e}"),
                        }
                    );
                    results
                        .lock()
                        .unwrap()
                        .push((fault, format!("{run:?} {signature} {fault:?}"), result));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    for kind in FaultKind::ALL {
        let of_kind: Vec<_> = results.iter().filter(|(k, _, _)| *k == kind).collect();
        let held = of_kind.iter().filter(|(_, _, r)| r.is_ok()).count();
        eprintln!("fault matrix (run): {kind:?}: {held} of {} cases held", of_kind.len());
    }
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(_, case, r)| r.as_ref().err().map(|e| format!("{case}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

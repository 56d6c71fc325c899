//! The `archive` block's step of a backup run: start the exports `common::archive::plan` chooses (the first
//! available snapshot of each period of each database, at most 5 in flight per account), and bring each export's
//! record up to date as RDS finishes it. State lives where it survives a crash: the export tasks themselves
//! (RDS lists them; their identifiers are deterministic, so a repeated invocation finds what it started) and a
//! marker `pending-exports/<db>/<task>` per export still running, which a later run resolves into the record's
//! `export` (`task_identifier`, `s3_prefix`, `status`). moto completes an export at once and writes no Parquet.

use std::collections::BTreeMap;

use rdsbackup_common::archive::{self, Archive, Snapshot, Task};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::{error, info};

use crate::aws_error;
use crate::config::Config;
use crate::records::{self, Bucket};
use crate::run::Clients;
use crate::select::{Failure, Kind};
use crate::slot::Slot;

const MARKERS: &str = archive::MARKERS_PREFIX;
const REFUSED: &str = ":refused";
/// What RDS answers for a snapshot it will never export (its engine, version or class): retrying cannot help.
const REFUSALS: [&str; 4] = [
    "InvalidExportSourceState",
    "InvalidExportSourceStateFault",
    "InvalidParameterCombination",
    "InvalidParameterValue",
];

/// One database's own snapshots, as the run listed them: the plan's view, and each one's ARN.
pub struct Own {
    pub kind: Kind,
    pub snapshots: Vec<(Snapshot, String)>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Export tasks started.
    pub started: Vec<String>,
    pub failed: Vec<Failure>,
    /// Over the databases with a completed export, the oldest newest one's age in days (the alarm's metric).
    pub newest_age_days: Option<f64>,
}

/// RDS's export task statuses are upper case (`COMPLETE`); records and the plan use lower case.
fn lowercase(status: Option<&str>) -> String {
    status.unwrap_or_default().to_ascii_lowercase()
}

async fn tasks(rds: &aws_sdk_rds::Client) -> Result<Vec<Task>, String> {
    let mut found = Vec::new();
    let mut pages = rds.describe_export_tasks().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error::describe("DescribeExportTasks", &e))?;
        found.extend(page.export_tasks().iter().map(|t| Task {
            id: t.export_task_identifier().unwrap_or_default().to_string(),
            status: lowercase(t.status()),
        }));
    }
    Ok(found)
}

/// Sets the record's `export`, keeping whatever else it holds (a missing record is left to the backup's repair).
async fn record_export(
    s3: &aws_sdk_s3::Client,
    config: &Config,
    db: &str,
    snapshot: &str,
    export: Value,
) -> Result<(), String> {
    let bucket = Bucket::of(config);
    let key = rdsbackup_common::record_key(db, snapshot);
    let Some(mut record) = records::read(s3, &bucket, &key).await? else {
        return Ok(());
    };
    if record.get("export") == Some(&export) {
        return Ok(());
    }
    record.insert("export".into(), export);
    records::put_record(s3, &bucket, &key, record).await
}

fn export_value(task: &str, db: &str, snapshot: &str, status: &str) -> Value {
    json!({"task_identifier": task, "s3_prefix": archive::s3_prefix(db, snapshot), "status": status})
}

pub async fn advance(
    clients: &Clients,
    config: &Config,
    archive: &Archive,
    now: OffsetDateTime,
    own: &BTreeMap<String, Own>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let bucket = Bucket::of(config);
    let (tasks, markers) = tokio::join!(tasks(&clients.rds), records::keys(&clients.s3, &bucket, MARKERS));
    let fail = |outcome: &mut Outcome, db: &str, kind: Kind, error: String| {
        error!(db, %error, "archive step failed");
        outcome.failed.push(Failure {
            db: db.to_string(),
            kind,
            error,
        });
    };
    let (tasks, markers) = match (tasks, markers) {
        (Ok(t), Ok(m)) => (t, m),
        (Err(e), _) | (_, Err(e)) => {
            fail(&mut outcome, "", Kind::Instance, format!("archive: {e}"));
            return outcome;
        }
    };
    // An export RDS refused for good (an engine or class it cannot export) left a marker `<task>:refused`: the
    // plan sees it as that period's task, so it is reported once, not every run.
    let mut tasks = tasks;
    tasks.extend(markers.iter().filter_map(|key| {
        let task = key.strip_prefix(MARKERS)?.split_once('/')?.1.strip_suffix(REFUSED)?;
        Some(Task {
            id: task.to_string(),
            status: "refused".into(),
        })
    }));
    let snapshots: BTreeMap<String, Vec<Snapshot>> = own
        .iter()
        .map(|(db, o)| (db.clone(), o.snapshots.iter().map(|(s, _)| s.clone()).collect()))
        .collect();
    let plan = archive::plan(
        &config.policy,
        archive.every,
        &snapshots,
        &tasks,
        &Slot::of(now).compact(),
    );
    for (db, snapshot, task) in &plan.queued {
        info!(db, snapshot, task, "export queued behind RDS's limit of 5 in flight");
    }
    // Exports still running at the last run: settled into their records once RDS finishes them, before a retry
    // names its own task in the record.
    for key in &markers {
        let Some((db, task)) = key.strip_prefix(MARKERS).and_then(|rest| rest.split_once('/')) else {
            continue;
        };
        let Some(o) = own.get(db) else { continue };
        if task.ends_with(REFUSED) {
            continue;
        }
        // No such task: its start failed after the marker was written; nothing to record.
        let Some(status) = tasks.iter().find(|t| t.id == task).map(|t| t.status.as_str()) else {
            if let Err(e) = records::delete(&clients.s3, &bucket, key).await {
                fail(&mut outcome, db, o.kind, format!("export {task}: {e}"));
            }
            continue;
        };
        if !matches!(status, "complete" | "failed" | "canceled") {
            continue;
        }
        let Some((slot, attempt)) = archive::parse_task(&config.policy, db, task) else {
            continue;
        };
        let snapshot = o
            .snapshots
            .iter()
            .find(|(s, _)| s.slot == slot)
            .map(|(s, _)| s.id.clone());
        let settled = match &snapshot {
            Some(id) => record_export(&clients.s3, config, db, id, export_value(task, db, id, status)).await,
            None => Ok(()),
        };
        let dropped = match settled {
            Ok(()) => records::delete(&clients.s3, &bucket, key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = dropped {
            fail(&mut outcome, db, o.kind, format!("export {task}: {e}"));
        } else if status != "complete" && attempt >= archive::MAX_ATTEMPTS {
            // Reported once, when the last attempt ends: the period is given up.
            fail(
                &mut outcome,
                db,
                o.kind,
                format!("export {task} {status}, the last of {attempt} attempts"),
            );
        }
    }
    for (db, snapshot, task) in &plan.start {
        let o = &own[db];
        let arn = &o
            .snapshots
            .iter()
            .find(|(s, _)| &s.id == snapshot)
            .expect("the plan starts own snapshots")
            .1;
        // The marker before the task (its identifier is known before): a run that stops after starting it leaves
        // the marker for a later run, never an export its record does not name. One whose start failed is
        // dropped by the next run, which finds no such task.
        if let Err(e) = records::mark(&clients.s3, &bucket, &format!("{MARKERS}{db}/{task}")).await {
            fail(&mut outcome, db, o.kind, format!("export {task} not started: {e}"));
            continue;
        }
        let started = clients
            .rds
            .start_export_task()
            .export_task_identifier(task)
            .source_arn(arn)
            .s3_bucket_name(&config.bucket)
            .s3_prefix(archive::s3_prefix(db, snapshot).trim_end_matches('/'))
            .iam_role_arn(&archive.role_arn)
            .kms_key_id(&archive.kms_key_arn)
            .send()
            .await;
        let status = match started {
            Ok(out) => lowercase(out.status()),
            // A repeated invocation: the task is there already, and the next run follows it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_export_task_already_exists_fault()) =>
            {
                "starting".into()
            }
            Err(e) => {
                let refused = e
                    .as_service_error()
                    .and_then(|e| e.meta().code())
                    .is_some_and(|code| REFUSALS.contains(&code));
                let why = aws_error::describe(&format!("StartExportTask {task}"), &e);
                if refused {
                    let marker = format!("{MARKERS}{db}/{task}{REFUSED}");
                    match records::mark(&clients.s3, &bucket, &marker).await {
                        Ok(()) => fail(
                            &mut outcome,
                            db,
                            o.kind,
                            format!("{why} (reported once: this period is not exported)"),
                        ),
                        Err(e) => fail(
                            &mut outcome,
                            db,
                            o.kind,
                            format!("{why}; its refusal not recorded: {e}"),
                        ),
                    }
                } else {
                    fail(&mut outcome, db, o.kind, why);
                }
                continue;
            }
        };
        info!(db, snapshot, task, %status, "export started");
        let recorded = record_export(
            &clients.s3,
            config,
            db,
            snapshot,
            export_value(task, db, snapshot, &status),
        )
        .await;
        match recorded {
            Ok(()) => outcome.started.push(task.clone()),
            Err(e) => fail(
                &mut outcome,
                db,
                o.kind,
                format!("export {task} started, its record not written: {e}"),
            ),
        }
    }
    outcome.newest_age_days = own
        .keys()
        .filter_map(|db| {
            tasks
                .iter()
                .filter(|t| t.status == "complete")
                .filter_map(|t| archive::parse_task(&config.policy, db, &t.id).map(|(slot, _)| slot))
                .max()
                .and_then(Slot::from_compact)
                .map(|slot| ((now - slot.time()).as_seconds_f64() / 86_400.0).max(0.0))
        })
        .reduce(f64::max);
    outcome
}

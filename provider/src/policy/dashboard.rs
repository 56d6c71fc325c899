//! The body of a policy's dashboard `rdsbackup-<name>`: what an operator looks at when an alarm turns red. Per
//! database through metric searches, so that databases selected by tags appear without a change of the body;
//! the copy widgets only with `copy` blocks, the drills' only with `restore_drill`. Each widget is described in
//! docs/guides/operations.md.

use rdsbackup_common::metrics::*;
use serde_json::{Value, json};

use super::stack::{COPY_SLACK_HOURS, Desired};

pub fn body(d: &Desired) -> Value {
    let search = |metric: &str, dimensions: &str, statistic: &str| {
        format!(
            "SEARCH('{{{NAMESPACE},{dimensions}}} MetricName=\"{metric}\" {DIMENSION_POLICY}=\"{}\"', '{statistic}', 3600)",
            d.policy
        )
    };
    let per_policy = |metric: &str| json!([NAMESPACE, metric, DIMENSION_POLICY, d.policy, {"stat": "Sum"}]);
    let threshold = |label: &str, hours: i32| json!({"horizontal": [{"label": label, "value": hours}]});
    let mut widgets = vec![
        json!({
            "title": "Newest available snapshot per database (hours)",
            "metrics": [[{"expression": search(NEWEST_SNAPSHOT_AGE_HOURS, "Policy,DBIdentifier", "Maximum"), "id": "ages"}]],
            "annotations": threshold("backup overdue", d.threshold_hours),
            "stat": "Maximum",
        }),
        json!({
            "title": "Snapshots created, failed and deleted per run",
            "metrics": [per_policy(SNAPSHOTS_CREATED), per_policy(SNAPSHOTS_FAILED), per_policy(SNAPSHOTS_DELETED)],
            "stat": "Sum",
        }),
        json!({
            "title": "Run duration (ms) and errors",
            "metrics": [
                ["AWS/Lambda", "Duration", "FunctionName", d.function, {"stat": "Maximum"}],
                ["AWS/Lambda", "Errors", "FunctionName", d.function, {"stat": "Sum", "yAxis": "right"}],
            ],
            "stat": "Maximum",
        }),
    ];
    if !d.copies.is_empty() {
        widgets.push(json!({
            "title": "Newest available copy per region (hours)",
            "metrics": [[{"expression": search(NEWEST_COPY_AGE_HOURS, "Policy,Region", "Maximum"), "id": "copies"}]],
            "annotations": threshold("copy overdue", d.threshold_hours + COPY_SLACK_HOURS),
            "stat": "Maximum",
        }));
        widgets.push(json!({
            "title": "Copies started and failed per region",
            "metrics": [
                [{"expression": search(COPIES_STARTED, "Policy,Region", "Sum"), "id": "started"}],
                [{"expression": search(COPIES_FAILED, "Policy,Region", "Sum"), "id": "failed"}],
            ],
            "stat": "Sum",
        }));
    }
    if d.archive.is_some() {
        widgets.push(json!({
            "title": "Newest completed export (days)",
            "metrics": [[NAMESPACE, NEWEST_EXPORT_AGE_DAYS, DIMENSION_POLICY, d.policy, {"stat": "Maximum"}]],
            "stat": "Maximum",
        }));
    }
    if let Some(drill) = &d.drill {
        widgets.push(json!({
            "title": "Restore drills: seconds to available per database",
            "metrics": [[{"expression": search(RESTORE_DRILL_SECONDS, "Policy,DBIdentifier", "Maximum"), "id": "drills"}]],
            "annotations": {"horizontal": [{"label": "RTO target", "value": drill.rto_target_minutes * 60}]},
            "stat": "Maximum",
        }));
    }
    crate::aws::dashboard::grid(widgets, &d.region)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::typed::{Tf, TfType};
    use crate::policy::names::Location;
    use crate::policy::schema::{CopyModel, PolicyModel, schema};

    /// A policy with the schema's defaults and `copies` blocks, as the stack derives it.
    fn desired(copies: &[&str]) -> Desired {
        let model = PolicyModel {
            name: Tf::Known("nightly".into()),
            copy: Tf::Known(
                copies
                    .iter()
                    .map(|region| CopyModel {
                        region: Tf::Known(region.to_string()),
                        ..CopyModel::default()
                    })
                    .collect(),
            ),
            ..PolicyModel::default()
        };
        let model = PolicyModel::from_root(&schema().with_defaults(&model.to_value())).unwrap();
        Desired::new(&model, &Location::example(), "b".into(), &Default::default()).unwrap()
    }

    fn titles(body: &Value) -> Vec<&str> {
        body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["properties"]["title"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn the_dashboard_shows_every_database_and_the_copies_only_with_copy_blocks() {
        let plain = body(&desired(&[]));
        assert_eq!(titles(&plain).len(), 3);
        let ages = &plain["widgets"][0]["properties"];
        let expression = ages["metrics"][0][0]["expression"].as_str().unwrap();
        assert_eq!(
            expression,
            "SEARCH('{RDSBackup,Policy,DBIdentifier} MetricName=\"NewestSnapshotAgeHours\" Policy=\"nightly\"', \
             'Maximum', 3600)"
        );
        assert_eq!(
            ages["annotations"]["horizontal"][0]["value"], 26,
            "the overdue threshold"
        );
        assert_eq!(ages["region"], "eu-west-1");
        let copying = body(&desired(&["us-west-2"]));
        assert_eq!(titles(&copying).len(), 5);
        let copies = &copying["widgets"][3]["properties"];
        assert!(
            copies["metrics"][0][0]["expression"]
                .as_str()
                .unwrap()
                .contains("NewestCopyAgeHours")
        );
        assert_eq!(
            copies["annotations"]["horizontal"][0]["value"], 50,
            "the copy alarm's threshold"
        );
        // Laid out two by two, without overlap.
        let places: Vec<(u64, u64)> = copying["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["x"].as_u64().unwrap(), w["y"].as_u64().unwrap()))
            .collect();
        assert_eq!(places, [(0, 0), (12, 0), (0, 6), (12, 6), (0, 12)]);
    }

    #[test]
    fn the_drills_widget_comes_with_the_block_and_shows_its_target() {
        let mut d = desired(&[]);
        assert!(!titles(&body(&d)).iter().any(|t| t.starts_with("Restore drills")));
        d.drill = Some(rdsbackup_common::drill::Settings {
            db_identifiers: Default::default(),
            instance_class: "db.t3.medium".into(),
            subnet_group_name: None,
            vpc_security_group_ids: Default::default(),
            rto_target_minutes: 30,
        });
        let drilled = body(&d);
        let widget = &drilled["widgets"][3]["properties"];
        assert_eq!(widget["title"], "Restore drills: seconds to available per database");
        assert!(
            widget["metrics"][0][0]["expression"]
                .as_str()
                .unwrap()
                .contains("RestoreDrillSeconds")
        );
        assert_eq!(widget["annotations"]["horizontal"][0]["value"], 1800);
    }
}

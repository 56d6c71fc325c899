//! The stack's CloudWatch dashboard: one body the provider writes whole (PutDashboard replaces it), compared as
//! JSON with the body CloudWatch holds, so a widget edited or removed in the console is drift. CloudWatch
//! dashboards carry no tags: the dashboard is the stack's by its name alone.

use serde_json::Value;

use super::error::{AwsError, OrAbsent, Result, failed};
use super::part::Part;
use super::settings::Clients;

pub struct DashboardSpec<'a> {
    pub name: &'a str,
    pub body: Value,
}

#[derive(Debug)]
pub struct Dashboard {
    /// The body as CloudWatch holds it; `None` when it is not JSON.
    body: Option<Value>,
}

const ABSENT: &[&str] = &["ResourceNotFound", "DashboardNotFoundError"];

impl Part for DashboardSpec<'_> {
    type Found = Dashboard;

    fn missing(&self) -> String {
        format!("dashboard {} is missing", self.name)
    }

    async fn read(&self, aws: &Clients) -> Result<Option<Dashboard>> {
        let found = aws
            .cloudwatch
            .get_dashboard()
            .dashboard_name(self.name)
            .send()
            .await
            .map_err(failed("cloudwatch:GetDashboard", self.name))
            .or_absent(ABSENT)?;
        Ok(found.map(|found| Dashboard {
            body: found.dashboard_body().and_then(|body| serde_json::from_str(body).ok()),
        }))
    }

    fn drift(&self, found: &Dashboard) -> Vec<String> {
        if found.body.as_ref() == Some(&self.body) {
            Vec::new()
        } else {
            vec![format!("dashboard {}: its widgets differ", self.name)]
        }
    }

    async fn ensure(&self, aws: &Clients) -> Result<()> {
        if self
            .read(aws)
            .await?
            .is_some_and(|found| found.body.as_ref() == Some(&self.body))
        {
            return Ok(());
        }
        let put = aws
            .cloudwatch
            .put_dashboard()
            .dashboard_name(self.name)
            .dashboard_body(self.body.to_string())
            .send()
            .await
            .map_err(failed("cloudwatch:PutDashboard", self.name))?;
        // CloudWatch stores a body with warnings; errors it refuses. Either is a bug of the body here.
        match put.dashboard_validation_messages().first() {
            Some(problem) => Err(AwsError::new(format!(
                "cloudwatch:PutDashboard on {}: {} ({})",
                self.name,
                problem.message().unwrap_or("the body was not accepted"),
                problem.data_path().unwrap_or("/")
            ))),
            None => Ok(()),
        }
    }

    async fn delete(&self, aws: &Clients) -> Result<()> {
        aws.cloudwatch
            .delete_dashboards()
            .dashboard_names(self.name)
            .send()
            .await
            .map_err(failed("cloudwatch:DeleteDashboards", self.name))
            .or_absent(ABSENT)
            .map(drop)
    }
}

/// Metric widgets (each its `properties`) laid out two by two, hourly time series of `region`: the one layout
/// of every stack's dashboard.
pub fn grid(widgets: Vec<Value>, region: &str) -> Value {
    const WIDTH: u32 = 12;
    const HEIGHT: u32 = 6;
    let placed: Vec<Value> = widgets
        .into_iter()
        .enumerate()
        .map(|(i, mut properties)| {
            properties["region"] = serde_json::json!(region);
            properties["view"] = serde_json::json!("timeSeries");
            properties["period"] = serde_json::json!(3600);
            let i = i as u32;
            serde_json::json!({
                "type": "metric",
                "x": (i % 2) * WIDTH,
                "y": (i / 2) * HEIGHT,
                "width": WIDTH,
                "height": HEIGHT,
                "properties": properties,
            })
        })
        .collect();
    serde_json::json!({ "widgets": placed })
}

//! Logs as Terraform reads them from a plugin's stderr: one hclog JSON object per line, filtered by
//! `TF_LOG_PROVIDER`, else `TF_LOG`. Stdout belongs to the handshake and is never written here.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The most verbose level asked for; `None` when logging is off.
pub fn level_from_env(provider: Option<&str>, global: Option<&str>) -> Option<Level> {
    let setting = provider.filter(|s| !s.is_empty()).or(global.filter(|s| !s.is_empty()));
    match setting.map(str::to_ascii_uppercase).as_deref() {
        // Terraform itself discards provider logs unless TF_LOG is set: warnings still cost nothing here.
        None => Some(Level::WARN),
        Some("OFF") => None,
        Some("ERROR") => Some(Level::ERROR),
        Some("WARN") => Some(Level::WARN),
        Some("INFO") => Some(Level::INFO),
        Some("DEBUG") => Some(Level::DEBUG),
        // TRACE, JSON and anything Terraform does not recognise mean everything, as in Terraform.
        Some(_) => Some(Level::TRACE),
    }
}

pub fn init() {
    let provider = std::env::var("TF_LOG_PROVIDER").ok();
    let global = std::env::var("TF_LOG").ok();
    if let Some(max) = level_from_env(provider.as_deref(), global.as_deref()) {
        let _ = tracing_subscriber::registry().with(Hclog { max }).try_init();
    }
}

struct Hclog {
    max: Level,
}

impl<S: Subscriber> Layer<S> for Hclog {
    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut line = format_line(event.metadata(), SystemTime::now(), |visitor| event.record(visitor));
        line.push('\n');
        // One write per line so that concurrent tasks never interleave within a line.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn format_line(metadata: &Metadata<'_>, now: SystemTime, record: impl FnOnce(&mut Fields)) -> String {
    let mut fields = Fields::default();
    record(&mut fields);
    let mut object = serde_json::Map::new();
    object.insert("@level".into(), metadata.level().as_str().to_ascii_lowercase().into());
    object.insert("@message".into(), fields.message.unwrap_or_default().into());
    object.insert("@timestamp".into(), hclog_timestamp(now).into());
    if !metadata.target().starts_with(env!("CARGO_CRATE_NAME")) {
        object.insert("target".into(), metadata.target().into());
    }
    object.extend(fields.pairs);
    serde_json::Value::Object(object).to_string()
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: serde_json::Map<String, serde_json::Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.pairs.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// hclog's layout `2006-01-02T15:04:05.000000Z07:00` in UTC: exactly six fractional digits, or Terraform
/// takes the line for plain text.
fn hclog_timestamp(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let mut out = String::with_capacity(27);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        since_epoch.subsec_micros()
    );
    out
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn provider_setting_wins_over_global_and_off_disables() {
        assert_eq!(level_from_env(Some("debug"), Some("ERROR")), Some(Level::DEBUG));
        assert_eq!(level_from_env(None, Some("INFO")), Some(Level::INFO));
        assert_eq!(level_from_env(Some(""), Some("JSON")), Some(Level::TRACE));
        assert_eq!(level_from_env(Some("OFF"), Some("TRACE")), None);
        assert_eq!(level_from_env(None, None), Some(Level::WARN));
    }

    #[test]
    fn timestamp_has_six_fractional_digits_in_utc() {
        let t = UNIX_EPOCH + Duration::new(1_795_834_800, 123_456_789);
        assert_eq!(hclog_timestamp(t), "2026-11-28T03:00:00.123456Z");
        assert_eq!(hclog_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            hclog_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn lines_are_hclog_json_objects() {
        static CALLSITE: tracing::callsite::DefaultCallsite = tracing::callsite::DefaultCallsite::new(&META);
        static META: Metadata<'static> = tracing::metadata!(
            name: "event",
            target: "aws_smithy_runtime",
            level: Level::DEBUG,
            fields: &[],
            callsite: &CALLSITE,
            kind: tracing::metadata::Kind::EVENT
        );
        let line = format_line(&META, UNIX_EPOCH, |_| {});
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["@level"], "debug");
        assert_eq!(parsed["@message"], "");
        assert_eq!(parsed["@timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(parsed["target"], "aws_smithy_runtime");
        assert!(!line.contains('\n'));
    }
}

//! Amazon EventBridge schedule expressions (`cron(...)` and `rate(...)`).
//!
//! This exists so `terraform validate` can reject a bad `schedule` before any
//! API call, with a message that names the offending field and what would be
//! allowed there; AWS's own `ValidationException` says neither.
//!
//! Rules follow the EventBridge user guide ("Cron expressions reference" and
//! "Rate expressions reference"). Where the guide is silent we lean one of two
//! ways, on purpose:
//!
//! * Stricter on layout: a single space between fields and no whitespace just
//!   inside the parentheses. AWS stores the string as given, so accepting
//!   variants here would only produce confusing plan diffs later.
//! * Stricter on `L`, `W` and `#`: they must make up the whole field. The guide
//!   only documents them alone (it calls `3#1,6#3` invalid), so anything else
//!   is a guess we would rather not let through.
//! * More lenient where the English guide and its translations disagree: `/` is
//!   accepted in day-of-week (some versions of the table list it), because a
//!   false rejection here leaves the user with no way forward while a false
//!   acceptance still fails loudly at apply time.
//!
//! Error texts are meant to be shown on the `schedule` attribute, so they never
//! name the attribute themselves.

use std::fmt;

/// A schedule expression that EventBridge should accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `cron(...)`: AWS evaluates it, so the provider only needs to know it is acceptable, not when it fires.
    Cron,
    Rate(Rate),
}

/// `rate(value unit)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub value: u32,
    pub unit: RateUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl Rate {
    /// How long AWS waits between runs. In `u64` because `u32::MAX` days does
    /// not fit in a `u32` count of minutes.
    #[must_use]
    pub fn period_minutes(&self) -> u64 {
        let per_unit = match self.unit {
            RateUnit::Minute => 1,
            RateUnit::Hour => 60,
            RateUnit::Day => 24 * 60,
        };
        u64::from(self.value) * per_unit
    }
}

/// Why an expression was rejected; `Display` gives the user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(String);

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScheduleError {}

const FORMS: &str = "expected cron(minutes hours day-of-month month day-of-week year) \
    with six fields, such as cron(0 10 * * ? *), or rate(value unit), such as rate(5 minutes)";

/// Parses and validates a schedule expression exactly as it would be sent to AWS.
///
/// # Errors
///
/// Any expression EventBridge would refuse, or that this module cannot vouch
/// for (see the module notes); the message says what is wrong and what is allowed.
pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
    if expr.is_empty() {
        return Err(ScheduleError(format!("must not be empty; {FORMS}")));
    }
    if expr.trim() != expr {
        return Err(ScheduleError(format!(
            "must not start or end with whitespace, got {expr:?}"
        )));
    }
    let result = if let Some(inner) = wrapped(expr, "cron") {
        parse_cron(inner).map(|()| Schedule::Cron)
    } else if let Some(inner) = wrapped(expr, "rate") {
        parse_rate(inner).map(Schedule::Rate)
    } else {
        Err(not_a_schedule(expr))
    };
    result.map_err(ScheduleError)
}

/// At most how many times a day a valid expression fires: exact for `rate(...)`; for `cron(...)`, the minutes
/// times the hours it names (day-of-month and day-of-week fields only make it fire less often). For the snapshot
/// count a policy keeps, where an upper bound is what matters.
pub fn runs_per_day_at_most(expr: &str) -> Option<f64> {
    match parse(expr).ok()? {
        Schedule::Rate(rate) => Some(1440.0 / rate.period_minutes() as f64),
        Schedule::Cron => {
            let mut fields = wrapped(expr, "cron")?.split(' ');
            let minutes = field_values(fields.next()?, 0, 59)?;
            let hours = field_values(fields.next()?, 0, 23)?;
            Some((minutes * hours) as f64)
        }
    }
}

/// How many values a cron field of a valid expression names within `first..=last`.
fn field_values(field: &str, first: u32, last: u32) -> Option<u32> {
    let mut count = 0;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().ok()?.max(1)),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (first, last),
            _ => match range.split_once('-') {
                Some((from, to)) => (from.parse().ok()?, to.parse().ok()?),
                // `a/n` runs from a to the end of the range.
                None if step > 1 => (range.parse().ok()?, last),
                None => (range.parse().ok()?, range.parse().ok()?),
            },
        };
        count += (to.max(from) - from) / step + 1;
    }
    Some(count)
}

fn wrapped<'a>(expr: &'a str, keyword: &str) -> Option<&'a str> {
    expr.strip_prefix(keyword)?.strip_prefix('(')?.strip_suffix(')')
}

// Guess at the most likely slip so the message points at it rather than just
// restating the grammar.
fn not_a_schedule(expr: &str) -> String {
    let lower = expr.to_ascii_lowercase();
    let has_keyword = |s: &str| s.starts_with("cron(") || s.starts_with("rate(");
    if has_keyword(&lower) && !has_keyword(expr) {
        format!("{expr:?}: cron and rate must be written in lowercase; {FORMS}")
    } else if has_keyword(expr) {
        format!("{expr:?} must end with \")\"; {FORMS}")
    } else if lower.starts_with("at(") {
        format!("one-time at(...) schedules are not supported, got {expr:?}; {FORMS}")
    } else {
        format!("{expr:?} is not a schedule expression; {FORMS}")
    }
}

fn has_bad_spacing(inner: &str) -> bool {
    inner.chars().any(|c| c.is_whitespace() && c != ' ')
        || inner.starts_with(' ')
        || inner.ends_with(' ')
        || inner.contains("  ")
}

fn parse_rate(inner: &str) -> Result<Rate, String> {
    let shape = || {
        format!(
            "rate expressions need a value and a unit separated by one space, \
             such as rate(5 minutes), got rate({inner})"
        )
    };
    if has_bad_spacing(inner) {
        return Err(shape());
    }
    let (value_text, unit_text) = inner.split_once(' ').ok_or_else(shape)?;
    if unit_text.contains(' ') {
        return Err(shape());
    }
    if value_text.is_empty() || !value_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("rate value {value_text:?} must be a whole number of 1 or more"));
    }
    let value: u32 = value_text
        .parse()
        .map_err(|_| format!("rate value {value_text:?} is too large; the most is {}", u32::MAX))?;
    if value == 0 {
        return Err(format!("rate value must be at least 1, got {value_text:?}"));
    }
    let (unit, singular, plural) = match unit_text {
        "minute" => (RateUnit::Minute, "minute", false),
        "minutes" => (RateUnit::Minute, "minute", true),
        "hour" => (RateUnit::Hour, "hour", false),
        "hours" => (RateUnit::Hour, "hour", true),
        "day" => (RateUnit::Day, "day", false),
        "days" => (RateUnit::Day, "day", true),
        _ => {
            return Err(format!(
                "rate unit {unit_text:?} must be one of minute, minutes, hour, hours, day, days"
            ));
        }
    };
    // AWS insists on the grammatical number and rejects the other one.
    if value == 1 && plural {
        return Err(format!(
            "a rate value of 1 needs the singular unit \"{singular}\", as in rate(1 {singular})"
        ));
    }
    if value != 1 && !plural {
        return Err(format!(
            "a rate value of {value} needs the plural unit \"{singular}s\", \
             as in rate({value} {singular}s)"
        ));
    }
    Ok(Rate { value, unit })
}

/// Which of the day-specific wildcards a field takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Days {
    No,
    OfMonth,
    OfWeek,
}

struct Spec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names for `min`, `min + 1`, ...
    names: &'static [&'static str],
    allowed: &'static str,
    wildcards: &'static str,
    days: Days,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const SPECS: [Spec; 6] = [
    Spec {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        allowed: "0-59",
        wildcards: ", - * /",
        days: Days::No,
    },
    Spec {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
        allowed: "0-23",
        wildcards: ", - * /",
        days: Days::No,
    },
    Spec {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        allowed: "1-31",
        wildcards: ", - * ? / L W",
        days: Days::OfMonth,
    },
    Spec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
        allowed: "1-12 or JAN-DEC",
        wildcards: ", - * /",
        days: Days::No,
    },
    Spec {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: WEEKDAYS,
        allowed: "1-7 or SUN-SAT",
        wildcards: ", - * ? / L #",
        days: Days::OfWeek,
    },
    Spec {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
        allowed: "1970-2199",
        wildcards: ", - * /",
        days: Days::No,
    },
];

const FIELD_LIST: &str = "minutes hours day-of-month month day-of-week year";

fn parse_cron(inner: &str) -> Result<(), String> {
    if has_bad_spacing(inner) {
        return Err(format!(
            "cron fields must be separated by single spaces, with no whitespace \
             just inside the parentheses, got cron({inner})"
        ));
    }
    let parts: Vec<&str> = if inner.is_empty() {
        Vec::new()
    } else {
        inner.split(' ').collect()
    };
    if parts.len() != SPECS.len() {
        // Five fields almost always means a Unix crontab line was pasted in.
        let hint = if parts.len() == 5 {
            "; the year field is required (use * for every year)"
        } else {
            ""
        };
        return Err(format!(
            "cron expressions need 6 fields ({FIELD_LIST}), got {}: {inner:?}{hint}",
            parts.len()
        ));
    }
    for (spec, text) in SPECS.iter().zip(&parts) {
        check_field(spec, text).map_err(|detail| format!("{} field {text:?}: {detail}", spec.name))?;
    }
    match (parts[2] == "?", parts[4] == "?") {
        (true, true) => Err(
            "day-of-month and day-of-week cannot both be \"?\"; give one of them a value \
             (or *) and leave the other as \"?\""
                .to_string(),
        ),
        (false, false) => Err(format!(
            "one of day-of-month ({:?}) and day-of-week ({:?}) must be \"?\", because AWS \
             cannot combine the two; for example cron(0 10 * * ? *) or cron(0 18 ? * MON-FRI *)",
            parts[2], parts[4]
        )),
        _ => Ok(()),
    }
}

fn check_field(spec: &Spec, text: &str) -> Result<(), String> {
    let up = text.to_ascii_uppercase();
    if up == "?" {
        return if spec.days == Days::No {
            Err("\"?\" is only allowed in the day-of-month and day-of-week fields".to_string())
        } else {
            Ok(())
        };
    }
    if up.contains('?') {
        return Err(if spec.days == Days::No {
            "\"?\" is only allowed in the day-of-month and day-of-week fields".to_string()
        } else {
            "\"?\" must be the whole field".to_string()
        });
    }
    if spec.days != Days::No
        && !up.contains([',', '-', '/'])
        && let Some(c) = special_char(&up)
    {
        return check_special(spec, &up, c);
    }
    for item in text.split(',') {
        check_item(spec, text, item)?;
    }
    Ok(())
}

/// Which of `L`, `W`, `#` a token is built around, if any. Only shapes that
/// could be meant that way count, so a stray word gets the generic message.
fn special_char(up: &str) -> Option<char> {
    if up.contains('#') {
        return Some('#');
    }
    let day_ish = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) || WEEKDAYS.contains(&p);
    if let Some(prefix) = up.strip_suffix('W')
        && (prefix == "L" || day_ish(prefix))
    {
        return Some('W');
    }
    if let Some(prefix) = up.strip_suffix('L')
        && day_ish(prefix)
    {
        return Some('L');
    }
    None
}

fn supports(spec: &Spec, c: char) -> bool {
    match c {
        'L' => spec.days != Days::No,
        'W' => spec.days == Days::OfMonth,
        _ => spec.days == Days::OfWeek,
    }
}

fn only_in(c: char) -> String {
    let fields = match c {
        'L' => "the day-of-month and day-of-week fields",
        'W' => "the day-of-month field",
        _ => "the day-of-week field",
    };
    format!("\"{c}\" is only allowed in {fields}")
}

/// The whole field is an `L`, `W` or `#` form.
fn check_special(spec: &Spec, up: &str, c: char) -> Result<(), String> {
    if !supports(spec, c) {
        return Err(only_in(c));
    }
    match (spec.days, c) {
        (Days::OfMonth, 'L') if up == "L" => Ok(()),
        (Days::OfMonth, 'L') => Err("in day-of-month \"L\" must stand alone (last day of the month) \
             or be written LW (last weekday of the month)"
            .to_string()),
        (Days::OfMonth, _) if up == "LW" => Ok(()),
        (Days::OfMonth, _) => {
            let day = &up[..up.len() - 1];
            match number(spec, day) {
                Some(_) => Ok(()),
                None => Err(
                    "the day before \"W\" must be 1-31, as in 15W (the weekday nearest the 15th), \
                     or use LW"
                        .to_string(),
                ),
            }
        }
        (_, 'L') if up == "L" => Ok(()),
        (_, 'L') => match number(spec, &up[..up.len() - 1]) {
            Some(_) => Ok(()),
            None => {
                Err("the day before \"L\" must be 1-7 or SUN-SAT, as in 6L (the last Friday of the month)".to_string())
            }
        },
        _ => {
            let (day, nth) = up.split_once('#').expect("special_char found '#'");
            if number(spec, day).is_none() {
                return Err("the day before \"#\" must be 1-7 or SUN-SAT, as in 2#1 (the first Monday)".to_string());
            }
            match nth.parse::<u8>() {
                Ok(1..=5) if nth.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
                _ => Err("the number after \"#\" must be 1-5 (which occurrence in the month), \
                     as in 2#1 (the first Monday)"
                    .to_string()),
            }
        }
    }
}

/// One comma-separated part: `*`, a value or a range, optionally `/step`.
fn check_item(spec: &Spec, field: &str, item: &str) -> Result<(), String> {
    if item.is_empty() {
        return Err("a list has an empty item; separate values with single commas, as in 1,15".to_string());
    }
    // Quote the part only when it is not the whole field, which is already quoted.
    let who = |part: &str| {
        if part == field {
            String::new()
        } else {
            format!("{part:?} ")
        }
    };
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        let most = spec.max - spec.min;
        let ok = !step.is_empty()
            && step.bytes().all(|b| b.is_ascii_digit())
            && matches!(step.parse::<u32>(), Ok(n) if (1..=most).contains(&n));
        if !ok {
            return Err(format!("increment {step:?} in {item:?} must be 1-{most}"));
        }
        if base.is_empty() {
            return Err(format!(
                "{}an increment needs a start before \"/\", as in */5 or 0/5",
                who(item)
            ));
        }
    }
    if base == "*" {
        return Ok(());
    }
    if let Some((from, to)) = base.split_once('-') {
        if from.is_empty() || to.is_empty() || to.contains('-') {
            return Err(format!(
                "{}a range needs a start and an end, as in {}",
                who(base),
                example_range(spec)
            ));
        }
        let from_n = value(spec, field, from)?;
        let to_n = value(spec, field, to)?;
        if from_n > to_n {
            return Err(format!(
                "range {base:?} starts after it ends; ranges cannot wrap around, \
                 so split it into two joined by a comma"
            ));
        }
        return Ok(());
    }
    value(spec, field, base).map(|_| ())
}

fn example_range(spec: &Spec) -> &'static str {
    match spec.days {
        Days::OfWeek => "MON-FRI",
        _ if !spec.names.is_empty() => "JAN-MAR",
        _ => "1-5",
    }
}

fn value(spec: &Spec, field: &str, tok: &str) -> Result<u32, String> {
    if let Some(n) = number(spec, tok) {
        return Ok(n);
    }
    let up = tok.to_ascii_uppercase();
    if let Some(c) = special_char(&up) {
        return Err(if supports(spec, c) {
            format!(
                "\"L\", \"W\" and \"#\" cannot be combined with lists, ranges or increments; \
                 use {tok:?} as the whole field"
            )
        } else {
            only_in(c)
        });
    }
    let who = if tok == field {
        String::new()
    } else {
        format!("{tok:?} ")
    };
    if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        Err(format!("{who}must be {}", spec.allowed))
    } else {
        Err(format!(
            "{who}must be {} (with the wildcards {})",
            spec.allowed, spec.wildcards
        ))
    }
}

/// A single in-range number or (case-insensitive) name.
fn number(spec: &Spec, tok: &str) -> Option<u32> {
    if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
        return tok.parse::<u32>().ok().filter(|n| (spec.min..=spec.max).contains(n));
    }
    (spec.min..)
        .zip(spec.names)
        .find(|(_, name)| name.eq_ignore_ascii_case(tok))
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(expr: &str) -> String {
        match parse(expr) {
            Ok(s) => panic!("{expr:?} should be rejected, parsed as {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_valid_cron_expressions() {
        let valid = [
            // Examples from the EventBridge user guide.
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 3 L * ? *)",
            "cron(0 3 15W * ? *)",
            "cron(0 3 ? * 6L *)",
            "cron(1/10 * * * ? *)",
            // Wildcards and bounds.
            "cron(*/5 * * * ? *)",
            "cron(10-50/5 * * * ? *)",
            "cron(0,30 * * * ? *)",
            "cron(1,2,3,59 0,23 * * ? *)",
            "cron(59 23 31 12 ? 2199)",
            "cron(0 0 1 1 ? 1970)",
            "cron(05 09 * * ? *)",
            "cron(0 0 1-15/2 * ? *)",
            "cron(0 0 * */3 ? *)",
            "cron(0 0 * * ? */4)",
            "cron(0 0 * * ? 2024,2026-2030)",
            "cron(0 0 1 JAN,APR,JUL,OCT ? *)",
            "cron(0 0 ? jan-mar mon,wed,fri 2025-2030)",
            "cron(0 12 ? * 1-7 *)",
            "cron(0 12 ? * SUN,SAT *)",
            "cron(0 12 ? * 2/2 *)",
            "cron(0 3 LW * ? *)",
            "cron(0 3 lw * ? *)",
            "cron(0 3 1W * ? *)",
            "cron(0 3 31W * ? *)",
            "cron(0 3 ? * L *)",
            "cron(0 3 ? * FRIL *)",
            "cron(0 3 ? * 7L *)",
            "cron(0 3 ? * fri#3 *)",
            "cron(0 3 ? * 7#5 *)",
            "cron(0 3 ? * * *)",
            "cron(0 3 ? JUL * *)",
        ];
        for expr in valid {
            match parse(expr) {
                Ok(Schedule::Cron) => {}
                other => panic!("{expr:?} should be a valid cron, got {other:?}"),
            }
        }
    }

    #[test]
    fn accepts_valid_rate_expressions() {
        let cases = [
            ("rate(1 minute)", 1, RateUnit::Minute, 1),
            ("rate(5 minutes)", 5, RateUnit::Minute, 5),
            ("rate(1 hour)", 1, RateUnit::Hour, 60),
            ("rate(12 hours)", 12, RateUnit::Hour, 720),
            ("rate(1 day)", 1, RateUnit::Day, 1440),
            ("rate(7 days)", 7, RateUnit::Day, 10080),
            ("rate(010 minutes)", 10, RateUnit::Minute, 10),
            (
                "rate(4294967295 days)",
                u32::MAX,
                RateUnit::Day,
                u64::from(u32::MAX) * 1440,
            ),
        ];
        for (expr, value, unit, minutes) in cases {
            match parse(expr) {
                Ok(Schedule::Rate(rate)) => {
                    assert_eq!(rate, Rate { value, unit }, "{expr}");
                    assert_eq!(rate.period_minutes(), minutes, "{expr}");
                }
                other => panic!("{expr:?} should be a valid rate, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_invalid_expressions_with_a_useful_message() {
        let cases = [
            // Overall shape.
            ("", "must not be empty"),
            ("", "rate(value unit)"),
            (" rate(1 day)", "must not start or end with whitespace"),
            ("rate(1 day)\n", "must not start or end with whitespace"),
            (
                "at(2030-01-01T00:00:00)",
                "one-time at(...) schedules are not supported",
            ),
            ("at(2030-01-01T00:00:00)", "six fields"),
            ("0 3 * * ? *", "is not a schedule expression"),
            ("cron(0 3 * * ? *", "must end with \")\""),
            ("rate(5 minutes", "must end with \")\""),
            ("cron(0 3 * * ? *) ", "whitespace"),
            ("CRON(0 3 * * ? *)", "lowercase"),
            ("cron (0 3 * * ? *)", "rate(value unit)"),
            // Field count and spacing.
            ("cron()", "got 0"),
            (
                "cron(0 3 * * *)",
                "need 6 fields (minutes hours day-of-month month day-of-week year), got 5",
            ),
            ("cron(0 3 * * *)", "year field is required"),
            ("cron(0 0 3 * * ? *)", "got 7"),
            ("cron(0  3 * * ? *)", "single spaces"),
            ("cron(0\t3 * * ? *)", "single spaces"),
            ("cron( 0 3 * * ? *)", "single spaces"),
            // Rate.
            ("rate(1 minutes)", "singular unit \"minute\""),
            ("rate(1 days)", "rate(1 day)"),
            ("rate(5 minute)", "plural unit \"minutes\""),
            ("rate(2 hour)", "rate(2 hours)"),
            ("rate(0 minutes)", "at least 1"),
            ("rate(-5 minutes)", "whole number"),
            ("rate(+5 minutes)", "whole number"),
            ("rate(1.5 hours)", "whole number"),
            ("rate(99999999999 minutes)", "too large"),
            ("rate(5 seconds)", "minute, minutes, hour, hours, day, days"),
            ("rate(5 Minutes)", "must be one of minute"),
            ("rate(5  minutes)", "separated by one space"),
            ("rate(5minutes)", "separated by one space"),
            ("rate( 5 minutes)", "separated by one space"),
            ("rate(5 minutes now)", "separated by one space"),
            ("rate()", "a value and a unit"),
            // Day-of-month / day-of-week exclusivity.
            ("cron(0 3 ? * ? *)", "cannot both be \"?\""),
            ("cron(0 3 * * MON *)", "must be \"?\""),
            ("cron(0 3 * * * *)", "must be \"?\""),
            // Ranges of values.
            ("cron(60 * * * ? *)", "minutes field \"60\": must be 0-59"),
            ("cron(0 24 * * ? *)", "hours field \"24\": must be 0-23"),
            ("cron(0 0 0 * ? *)", "day-of-month field \"0\": must be 1-31"),
            ("cron(0 0 32 * ? *)", "must be 1-31"),
            ("cron(0 0 1 13 ? *)", "month field \"13\": must be 1-12 or JAN-DEC"),
            ("cron(0 0 1 FOO ? *)", "must be 1-12 or JAN-DEC"),
            ("cron(0 3 ? * 8 *)", "day-of-week field \"8\": must be 1-7 or SUN-SAT"),
            ("cron(0 3 ? * 0 *)", "must be 1-7 or SUN-SAT"),
            ("cron(0 3 ? * 1,8 *)", "\"8\" must be 1-7 or SUN-SAT"),
            ("cron(0 3 ? * FUNDAY *)", "must be 1-7 or SUN-SAT (with the wildcards"),
            ("cron(0 0 1 * ? 2200)", "year field \"2200\": must be 1970-2199"),
            ("cron(0 0 1 * ? 1969)", "must be 1970-2199"),
            ("cron(99999999999 * * * ? *)", "must be 0-59"),
            // Lists, ranges and increments.
            ("cron(5-1 * * * ? *)", "range \"5-1\" starts after it ends"),
            ("cron(0 0 ? * FRI-MON *)", "cannot wrap around"),
            ("cron(0 0 * * ? 2030-2020)", "starts after it ends"),
            ("cron(0 0 -5 * ? *)", "a range needs a start and an end"),
            ("cron(0 0 1-2-3 * ? *)", "a range needs a start and an end"),
            (
                "cron(*/0 * * * ? *)",
                "minutes field \"*/0\": increment \"0\" in \"*/0\" must be 1-59",
            ),
            ("cron(*/60 * * * ? *)", "must be 1-59"),
            ("cron(0 0/24 * * ? *)", "must be 1-23"),
            ("cron(0 0 ? * 2/7 *)", "must be 1-6"),
            ("cron(0/x * * * ? *)", "increment \"x\""),
            ("cron(1/2/3 * * * ? *)", "increment \"2/3\""),
            ("cron(/5 * * * ? *)", "needs a start before \"/\""),
            ("cron(1,,2 * * * ? *)", "empty item"),
            ("cron(1, * * * ? *)", "empty item"),
            // ?, L, W and #.
            (
                "cron(? 0 * * ? *)",
                "minutes field \"?\": \"?\" is only allowed in the day-of-month",
            ),
            ("cron(0 0 1,? * ? *)", "\"?\" must be the whole field"),
            ("cron(0 0 1 * ?,1 *)", "\"?\" must be the whole field"),
            (
                "cron(L 0 * * ? *)",
                "\"L\" is only allowed in the day-of-month and day-of-week",
            ),
            ("cron(0 0 * * ? L)", "\"L\" is only allowed"),
            ("cron(0 0 ? * 15W *)", "\"W\" is only allowed in the day-of-month field"),
            ("cron(0 0 ? * LW *)", "\"W\" is only allowed"),
            ("cron(0 0 1#2 * ? *)", "\"#\" is only allowed in the day-of-week field"),
            ("cron(0 0 5L * ? *)", "must stand alone"),
            ("cron(0 0 32W * ? *)", "the day before \"W\" must be 1-31"),
            ("cron(0 0 W * ? *)", "the day before \"W\""),
            ("cron(0 0 L,15 * ? *)", "cannot be combined with lists"),
            ("cron(0 0 L-3 * ? *)", "cannot be combined"),
            ("cron(0 0 15W/2 * ? *)", "cannot be combined"),
            ("cron(0 3 ? * 2#1,3#2 *)", "cannot be combined"),
            ("cron(0 3 ? * 6L,2 *)", "cannot be combined"),
            ("cron(0 3 ? * 2#6 *)", "the number after \"#\" must be 1-5"),
            ("cron(0 3 ? * 2#0 *)", "must be 1-5"),
            ("cron(0 3 ? * 2# *)", "must be 1-5"),
            ("cron(0 3 ? * 2#+1 *)", "must be 1-5"),
            ("cron(0 3 ? * 8#1 *)", "the day before \"#\" must be 1-7 or SUN-SAT"),
            ("cron(0 3 ? * #1 *)", "the day before \"#\""),
            ("cron(0 3 ? * 9L *)", "the day before \"L\" must be 1-7 or SUN-SAT"),
        ];
        let mut failures = Vec::new();
        for (expr, fragment) in cases {
            let message = err(expr);
            if !message.contains(fragment) {
                failures.push(format!("{expr:?}: {message:?} lacks {fragment:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn field_errors_name_the_field_and_quote_it() {
        assert_eq!(
            err("cron(0 3 ? * 8 *)"),
            "day-of-week field \"8\": must be 1-7 or SUN-SAT"
        );
        assert_eq!(
            err("cron(0 3 * * *)"),
            "cron expressions need 6 fields (minutes hours day-of-month month day-of-week year), \
             got 5: \"0 3 * * *\"; the year field is required (use * for every year)"
        );
    }

    #[test]
    fn is_a_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(parse("rate(0 days)").unwrap_err());
        assert_eq!(e.to_string(), "rate value must be at least 1, got \"0\"");
        assert_eq!(
            parse("rate(1 day)"),
            Ok(Schedule::Rate(Rate {
                value: 1,
                unit: RateUnit::Day
            }))
        );
    }

    #[test]
    fn runs_per_day_bound_the_snapshots_taken() {
        assert_eq!(runs_per_day_at_most("cron(0 3 * * ? *)"), Some(1.0));
        assert_eq!(runs_per_day_at_most("cron(0,30 */6 * * ? *)"), Some(8.0));
        assert_eq!(runs_per_day_at_most("cron(15 1-3 ? * MON-FRI *)"), Some(3.0));
        assert_eq!(runs_per_day_at_most("rate(12 hours)"), Some(2.0));
        assert_eq!(runs_per_day_at_most("rate(2 days)"), Some(0.5));
        assert_eq!(runs_per_day_at_most("cron(0 3 * * *)"), None);
    }
}

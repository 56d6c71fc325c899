//! Diagnostics: what Terraform shows the user, each error or warning pointing at the attribute it is about.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Attribute(String),
    Key(String),
    /// An element of a list: a nested block of a `List` block type (`copy[1]`).
    Index(usize),
}

/// Where in a configuration a diagnostic points: `schedule`, `tags["team"]`, `assume_role.role_arn`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrPath(pub Vec<Step>);

impl AttrPath {
    pub fn root(attribute: &str) -> AttrPath {
        AttrPath(vec![Step::Attribute(attribute.to_string())])
    }

    pub fn attribute(&self, attribute: &str) -> AttrPath {
        self.with(Step::Attribute(attribute.to_string()))
    }

    pub fn key(&self, key: &str) -> AttrPath {
        self.with(Step::Key(key.to_string()))
    }

    pub fn index(&self, index: usize) -> AttrPath {
        self.with(Step::Index(index))
    }

    fn with(&self, step: Step) -> AttrPath {
        let mut steps = self.0.clone();
        steps.push(step);
        AttrPath(steps)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Attribute(name) if i == 0 => write!(f, "{name}")?,
                Step::Attribute(name) => write!(f, ".{name}")?,
                Step::Key(key) => write!(f, "[{key:?}]")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// An error stops the run; a warning is shown and the run goes on (a deprecated or risky setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    pub path: Option<AttrPath>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

/// Diagnostics of one error: what a resource answers when an operation fails as a whole.
pub fn failure(summary: &str, detail: impl std::fmt::Display) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(summary, detail.to_string());
    d
}

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), None);
    }

    /// An error on one attribute; Terraform underlines it in the configuration.
    pub fn attribute_error(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, summary.into(), detail.into(), Some(path));
    }

    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), None);
    }

    /// A warning on one attribute.
    pub fn attribute_warning(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, summary.into(), detail.into(), Some(path));
    }

    fn push(&mut self, severity: Severity, summary: String, detail: String, path: Option<AttrPath>) {
        self.0.push(Diagnostic {
            severity,
            summary,
            detail,
            path,
        });
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}

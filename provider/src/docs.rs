//! The registry documentation (`docs/`), generated from the schemas and the examples: a test fails when the
//! committed pages differ from what the schemas say, and `RDSBACKUP_WRITE_DOCS=1 cargo test docs` rewrites them.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::plugin::schema::{Attribute, Block, Nesting, PlanModifier, Role, Schema};
use crate::plugin::value::Value;

fn repo() -> PathBuf {
    // Cargo sets the variable when it runs the tests too: a test binary built in another checkout sharing the
    // target folder (CI's clean clone) and not rebuilt here would otherwise read and write that checkout.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("the provider sits in the workspace")
        .to_path_buf()
}

fn example(path: &str) -> String {
    std::fs::read_to_string(repo().join("examples").join(path)).unwrap_or_else(|e| panic!("examples/{path}: {e}"))
}

fn default_text(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`\"{s}\"`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        Value::List(items) if items.is_empty() => "`[]`".into(),
        Value::Map(entries) if entries.is_empty() => "`{}`".into(),
        other => format!("`{other:?}`"),
    }
}

fn type_text(attribute: &Attribute) -> String {
    type_name(&attribute.ty.to_json())
}

/// `string`, `list(string)`, `list(object)`: the cty type as the registry docs write it.
fn type_name(json: &serde_json::Value) -> String {
    match json.as_array().map(Vec::as_slice) {
        Some([kind, _]) if kind == "object" => "object".into(),
        Some([kind, element]) => format!("{}({})", kind.as_str().unwrap_or_default(), type_name(element)),
        _ => json.as_str().unwrap_or_default().to_string(),
    }
}

fn attribute_line(out: &mut String, attribute: &Attribute) {
    let mut notes = vec![type_text(attribute)];
    if attribute.sensitive {
        notes.push("sensitive".into());
    }
    if attribute.has(PlanModifier::RequiresReplace) {
        notes.push("forces replacement".into());
    }
    if let Some(default) = &attribute.default {
        notes.push(format!("default {}", default_text(default)));
    }
    let _ = writeln!(
        out,
        "- `{}` ({}) {}",
        attribute.name,
        notes.join(", "),
        attribute.full_description()
    );
}

fn arguments(out: &mut String, block: &Block, heading: &str) {
    let sections = [
        ("Required", &[Role::Required][..]),
        ("Optional", &[Role::Optional, Role::OptionalComputed][..]),
        ("Read-Only", &[Role::Computed][..]),
    ];
    for (title, roles) in sections {
        let chosen: Vec<&Attribute> = block.attributes.iter().filter(|a| roles.contains(&a.role)).collect();
        if chosen.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{heading} {title}\n");
        for attribute in chosen {
            attribute_line(out, attribute);
        }
    }
    for nested in &block.blocks {
        let how_many = match nested.nesting {
            Nesting::Single => "At most one.".to_string(),
            Nesting::List { max_items } => format!("Up to {max_items}, in order."),
        };
        let _ = writeln!(
            out,
            "\n{heading} Block `{}`\n\n{how_many} {}",
            nested.name, nested.block.description
        );
        arguments(out, &nested.block, &format!("{heading}#"));
    }
}

pub fn provider_page(schema: &Schema) -> String {
    let mut out = String::from(
        "---\npage_title: \"rdsbackup Provider\"\ndescription: |-\n  Encrypted, monitored backups for Amazon RDS in one resource.\n---\n\n",
    );
    let _ = writeln!(out, "# rdsbackup Provider\n\n{}\n", schema.block.description);
    out.push_str(
        "[`rdsbackup_policy`](resources/policy.md) stands up a complete backup system for \
                  Amazon RDS: an encrypted S3 bucket for snapshot records, a least-privilege IAM role, the backup \
                  Lambda function (shipped inside the provider), its log group, EventBridge rules, \
                  CloudWatch alarms notifying SNS, and a dashboard. [`rdsbackup_vault`](resources/vault.md), in \
                  an account of its own, copies what the policies' `vault` blocks share with it under its own \
                  key, where no source account can delete it. Two data sources tell what is protected: \
                  [`rdsbackup_snapshots`](data-sources/snapshots.md) (what to restore from) and \
                  [`rdsbackup_coverage`](data-sources/coverage.md) (which databases no policy backs up).\n\n## \
                  Example Usage\n\n```terraform\n",
    );
    out.push_str(&example("provider/provider.tf"));
    out.push_str("```\n\n## Schema\n");
    arguments(&mut out, &schema.block, "###");
    out
}

/// The page of resource `type_name` (`rdsbackup_policy`), with its examples under
/// `examples/resources/<type_name>/`: `resource.tf`, `import.sh` and `import.tf`.
pub fn resource_page(type_name: &str, summary: &str, schema: &Schema) -> String {
    let mut out = format!(
        "---\npage_title: \"{type_name} Resource - rdsbackup\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n"
    );
    let _ = writeln!(out, "# {type_name} (Resource)\n\n{}\n", schema.block.description);
    out.push_str("## Example Usage\n\n```terraform\n");
    out.push_str(&example(&format!("resources/{type_name}/resource.tf")));
    out.push_str("```\n\n## Schema\n");
    arguments(&mut out, &schema.block, "###");
    out.push_str("\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n");
    out.push_str(&example(&format!("resources/{type_name}/import.sh")));
    out.push_str("```\n\nOr with an `import` block:\n\n```terraform\n");
    out.push_str(&example(&format!("resources/{type_name}/import.tf")));
    out.push_str("```\n");
    out
}

/// The page of data source `type_name` (`rdsbackup_snapshots`), with its example
/// `examples/data-sources/<type_name>/data-source.tf`.
pub fn data_source_page(type_name: &str, summary: &str, schema: &Schema) -> String {
    let mut out = format!(
        "---\npage_title: \"{type_name} Data Source - rdsbackup\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n"
    );
    let _ = writeln!(out, "# {type_name} (Data Source)\n\n{}\n", schema.block.description);
    out.push_str("## Example Usage\n\n```terraform\n");
    out.push_str(&example(&format!("data-sources/{type_name}/data-source.tf")));
    out.push_str("```\n\n## Schema\n");
    arguments(&mut out, &schema.block, "###");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(page: &str, generated: String) {
        let path = repo().join("docs").join(page);
        if std::env::var("RDSBACKUP_WRITE_DOCS").as_deref() == Ok("1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/{page} is not what the schema says: run `RDSBACKUP_WRITE_DOCS=1 cargo test -p terraform-provider-rdsbackup docs`"
        );
    }

    #[test]
    fn docs_match_the_schemas() {
        check("index.md", provider_page(&crate::provider::schema()));
        check("resources/policy.md", policy_page());
        check("resources/vault.md", vault_page());
        use crate::plugin::data_source::TypedDataSource;
        let snapshots = crate::snapshots::SnapshotsDataSource::new(Default::default());
        check(
            "data-sources/snapshots.md",
            data_source_page(
                "rdsbackup_snapshots",
                "The snapshots a backup policy owns, and the newest available one per database.",
                snapshots.schema(),
            ),
        );
        let coverage = crate::coverage::CoverageDataSource::new(Default::default());
        check(
            "data-sources/coverage.md",
            data_source_page(
                "rdsbackup_coverage",
                "Which databases of the region a backup policy protects, and which none does.",
                coverage.schema(),
            ),
        );
    }

    fn policy_page() -> String {
        resource_page(
            "rdsbackup_policy",
            "A complete, encrypted, monitored backup system for Amazon RDS.",
            &crate::policy::schema::schema(),
        )
    }

    fn vault_page() -> String {
        resource_page(
            "rdsbackup_vault",
            "A vault account that keeps copies of what source accounts share, out of their reach.",
            &crate::vault::schema::schema(),
        )
    }

    #[test]
    fn every_attribute_is_documented_on_its_page() {
        for (page, schema) in [
            (policy_page(), crate::policy::schema::schema()),
            (vault_page(), crate::vault::schema::schema()),
        ] {
            for attribute in schema.block.attributes {
                assert!(
                    page.contains(&format!("- `{}` (", attribute.name)),
                    "{} is missing",
                    attribute.name
                );
            }
        }
    }
}

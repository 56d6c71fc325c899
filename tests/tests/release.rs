//! Release packaging as registry providers do it, installed the documented way: `scripts/package` into a
//! `filesystem_mirror`, then `terraform init` with a version constraint and `terraform plan`.

use std::process::Command;

use rdsbackup_tests::{Aws, Terraform, provider_binary, repo_root};

#[test]
fn a_packaged_release_installs_from_a_filesystem_mirror_and_plans() {
    let aws = Aws::start();
    let mirror = std::env::temp_dir().join(format!("rdsbackup-mirror-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&mirror);
    let out = mirror.join("registry.terraform.io/rdsbackup/rdsbackup");
    let packaged = Command::new(repo_root().join("scripts/package"))
        .args([provider_binary().to_str().unwrap(), "0.1.0", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        packaged.status.success(),
        "{}",
        String::from_utf8_lossy(&packaged.stderr)
    );
    for file in [
        "terraform-provider-rdsbackup_0.1.0_linux_amd64.zip",
        "terraform-provider-rdsbackup_0.1.0_SHA256SUMS",
        "terraform-registry-manifest.json",
    ] {
        assert!(out.join(file).is_file(), "{file} is packaged");
    }
    let manifest = std::fs::read_to_string(out.join("terraform-registry-manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["metadata"]["protocol_versions"], serde_json::json!(["6.0"]));
    let sums = std::fs::read_to_string(out.join("terraform-provider-rdsbackup_0.1.0_SHA256SUMS")).unwrap();
    assert!(sums.contains("terraform-provider-rdsbackup_0.1.0_linux_amd64.zip"));

    let cli_config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/rdsbackup/rdsbackup\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/rdsbackup/rdsbackup\"]\n  }}\n}}\n",
        mirror.display()
    );
    let main_tf = r#"
terraform {
  required_providers {
    rdsbackup = {
      source  = "rdsbackup/rdsbackup"
      version = "~> 0.1"
    }
  }
}

provider "rdsbackup" {}

resource "rdsbackup_policy" "p" {
  name                    = "mirrored"
  db_instance_identifiers = ["orders"]
}
"#;
    let tf = Terraform::with_cli_config(main_tf, &aws, &cli_config);
    let init = tf.run(&["init"]);
    init.success();
    assert!(
        init.text().contains("Installed rdsbackup/rdsbackup v0.1.0"),
        "{}",
        init.text()
    );
    let plan = tf.run(&["plan"]);
    plan.success();
    assert!(
        plan.text().contains("rdsbackup_policy.p will be created"),
        "{}",
        plan.text()
    );
    let _ = std::fs::remove_dir_all(&mirror);
}

//! The runnable examples, applied with the real Terraform CLI against the local endpoint: the reusable module for
//! two accounts (provider aliases with `assume_role`; moto isolates accounts by assumed role) and their vault
//! account, the module's own
//! `terraform test` files, and tag-based selection.

use rdsbackup_tests::{Aws, Terraform, acceptance, accounts, destroy_and_check, unique_name};
use serde_json::Value;

/// `terraform get`, not `init`: init asks the registry about every provider, dev-overridden ones included, and
/// these machines reach no registry.
fn install_modules(tf: &Terraform) {
    tf.run(&["get"]).success();
}

fn outputs(tf: &Terraform) -> Value {
    let run = tf.run(&["output", "-json"]);
    run.success();
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn the_module_deploys_one_independent_stack_per_account() {
    if acceptance() {
        eprintln!("skipped: the example's role ARNs name placeholder accounts; set them through variables on AWS");
        return;
    }
    let aws = Aws::start();
    let tf = Terraform::in_examples("multi-account", &aws);
    install_modules(&tf);
    tf.run(&["apply", "-auto-approve"]).success();
    let out = outputs(&tf);
    let production = &out["production"]["value"];
    let staging = &out["staging"]["value"];
    assert_eq!(production["account_id"], "111111111111", "{out}");
    assert_eq!(staging["account_id"], "222222222222", "{out}");
    assert_eq!(production["bucket_name"], "rdsbackup-production-111111111111");
    assert_eq!(staging["bucket_name"], "rdsbackup-staging-222222222222");
    assert_eq!(
        staging["function_arn"],
        "arn:aws:lambda:us-east-1:222222222222:function:rdsbackup-staging"
    );
    assert_eq!(out["vault"]["value"], Value::Null, "no vault without its keys");
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);

    // The vault account grows in: its key, and a key of each source that the vault account may use.
    let Aws::Moto(moto) = &aws else { unreachable!() };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = runtime.block_on(async {
        let mut keys = Vec::new();
        for (variable, id) in [
            ("production_vault_key_arn", "111111111111"),
            ("staging_vault_key_arn", "222222222222"),
        ] {
            let source = accounts::account(&moto.endpoint, id).await;
            keys.push(format!(
                "{variable}={}",
                rdsbackup_tests::vault_key(&source.kms, id, Some(VAULT_ACCOUNT)).await
            ));
        }
        let vault = accounts::account(&moto.endpoint, VAULT_ACCOUNT).await;
        let key = vault.kms.create_key().send().await.unwrap();
        keys.push(format!(
            "vault_kms_key_arn={}",
            key.key_metadata().unwrap().arn().unwrap()
        ));
        keys
    });
    let with_vault = |command: &[&str]| {
        let mut args: Vec<&str> = command.to_vec();
        for key in &keys {
            args.extend(["-var", key]);
        }
        tf.run(&args)
    };
    with_vault(&["apply", "-auto-approve"]).success();
    let out = outputs(&tf);
    let vault = &out["vault"]["value"];
    assert_eq!(vault["account_id"], VAULT_ACCOUNT, "{out}");
    assert_eq!(vault["bucket_name"], format!("rdsbackup-vault-central-{VAULT_ACCOUNT}"));
    assert_eq!(
        vault["alarm_names"],
        serde_json::json!([
            "rdsbackup-vault-central-copy-overdue-111111111111",
            "rdsbackup-vault-central-copy-overdue-222222222222",
            "rdsbackup-vault-central-errors"
        ])
    );
    let production = runtime.block_on(async {
        let source = accounts::account(&moto.endpoint, "111111111111").await;
        source.deployed_env("rdsbackup-production").await
    });
    let shares_with = production
        .iter()
        .find(|(k, _)| k == "RDSBACKUP_VAULT")
        .map(|(_, v)| v.as_str());
    assert!(
        shares_with.is_some_and(|v| v.contains(VAULT_ACCOUNT)),
        "the production policy shares with the vault: {production:?}"
    );
    with_vault(&["plan", "-detailed-exitcode"]).expect_code(0);
    with_vault(&["destroy", "-auto-approve"]).success();
}

const VAULT_ACCOUNT: &str = "333333333333";

#[test]
fn the_module_passes_its_terraform_tests() {
    let aws = Aws::start();
    let tf = Terraform::in_examples("modules/rds-backup", &aws);
    install_modules(&tf);
    let run = tf.run(&["test"]);
    run.success();
    let text = run.text();
    assert!(text.contains("4 passed, 0 failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tag_selection_example_deploys_a_policy_selecting_by_tags() {
    let aws = Aws::start();
    let tf = Terraform::in_examples("tag-selection", &aws);
    // A name of its own, so that runs against one real account (acceptance mode) never share a stack.
    let name = unique_name("payments");
    let main = tf.workdir.join("main.tf");
    let example = std::fs::read_to_string(&main).unwrap();
    assert!(
        example.contains(r#"name = "payments-daily""#),
        "the example's name moved: {example}"
    );
    std::fs::write(
        &main,
        example.replace(r#"name = "payments-daily""#, &format!("name = {name:?}")),
    )
    .unwrap();
    tf.run(&["apply", "-auto-approve"]).success();
    let run = tf.run(&["state", "show", "rdsbackup_policy.tagged"]);
    run.success();
    let text = run.text();
    assert!(
        text.contains(r#""backup" = "daily""#) && text.contains(r#""team" = "payments""#),
        "{text}"
    );
    assert!(
        text.contains("db_instance_identifiers = []"),
        "selection by tags alone: {text}"
    );
    tf.run(&["plan", "-detailed-exitcode"]).expect_code(0);
    destroy_and_check(&tf, &aws.clients().await, &name).await;
}

/// The restore pipeline feeds the snapshots data source to hashicorp/aws's `aws_db_instance`: validated with the
/// real hashicorp/aws provider from these machines' filesystem mirror (skipped, saying so, where it is absent).
#[test]
fn the_restore_example_validates_with_hashicorp_aws() {
    let mirror = std::path::Path::new("/opt/tf-plugins");
    if !mirror.join("registry.terraform.io/hashicorp/aws").is_dir() {
        eprintln!(
            "skipped: no hashicorp/aws in the filesystem mirror {}",
            mirror.display()
        );
        return;
    }
    let aws = Aws::start();
    // `terraform init` must install hashicorp/aws, which dev_overrides do not allow for the overridden provider:
    // this build goes into a mirror of its own instead (the unpacked layout), beside the hashicorp/aws mirror.
    let own = std::env::temp_dir().join(format!("rdsbackup-mirror-{}", std::process::id()));
    let unpacked = own.join(format!(
        "registry.terraform.io/rdsbackup/rdsbackup/{}/linux_amd64",
        env!("CARGO_PKG_VERSION")
    ));
    std::fs::create_dir_all(&unpacked).unwrap();
    let _ = std::fs::remove_file(unpacked.join("terraform-provider-rdsbackup"));
    std::os::unix::fs::symlink(
        rdsbackup_tests::provider_binary(),
        unpacked.join("terraform-provider-rdsbackup"),
    )
    .unwrap();
    let cli_config = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/rdsbackup/rdsbackup\"]\n  }}\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/aws\"]\n  }}\n}}\n",
        own.display(),
        mirror.display()
    );
    let main_tf = std::fs::read_to_string(rdsbackup_tests::repo_root().join("examples/restore/main.tf")).unwrap();
    let tf = Terraform::with_cli_config(&main_tf, &aws, &cli_config);
    tf.run(&["init", "-backend=false"]).success();
    let validated = tf.run(&["validate", "-json"]);
    validated.success();
    assert!(validated.stdout.contains("\"valid\": true"), "{}", validated.stdout);
    let _ = std::fs::remove_dir_all(&own);
}

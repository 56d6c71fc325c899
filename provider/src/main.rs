//! terraform-provider-rdsbackup: started by Terraform, it hands over the go-plugin handshake on stdout and
//! serves the Terraform plugin protocol 6 until Terraform shuts it down.

mod aws;
mod coverage;
#[cfg(test)]
mod docs;
mod plugin;
mod policy;
mod provider;
mod rules;
mod schedule;
mod snapshots;
mod stack;
mod vault;

use std::process::ExitCode;
use std::sync::Arc;

use plugin::handshake;
use provider::{PROVIDER_ADDRESS, RdsbackupProvider};

const USAGE: &str = "\
terraform-provider-rdsbackup is a Terraform plugin: Terraform starts it itself.

Use it from a configuration with
    terraform { required_providers { rdsbackup = { source = \"rdsbackup/rdsbackup\" } } }

Options:
    --debug      serve without Terraform's handshake, for a debugger; prints a TF_REATTACH_PROVIDERS value
    --version    print the version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let debug = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => false,
        ["--debug"] => true,
        ["--version"] => {
            println!("terraform-provider-rdsbackup {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !debug && !handshake::launched_by_terraform() {
        eprint!("{USAGE}");
        return ExitCode::from(1);
    }
    plugin::log::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let provider = Arc::new(RdsbackupProvider::new());
    let served = runtime.block_on(async move {
        if debug {
            handshake::serve_debug(provider, PROVIDER_ADDRESS).await
        } else {
            handshake::serve(provider).await
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("terraform-provider-rdsbackup: {message}");
            ExitCode::FAILURE
        }
    }
}

//! Deletes what end-to-end tests left in an account, as terraform-provider-aws' sweepers do: every stack named
//! `rdsbackup-<prefix>-<6 hex digits>`, as tests name their policies with `unique_name` (`stacks::is_test_stack`).
//! Snapshots are never touched, as `terraform destroy` never touches them.
//!
//! `cargo run -p rdsbackup-tests --bin sweep -- nightly` with the account's credentials in the environment (or
//! `AWS_ENDPOINT_URL` for a local endpoint). Prints what it deletes.

use rdsbackup_tests::stacks;

#[tokio::main]
async fn main() {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: sweep <test policy prefix, e.g. nightly>");
        std::process::exit(2);
    });
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    match stacks::sweep(&config, &prefix).await {
        Ok(deleted) => deleted.iter().for_each(|d| println!("deleted {d}")),
        Err(e) => {
            eprintln!("sweep failed: {e}");
            std::process::exit(1);
        }
    }
}

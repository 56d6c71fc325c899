//! The backup function's deployment package, built and zipped deterministically by `build.rs` and embedded in
//! the provider binary, so that no other file is needed at run time.

/// The zip uploaded to Lambda: a single `bootstrap` entry for `provided.al2023`.
pub static ZIP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bootstrap.zip"));

/// Base64 SHA-256 of [`ZIP`], as Lambda reports it in `CodeSha256`: a plan compares it with the deployed
/// function's without uploading anything.
pub const CODE_SHA256: &str = env!("RDSBACKUP_LAMBDA_SHA256");

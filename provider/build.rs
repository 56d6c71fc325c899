//! Compiles the plugin protocol from `proto/` with protox, a pure-Rust protobuf compiler, so that no system
//! `protoc` is needed on any machine that builds the provider; and builds the backup Lambda for
//! `provided.al2023` and embeds it as a deterministic zip, so that the provider binary is all there is to ship.

#[path = "build/lambda_zip.rs"]
mod lambda_zip;

use std::env;
use std::error::Error;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use sha2::{Digest, Sha256};

/// Static musl binaries run on any Lambda x86_64 image, whatever its glibc.
const LAMBDA_TARGET: &str = "x86_64-unknown-linux-musl";
/// A prebuilt zip to embed instead of building one (for packagers building the Lambda elsewhere).
const PREBUILT_ZIP: &str = "RDSBACKUP_LAMBDA_ZIP";

fn main() -> Result<(), Box<dyn Error>> {
    compile_protos()?;
    embed_lambda()
}

fn compile_protos() -> Result<(), Box<dyn Error>> {
    let protos = ["../proto/tfplugin6.proto", "../proto/grpc_controller.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}

fn embed_lambda() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    println!("cargo:rerun-if-env-changed={PREBUILT_ZIP}");
    let zip = match env::var_os(PREBUILT_ZIP) {
        Some(prebuilt) => {
            println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
            fs::read(&prebuilt).map_err(|e| format!("{PREBUILT_ZIP}={}: {e}", Path::new(&prebuilt).display()))?
        }
        None => {
            let bootstrap = build_bootstrap(&out_dir)?;
            lambda_zip::single_executable("bootstrap", &fs::read(&bootstrap)?)
        }
    };
    // Rewriting identical bytes would make cargo recompile the provider for nothing.
    let zip_path = out_dir.join("bootstrap.zip");
    if fs::read(&zip_path).ok().as_deref() != Some(zip.as_slice()) {
        fs::write(&zip_path, &zip)?;
    }
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    println!("cargo:rustc-env=RDSBACKUP_LAMBDA_SHA256={sha256}");
    Ok(())
}

/// Reruns the build when `path` changes, or any file under it: Cargo, given a folder, was seen to miss an edited
/// file inside it, and the end-to-end tests then ran a stale `bootstrap`.
fn watch(path: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={}", path.display());
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            watch(&entry?.path())?;
        }
    }
    Ok(())
}

/// Runs a nested `cargo build` of the Lambda in a target folder of its own (the outer build holds the lock on
/// its own folders) and returns the binary's path.
fn build_bootstrap(out_dir: &Path) -> Result<PathBuf, Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?);
    let workspace = manifest_dir.parent().ok_or("the provider sits in the workspace")?;
    // Relative to the provider's folder (a build script's working directory, and what Cargo resolves a relative
    // path against): with one target folder shared by two checkouts, absolute paths would leave this build
    // watching the other checkout's sources, and a test would run a stale `bootstrap`.
    for input in ["lambda", "common", "Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        watch(&Path::new("..").join(input))?;
    }
    let target_dir = lambda_target_dir(out_dir);
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;

    // Paths on the build machine must not reach the binary, or two checkouts would build different bytes: Rust
    // sources are remapped by rustc, C sources (aws-lc) by the C compiler.
    let prefixes = [
        (workspace, "/rdsbackup"),
        (&cargo_home, "/cargo"),
        (&target_dir, "/target"),
    ];
    let rustflags: Vec<String> = prefixes
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect();
    let cflags: Vec<String> = prefixes
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect();

    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "rdsbackup-lambda",
            "--bin",
            "bootstrap",
        ])
        .args(["--target", LAMBDA_TARGET])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace)
        // Cargo's build-script output is read from stdout: keep the nested build's output on stderr.
        .stdout(std::io::stderr());
    for (name, _) in env::vars_os() {
        if inherited_by_mistake(&name) {
            cargo.env_remove(name);
        }
    }
    cargo
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"))
        .env(format!("CFLAGS_{}", LAMBDA_TARGET.replace('-', "_")), cflags.join(" "));
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo to build the Lambda: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the Lambda ({LAMBDA_TARGET}) failed: run scripts/setup, which installs the target \
             (rustup target add {LAMBDA_TARGET}) and musl-gcc (Debian package musl-tools)"
        )
        .into());
    }
    Ok(target_dir.join(LAMBDA_TARGET).join("release").join("bootstrap"))
}

/// `<target>/lambda`, beside the outer build's profile folders, so that debug and release builds of the
/// provider share one Lambda build and the tests find the binary there. `OUT_DIR` is
/// `<target>[/<triple>]/<profile>/build/<package>-<hash>/out`.
fn lambda_target_dir(out_dir: &Path) -> PathBuf {
    let mut ancestors = out_dir.ancestors();
    match (ancestors.nth(2), ancestors.nth(1)) {
        (Some(build), Some(target)) if build.file_name() == Some(OsStr::new("build")) => target.join("lambda"),
        _ => out_dir.join("lambda"),
    }
}

/// What cargo sets for this build script and must not leak into the nested build: its flags, wrappers (clippy's
/// included), target and package settings would change what is built and how.
fn inherited_by_mistake(name: &OsString) -> bool {
    let name = name.to_string_lossy();
    let kept = ["CARGO_HOME", "CARGO_MAKEFLAGS"];
    let kept_prefixes = ["CARGO_NET_", "CARGO_HTTP_", "CARGO_REGISTRIES_", "CARGO_REGISTRY_"];
    (name.starts_with("CARGO_") && !kept.contains(&name.as_ref()) && !kept_prefixes.iter().any(|p| name.starts_with(p)))
        || [
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTDOC",
            "RUSTC_LINKER",
            "TARGET",
            "HOST",
            "PROFILE",
            "OPT_LEVEL",
            "DEBUG",
            "NUM_JOBS",
            "OUT_DIR",
        ]
        .contains(&name.as_ref())
}

//! Code generated from `proto/` at build time.

// Generated: message wrappers such as `GetMetadata` exist only as namespaces for their Request and Response.
#[allow(clippy::all, clippy::pedantic, dead_code)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

#[allow(clippy::all, clippy::pedantic, dead_code)]
pub mod controller {
    tonic::include_proto!("plugin");
}

//! Compiles the plugin protocol from `proto/` with protox, a pure-Rust protobuf compiler, so that no system
//! `protoc` is needed on any machine that builds the provider.

fn main() -> Result<(), Box<dyn std::error::Error>> {
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

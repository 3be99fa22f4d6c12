//! Links the kernel binary with our own linker script as a static, freestanding ELF.
//! The arguments go to the binary only (`rustc-link-arg-bins`), so host test binaries
//! of other crates are not affected.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    for arg in [
        "-static",
        "-nostartfiles",
        "-nostdlib",
        "-Wl,--build-id=none",
        "-no-pie",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

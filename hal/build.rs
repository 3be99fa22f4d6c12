//! Generates the 256 interrupt entry stubs (`hal_isr_stub_N`) and their address table
//! (`hal_isr_table`). Each stub pushes a zero error code when the CPU does not push one,
//! pushes its vector number and jumps to the common entry in `src/arch/interrupts.rs`.
use std::fmt::Write;

/// Exceptions for which the CPU pushes an error code.
const WITH_ERROR_CODE: [u32; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

fn main() {
    let mut s = String::from(".section .text.hal_isr, \"ax\"\n.code64\n");
    for v in 0..256u32 {
        writeln!(s, ".p2align 4\nhal_isr_stub_{v}:").unwrap();
        if !WITH_ERROR_CODE.contains(&v) {
            s.push_str("    push 0\n");
        }
        writeln!(s, "    push {v}\n    jmp hal_isr_common").unwrap();
    }
    s.push_str(
        ".section .rodata.hal_isr, \"a\"\n.p2align 3\n.global hal_isr_table\nhal_isr_table:\n",
    );
    for v in 0..256u32 {
        writeln!(s, "    .quad hal_isr_stub_{v}").unwrap();
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(format!("{out}/isr_stubs.s"), s).expect("write isr_stubs.s");
    println!("cargo:rerun-if-changed=build.rs");
}

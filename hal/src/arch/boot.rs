//! PVH entry: from QEMU's 32-bit protected-mode hand-off to the first Rust function.
//!
//! QEMU's `-kernel` loader finds the `.note.Xen` PHYS32_ENTRY note, loads the ELF at its
//! physical link address (1 MiB) and jumps to `pvh_start32` in 32-bit protected mode with
//! paging off and `%ebx` holding the physical address of `hvm_start_info`. This file zeroes
//! `.bss`, builds a boot page table (identity map of the low 4 GiB plus the same memory at
//! [`crate::mem::layout::DIRECT_MAP_BASE`], 2 MiB pages), enables PAE, long mode and SSE, and
//! calls [`crate::boot::hal_boot_entry`] in 64-bit mode. The kernel replaces these tables
//! with its own in [`crate::mem::paging`] once the frame allocator is up.

use core::arch::global_asm;

/// Size of the stack the boot CPU runs on until the first kernel thread exists.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4                 /* name size: "Xen\0" */
    .long 8                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32

    .section .bss.boot, "aw", @nobits
    .p2align 12
    boot_pml4: .skip 4096
    boot_pdpt: .skip 4096
    boot_pd:   .skip 4096 * 4
    .p2align 4
    .global hal_boot_stack_bottom
    hal_boot_stack_bottom:
    .skip {stack_size}
    .global hal_boot_stack_top
    hal_boot_stack_top:

    .section .rodata.boot, "a"
    .p2align 3
    boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: data */
    boot_gdt_end:
    boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .text.boot, "ax"
    .code32
    .global pvh_start32
    pvh_start32:
    cli
    cld
    mov esi, ebx                       /* hvm_start_info: keep it in esi */

    /* Zero .bss (the boot page tables and stack live there). */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    xor eax, eax
    rep stosb

    /* PML4[0] and PML4[256] both point at one PDPT: identity + direct map. */
    mov eax, offset boot_pdpt
    or eax, 3
    mov dword ptr [boot_pml4], eax
    mov dword ptr [boot_pml4 + 256 * 8], eax

    /* PDPT[0..4] -> four page directories. */
    mov eax, offset boot_pd
    or eax, 3
    xor ecx, ecx
2:
    mov dword ptr [boot_pdpt + ecx * 8], eax
    add eax, 4096
    inc ecx
    cmp ecx, 4
    jne 2b

    /* 2048 entries of 2 MiB pages: physical 0..4 GiB. */
    xor ecx, ecx
3:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83                       /* present | writable | page size */
    mov edx, ecx
    shr edx, 11                        /* high dword: (index * 2 MiB) >> 32 */
    mov dword ptr [boot_pd + ecx * 8], eax
    mov dword ptr [boot_pd + ecx * 8 + 4], edx
    inc ecx
    cmp ecx, 2048
    jne 3b

    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 9) | (1 << 10)
    mov cr4, eax

    mov eax, offset boot_pml4
    mov cr3, eax

    /* EFER.LME */
    mov ecx, 0xC0000080
    rdmsr
    or eax, (1 << 8)
    wrmsr

    /* CR0: PG | MP | PE, clear EM and TS so SSE works. */
    mov eax, cr0
    and eax, ~((1 << 2) | (1 << 3))
    or eax, 0x80000003
    mov cr0, eax

    lgdt [boot_gdt_ptr]
    /* far jump to 64-bit code: jmp 0x08:pvh_start64 */
    .byte 0xea
    .long pvh_start64
    .word 0x08

    .code64
    pvh_start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, offset hal_boot_stack_top
    xor ebp, ebp                       /* ends the frame-pointer chain */
    fninit
    mov edi, esi                       /* zero-extends the start-info address */
    call hal_boot_entry
4:
    cli
    hlt
    jmp 4b
    "#,
    stack_size = const BOOT_STACK_SIZE,
);

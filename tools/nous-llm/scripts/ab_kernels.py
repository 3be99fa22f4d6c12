#!/usr/bin/env python3
"""A/B timing of two kernel images under QEMU TCG: boot each in alternating order on a copy of
the same data disk, run shell commands, print the lines that carry figures (eval, executed,
tokens, epoch, held-out). Commands are separated by ' ;; '; '@wait TEXT' polls
`llmctl finetune-status` until TEXT appears. Used for the AVX2 and quantized-prefix pairs in
docs/BENCHMARKS.md (copies of target/kernel/images/nous-normal built before and after a change;
a data disk from `mkfs.ext4 -d` over a directory holding models/).

usage: ab_kernels.py DISK.img PAIRS 'command[ ;; command...]' ELF_A ELF_B
       (QEMU runs on the CPUs in $AB_CPUS, default 0,1)
e.g.   ab_kernels.py data.img 3 'llmctl eval validation 40' old.elf new.elf
       ab_kernels.py data.img 3 'llmctl finetune --heldout 100 ;; @wait phase: done' old.elf new.elf
"""
import subprocess, sys, time, os, shutil, select, re

def qemu_args(elf, img, cpus, extra=()):
    """The QEMU command line of one boot: ELF on the data disk IMG, pinned to CPUS; EXTRA
    options go before the disk (tcg_profile.py adds its QMP socket)."""
    return (["taskset","-c",cpus,"qemu-system-x86_64","-accel","tcg","-cpu","max","-m","256M","-smp","1",
             "-kernel",elf,"-display","none","-no-reboot","-device","isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-serial","stdio","-monitor","none", *extra,
             "-drive",f"file={img},if=none,id=data,format=raw","-device","virtio-blk-pci,drive=data"])

def run(elf, disk, command):
    img = f"/tmp/ab-{os.getpid()}.img"
    shutil.copy(disk, img)
    args = qemu_args(elf, img, os.environ.get("AB_CPUS","0,1"))
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b""
    def until(tok, timeout):
        nonlocal buf
        end = time.time()+timeout
        while tok not in buf:
            r,_,_ = select.select([p.stdout],[],[],max(0.1,end-time.time()))
            if not r:
                if time.time()>end: raise RuntimeError("timeout: "+buf[-500:].decode(errors="replace"))
                continue
            d = os.read(p.stdout.fileno(), 65536)
            if not d: raise RuntimeError("eof")
            buf += d
    until(b"nous> ", 60)
    out = ""
    for cmd in command.split(" ;; "):
        if cmd.startswith("@wait "):
            want = cmd[len("@wait "):]
            while True:
                time.sleep(3)
                buf = b""
                for ch in "llmctl finetune-status\r".encode():
                    p.stdin.write(bytes([ch])); p.stdin.flush(); time.sleep(0.002)
                until(b"nous> ", 600)
                if want.encode() in buf:
                    out += buf.decode(errors="replace"); break
            continue
        buf = b""
        for ch in (cmd+"\r").encode():
            p.stdin.write(bytes([ch])); p.stdin.flush(); time.sleep(0.002)
        until(b"nous> ", 1800)
        out += buf.decode(errors="replace")
    p.stdin.write(b"shutdown\r"); p.stdin.flush()
    try: p.wait(20)
    except Exception: p.kill()
    os.unlink(img)
    return out

if __name__ == "__main__":
    disk, pairs, command, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    for i in range(pairs):
        for name, elf in (("A",a),("B",b)) if i%2==0 else (("B",b),("A",a)):
            out = run(elf, disk, command)
            lines=[l for l in out.splitlines() if l.startswith(("eval","executed","tokens","epoch","held-out")) or (os.environ.get("SHOW") and l.strip() and re.search(os.environ["SHOW"], l))]
            print(name, i, *lines, flush=True)

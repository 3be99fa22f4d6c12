#!/usr/bin/env python3
"""Sampling profiler for the kernel under QEMU TCG: boots ELF on a copy of DISK, runs COMMAND in
the shell, samples the vCPU's RIP through QMP `info registers` while it runs (until the prompt
returns, or for $DURATION seconds), and prints the hottest functions (symbols from `nm`).
$WINDOW="a,b" keeps only the samples taken a..b seconds after the first; QEMU runs on the CPUs
in $AB_CPUS (default 1).

Caveat: under TCG the guest RIP is brought up to date only at translated-block boundaries and
helper calls, so the shares are approximate (code that calls helpers - f32, SSE shuffles - is
seen more precisely than long integer blocks). Use it to find candidates; judge a change with
alternating A/B runs (ab_kernels.py), never with this.

usage: tcg_profile.py ELF DISK 'command' [hz]
e.g.   tcg_profile.py nous.elf data.img 'llmctl eval validation 60' 40
       DURATION=45 WINDOW=15,45 tcg_profile.py nous.elf data.img 'llmctl finetune --heldout 0' 40
"""
import subprocess, sys, time, os, shutil, select, socket, json, re, bisect, threading, collections
elf, disk, command = sys.argv[1:4]
hz = float(sys.argv[4]) if len(sys.argv) > 4 else 50
img = f"/tmp/pcprof-{os.getpid()}.img"; shutil.copy(disk, img)
sock = f"/tmp/pcprof-{os.getpid()}.qmp"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ab_kernels import qemu_args
args = qemu_args(elf, img, os.environ.get("AB_CPUS","1"), ("-qmp",f"unix:{sock},server=on,wait=off"))
p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
buf = b""
def until(tok, timeout):
    global buf
    end = time.time()+timeout
    while tok not in buf:
        r,_,_ = select.select([p.stdout],[],[],0.2)
        if r:
            d = os.read(p.stdout.fileno(), 65536)
            if not d: raise RuntimeError("eof")
            buf += d
        elif time.time() > end: raise RuntimeError("timeout")
until(b"nous> ", 120)
q = socket.socket(socket.AF_UNIX); q.connect(sock); f = q.makefile("rw")
f.readline(); f.write(json.dumps({"execute":"qmp_capabilities"})+"\n"); f.flush(); f.readline()
buf = b""
p.stdin.write(command.encode()+b"\n"); p.stdin.flush()
pcs = []
done = False
def reader():
    global buf, done
    while not done:
        r,_,_ = select.select([p.stdout],[],[],0.2)
        if r:
            d = os.read(p.stdout.fileno(), 65536)
            if not d: break
            buf += d
            if b"nous> " in buf and not os.environ.get("DURATION"): done = True
t = threading.Thread(target=reader); t.start()
if os.environ.get("DURATION"):
    def stop_later():
        global done
        time.sleep(float(os.environ["DURATION"])); done = True
    threading.Thread(target=stop_later).start()
while not done:
    f.write(json.dumps({"execute":"human-monitor-command","arguments":{"command-line":"info registers"}})+"\n"); f.flush()
    line = f.readline()
    m = re.search(r"RIP=([0-9a-f]{16})", line)
    if m: pcs.append((time.time(), int(m.group(1),16)))
    time.sleep(1/hz)
t.join(); p.kill()
print(buf.decode(errors="replace")[-600:])
syms = []
for l in subprocess.run(["nm","-C","--numeric-sort",elf],capture_output=True,text=True).stdout.splitlines():
    parts = l.split(" ",2)
    if len(parts)==3 and parts[1] in "tTwW":
        syms.append((int(parts[0],16), parts[2]))
addrs = [a for a,_ in syms]
c = collections.Counter()
t0 = pcs[0][0] if pcs else 0
lo, hi = map(float, os.environ.get("WINDOW", "0,1e9").split(","))
pcs = [pc for t, pc in pcs if lo <= t - t0 <= hi]
for pc in pcs:
    i = bisect.bisect_right(addrs, pc)-1
    c[syms[i][1][:110] if i>=0 else hex(pc)] += 1
print(f"{len(pcs)} samples")
for name,n in c.most_common(40): print(f"{100*n/len(pcs):5.1f}% {n:5d} {name}")

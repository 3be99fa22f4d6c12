//! Everything that starts and stops QEMU: its command line, exit-status meanings, and
//! [`Guest`] — a running guest with its serial line captured, a deadline on every wait, and a
//! guard that kills the process when dropped.
//!
//! A `Guest` owns the child process behind an `Arc<Mutex<Child>>` that is also listed in a
//! process-wide registry; [`install_panic_hook`] kills every listed child before the panic
//! message, because the dev profile is `panic = "abort"` and destructors would not run. Two
//! reader threads copy the guest's stdout (the serial line) and stderr into buffers that
//! [`Guest::expect`] searches. `Guest` drives any child process, so the unit tests use a small
//! shell script as a fake guest.
//!
//! Neighbours: [`crate::console`] speaks the shell protocol over a `Guest`; [`crate::suite`]
//! runs the ktest and fault-test images directly with [`Guest::wait_exit`].

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::parse;

/// The QEMU binary (installed by [`crate::setup::ensure_qemu`]).
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The machine every Nous image runs on (the contract with the kernel): TCG only, never KVM.
pub fn machine_args(elf: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "1", "-kernel",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(elf.display().to_string());
    args.extend(
        [
            "-display",
            "none",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it; there is a
/// small window before QEMU binds it, in which another process could take it).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A virtio-net card on QEMU's user network, with host `127.0.0.1:<port>` forwarded to the
/// guest's port 80 (the dashboard). `restrict=on` cuts the guest off from everything else: it
/// reaches no network, the host's included, and is reached only through the forward.
pub fn net_args(port: u16) -> Vec<String> {
    vec![
        "-netdev".to_string(),
        format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:80"),
        "-device".to_string(),
        "virtio-net-pci,netdev=n0".to_string(),
    ]
}

/// Memory given to the guest by [`machine_args`], in KiB (`-m 256M`).
pub const GUEST_MEMORY_KIB: u64 = 256 * 1024;

/// What a QEMU exit status means under the isa-debug-exit contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuExit {
    /// 33: the kernel wrote 0x10 (`shutdown`, or all in-kernel tests passed).
    Success,
    /// 35: an in-kernel test failed.
    TestFailure,
    /// 37: the kernel stopped on a CPU exception after printing its report.
    CpuException,
    /// 0: the guest reset or triple-faulted (with `-no-reboot`), or the user quit QEMU.
    Reset,
    /// Any other status: QEMU itself failed.
    QemuError(i32),
    /// QEMU was killed by a signal (for instance by our own guard).
    Signal(i32),
}

impl QemuExit {
    /// Classifies an exit code (`None` when the process died from a signal).
    pub fn from_code(code: Option<i32>, signal: Option<i32>) -> QemuExit {
        match code {
            Some(33) => QemuExit::Success,
            Some(35) => QemuExit::TestFailure,
            Some(37) => QemuExit::CpuException,
            Some(0) => QemuExit::Reset,
            Some(other) => QemuExit::QemuError(other),
            None => QemuExit::Signal(signal.unwrap_or(0)),
        }
    }

    /// Classifies a process exit status.
    pub fn from_status(status: ExitStatus) -> QemuExit {
        use std::os::unix::process::ExitStatusExt;
        QemuExit::from_code(status.code(), status.signal())
    }

    /// The raw exit code, if QEMU exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            QemuExit::Success => Some(33),
            QemuExit::TestFailure => Some(35),
            QemuExit::CpuException => Some(37),
            QemuExit::Reset => Some(0),
            QemuExit::QemuError(code) => Some(code),
            QemuExit::Signal(_) => None,
        }
    }

    /// A human-readable explanation.
    pub fn describe(self) -> String {
        match self {
            QemuExit::Success => {
                "exit 33: success (the kernel wrote 0x10 to isa-debug-exit)".into()
            }
            QemuExit::TestFailure => "exit 35: an in-kernel test failed".into(),
            QemuExit::CpuException => "exit 37: the kernel stopped on a CPU exception".into(),
            QemuExit::Reset => {
                "exit 0: guest reset or triple fault (or QEMU quit by the user)".into()
            }
            QemuExit::QemuError(code) => format!("exit {code}: QEMU itself failed"),
            QemuExit::Signal(signal) => format!("killed by signal {signal}"),
        }
    }
}

/// Boots `elf` with the serial console and QEMU monitor multiplexed on this terminal. QEMU puts
/// the terminal in raw mode; `signal=off` delivers Ctrl-C to the guest instead of killing QEMU.
pub fn run_interactive(elf: &Path, extra_args: &[String]) -> Result<ExitCode> {
    let mut command = Command::new(QEMU_BINARY);
    command
        .args(machine_args(elf))
        .args([
            "-chardev",
            "stdio,id=con,mux=on,signal=off",
            "-serial",
            "chardev:con",
            "-mon",
            "chardev=con",
        ])
        .args(extra_args);
    println!(
        "xtask: booting {} — type `shutdown` to power off, or Ctrl-A x to quit QEMU",
        elf.display()
    );
    let status = command
        .status()
        .with_context(|| format!("could not start {QEMU_BINARY}"))?;
    let exit = QemuExit::from_status(status);
    eprintln!("xtask: QEMU {}", exit.describe());
    Ok(match exit {
        QemuExit::Success | QemuExit::Reset => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Children to kill if we panic (destructors do not run under `panic = "abort"`).
static LIVE_CHILDREN: Mutex<Vec<Arc<Mutex<Child>>>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes a panic kill every running guest before the default panic output.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // try_lock: the panicking thread may hold one of these locks; never deadlock here.
        if let Ok(children) = LIVE_CHILDREN.try_lock() {
            for child in children.iter() {
                if let Ok(mut child) = child.try_lock() {
                    let _ = child.kill();
                }
            }
        }
        default_hook(info);
    }));
}

/// Bytes read from one of the child's output pipes, and whether the pipe has closed.
#[derive(Default)]
struct Capture {
    state: Mutex<CaptureState>,
    changed: Condvar,
}

#[derive(Default)]
struct CaptureState {
    bytes: Vec<u8>,
    closed: bool,
}

impl Capture {
    /// Copies `pipe` into a new capture on a background thread until the pipe closes.
    fn start(mut pipe: impl Read + Send + 'static) -> Arc<Capture> {
        let capture = Arc::new(Capture::default());
        let writer = Arc::clone(&capture);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut state = lock(&writer.state);
                state
                    .bytes
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                writer.changed.notify_all();
            }
            lock(&writer.state).closed = true;
            writer.changed.notify_all();
        });
        capture
    }

    fn snapshot(&self) -> Vec<u8> {
        lock(&self.state).bytes.clone()
    }

    /// Waits until the pipe is closed or `deadline` passes; returns whether it closed.
    fn wait_closed(&self, deadline: Instant) -> bool {
        let mut state = lock(&self.state);
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A running guest process: serial output captured, input writable, killed on drop.
pub struct Guest {
    label: String,
    child: Arc<Mutex<Child>>,
    /// The serial input: the child's stdin, or the socket QEMU serves the serial line on.
    stdin: Option<Box<dyn Write + Send>>,
    /// The socket file of a socket-attached guest, removed when the guest is dropped.
    socket_path: Option<PathBuf>,
    serial: Arc<Capture>,
    stderr: Arc<Capture>,
    /// Serial bytes before this offset have been consumed by `expect`.
    cursor: usize,
    exit: Option<QemuExit>,
}

impl Guest {
    /// Boots `elf` in QEMU with the serial line on piped stdin/stdout, no monitor, and `extra`
    /// QEMU arguments (e.g. `-append …`, a data disk).
    pub fn boot_with(elf: &Path, extra: &[&str]) -> Result<Guest> {
        let mut command = Command::new(QEMU_BINARY);
        command
            .args(machine_args(elf))
            .args(extra)
            .args(["-serial", "stdio", "-monitor", "none"]);
        let name = elf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| elf.display().to_string());
        Guest::spawn(command, &format!("QEMU {name}"))
    }

    /// Boots `elf` with the serial line on a Unix socket that QEMU serves and this process
    /// connects to (QEMU waits for the connection before the guest starts, so nothing is
    /// missed). Unlike a pipe, the socket is what a terminal program or a network console would
    /// use: the hostile-input tests drive the guest this way, with bursts that fill QEMU's
    /// receive side. Stdout is captured but not the serial line.
    pub fn boot_with_socket(elf: &Path, extra: &[&str]) -> Result<Guest> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("nous-serial-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut command = Command::new(QEMU_BINARY);
        command.args(machine_args(elf)).args(extra).args([
            "-chardev",
            &format!(
                "socket,id=serial0,path={},server=on,wait=on",
                path.display()
            ),
            "-serial",
            "chardev:serial0",
            "-monitor",
            "none",
        ]);
        let name = elf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| elf.display().to_string());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start QEMU {name}"))?;
        let stderr = child.stderr.take().context("child has no stderr pipe")?;
        let child = Arc::new(Mutex::new(child));
        lock(&LIVE_CHILDREN).push(Arc::clone(&child));
        let mut guest = Guest {
            label: format!("QEMU {name} (serial on {})", path.display()),
            child,
            stdin: None,
            socket_path: Some(path.clone()),
            serial: Arc::new(Capture::default()),
            stderr: Capture::start(stderr),
            cursor: 0,
            exit: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let stream = loop {
            match UnixStream::connect(&path) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline && !guest.has_exited() => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "could not connect to {}: {e}\n{}",
                        path.display(),
                        guest.stderr_log()
                    ));
                }
            }
        };
        let reader = stream.try_clone().context("cloning the serial socket")?;
        guest.serial = Capture::start(reader);
        guest.stdin = Some(Box::new(stream));
        Ok(guest)
    }

    /// Starts `command` as a guest. `label` names it in error messages.
    pub fn spawn(mut command: Command, label: &str) -> Result<Guest> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {label}"))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn Write + Send>);
        let stdout = child.stdout.take().context("child has no stdout pipe")?;
        let stderr = child.stderr.take().context("child has no stderr pipe")?;
        let child = Arc::new(Mutex::new(child));
        lock(&LIVE_CHILDREN).push(Arc::clone(&child));
        Ok(Guest {
            label: label.to_string(),
            child,
            stdin,
            socket_path: None,
            serial: Capture::start(stdout),
            stderr: Capture::start(stderr),
            cursor: 0,
            exit: None,
        })
    }

    /// Waits up to `timeout` for `needle` on the serial line after the cursor. Returns the bytes
    /// between the cursor and the needle, and moves the cursor past the needle.
    pub fn expect(&mut self, needle: &[u8], timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.serial.state);
        loop {
            let unread = state.bytes.get(self.cursor..).unwrap_or_default();
            if let Some(at) = find(unread, needle) {
                let before = unread.get(..at).unwrap_or_default().to_vec();
                self.cursor += at + needle.len();
                return Ok(before);
            }
            if state.closed {
                drop(state);
                let exit = self.wait_exit(Duration::from_secs(5));
                bail!(
                    "{} closed its serial line before printing {:?} ({})",
                    self.label,
                    String::from_utf8_lossy(needle),
                    match exit {
                        Ok(exit) => exit.describe(),
                        Err(err) => format!("{err:#}"),
                    }
                );
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "timed out after {:.0} s waiting for {:?} from {}",
                    timeout.as_secs_f64(),
                    String::from_utf8_lossy(needle),
                    self.label
                );
            }
            state = self
                .serial
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writes `bytes` to the guest's serial input.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .with_context(|| format!("{} has no serial input", self.label))?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .with_context(|| format!("cannot write to the serial input of {}", self.label))
    }

    /// Waits up to `timeout` for the process to exit (it is killed if it does not) and for its
    /// output to be fully captured.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<QemuExit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let deadline = Instant::now() + timeout;
        // Polled rather than a blocking wait: the child's mutex is shared with the panic hook,
        // which must be able to take it at any moment.
        let status = loop {
            let polled = lock(&self.child).try_wait();
            match polled.with_context(|| format!("cannot wait for {}", self.label))? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    self.kill();
                    bail!(
                        "{} did not exit within {:.0} s; killed it",
                        self.label,
                        timeout.as_secs_f64()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        let exit = QemuExit::from_status(status);
        self.exit = Some(exit);
        let drained = Instant::now() + Duration::from_secs(5);
        self.serial.wait_closed(drained);
        self.stderr.wait_closed(drained);
        Ok(exit)
    }

    /// Whether the process has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        if self.exit.is_some() {
            return true;
        }
        let exited = matches!(lock(&self.child).try_wait(), Ok(Some(_)) | Err(_));
        exited && self.wait_exit(Duration::ZERO).is_ok()
    }

    /// Moves the cursor past everything captured so far: later waits see only new output.
    pub fn skip_pending(&mut self) {
        self.cursor = self.captured();
    }

    /// Bytes of serial output captured so far (it grows while the guest prints).
    pub fn captured(&self) -> usize {
        lock(&self.serial.state).bytes.len()
    }

    /// Current serial position; pass it to [`Guest::serial_since`] later.
    pub fn mark(&self) -> usize {
        self.cursor
    }

    /// Serial text (cleaned as by [`parse::clean_text`]) from `mark` to the cursor.
    pub fn serial_since(&self, mark: usize) -> String {
        let state = lock(&self.serial.state);
        parse::clean_text(state.bytes.get(mark..self.cursor).unwrap_or_default())
    }

    /// Everything the guest printed on its serial line so far, cleaned.
    pub fn serial_log(&self) -> String {
        parse::clean_text(&self.serial.snapshot())
    }

    /// Everything the process printed on stderr so far (QEMU's own complaints).
    pub fn stderr_log(&self) -> String {
        String::from_utf8_lossy(&self.stderr.snapshot()).into_owned()
    }

    /// Both logs, framed, for a failure report.
    pub fn failure_log(&self) -> String {
        let serial = self.serial_log();
        let mut out = format!(
            "---- serial log of {} ({} bytes) ----\n{serial}",
            self.label,
            serial.len()
        );
        if !serial.ends_with('\n') {
            out.push('\n');
        }
        let stderr = self.stderr_log();
        if !stderr.is_empty() {
            out.push_str(&format!("---- stderr of {} ----\n{stderr}", self.label));
            if !stderr.ends_with('\n') {
                out.push('\n');
            }
        }
        out.push_str("---- end of log ----");
        out
    }

    fn kill(&mut self) {
        let mut child = lock(&self.child);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
        if let Some(path) = self.socket_path.take() {
            let _ = std::fs::remove_file(path);
        }
        lock(&LIVE_CHILDREN).retain(|c| !Arc::ptr_eq(c, &self.child));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(body: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", body]);
        command
    }

    #[test]
    fn exit_codes_follow_the_isa_debug_exit_contract() {
        assert_eq!(QemuExit::from_code(Some(33), None), QemuExit::Success);
        assert_eq!(QemuExit::from_code(Some(35), None), QemuExit::TestFailure);
        assert_eq!(QemuExit::from_code(Some(37), None), QemuExit::CpuException);
        assert_eq!(QemuExit::from_code(Some(0), None), QemuExit::Reset);
        assert_eq!(QemuExit::from_code(Some(1), None), QemuExit::QemuError(1));
        assert_eq!(QemuExit::from_code(None, Some(9)), QemuExit::Signal(9));
        for exit in [
            QemuExit::Success,
            QemuExit::TestFailure,
            QemuExit::CpuException,
            QemuExit::Reset,
            QemuExit::QemuError(3),
        ] {
            assert_eq!(QemuExit::from_code(exit.code(), None), exit);
        }
    }

    #[test]
    fn exit_status_of_a_real_process_is_classified() {
        let mut guest = Guest::spawn(script("exit 37"), "fake").unwrap();
        assert_eq!(
            guest.wait_exit(Duration::from_secs(30)).unwrap(),
            QemuExit::CpuException
        );
    }

    #[test]
    fn machine_is_tcg_with_debug_exit() {
        let args = machine_args(Path::new("/k.elf")).join(" ");
        assert!(args.contains("-accel tcg"));
        assert!(!args.contains("kvm"));
        assert!(args.contains("-m 256M"));
        assert!(args.contains("-kernel /k.elf"));
        assert!(args.contains("-no-reboot"));
        assert!(args.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert_eq!(GUEST_MEMORY_KIB, 262_144);
    }

    #[test]
    fn expect_returns_text_before_the_needle_and_advances() {
        let mut guest = Guest::spawn(script("printf 'one\\ntwo> three> '"), "fake").unwrap();
        let t = Duration::from_secs(30);
        assert_eq!(guest.expect(b"> ", t).unwrap(), b"one\ntwo");
        assert_eq!(guest.expect(b"> ", t).unwrap(), b"three");
        let err = guest.expect(b"> ", t).unwrap_err().to_string();
        assert!(err.contains("closed its serial line"), "{err}");
        assert!(guest.serial_log().starts_with("one\ntwo> "));
    }

    #[test]
    fn expect_times_out_and_drop_kills_the_process() {
        let mut guest = Guest::spawn(script("echo $$; exec sleep 600"), "sleeper").unwrap();
        let pid = String::from_utf8(guest.expect(b"\n", Duration::from_secs(30)).unwrap()).unwrap();
        let err = guest
            .expect(b"never", Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
        let proc_dir = Path::new("/proc").join(pid.trim());
        assert!(proc_dir.exists());
        drop(guest);
        assert!(!proc_dir.exists(), "sleeper {} still alive", pid.trim());
    }

    #[test]
    fn wait_exit_kills_a_process_that_overstays() {
        let mut guest = Guest::spawn(script("exec sleep 600"), "sleeper").unwrap();
        let err = guest
            .wait_exit(Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(err.contains("killed"), "{err}");
    }

    #[test]
    fn input_reaches_the_guest_and_stderr_is_kept() {
        let mut guest = Guest::spawn(
            script("read line; echo \"got $line\"; echo complaint >&2"),
            "fake",
        )
        .unwrap();
        guest.send(b"ping\n").unwrap();
        guest.expect(b"got ping", Duration::from_secs(30)).unwrap();
        assert_eq!(
            guest.wait_exit(Duration::from_secs(30)).unwrap(),
            QemuExit::Reset
        );
        assert_eq!(guest.stderr_log(), "complaint\n");
        assert!(guest.failure_log().contains("complaint"));
        assert!(guest.has_exited());
    }

    /// Runs only inside the child process started by `panic_hook_kills_running_guests`: starts a
    /// sleeper, forgets its guard (so only the hook can kill it), prints its pid and panics.
    #[test]
    #[ignore = "helper: run in a child process by panic_hook_kills_running_guests"]
    fn panic_hook_child() {
        if std::env::var_os("XTASK_PANIC_HOOK_CHILD").is_none() {
            return;
        }
        install_panic_hook();
        let mut guest = Guest::spawn(script("echo $$; exec sleep 600"), "sleeper").unwrap();
        let pid = guest.expect(b"\n", Duration::from_secs(30)).unwrap();
        println!("sleeper-pid {}", String::from_utf8_lossy(&pid));
        std::mem::forget(guest);
        panic!("deliberate panic to exercise the hook");
    }

    #[test]
    fn panic_hook_kills_running_guests() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "qemu::tests::panic_hook_child",
                "--ignored",
                "--nocapture",
            ])
            .env("XTASK_PANIC_HOOK_CHILD", "1")
            .output()
            .unwrap();
        assert!(!output.status.success(), "the child test did not panic");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let pid = stdout
            .lines()
            .find_map(|l| l.strip_prefix("sleeper-pid "))
            .unwrap_or_else(|| panic!("no sleeper pid in {stdout}"))
            .trim()
            .to_string();
        // Killed means gone, or a zombie waiting for whoever inherited it to reap it.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'));
        if alive {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        assert!(!alive, "the panic hook left sleeper {pid} running: {state}");
    }

    #[test]
    fn find_locates_needles() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"ab", b""), Some(0));
    }
}

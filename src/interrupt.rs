//! Interruption by SIGINT or SIGTERM: what an interrupted run must undo, and the thread that undoes it.
//!
//! [`install`] blocks both signals in the calling thread before any other thread exists (threads
//! inherit the mask; so would child processes, but `input::client` unblocks both in them) and waits for them
//! on a thread of its own with `sigwait`, so the cleanup runs as ordinary code, not in a handler.
//!
//! Writers register what an interrupted run must undo (a partial file, the archive spool, an open
//! multipart upload, a backup set not yet committed by its manifest) with [`guard`], which counts
//! the creation as in progress until its undo is registered. On a signal the cleanup marks the
//! process as closing (a later [`guard`] or [`settle`] call parks its thread until the process
//! exits), waits for creations in progress, so nothing is created after it has looked; then it
//! terminates and reaps the child processes (pg_dump, psql), runs every registered undo, newest
//! first, prints one line and exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM). A
//! second signal during the cleanup exits at once.
//!
//! Without [`install`] (the library used on its own, unit tests) the registry is kept but nothing
//! ever runs it. The library does not rely on it to clean up: a use-case stopped through its
//! [`crate::cancel::CancelToken`] (or failing) undoes what it started by dropping it (partial files,
//! uploads, the claimed set) and kills and reaps its pg_dump. A signal, by contrast, ends the
//! process at once from the cleanup thread, without waiting for the pass to reach a check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// What an interrupted run must undo.
pub enum Undo {
    /// A file not yet under its final name (a partial artifact, the archive spool).
    RemoveFile(PathBuf),
    /// An open multipart upload: the closure aborts it.
    AbortUpload(Box<dyn FnOnce() + Send>),
    /// A backup set whose manifest is not written yet: the closure removes what it holds.
    RemoveSet(Box<dyn FnOnce() + Send>),
    /// A private work folder (artifacts downloaded for a restore), removed with its contents.
    RemoveDir(PathBuf),
}

#[derive(Default)]
struct Registry {
    closing: bool,
    /// Creations (or commits) under way: the cleanup waits for them. The lock itself is not held
    /// while they run, so that they may drop guards.
    busy: usize,
    next: u64,
    undo: BTreeMap<u64, Undo>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    closing: false,
    busy: 0,
    next: 0,
    undo: BTreeMap::new(),
});
static IDLE: Condvar = Condvar::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// A long-running process's own reaction to the first signal (see [`on_signal`]).
static GRACEFUL: std::sync::OnceLock<Box<dyn Fn(&'static str) + Send + Sync>> =
    std::sync::OnceLock::new();
static GRACEFUL_FIRED: AtomicBool = AtomicBool::new(false);

/// Replace the command line's undo-and-exit on the first SIGINT/SIGTERM with `stop` (given the
/// signal's name), for a service that stops gracefully: it cancels its tasks through their
/// tokens (which undo what they started) and exits 0 on its own. `stop` runs on the signal thread
/// and must return quickly. A second signal still runs the undo-and-exit cleanup at once. Set
/// once; later calls are ignored.
pub fn on_signal(stop: Box<dyn Fn(&'static str) + Send + Sync>) {
    let _ = GRACEFUL.set(stop);
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A registered undo; dropping the guard unregisters it (the thing was published or cleaned up by
/// its owner).
#[must_use]
pub struct Guard(u64);

impl Drop for Guard {
    fn drop(&mut self) {
        registry().undo.remove(&self.0);
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Guard({})", self.0)
    }
}

/// Start a creation or commit: parks for good if the process is closing.
fn begin() {
    let mut reg = registry();
    if reg.closing {
        drop(reg);
        park_forever();
    }
    reg.busy += 1;
}

/// End it: `f` runs under the lock (registering or dropping undos).
fn end<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut reg = registry();
    let out = f(&mut reg);
    reg.busy -= 1;
    IDLE.notify_all();
    out
}

/// Create something and register its undo atomically with respect to the cleanup: the cleanup
/// waits for a creation under way, and none starts once it has begun (the calling thread parks
/// until the cleanup exits the process).
pub fn guard<T, E>(create: impl FnOnce() -> Result<(T, Undo), E>) -> Result<(T, Guard), E> {
    begin();
    let created = create();
    end(|reg| {
        let (value, undo) = created?;
        let id = reg.next;
        reg.next += 1;
        reg.undo.insert(id, undo);
        Ok((value, Guard(id)))
    })
}

/// Run `commit` (the step that makes a result final, e.g. publishing a set's manifest) and, if it
/// succeeds, drop the undos in `guards`, atomically with respect to the cleanup: a signal either
/// undoes everything before `commit` runs, or finds the result committed and leaves it.
pub fn settle<T, E>(
    guards: &mut Vec<Guard>,
    commit: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    begin();
    let committed = commit();
    end(|reg| {
        let out = committed?;
        for g in guards.drain(..) {
            reg.undo.remove(&g.0);
            // Already unregistered; its Drop would take the lock again.
            std::mem::forget(g);
        }
        Ok(out)
    })
}

/// Whether a signal arrived (the process is exiting through the cleanup).
pub fn is_interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Park the calling thread for good: the cleanup thread exits the process.
pub fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Block SIGINT and SIGTERM and start the thread that handles them. Call first thing in `main`,
/// before any thread is started.
#[cfg(target_os = "linux")]
pub fn install() {
    // SAFETY: plain libc calls on a local sigset; no other thread exists yet.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("pgveil-signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid sigset; sigwait only writes `sig`.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            if let Some(stop) = GRACEFUL.get() {
                if !GRACEFUL_FIRED.swap(true, Ordering::SeqCst) {
                    stop(name_of(sig));
                    continue;
                }
            }
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // A second signal while cleaning up: give up on the cleanup.
                eprintln!(
                    "pgveil: interrupted again by {}; cleanup skipped",
                    name_of(sig)
                );
                std::process::exit(128 + sig);
            }
            // The cleanup runs on its own thread so that a second signal is still received.
            let _ = std::thread::Builder::new()
                .name("pgveil-cleanup".into())
                .spawn(move || cleanup_and_exit(sig));
        });
    if spawned.is_err() {
        // Without the thread the signals must keep their default action.
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn install() {}

/// Kill every child process (pg_dump, psql, pg_restore) without reaping them: their owners'
/// waits do. For a stopping service whose cancelled tasks wait on a child that delivers nothing
/// (a pg_dump waiting for a lock): the task sees its child end and stops. SIGKILL, because the
/// children start with SIGINT and SIGTERM blocked as this process's threads have them (observed:
/// `SigBlk` of a spawned pg_dump), so a SIGTERM would stay pending. Returns how many.
#[cfg(target_os = "linux")]
pub fn kill_children() -> usize {
    let children = child_pids();
    for &pid in &children {
        // SAFETY: kill on our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    children.len()
}

#[cfg(not(target_os = "linux"))]
pub fn kill_children() -> usize {
    0
}

#[cfg(target_os = "linux")]
fn name_of(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(target_os = "linux")]
fn cleanup_and_exit(sig: i32) -> ! {
    let undo: Vec<Undo> = {
        let mut reg = registry();
        reg.closing = true;
        while reg.busy > 0 {
            reg = IDLE.wait(reg).unwrap_or_else(|e| e.into_inner());
        }
        std::mem::take(&mut reg.undo).into_values().rev().collect()
    };
    let children = stop_children();
    let (mut files, mut uploads, mut sets, mut dirs) = (0usize, 0usize, 0usize, 0usize);
    for u in undo {
        match u {
            Undo::RemoveFile(path) => {
                if std::fs::remove_file(&path).is_ok() {
                    files += 1;
                }
            }
            Undo::AbortUpload(abort) => {
                abort();
                uploads += 1;
            }
            Undo::RemoveSet(remove) => {
                remove();
                sets += 1;
            }
            Undo::RemoveDir(path) => {
                if std::fs::remove_dir_all(&path).is_ok() {
                    dirs += 1;
                }
            }
        }
    }
    let mut done = Vec::new();
    if children > 0 {
        done.push(plural(children, "child process", "child processes") + " stopped");
    }
    if files > 0 {
        done.push(plural(files, "partial file", "partial files") + " removed");
    }
    if uploads > 0 {
        done.push(plural(uploads, "upload", "uploads") + " aborted");
    }
    if sets > 0 {
        done.push(plural(sets, "unfinished backup set", "unfinished backup sets") + " removed");
    }
    if dirs > 0 {
        done.push(plural(dirs, "work folder", "work folders") + " removed");
    }
    let what = if done.is_empty() {
        String::new()
    } else {
        format!(": {}", done.join(", "))
    };
    eprintln!("pgveil: interrupted by {}{what}", name_of(sig));
    std::process::exit(128 + sig)
}

#[cfg(target_os = "linux")]
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Terminate and reap every child process (SIGTERM, then SIGKILL after two seconds). Children are
/// found by their parent pid in /proc, so every spawn site is covered without registering.
#[cfg(target_os = "linux")]
fn stop_children() -> usize {
    let children = child_pids();
    for &pid in &children {
        // SAFETY: kill and waitpid on our own children.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut left: Vec<i32> = children.clone();
    while !left.is_empty() && std::time::Instant::now() < deadline {
        left.retain(|&pid| !reaped(pid, libc::WNOHANG));
        if !left.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    for pid in left {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        reaped(pid, 0);
    }
    children.len()
}

/// Whether `pid` is gone (reaped here, or by its owner's `wait` on another thread).
#[cfg(target_os = "linux")]
fn reaped(pid: i32, flags: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid on a child pid.
    let r = unsafe { libc::waitpid(pid, &mut status, flags) };
    r == pid || r == -1
}

#[cfg(target_os = "linux")]
fn child_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

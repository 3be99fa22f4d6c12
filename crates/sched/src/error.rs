//! Errors returned by the scheduler.
//!
//! Every operation that takes an id, a name or a reason from the caller validates it before
//! changing any state, and reports a problem as a [`SchedError`]; nothing in this crate panics on
//! bad input. When an operation returns an error, the scheduler is exactly as it was before.

use core::fmt;

use crate::ids::{ThreadId, WaitQueueId};

/// Why a scheduler operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// No thread with this id exists (never did, or it was reaped).
    UnknownThread(ThreadId),
    /// The operation needs a live thread but this one has exited.
    ThreadExited(ThreadId),
    /// `reap` was asked for a thread that has not exited.
    NotExited(ThreadId),
    /// No wait queue with this id exists (never did, or it was destroyed).
    UnknownWaitQueue(WaitQueueId),
    /// The queue belongs to a thread that has exited: blocking on it would never end.
    QueueClosed(WaitQueueId),
    /// A wait queue that still has waiters cannot be destroyed (they would be lost).
    QueueNotEmpty(WaitQueueId),
    /// An exit queue lives as long as its thread and is freed by `reap`, not destroyed.
    IsExitQueue(WaitQueueId),
    /// A thread cannot join itself (or block on its own exit).
    JoinSelf,
    /// The idle thread never exits, so joining it would never end.
    JoinIdle,
    /// The idle thread must always be able to run: it cannot block, sleep or exit.
    IdleMustStayRunnable,
    /// The idle thread's priority is not a scheduling input and cannot be changed.
    IdleHasNoPriority,
    /// A priority level outside `0..Priority::LEVELS`.
    InvalidPriority(u8),
    /// A thread name must be 1 to [`crate::MAX_NAME_LEN`] bytes of printable characters.
    InvalidName,
    /// All 2^32 thread or wait-queue ids have been used.
    IdsExhausted,
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::UnknownThread(t) => write!(f, "no thread with id {t}"),
            SchedError::ThreadExited(t) => write!(f, "thread {t} has exited"),
            SchedError::NotExited(t) => write!(f, "thread {t} has not exited and cannot be reaped"),
            SchedError::UnknownWaitQueue(q) => write!(f, "no wait queue {q}"),
            SchedError::QueueClosed(q) => {
                write!(f, "wait queue {q} belongs to an exited thread")
            }
            SchedError::QueueNotEmpty(q) => write!(f, "wait queue {q} still has waiters"),
            SchedError::IsExitQueue(q) => {
                write!(f, "wait queue {q} is a thread's exit queue (freed by reap)")
            }
            SchedError::JoinSelf => f.write_str("a thread cannot join itself"),
            SchedError::JoinIdle => f.write_str("the idle thread never exits"),
            SchedError::IdleMustStayRunnable => {
                f.write_str("the idle thread cannot block, sleep or exit")
            }
            SchedError::IdleHasNoPriority => {
                f.write_str("the idle thread's priority cannot be changed")
            }
            SchedError::InvalidPriority(p) => write!(f, "priority {p} is not in 0..=3"),
            SchedError::InvalidName => {
                f.write_str("thread names must be 1 to 32 bytes of printable characters")
            }
            SchedError::IdsExhausted => f.write_str("no ids left"),
        }
    }
}

impl core::error::Error for SchedError {}

//! `IrqMutex`: a spin lock that also disables interrupts while held.
//!
//! Nous runs on one CPU, where the only concurrency is an interrupt handler (or a preemption
//! it triggers) running between two instructions of a thread. Disabling interrupts for the
//! duration of a critical section removes that; the spin lock keeps the type honest (`Sync`)
//! and catches re-entrancy bugs as a visible hang rather than silent corruption.

use core::ops::{Deref, DerefMut};
use x86_64::instructions::interrupts;

pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disables interrupts and takes the lock; both are released when the guard drops.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        IrqMutexGuard {
            guard: Some(self.inner.lock()),
            interrupts_were_enabled,
        }
    }

    /// Takes the lock only if it is free (used by fault reporting, which must not deadlock).
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        match self.inner.try_lock() {
            Some(g) => Some(IrqMutexGuard {
                guard: Some(g),
                interrupts_were_enabled,
            }),
            None => {
                if interrupts_were_enabled {
                    interrupts::enable();
                }
                None
            }
        }
    }
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard present until drop")
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard present until drop")
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.guard = None;
        if self.interrupts_were_enabled {
            interrupts::enable();
        }
    }
}

/// Runs `f` with interrupts disabled, restoring the previous state afterwards.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    interrupts::without_interrupts(f)
}

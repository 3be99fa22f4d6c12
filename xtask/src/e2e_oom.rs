//! End-to-end tests of the oom subsystem over the serial shell; [`crate::e2e::all`] runs them
//! after the foundation's table, in one shared boot while they pass.

use crate::e2e::E2eTest;

/// The oom tests, in run order.
pub const TESTS: &[E2eTest] = &[];

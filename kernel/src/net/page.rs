//! The dashboard's files, embedded in the kernel image at build time.

use net::Asset;

pub static ASSETS: &[Asset] = &[];

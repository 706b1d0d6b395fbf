//! Reconciling "every eligible validator holds our valid PAT" with what validators say.
//! `decide` and `backoff` are pure; the loops that do I/O live with their commands.

pub mod backoff;
pub mod decide;

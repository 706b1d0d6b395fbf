//! Reconciling "every eligible validator holds our valid PAT" with what validators say.
//! `decide`, `backoff` and `tracker` are pure; the loops that do I/O are `engine` (the
//! daemon) and the one-shot commands.

pub mod backoff;
pub mod decide;
pub mod engine;
pub mod tracker;

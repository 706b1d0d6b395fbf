//! The reconcile core, shared by `post` and `run`: "every eligible validator holds our
//! valid PAT", compared with what validators say, one validator at a time.
//!
//! - [`policy`]: what an answer means we should do (pure; the one decision table).
//! - [`backoff`]: the retry schedule (pure).
//! - [`tracker`]: each validator's state and what is due next (pure).
//! - [`pipeline`]: the network steps of one validator, each with its own deadline.
//! - [`core`]: runs many pipelines at once under a concurrency bound.

pub mod backoff;
pub mod core;
pub mod pipeline;
pub mod policy;
pub mod tracker;

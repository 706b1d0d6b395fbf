//! The chain: who the subnet's validators are today. `eligibility` is the pure rule;
//! `reader` does the subxt I/O.

pub mod eligibility;
pub mod reader;

pub use eligibility::select;
pub use reader::{ChainError, ChainReader};

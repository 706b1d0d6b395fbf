//! Process exit codes: documented in the README, relied on by scripts.

/// Every eligible validator holds a valid PAT.
pub const COVERED: u8 = 0;
/// The command could not run: bad config, unreadable hotkey or PAT, unreachable chain…
pub const COULD_NOT_RUN: u8 = 1;
/// Command-line usage error (clap's own code).
pub const USAGE: u8 = 2;
/// The command ran, but not every eligible validator holds a valid PAT.
pub const PARTIAL_COVERAGE: u8 = 3;
/// `status`: the agent is not running, or its state file is too old to be trusted.
pub const AGENT_NOT_RUNNING: u8 = 4;
/// `run` cannot start: missing PAT, bad config, unreadable hotkey (EX_CONFIG). The unit
/// does not restart on it (`RestartPreventExitStatus=78`): retrying cannot help.
pub const NOT_CONFIGURED: u8 = 78;

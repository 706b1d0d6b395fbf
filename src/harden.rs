//! What the process does to itself before it reads a secret: no core dump and no
//! debugger of the same user may copy the PAT out of its memory.

use rustix::process::{getrlimit, set_dumpable_behavior, setrlimit, DumpableBehavior, Resource, Rlimit};

/// Makes the process non-dumpable (no core file, no `ptrace` or `/proc/PID/mem` by another
/// process of the same user, `/proc/PID/*` owned by root) and sets its core size limit to 0,
/// soft and hard, so no child can raise it again. Each part is tried on its own; the words
/// for what failed are returned for the caller to log. Under the units, `LimitCORE=0` has
/// already done the second (and their system-call filter refuses `setrlimit`), so a limit
/// that is already 0 is left alone.
pub fn no_core_dumps() -> Vec<String> {
    let mut failed = Vec::new();
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        failed.push(format!("cannot mark the process non-dumpable (prctl PR_SET_DUMPABLE: {e})"));
    }
    let zero = Rlimit { current: Some(0), maximum: Some(0) };
    if getrlimit(Resource::Core) != zero {
        if let Err(e) = setrlimit(Resource::Core, zero) {
            failed.push(format!("cannot set the core file size limit to 0 (setrlimit RLIMIT_CORE: {e})"));
        }
    }
    failed
}

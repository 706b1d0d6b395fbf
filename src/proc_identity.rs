//! Which process is which, across a pid's reuse and a reboot: the boot's id and a
//! process's start time, as Linux's /proc tells them. A pid alone names another process
//! once its own has exited; a process name tells nothing (a wrapper, a renamed copy).

use std::io;

/// This boot's id (`/proc/sys/kernel/random/boot_id`): `None` where `/proc/sys` is hidden
/// (the units' `ProcSubset=pid`) or absent.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22);
/// `NotFound` when no such process is visible.
pub fn start_ticks(pid: u32) -> io::Result<u64> {
    parse_start_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/stat has no start time")))
}

/// This process's start time (see [`start_ticks`]).
pub fn own_start_ticks() -> Option<u64> {
    parse_start_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Field 22 of a `/proc/PID/stat` line. The name (field 2, in parentheses) may hold spaces
/// and parentheses itself, so the fields are counted from its last `)`.
pub fn parse_start_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (the state) is the first after the name; field 22 is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_whatever_the_name_holds() {
        let stat =
            "4242 (gittensor) (x) y) S 1 4242 4242 0 -1 4194560 2315 0 0 0 12 3 0 0 20 0 2 0 987654 31000000 2000";
        assert_eq!(parse_start_ticks(stat), Some(987654));
        assert_eq!(parse_start_ticks("4242 (short) S 1 2"), None);
        assert_eq!(parse_start_ticks("no name here"), None);
    }

    #[test]
    fn this_process_is_recognised_by_its_start_time() {
        let own = own_start_ticks().expect("/proc/self/stat");
        assert_eq!(start_ticks(std::process::id()).unwrap(), own);
        assert!(boot_id().is_some_and(|id| id.len() == 36), "{:?}", boot_id());
    }
}

//! Time for the core and the daemon. Everything that schedules runs on tokio's clock, so a
//! test that pauses it (`tokio::time::pause`) controls every deadline, backoff and sweep.
//! The wall clock is read once, when a [`Clock`] is made: dates that are shown or
//! persisted (the state file, `STATUS=`, the PAT's expiry) are that anchor plus tokio's
//! elapsed time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds since the Unix epoch that advance with tokio's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_ms: u64,
    anchor: Instant,
    /// [`Clock::wall_ms`] reads the system's clock (a real agent), or follows `now_ms` (tests).
    wall: bool,
}

impl Clock {
    /// Anchored to the system's wall clock now.
    pub fn system() -> Self {
        Clock { wall: true, ..Clock::starting_at(system_ms()) }
    }

    /// Anchored to a chosen date (tests and the simulation).
    pub fn starting_at(epoch_ms: u64) -> Self {
        Clock { anchor_ms: epoch_ms, anchor: Instant::now(), wall: false }
    }

    pub fn now_ms(&self) -> u64 {
        self.anchor_ms + self.anchor.elapsed().as_millis() as u64
    }

    /// The date to persist or compare with another process (the state file's stamps, which
    /// `status` compares with its own clock): the system's clock as it is now, so that a
    /// clock stepped after start (an NTP sync) does not leave the stamps behind or ahead.
    /// Schedules keep [`Clock::now_ms`], which a step cannot move. A test clock: `now_ms`.
    pub fn wall_ms(&self) -> u64 {
        if self.wall {
            system_ms()
        } else {
            self.now_ms()
        }
    }

    /// The tokio instant at which `now_ms()` reaches `at_ms` (now, if that is past).
    pub fn instant_at(&self, at_ms: u64) -> Instant {
        let now = self.now_ms();
        Instant::now() + Duration::from_millis(at_ms.saturating_sub(now))
    }
}

fn system_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// `HH:MM UTC` for a millisecond timestamp.
pub fn clock_utc(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map(|t| t.strftime("%H:%M UTC").to_string()).unwrap_or_default()
}

/// How long ago `at` was, for people.
pub fn ago(now_ms: u64, at_ms: u64) -> String {
    let secs = now_ms.saturating_sub(at_ms) / 1000;
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// GitHub's expiry header, `2026-12-31 00:00:00 UTC` (or `+0000`), as epoch milliseconds.
pub fn parse_github_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let cleaned = text.strip_suffix(" UTC").unwrap_or(text);
    jiff::Timestamp::strptime("%Y-%m-%d %H:%M:%S %z", cleaned)
        .or_else(|_| {
            jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", cleaned)
                .and_then(|dt| dt.to_zoned_datetime(jiff::tz::TimeZone::UTC))
                .map(|z| z.timestamp())
        })
        .ok()
        .map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_expiry_formats_parse() {
        let utc = parse_github_time("2026-12-31 00:00:00 UTC").unwrap();
        let offset = parse_github_time("2026-12-31 02:00:00 +0200").unwrap();
        assert_eq!(utc, offset);
        assert_eq!(utc, 1_798_675_200_000);
        assert_eq!(parse_github_time("not a date"), None);
        assert_eq!(clock_utc(1_798_675_200_000 + 14 * 3_600_000 + 5 * 60_000), "14:05 UTC");
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_advances_with_tokio_time_only() {
        let clock = Clock::starting_at(1_000_000);
        assert_eq!(clock.now_ms(), 1_000_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.now_ms(), 1_090_000);
        let at = clock.instant_at(1_100_000);
        assert_eq!(at - Instant::now(), Duration::from_secs(10));
        assert_eq!(clock.instant_at(0), Instant::now(), "a past date is now");
    }

    /// The monotonic clock and the wall clock part when the wall clock is stepped (an NTP
    /// sync after boot); paused tokio time advanced an hour is that step, backwards. What is
    /// persisted and compared across processes follows the wall clock.
    #[tokio::test(start_paused = true)]
    async fn persisted_dates_follow_the_system_clock_after_a_step() {
        let clock = Clock::system();
        tokio::time::advance(Duration::from_secs(3600)).await;
        let wall = system_ms();
        assert!(clock.now_ms() >= wall + 3_590_000, "the schedule's clock moved on an hour");
        assert!(clock.wall_ms().abs_diff(wall) < 5_000, "{} against {wall}", clock.wall_ms());
        let test_clock = Clock::starting_at(1_000);
        assert_eq!(test_clock.wall_ms(), test_clock.now_ms(), "a test's clock is the tests' to drive");
    }
}

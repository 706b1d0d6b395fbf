//! The retry schedule: exponential growth, capped, with jitter. Pure; the caller supplies
//! the random draw so the schedule is tested without randomness.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub factor: f64,
    pub cap: Duration,
}

impl Backoff {
    /// The ceiling for the `attempt`-th retry (0-based): `min(cap, base · factor^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let grown = self.base.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        Duration::from_secs_f64(grown.min(self.cap.as_secs_f64()).max(0.0))
    }

    /// Full jitter above a floor: uniform in `[min(base, ceiling), ceiling]` for `unit` in
    /// `[0, 1)`. Pure full jitter may draw ~0 s and retry at once; the floor of one `base`
    /// keeps "never faster than the schedule" a promise a test can count.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let floor = self.base.min(ceiling);
        floor + (ceiling - floor).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schedule() -> Backoff {
        Backoff { base: Duration::from_secs(2), factor: 2.0, cap: Duration::from_secs(60) }
    }

    #[test]
    fn ceilings_double_until_the_cap() {
        let secs: Vec<u64> = (0..8).map(|a| schedule().ceiling(a).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(schedule().ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_spans_floor_to_ceiling() {
        let s = schedule();
        assert_eq!(s.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(s.delay(3, 1.0), Duration::from_secs(16));
        assert_eq!(s.delay(0, 0.5), Duration::from_secs(2));
    }

    proptest! {
        #[test]
        fn delay_is_always_within_base_and_cap(
            base_ms in 1u64..10_000, cap_ms in 1u64..1_000_000, factor in 1.0f64..4.0,
            attempt in 0u32..200, unit in 0.0f64..1.0,
        ) {
            let b = Backoff { base: Duration::from_millis(base_ms), factor, cap: Duration::from_millis(cap_ms) };
            let d = b.delay(attempt, unit);
            prop_assert!(d <= b.cap.max(Duration::ZERO));
            prop_assert!(d >= b.base.min(b.cap));
            prop_assert!(b.ceiling(attempt) <= b.ceiling(attempt + 1));
        }
    }
}

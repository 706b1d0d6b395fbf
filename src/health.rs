//! Health reports to systemd (`sd_notify`): READY, a one-line STATUS, WATCHDOG pings,
//! RELOADING around SIGHUP and STOPPING on shutdown. Silent when not under systemd.

use std::time::Duration;

use sd_notify::NotifyState;

pub struct Health {
    watchdog: Option<Duration>,
}

impl Health {
    pub fn from_env() -> Self {
        Health { watchdog: sd_notify::watchdog_enabled() }
    }

    /// How often the loop must prove progress: half the watchdog timeout, as systemd advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    fn send(&self, states: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(states) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// Called only after a loop iteration completed: a hung loop stops the pings.
    pub fn progress(&self) {
        if self.watchdog.is_some() {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    pub fn reloading(&self) {
        let mut states = vec![NotifyState::Reloading];
        // systemd ≥ 253 wants the monotonic time with RELOADING=1; older ones ignore it.
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        self.send(&states);
    }

    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }
}

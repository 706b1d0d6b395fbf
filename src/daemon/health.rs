//! Health reports to systemd (`sd_notify`): READY, a one-line STATUS, WATCHDOG pings,
//! RELOADING around SIGHUP and STOPPING on shutdown. Silent when not under systemd. The
//! sink is injectable so tests and the simulation hear exactly what systemd would.

use std::time::Duration;

use sd_notify::NotifyState;

/// One message to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Ready { status: String },
    Status(String),
    Watchdog,
    Reloading,
    Stopping,
}

pub trait Notify: Send {
    fn notify(&self, notice: &Notice);
}

/// The real service manager, through `$NOTIFY_SOCKET`.
pub struct SdNotify;

impl Notify for SdNotify {
    fn notify(&self, notice: &Notice) {
        let mut states = Vec::new();
        match notice {
            Notice::Ready { status } => states.extend([NotifyState::Ready, NotifyState::Status(status)]),
            Notice::Status(status) => states.push(NotifyState::Status(status)),
            Notice::Watchdog => states.push(NotifyState::Watchdog),
            Notice::Reloading => {
                states.push(NotifyState::Reloading);
                // systemd ≥ 253 wants the monotonic time with RELOADING=1; older ones ignore it.
                if let Ok(now) = NotifyState::monotonic_usec_now() {
                    states.push(now);
                }
            }
            Notice::Stopping => states.extend([NotifyState::Stopping, NotifyState::Status("stopping")]),
        }
        if let Err(e) = sd_notify::notify(&states) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }
}

pub struct Health {
    sink: Box<dyn Notify>,
    watchdog: Option<Duration>,
    stopping: bool,
    last_status: String,
}

impl Health {
    /// The service manager from the environment; the watchdog when systemd armed one.
    pub fn from_env() -> Self {
        Health::new(Box::new(SdNotify), sd_notify::watchdog_enabled())
    }

    pub fn new(sink: Box<dyn Notify>, watchdog: Option<Duration>) -> Self {
        Health { sink, watchdog, stopping: false, last_status: String::new() }
    }

    /// How often the loop must prove progress: half the watchdog timeout, as systemd advises.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    /// Never after STOPPING: a reload that finishes during shutdown says nothing.
    pub fn ready(&mut self, status: &str) {
        if !self.stopping {
            self.last_status = status.to_owned();
            self.sink.notify(&Notice::Ready { status: status.to_owned() });
        }
    }

    /// Sent only when the line changed.
    pub fn status(&mut self, status: &str) {
        if !self.stopping && status != self.last_status {
            self.last_status = status.to_owned();
            self.sink.notify(&Notice::Status(status.to_owned()));
        }
    }

    pub fn watchdog(&self) {
        if self.watchdog.is_some() && !self.stopping {
            self.sink.notify(&Notice::Watchdog);
        }
    }

    pub fn reloading(&self) {
        if !self.stopping {
            self.sink.notify(&Notice::Reloading);
        }
    }

    pub fn stopping(&mut self) {
        if !self.stopping {
            self.stopping = true;
            self.sink.notify(&Notice::Stopping);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Recorder(Arc<Mutex<Vec<Notice>>>);
    impl Notify for Recorder {
        fn notify(&self, notice: &Notice) {
            self.0.lock().unwrap().push(notice.clone());
        }
    }

    #[test]
    fn nothing_but_stopping_after_stopping_and_no_repeated_status() {
        let heard = Arc::new(Mutex::new(vec![]));
        let mut health = Health::new(Box::new(Recorder(heard.clone())), Some(Duration::from_secs(10)));
        health.status("a");
        health.status("a");
        health.stopping();
        health.ready("b");
        health.watchdog();
        health.stopping();
        assert_eq!(*heard.lock().unwrap(), [Notice::Status("a".into()), Notice::Stopping]);
        assert_eq!(health.watchdog_interval(), Some(Duration::from_secs(5)));
    }
}

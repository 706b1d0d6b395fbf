//! Signals, turned at the edge into one shutdown future and a stream of reload requests
//! (mini-redis and linkerd2-proxy do the same): nothing deeper handles a signal.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// Resolves once a stop was asked for, with the reason; can be awaited again and again
/// (start-up, the loop), and cloned.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

/// Asks every [`Shutdown`] made with it to stop.
pub struct StopSwitch(watch::Sender<Option<&'static str>>);

impl StopSwitch {
    pub fn stop(&self, why: &'static str) {
        let _ = self.0.send(Some(why));
    }
}

impl Shutdown {
    pub fn new() -> (StopSwitch, Shutdown) {
        let (tx, rx) = watch::channel(None);
        (StopSwitch(tx), Shutdown(rx))
    }

    /// Waits for the stop; the reason (`SIGTERM`, `SIGINT`, …).
    pub async fn requested(&mut self) -> &'static str {
        loop {
            if let Some(why) = *self.0.borrow_and_update() {
                return why;
            }
            if self.0.changed().await.is_err() {
                // The switch is gone: nobody can ask any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `work` unless a stop comes first (`Err` with the reason).
    pub async fn race<F: std::future::Future>(&mut self, work: F) -> Result<F::Output, &'static str> {
        tokio::select! {
            why = self.requested() => Err(why),
            done = work => Ok(done),
        }
    }
}

/// SIGTERM and SIGINT stop; SIGHUP asks for a reload. Installed first thing in `run`, so
/// a signal during start-up is never lost.
pub fn from_signals() -> std::io::Result<(Shutdown, mpsc::Receiver<()>)> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (switch, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        let why = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        switch.stop(why);
    });
    let (reload_tx, reload_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            // One pending reload is enough: it re-reads everything.
            let _ = reload_tx.try_send(());
        }
    });
    Ok((shutdown, reload_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stop_reaches_every_waiter_and_wins_every_race() {
        let (switch, mut shutdown) = Shutdown::new();
        let mut other = shutdown.clone();
        assert_eq!(shutdown.race(async { 7 }).await, Ok(7));
        switch.stop("SIGTERM");
        assert_eq!(shutdown.race(std::future::pending::<()>()).await, Err("SIGTERM"));
        assert_eq!(other.requested().await, "SIGTERM");
        assert_eq!(shutdown.requested().await, "SIGTERM", "asked again, still stopping");
    }
}

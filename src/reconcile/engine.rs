//! The daemon's loop: all the I/O around the pure [`Tracker`]. Level-triggered: each pass
//! compares "every eligible validator holds our valid PAT" with what was last observed and
//! does what is due, so a missed event is healed on a later pass.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, StreamExt};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::decide::{Alert, LocalPat};
use super::tracker::{Change, Coverage, Schedule, Step};
use crate::cli::CommonArgs;
use crate::config::{self, Settings};
use crate::github::{GitHub, PatVerdict};
use crate::health::Health;
use crate::probe;
use crate::secrets::{Pat, PatSource};
use crate::state::{PatRecord, State, StateFile};
use crate::transport::{Target, Transport};
use crate::validators;

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// Reads the PAT again (for SIGHUP); supplied by the command, which knows the sources.
pub type PatLoader =
    Box<dyn Fn(Settings) -> futures::future::BoxFuture<'static, anyhow::Result<(Pat, PatSource)>> + Send + Sync>;

pub struct Engine<T: Transport> {
    pub settings: Settings,
    pub args: CommonArgs,
    pub miner_hotkey: String,
    pub transport: T,
    pub github: GitHub,
    pub health: Health,
    pub state_file: StateFile,
    pub state: State,
    pub pat: Pat,
    pub pat_source: PatSource,
    pub load_pat: PatLoader,
    next_chain_ms: u64,
    next_liveness_ms: u64,
    next_pat_check_ms: u64,
    next_expiry_warning_ms: u64,
    /// When the current sweep's spread ends, so its summary is logged once after it.
    sweep_ends_ms: Option<u64>,
    cron: Option<mpsc::Receiver<()>>,
    save_failing: bool,
    /// What the state file holds now, to skip writes that would change nothing.
    last_saved: Option<State>,
}

enum Wake {
    Work,
    Reload,
    Stop(&'static str),
}

impl<T: Transport> Engine<T> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Settings,
        args: CommonArgs,
        miner_hotkey: String,
        transport: T,
        github: GitHub,
        state_file: StateFile,
        state: State,
        pat: (Pat, PatSource),
        load_pat: PatLoader,
    ) -> Self {
        Engine {
            settings,
            args,
            miner_hotkey,
            transport,
            github,
            health: Health::from_env(),
            state_file,
            state,
            pat: pat.0,
            pat_source: pat.1,
            load_pat,
            next_chain_ms: 0,
            next_liveness_ms: 0,
            next_pat_check_ms: 0,
            next_expiry_warning_ms: 0,
            sweep_ends_ms: None,
            cron: None,
            save_failing: false,
            last_saved: None,
        }
    }

    fn schedule(&self) -> Schedule {
        let d = &self.settings.daemon;
        let mut backoff = self.settings.retry;
        // A retry never waits longer than a sweep would.
        backoff.cap = backoff.cap.min(d.sweep_interval);
        Schedule { backoff, sweep_interval_ms: d.sweep_interval.as_millis() as u64 }
    }

    /// Runs until SIGTERM/SIGINT. Errors here are start-up errors; once running, every
    /// failure is logged and retried.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;

        self.adopt_pat(now_ms());
        self.validate_pat(now_ms()).await;
        // The first validator set, before READY: retried with backoff, never a crash.
        let mut attempt = 0;
        loop {
            let first = tokio::select! {
                _ = term.recv() => return self.stop("SIGTERM"),
                _ = int.recv() => return self.stop("SIGINT"),
                ok = self.refresh_validators(now_ms()) => ok,
            };
            if first {
                break;
            }
            let delay = self.settings.retry.delay_random(attempt);
            attempt += 1;
            self.health.status(&format!(
                "waiting for the validator list (retry in {:.0} s; see the journal)",
                delay.as_secs_f64()
            ));
            self.health.progress();
            tokio::select! {
                _ = term.recv() => return self.stop("SIGTERM"),
                _ = int.recv() => return self.stop("SIGINT"),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.start_cron().await;
        let now = now_ms();
        if self.state.next_sweep_ms.is_none_or(|at| at <= now) {
            self.start_sweep(now);
        }
        self.save();
        self.health.ready(&self.status_line(now_ms()));
        tracing::info!(
            validators = self.state.tracker.validators.len(), pat = %self.pat.masked(), pat_source = %self.pat_source,
            state = %self.state_file.path().display(), "agent running"
        );

        loop {
            let wake = self.next_wake(now_ms());
            let woke = tokio::select! {
                _ = term.recv() => Wake::Stop("SIGTERM"),
                _ = int.recv() => Wake::Stop("SIGINT"),
                _ = hup.recv() => Wake::Reload,
                Some(()) = recv_cron(&mut self.cron) => { self.start_sweep(now_ms()); Wake::Work }
                _ = tokio::time::sleep(wake) => Wake::Work,
            };
            match woke {
                Wake::Stop(why) => return self.stop(why),
                Wake::Reload => self.reload().await,
                Wake::Work => {}
            }
            // The work itself is cancelled by a stop signal: in-flight requests are dropped.
            tokio::select! {
                _ = term.recv() => return self.stop("SIGTERM"),
                _ = int.recv() => return self.stop("SIGINT"),
                _ = self.tick(now_ms()) => {}
            }
            self.save();
            self.health.status(&self.status_line(now_ms()));
            self.health.progress();
        }
    }

    fn stop(&mut self, why: &str) -> anyhow::Result<()> {
        self.health.stopping();
        self.save();
        tracing::info!(signal = why, "stopping");
        Ok(())
    }

    async fn start_cron(&mut self) {
        let Some(expression) = self.settings.daemon.sweep_cron.clone() else { return };
        let (tx, rx) = mpsc::channel(1);
        let job = tokio_cron_scheduler::Job::new_async(expression.as_str(), move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.try_send(());
            })
        });
        let started = async {
            let scheduler = tokio_cron_scheduler::JobScheduler::new().await?;
            scheduler.add(job?).await?;
            scheduler.start().await?;
            Ok::<_, tokio_cron_scheduler::JobSchedulerError>(scheduler)
        };
        match started.await {
            Ok(scheduler) => {
                // The scheduler runs for the life of the process.
                std::mem::forget(scheduler);
                self.cron = Some(rx);
                self.state.next_sweep_ms = None;
            }
            Err(e) => {
                tracing::error!(cron = %expression, error = %e, "cannot schedule sweeps with this cron expression; using sweep_interval_secs")
            }
        }
    }

    fn next_wake(&self, now: u64) -> Duration {
        let tracker = &self.state.tracker;
        let mut at = [self.next_chain_ms, self.next_liveness_ms, self.next_pat_check_ms]
            .into_iter()
            .chain(self.state.next_sweep_ms)
            .chain(self.sweep_ends_ms)
            .chain(
                tracker
                    .validators
                    .values()
                    .filter(|e| !(e.owes_broadcast && tracker.pat_rejected))
                    .map(|e| e.next_check_ms),
            )
            .min()
            .unwrap_or(now + 60_000);
        if let Some(interval) = self.health.watchdog_interval() {
            at = at.min(now + interval.as_millis() as u64);
        }
        // Never spin: at least 50 ms between passes.
        Duration::from_millis(at.saturating_sub(now).max(50))
    }

    fn start_sweep(&mut self, now: u64) {
        let d = &self.settings.daemon;
        self.state.tracker.schedule_sweep(now, d.sweep_spread.as_millis() as u64);
        self.state.last_sweep_ms = Some(now);
        self.sweep_ends_ms = Some(now + d.sweep_spread.as_millis() as u64);
        // The chain is re-read at the start of every sweep.
        self.next_chain_ms = self.next_chain_ms.min(now);
        if self.cron.is_none() {
            let jitter = d.sweep_jitter.mul_f64(rand::random::<f64>());
            self.state.next_sweep_ms = Some(now + (d.sweep_interval + jitter).as_millis() as u64);
        }
    }

    async fn tick(&mut self, now: u64) {
        if self.state.next_sweep_ms.is_some_and(|at| at <= now) {
            self.start_sweep(now);
        }
        if self.next_chain_ms <= now {
            self.refresh_validators(now).await;
        }
        if self.next_pat_check_ms <= now {
            self.validate_pat(now).await;
        }
        if self.next_liveness_ms <= now {
            self.liveness_round(now).await;
        }
        self.run_due(now_ms()).await;
        if self.sweep_ends_ms.is_some_and(|end| end <= now_ms()) && self.state.tracker.due_checks(now_ms()).is_empty() {
            self.sweep_ends_ms = None;
            self.log_sweep_summary();
        }
    }

    /// `true` when a validator set was loaded.
    async fn refresh_validators(&mut self, now: u64) -> bool {
        self.next_chain_ms = now + self.settings.daemon.chain_refresh.as_millis() as u64;
        match validators::discover(&self.settings, &self.miner_hotkey).await {
            Ok(set) => {
                let changes = self.state.tracker.sync_targets(&set.eligible, now);
                self.log_changes(&changes);
                if !set.skipped.is_empty() {
                    tracing::debug!(skipped = set.skipped.len(), "high-vtrust uids skipped (no axon or low stake)");
                }
                self.state.source = Some(set.source);
                true
            }
            Err(e) => {
                let first = self.state.tracker.validators.is_empty();
                tracing::warn!(error = %e, "cannot refresh the validator set{}", if first { "" } else { "; keeping the last one" });
                // Retry sooner than the regular refresh.
                self.next_chain_ms = now + self.settings.retry.delay_random(2).as_millis() as u64;
                false
            }
        }
    }

    /// Records a PAT as the current one; a different PAT than last time is owed to everyone.
    fn adopt_pat(&mut self, now: u64) {
        match &self.state.pat {
            Some(record) if record.matches(&self.pat) => {}
            Some(_) => {
                tracing::info!(pat = %self.pat.masked(), "the PAT changed: it will be sent to every validator");
                self.state.tracker.pat_changed(now);
                self.state.pat = Some(PatRecord::new(&self.pat));
                self.next_pat_check_ms = 0;
            }
            None => self.state.pat = Some(PatRecord::new(&self.pat)),
        }
    }

    async fn validate_pat(&mut self, now: u64) {
        self.next_pat_check_ms = now + self.settings.daemon.pat_check_interval.as_millis() as u64;
        let verdict = self.github.validate(&self.pat).await;
        let Some(record) = self.state.pat.as_mut() else { return };
        record.validated_ms = Some(now);
        match verdict {
            PatVerdict::Valid { login, expires, .. } => {
                if record.verdict != "valid" {
                    tracing::info!(github_login = %login, pat = %self.pat.masked(), "GitHub accepts the PAT");
                }
                record.verdict = "valid".into();
                record.reason = None;
                record.github_login = Some(login);
                record.expires = expires;
                self.state.tracker.set_pat_rejected(false);
                self.warn_if_expiring(now);
            }
            PatVerdict::Rejected { reason } => {
                tracing::error!(pat = %self.pat.masked(), reason = %reason, "GitHub REJECTS the PAT: broadcasting stopped until a new PAT is stored (`sudo gittensor-miner-agent pat set`, then `systemctl reload gittensor-miner-agent`)");
                record.verdict = "rejected".into();
                record.reason = Some(reason);
                self.state.tracker.set_pat_rejected(true);
            }
            PatVerdict::Unavailable { reason, retry_after_secs } => {
                tracing::warn!(reason = %reason, "cannot validate the PAT with GitHub now; will retry");
                record.verdict = "unavailable".into();
                record.reason = Some(reason);
                // GitHub's rate-limit reset is respected: the PAT's quota is also scoring's.
                let retry = self.settings.retry.cap.as_millis() as u64;
                let told = retry_after_secs.unwrap_or(0) * 1000;
                self.next_pat_check_ms = now + retry.max(told);
            }
        }
    }

    fn days_to_expiry(&self, now: u64) -> Option<i64> {
        let expires = self.state.pat.as_ref()?.expires.as_deref()?;
        let at = parse_github_time(expires)?;
        Some((at - now as i64).div_euclid(DAY_MS as i64))
    }

    fn warn_if_expiring(&mut self, now: u64) {
        if now < self.next_expiry_warning_ms {
            return;
        }
        if let Some(days) = self.days_to_expiry(now) {
            if days <= i64::from(self.settings.daemon.expiry_warning_days) {
                tracing::warn!(days, pat = %self.pat.masked(), "the PAT expires soon: create a new one and store it with `sudo gittensor-miner-agent pat set`");
                self.next_expiry_warning_ms = now + DAY_MS;
            }
        }
    }

    async fn liveness_round(&mut self, now: u64) {
        let interval = self.settings.daemon.liveness_interval;
        if interval.is_zero() {
            self.next_liveness_ms = u64::MAX;
            return;
        }
        self.next_liveness_ms = now + interval.as_millis() as u64;
        let targets: Vec<Target> = self.state.tracker.validators.values().map(|e| e.target.clone()).collect();
        let timeout = self.settings.check_timeout.min(Duration::from_secs(5));
        let transport = &self.transport;
        let results: Vec<_> = stream::iter(&targets)
            .map(|t| async move { (t.uid, transport.liveness(t, timeout).await) })
            .buffer_unordered(self.settings.max_concurrency)
            .collect()
            .await;
        for (uid, liveness) in results {
            let changes = self.state.tracker.record_liveness(uid, &liveness, now_ms());
            self.log_changes(&changes);
        }
    }

    async fn run_due(&mut self, now: u64) {
        let schedule = self.schedule();
        let concurrency = self.settings.max_concurrency;
        let mut to_send: Vec<u16> = self.state.tracker.due_broadcasts(now);

        let due = self.state.tracker.due_checks(now);
        if !due.is_empty() {
            let targets = self.targets(&due);
            let answers = probe::check_all(&self.transport, &targets, self.settings.check_timeout, concurrency).await;
            let mut validate = Vec::new();
            for (target, answer) in targets.iter().zip(answers) {
                let (step, changes) =
                    self.state.tracker.record_check(target.uid, &answer, &schedule, now_ms(), rand::random());
                self.log_changes(&changes);
                match step {
                    Step::Broadcast => to_send.push(target.uid),
                    Step::ValidatePat => validate.push(target.uid),
                    Step::Nothing => {}
                }
            }
            if !validate.is_empty() {
                to_send.extend(self.validate_for(&validate, &schedule).await);
            }
        }

        if !to_send.is_empty() && !self.state.tracker.pat_rejected {
            to_send.sort_unstable();
            to_send.dedup();
            let targets = self.targets(&to_send);
            tracing::info!(validators = targets.len(), pat = %self.pat.masked(), "sending the PAT");
            let answers = probe::broadcast_all(
                &self.transport,
                &targets,
                &self.pat,
                self.settings.broadcast_timeout,
                concurrency,
            )
            .await;
            let mut validate = Vec::new();
            for (target, answer) in targets.iter().zip(answers) {
                let (step, changes) =
                    self.state.tracker.record_broadcast(target.uid, &answer, &schedule, now_ms(), rand::random());
                self.log_changes(&changes);
                if step == Step::ValidatePat {
                    validate.push(target.uid);
                }
            }
            if !validate.is_empty() {
                // A validator rejected the PAT itself: if GitHub accepts it, the next check
                // will tell; nothing is re-sent in the same pass.
                let _ = self.validate_for(&validate, &schedule).await;
            }
        }
    }

    /// Validates our PAT once for several validators that called it invalid; returns the
    /// validators to re-broadcast to.
    async fn validate_for(&mut self, uids: &[u16], schedule: &Schedule) -> Vec<u16> {
        self.validate_pat(now_ms()).await;
        let local = match self.state.pat.as_ref().map(|r| r.verdict.as_str()) {
            Some("valid") => LocalPat::Valid,
            Some("rejected") => LocalPat::Rejected,
            _ => LocalPat::Unknown,
        };
        uids.iter()
            .copied()
            .filter(|&uid| {
                self.state.tracker.local_validation(uid, local, schedule, now_ms(), rand::random()) == Step::Broadcast
            })
            .collect()
    }

    fn targets(&self, uids: &[u16]) -> Vec<Target> {
        uids.iter().filter_map(|uid| self.state.tracker.validators.get(uid).map(|e| e.target.clone())).collect()
    }

    async fn reload(&mut self) {
        self.health.reloading();
        tracing::info!("reloading configuration and PAT (SIGHUP)");
        match config::load(&self.args) {
            Ok(settings) => self.settings = settings,
            Err(e) => tracing::error!(error = %e, "the new configuration is invalid; keeping the previous one"),
        }
        match (self.load_pat)(self.settings.clone()).await {
            Ok((pat, source)) => {
                self.pat = pat;
                self.pat_source = source;
                self.adopt_pat(now_ms());
                self.validate_pat(now_ms()).await;
            }
            Err(e) => tracing::error!(error = %e, "cannot read the PAT; keeping the previous one"),
        }
        self.next_chain_ms = 0;
        self.health.ready(&self.status_line(now_ms()));
    }

    fn save(&mut self) {
        // Most passes change nothing (a liveness probe that found everyone where they were):
        // no write, no fsync then.
        if self
            .last_saved
            .as_ref()
            .is_some_and(|saved| State { updated_ms: self.state.updated_ms, ..saved.clone() } == self.state)
        {
            return;
        }
        self.state.updated_ms = now_ms();
        match self.state_file.save(&self.state) {
            // A full or read-only disk must not stop the agent: state is rebuilt from the
            // validators' answers anyway. Said once, not on every pass.
            Err(e) if !self.save_failing => {
                self.save_failing = true;
                tracing::warn!(path = %self.state_file.path().display(), error = %e, "cannot write the state file; running on without it");
            }
            Err(e) => tracing::debug!(error = %e, "state file still not writable"),
            Ok(()) if self.save_failing => {
                self.save_failing = false;
                tracing::info!(path = %self.state_file.path().display(), "state file written again");
            }
            Ok(()) => {}
        }
        if !self.save_failing {
            self.last_saved = Some(self.state.clone());
        }
    }

    fn log_changes(&self, changes: &[Change]) {
        for change in changes {
            let hotkey =
                |uid: &u16| self.state.tracker.validators.get(uid).map(|e| e.target.hotkey.clone()).unwrap_or_default();
            match change {
                Change::Added { uid } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey(uid), "validator is now eligible")
                }
                Change::Removed { uid } => tracing::info!(validator_uid = uid, "validator is no longer eligible"),
                Change::Moved { uid } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey(uid), "validator's axon moved: checking it now")
                }
                Change::WentAway { uid } => {
                    tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey(uid), "validator stopped answering")
                }
                Change::CameBack { uid } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey(uid), "validator answers again: checking it now")
                }
                Change::Restarted { uid } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey(uid), "validator restarted (new axon uuid): checking it now")
                }
                Change::Coverage { uid, from, to } => {
                    let outcome = coverage_name(*to);
                    let (from, hotkey) = (coverage_name(*from), hotkey(uid));
                    match (from, *to) {
                        ("covered", Coverage::Missing | Coverage::Failing | Coverage::Held) => {
                            tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey, outcome, from, "coverage lost")
                        }
                        _ => {
                            tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, outcome, from, "validator state changed")
                        }
                    }
                }
                Change::Alert { uid, alert } => match alert {
                    Alert::IdentityLocked => {
                        tracing::error!(validator_uid = uid, validator_hotkey = %hotkey(uid), outcome = "identity_locked", "validator has pinned another GitHub account to this hotkey: re-sending cannot fix it; broadcasting to it stopped until the PAT changes")
                    }
                    Alert::ClockSkew => {
                        tracing::error!(validator_uid = uid, validator_hotkey = %hotkey(uid), outcome = "clock_skew", "validator refuses our requests as too old: this machine's clock is off; enable NTP")
                    }
                    Alert::Refused => {
                        tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey(uid), outcome = "refused", "validator refused our signed request")
                    }
                    Alert::PatRejected => {
                        tracing::error!(validator_uid = uid, validator_hotkey = %hotkey(uid), outcome = "pat_rejected", "GitHub rejects the PAT")
                    }
                },
            }
        }
    }

    fn log_sweep_summary(&self) {
        let s = self.state.tracker.summary();
        if s.eligible > 0 && s.unreachable == s.eligible {
            tracing::error!(eligible = s.eligible, "no validator is reachable: check this machine's network");
        }
        tracing::info!(
            covered = s.covered,
            eligible = s.eligible,
            pending_broadcast = s.pending_broadcast,
            failing = s.failing,
            unreachable = s.unreachable,
            held = s.held,
            "sweep: {}",
            self.status_line(now_ms())
        );
    }

    /// The one line `systemctl status` shows.
    pub fn status_line(&self, now: u64) -> String {
        let s = self.state.tracker.summary();
        let mut parts = vec![format!("covered {}/{} validators", s.covered, s.eligible)];
        if s.pending_broadcast > 0 {
            parts.push(format!("{} re-broadcast pending", s.pending_broadcast));
        }
        if s.failing > 0 {
            parts.push(format!("{} not answering", s.failing));
        }
        if s.unreachable > 0 {
            parts.push(format!("{} unreachable", s.unreachable));
        }
        if s.held > 0 {
            parts.push(format!("{} held (identity locked)", s.held));
        }
        if self.state.tracker.pat_rejected {
            parts.push("PAT REJECTED by GitHub".into());
        } else if let Some(days) = self.days_to_expiry(now) {
            parts.push(format!("PAT expires in {days} d"));
        }
        match self.state.next_sweep_ms {
            Some(at) => parts.push(format!("next sweep {}", clock_utc(at))),
            None if self.cron.is_some() => parts.push("sweeps by cron".into()),
            None => {}
        }
        parts.join(" · ")
    }
}

async fn recv_cron(cron: &mut Option<mpsc::Receiver<()>>) -> Option<()> {
    match cron {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

pub fn coverage_name(c: Coverage) -> &'static str {
    match c {
        Coverage::Unknown => "unknown",
        Coverage::Covered => "covered",
        Coverage::Unconfirmed => "unconfirmed",
        Coverage::Missing => "missing",
        Coverage::Failing => "failing",
        Coverage::Held => "held",
    }
}

/// `HH:MM UTC` for a millisecond timestamp.
pub fn clock_utc(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(ms as i64).map(|t| t.strftime("%H:%M UTC").to_string()).unwrap_or_default()
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
}

//! The daemon shell around the reconcile core (`run`): timers (sweeps, chain refresh,
//! liveness, PAT checks), reloads, health reports to systemd and the state file. It owns
//! every timer and no network step: the chain read and reloads run as futures of their
//! own, the validators' steps in the core, and the loop only waits for whichever finishes
//! first — so it always answers a stop at once and pings the watchdog on time.

pub mod alerts;
pub mod health;
pub mod metrics;
pub mod metrics_http;
pub mod shutdown;
pub mod state;
pub mod status_line;

use crate::untrusted::Shown;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::clock::{self, Clock};
use crate::github::{PatStanding, PatValidator, PatVerdict};
use crate::reconcile::core::{Core, Happening, Knobs};
use crate::reconcile::pipeline::Outcome;
use crate::reconcile::policy::Alert;
use crate::reconcile::tracker::{Change, Coverage};
use crate::secrets::{Pat, PatSource};
use crate::settings::Settings;
use crate::transport::Transport;
use crate::validators::{DiscoverError, ValidatorSet};
use health::Health;
use shutdown::Shutdown;
use state::{AgentProcess, PatRecord, State, StateFile, HEARTBEAT};
use status_line::StatusView;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// A step this far past its own deadline means the process is stuck: no watchdog ping.
const OVERDUE_GRACE: Duration = Duration::from_secs(5);
/// At most one STATUS= a second.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// At most one state-file write (with its fsyncs) every so often: the file is a cache of
/// what validators said, rebuilt from their answers anyway. A broadcast is the exception:
/// it is written down before it leaves, so an agent killed meanwhile does not send twice.
const SAVE_EVERY: Duration = Duration::from_secs(10);
/// Re-reading the configuration and the PAT (keyring, credential files) takes no longer.
const RELOAD_DEADLINE: Duration = Duration::from_secs(30);

/// What a reload read: each part may fail on its own.
pub struct Reloaded {
    pub settings: Result<Settings, String>,
    pub pat: Result<(Pat, PatSource), String>,
}

/// What the shell needs from outside besides validators and GitHub: the validator set
/// (the chain) and the configuration and PAT for reloads. The simulation stands in here.
pub trait World: Send + Sync + 'static {
    fn discover(&self, settings: &Settings) -> BoxFuture<'static, Result<ValidatorSet, DiscoverError>>;
    /// Re-reads configuration and PAT (SIGHUP). `current` is used where the new
    /// configuration cannot be read.
    fn reload(&self, current: &Settings) -> BoxFuture<'static, Reloaded>;
    /// Tells the operator: runs the alert hook (the simulation counts the pages instead).
    fn page(&self, command: &std::path::Path, agent: &str, event: alerts::AlertEvent) -> BoxFuture<'static, ()> {
        alerts::run_hook(command.to_owned(), agent.to_owned(), event).boxed()
    }
}

/// Everything [`Daemon::new`] needs.
pub struct Parts<T, G, W> {
    pub settings: Settings,
    pub transport: Arc<T>,
    pub github: Arc<G>,
    pub world: Arc<W>,
    pub health: Health,
    pub state_file: StateFile,
    pub state: State,
    pub pat: Pat,
    pub pat_source: PatSource,
    pub clock: Clock,
    /// Seeds the jitter (fixed in the simulation, random in production).
    pub seed: u64,
}

enum Event {
    Stop(&'static str),
    Reload,
    Step(Outcome),
    Chain(Result<ValidatorSet, String>),
    Reloaded(Box<Reloaded>),
    CronSweep,
    Timer,
}

struct ChainRead {
    in_flight: Option<(BoxFuture<'static, Result<ValidatorSet, String>>, Instant)>,
    failures: u32,
    last_error: Option<String>,
    next_ms: u64,
}

pub struct Daemon<T, G, W> {
    core: Core<T, G>,
    world: Arc<W>,
    settings: Settings,
    health: Health,
    state_file: StateFile,
    pat_record: PatRecord,
    pat_source: PatSource,
    last_sweep_ms: Option<u64>,
    next_sweep_ms: Option<u64>,
    source: Option<String>,
    chain: ChainRead,
    reload: Option<(BoxFuture<'static, Reloaded>, Instant)>,
    reload_error: Option<String>,
    /// A SIGHUP came while a reload ran.
    reload_again: bool,
    cron: Option<Cron>,
    next_liveness_ms: u64,
    next_pat_check_ms: u64,
    next_expiry_warning_ms: u64,
    next_watchdog: Option<Instant>,
    /// When the current sweep's checks should all have answered: its summary is logged then.
    summary_due_ms: Option<u64>,
    saved: Option<State>,
    last_save: Option<Instant>,
    /// Who writes the state file: this process, since when, and (once stopping) until when.
    agent: AgentProcess,
    counters: metrics::Counters,
    /// The latest exposition, for the listener; `None` without one.
    metrics_text: Option<tokio::sync::watch::Sender<String>>,
    metrics_listener: Option<metrics_http::MetricsListener>,
    metrics_file_failing: bool,
    alerting: alerts::Alerting,
    /// Hooks still running: a hook that hangs must not pile up copies of itself.
    hooks: Vec<tokio::task::JoinHandle<()>>,
    /// A flush left a possible change to the save cadence.
    save_pending: bool,
    /// Something `status` shows changed since the last flush.
    changed: bool,
    /// Something happened since the state file and the status line were last brought up to date.
    unflushed: bool,
    last_flush: Option<Instant>,
    save_failing: bool,
    stuck_reported: bool,
}

struct Cron {
    ticks: mpsc::Receiver<()>,
    /// Kept for the life of the daemon: dropping it would stop the schedule.
    _scheduler: tokio_cron_scheduler::JobScheduler,
}

impl<T: Transport + 'static, G: PatValidator, W: World> Daemon<T, G, W> {
    pub fn new(parts: Parts<T, G, W>) -> Self {
        let mut state = parts.state;
        let now = parts.clock.now_ms();
        let sweep = parts.settings.daemon.sweep_interval + parts.settings.daemon.sweep_jitter;
        state.tracker.resumed(now, sweep.as_millis() as u64);
        // A validator may have restarted without its store while this agent was away, and
        // this process's probes cannot tell (its dendrite is new to every axon): each is
        // asked again within a liveness interval of the start (at most the sweep spread).
        let daemon = &parts.settings.daemon;
        let catch_up = match daemon.liveness_interval {
            interval if interval.is_zero() => daemon.sweep_spread,
            interval => interval.min(daemon.sweep_spread),
        };
        state.tracker.schedule_sweep(now, catch_up.as_millis() as u64);
        // A date written by a clock that was ahead must not stop the sweeps.
        state.next_sweep_ms = state.next_sweep_ms.map(|at| at.min(now + sweep.as_millis() as u64));
        let pat_record = state.pat.clone().unwrap_or_else(|| PatRecord::new(&parts.pat));
        let core = Core::new(
            state.tracker,
            parts.transport,
            parts.github,
            parts.pat,
            Knobs::new(&parts.settings),
            parts.clock,
            parts.seed,
        );
        Daemon {
            core,
            world: parts.world,
            settings: parts.settings,
            health: parts.health,
            state_file: parts.state_file,
            pat_record,
            pat_source: parts.pat_source,
            last_sweep_ms: state.last_sweep_ms,
            next_sweep_ms: state.next_sweep_ms,
            source: state.source,
            chain: ChainRead { in_flight: None, failures: 0, last_error: None, next_ms: 0 },
            reload: None,
            reload_error: None,
            reload_again: false,
            cron: None,
            next_liveness_ms: 0,
            next_pat_check_ms: u64::MAX,
            next_expiry_warning_ms: 0,
            next_watchdog: None,
            summary_due_ms: None,
            saved: None,
            last_save: None,
            agent: AgentProcess::this(parts.clock.wall_ms()),
            counters: metrics::Counters::default(),
            metrics_text: None,
            metrics_listener: None,
            metrics_file_failing: false,
            alerting: state.alerts,
            hooks: Vec::new(),
            save_pending: false,
            changed: false,
            unflushed: false,
            last_flush: None,
            save_failing: false,
            stuck_reported: false,
        }
    }

    fn now(&self) -> u64 {
        self.core.clock().now_ms()
    }

    /// Runs until `shutdown`. Once running, every failure is logged and retried; nothing
    /// a peer says ends it.
    pub async fn run(mut self, mut shutdown: Shutdown, mut reloads: mpsc::Receiver<()>) -> anyhow::Result<()> {
        if let Err(why) = self.start(&mut shutdown).await {
            return self.stop(why);
        }
        loop {
            let started = self.core.start_due();
            let sending = started.iter().any(|h| matches!(h, Happening::Sending { .. }));
            self.report(started);
            if sending {
                self.save(true);
            }
            let wake = self.next_wake();
            let event = tokio::select! {
                biased;
                why = shutdown.requested() => Event::Stop(why),
                Some(()) = reloads.recv() => Event::Reload,
                outcome = self.core.next_outcome() => Event::Step(outcome),
                result = finish(&mut self.chain.in_flight) => Event::Chain(result),
                reloaded = finish(&mut self.reload) => Event::Reloaded(Box::new(reloaded)),
                Some(()) = next_tick(&mut self.cron) => Event::CronSweep,
                _ = tokio::time::sleep_until(wake) => Event::Timer,
            };
            match event {
                Event::Stop(why) => return self.stop(why),
                Event::Reload => self.begin_reload(),
                Event::Step(outcome) => {
                    let happenings = self.core.apply(outcome);
                    self.report(happenings);
                }
                Event::Chain(result) => self.chain_read(result),
                Event::Reloaded(reloaded) => self.finish_reload(*reloaded),
                Event::CronSweep => self.start_sweep(self.now()),
                Event::Timer => {}
            }
            self.fire_timers();
            self.log_sweep_summary_when_done();
            self.unflushed = true;
            self.flush(false);
        }
    }

    /// Start-up: the PAT adopted and sent to GitHub for a verdict, the cron schedule,
    /// READY. The first validator set is read by the loop, like every later one.
    async fn start(&mut self, shutdown: &mut Shutdown) -> Result<(), &'static str> {
        let now = self.now();
        if !self.pat_record.matches(self.core.pat()) {
            tracing::info!(pat = %self.core.pat().masked(), "the PAT changed since the last run: it will be sent to every validator");
            self.pat_record = PatRecord::new(self.core.pat());
            let pat = self.core.pat().clone();
            self.core.pat_changed(pat);
        } else {
            self.core.validate_pat();
        }
        if let Some(expression) = self.settings.daemon.sweep_cron.clone() {
            match shutdown.race(start_cron(&expression)).await? {
                Ok(cron) => {
                    self.cron = Some(cron);
                    self.next_sweep_ms = None;
                }
                Err(e) => {
                    tracing::error!(cron = %expression, error = %e, "cannot schedule sweeps with the cron expression {expression:?} ({e}); sweeping every daemon.sweep_interval_secs instead")
                }
            }
        }
        if self.cron.is_none() && self.next_sweep_ms.is_none_or(|at| at <= now) {
            self.start_sweep(now);
        }
        self.next_watchdog = self.health.watchdog_interval().map(|_| Instant::now());
        if let Some(addr) = self.settings.metrics.listen {
            let (tx, rx) = tokio::sync::watch::channel(String::new());
            match metrics_http::serve(addr, rx).await {
                Ok(listener) => {
                    tracing::info!(address = %listener.addr, "metrics at http://{}/metrics", listener.addr);
                    self.metrics_text = Some(tx);
                    self.metrics_listener = Some(listener);
                }
                // Metrics are for watching the agent; they must not stop it.
                Err(e) => {
                    tracing::error!(address = %addr, error = %e, "cannot listen for metrics on {addr} ({e}): change metrics.listen; running without the listener")
                }
            }
        }
        self.publish_metrics();
        self.save(true);
        let line = self.status_line();
        self.health.ready(&line);
        tracing::info!(
            validators = self.core.tracker.validators.len(), pat = %self.core.pat().masked(), pat_source = %self.pat_source,
            state = %self.state_file.path().display(), "agent running"
        );
        Ok(())
    }

    fn stop(mut self, why: &str) -> anyhow::Result<()> {
        self.health.stopping();
        self.core.cancel_all();
        self.agent.stopped_ms = Some(self.core.clock().wall_ms());
        self.save(true);
        tracing::info!(signal = why, "stopping ({why})");
        Ok(())
    }

    fn next_wake(&self) -> Instant {
        let clock = self.core.clock();
        let liveness = (!self.settings.daemon.liveness_interval.is_zero()).then_some(self.next_liveness_ms);
        let chain = self.chain.in_flight.is_none().then_some(self.chain.next_ms);
        // Once due, the summary waits for answers, which wake the loop anyway.
        let summary = self.summary_due_ms.filter(|&at| at > self.now());
        [Some(self.next_pat_check_ms), self.next_sweep_ms, summary, liveness, chain]
            .into_iter()
            .flatten()
            .map(|ms| clock.instant_at(ms))
            .chain(self.core.next_due())
            .chain(self.next_watchdog)
            .chain(self.pending_flush_at())
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        if self.next_sweep_ms.is_some_and(|at| at <= now) {
            self.start_sweep(now);
        }
        if self.chain.in_flight.is_none() && self.chain.next_ms <= now {
            self.begin_chain_read();
        }
        let liveness = self.settings.daemon.liveness_interval;
        if !liveness.is_zero() && self.next_liveness_ms <= now {
            self.core.probe_liveness();
            self.next_liveness_ms = now + liveness.as_millis() as u64;
        }
        if self.next_pat_check_ms <= now {
            self.core.validate_pat();
            self.next_pat_check_ms = u64::MAX; // set again by the verdict
        }
        if let (Some(at), Some(interval)) = (self.next_watchdog, self.health.watchdog_interval()) {
            if at <= Instant::now() {
                self.watchdog();
                self.next_watchdog = Some(Instant::now() + interval);
            }
        }
    }

    /// The loop is running (it got here); it pings unless a step is far past its own
    /// deadline, which means something inside is stuck and a restart is the cure.
    fn watchdog(&mut self) {
        let now = Instant::now();
        let op_overdue = |deadline: Option<Instant>| deadline.is_some_and(|d| d + OVERDUE_GRACE < now);
        let overdue = self.core.overdue(OVERDUE_GRACE)
            + usize::from(op_overdue(self.chain.in_flight.as_ref().map(|(_, d)| *d)))
            + usize::from(op_overdue(self.reload.as_ref().map(|(_, d)| *d)));
        if overdue == 0 {
            self.health.watchdog();
            self.stuck_reported = false;
        } else if !self.stuck_reported {
            self.stuck_reported = true;
            tracing::error!(overdue, "{overdue} request(s) are past their deadline: the agent is stuck; no watchdog ping, so systemd restarts it");
        }
    }

    fn start_sweep(&mut self, now: u64) {
        if self.summary_due_ms.is_some() {
            self.log_sweep_summary();
        }
        self.counters.sweeps += 1;
        let d = &self.settings.daemon;
        let spread = d.sweep_spread.as_millis() as u64;
        self.core.tracker.schedule_sweep(now, spread);
        self.last_sweep_ms = Some(now);
        self.summary_due_ms = Some(now + spread + self.settings.check_timeout.as_millis() as u64);
        // The chain is re-read at the start of every sweep.
        self.chain.next_ms = self.chain.next_ms.min(now);
        if self.cron.is_none() {
            let jitter = d.sweep_jitter.mul_f64(self.core.unit());
            self.next_sweep_ms = Some(now + (d.sweep_interval + jitter).as_millis() as u64);
        }
    }

    fn begin_chain_read(&mut self) {
        let deadline = chain_deadline(&self.settings);
        let read = self.world.discover(&self.settings);
        let bounded = async move {
            match tokio::time::timeout(deadline, read).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("the chain did not answer within {} s", deadline.as_secs())),
            }
        };
        self.chain.in_flight = Some((bounded.boxed(), Instant::now() + deadline));
    }

    fn chain_read(&mut self, result: Result<ValidatorSet, String>) {
        let now = self.now();
        match result {
            Ok(set) => {
                self.counters.chain_last_read_ms = Some(now);
                if self.chain.failures > 0 {
                    tracing::info!(source = %set.source, "the validator set can be read again ({})", set.source);
                }
                let changes = self.core.sync_targets(&set.eligible);
                self.changed |= !changes.is_empty();
                self.log_changes(&changes);
                // A new validator's axon uuid is learned at once, so its next restart shows.
                let new = changes.iter().any(|c| matches!(c, Change::Added { .. } | Change::Moved { .. }));
                if new && !self.settings.daemon.liveness_interval.is_zero() {
                    self.core.probe_liveness();
                }
                if !set.skipped.is_empty() {
                    tracing::debug!(skipped = set.skipped.len(), "high-vtrust uids skipped (no axon or low stake)");
                }
                self.source = Some(set.source);
                self.chain = ChainRead {
                    in_flight: None,
                    failures: 0,
                    last_error: None,
                    next_ms: now + self.settings.daemon.chain_refresh.as_millis() as u64,
                };
            }
            Err(error) => {
                let delay = self
                    .settings
                    .retry
                    .delay(self.chain.failures.saturating_add(2), self.core.unit())
                    .min(self.settings.daemon.chain_refresh);
                self.chain.failures += 1;
                self.counters.chain_read_failures += 1;
                let keeping = if self.core.tracker.validators.is_empty() { "" } else { "; keeping the last one" };
                if self.chain.last_error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(error = %error, attempt = self.chain.failures, "cannot read the validator set: {error}{keeping}; retrying in {:.0} s", delay.as_secs_f64());
                } else {
                    tracing::debug!(error = %error, attempt = self.chain.failures, "still cannot read the validator set");
                }
                self.chain.last_error = Some(error);
                self.chain.next_ms = now + delay.as_millis() as u64;
            }
        }
    }

    fn begin_reload(&mut self) {
        if self.reload.is_some() {
            // One at a time; the files may have changed since this one read them.
            self.reload_again = true;
            return;
        }
        self.health.reloading();
        tracing::info!("reloading configuration and PAT (SIGHUP)");
        let read = self.world.reload(&self.settings);
        let current = self.settings.clone();
        let bounded = async move {
            tokio::time::timeout(RELOAD_DEADLINE, read).await.unwrap_or_else(|_| Reloaded {
                settings: Ok(current),
                pat: Err(format!("reading the PAT took longer than {} s", RELOAD_DEADLINE.as_secs())),
            })
        };
        self.reload = Some((bounded.boxed(), Instant::now() + RELOAD_DEADLINE));
    }

    fn finish_reload(&mut self, reloaded: Reloaded) {
        match reloaded.settings {
            Ok(settings) => {
                self.core.set_knobs(Knobs::new(&settings));
                self.settings = settings;
                self.reload_error = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "the new configuration is invalid; keeping the previous one: {e}");
                self.reload_error = Some(e);
            }
        }
        match reloaded.pat {
            Ok((pat, source)) => {
                self.pat_source = source;
                if !self.pat_record.matches(&pat) {
                    tracing::info!(pat = %pat.masked(), "the PAT changed: it will be sent to every validator");
                    self.pat_record = PatRecord::new(&pat);
                    self.core.pat_changed(pat);
                } else {
                    if matches!(self.pat_source, PatSource::Credential { .. }) {
                        // Said on every reload: a rotation by reload alone silently did nothing.
                        tracing::info!(pat = %pat.masked(), "reloaded with the same PAT {}: under systemd the PAT is a credential, handed over only at start; {} stores a new one and restarts the service", pat.masked(), self.how_to_store_a_new_pat());
                    }
                    self.core.validate_pat();
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the PAT; keeping the previous one: {e}"),
        }
        self.chain.next_ms = 0;
        let line = self.status_line();
        self.health.ready(&line);
        if std::mem::take(&mut self.reload_again) {
            self.begin_reload();
        }
    }

    fn report(&mut self, happenings: Vec<Happening>) {
        for happening in happenings {
            match happening {
                Happening::Sending { target } => tracing::info!(
                    validator_uid = target.uid, validator_hotkey = %target.hotkey, pat = %self.core.pat().masked(),
                    "sending the PAT {} to {}", self.core.pat().masked(), self.who(target.uid)
                ),
                Happening::Checked { target, answer } => {
                    self.counters.checked(target.uid, &target.hotkey, answer.status, self.now());
                    tracing::debug!(
                    validator_uid = target.uid, outcome = ?answer.status, reason = %Shown(answer.rejection_reason.as_deref().unwrap_or("")),
                    "validator {} answered the check: {}", target.uid, answer.status.label()
                    )
                }
                Happening::Broadcast { target, answer } => {
                    self.counters.broadcast(target.uid, &target.hotkey, answer.status, self.now());
                    tracing::info!(
                    validator_uid = target.uid, outcome = ?answer.status, reason = %Shown(answer.rejection_reason.as_deref().unwrap_or("")),
                    "{} answered the PAT: {}{}", self.who(target.uid), answer.status.label(),
                    answer.rejection_reason.as_deref().map(|r| format!(" ({})", Shown(r))).unwrap_or_default()
                    )
                }
                Happening::Probed { target, liveness } => {
                    tracing::trace!(validator_uid = target.uid, ?liveness, "validator {} probed", target.uid)
                }
                Happening::Change(change) => {
                    self.changed = true;
                    self.log_changes(&[change]);
                }
                Happening::Verdict(verdict) => {
                    self.changed = true;
                    self.verdict(verdict);
                }
            }
        }
    }

    fn verdict(&mut self, verdict: PatVerdict) {
        let now = self.now();
        let was = self.pat_record.verdict;
        self.pat_record.verdict = verdict.standing();
        self.pat_record.validated_ms = Some(now);
        let interval = self.settings.daemon.pat_check_interval.as_millis() as u64;
        match verdict {
            PatVerdict::Valid { login, expires, .. } => {
                if was != PatStanding::Valid {
                    tracing::info!(github_login = %Shown(&login), pat = %self.core.pat().masked(), "GitHub accepts the PAT (account {})", Shown(&login));
                }
                self.pat_record.reason = None;
                self.pat_record.github_login = Some(login);
                self.pat_record.expires = expires;
                self.next_pat_check_ms = now + interval;
                self.warn_if_expiring(now);
            }
            PatVerdict::Rejected { reason } => {
                if was != PatStanding::Rejected {
                    tracing::error!(pat = %self.core.pat().masked(), reason = %Shown(&reason), "GitHub REJECTS the PAT ({}): nothing is checked or sent until a new PAT is stored: {}", Shown(&reason), self.how_to_store_a_new_pat());
                }
                self.pat_record.reason = Some(reason);
                // Its permissions may be fixed on GitHub's side: asked again hourly.
                self.next_pat_check_ms = now + interval.min(HOUR_MS);
            }
            PatVerdict::Unavailable { reason, retry_after_secs } => {
                if was != PatStanding::Unavailable {
                    tracing::warn!(reason = %Shown(&reason), "cannot validate the PAT with GitHub now ({}); will retry", Shown(&reason));
                }
                self.pat_record.reason = Some(reason);
                // GitHub's rate-limit reset is respected: the PAT's quota is also scoring's.
                let retry = self.settings.retry.cap.as_millis() as u64;
                let told = retry_after_secs.unwrap_or(0) * 1000;
                self.next_pat_check_ms = now + retry.max(told);
            }
        }
    }

    fn days_to_expiry(&self, now: u64) -> Option<i64> {
        let at = clock::parse_github_time(self.pat_record.expires.as_deref()?)?;
        Some((at - now as i64).div_euclid(DAY_MS as i64))
    }

    fn warn_if_expiring(&mut self, now: u64) {
        if now < self.next_expiry_warning_ms {
            return;
        }
        if let Some(days) = self.days_to_expiry(now) {
            if days <= i64::from(self.settings.daemon.expiry_warning_days) {
                tracing::warn!(days, pat = %self.core.pat().masked(), "the PAT expires soon (in {days} days): create a new one on GitHub; then {}", self.how_to_store_a_new_pat());
                self.next_expiry_warning_ms = now + DAY_MS;
            }
        }
    }

    /// The next step for a rotation, for where this PAT came from.
    fn how_to_store_a_new_pat(&self) -> String {
        let service = self.settings.service_paths();
        match self.pat_source {
            PatSource::Credential { .. } => format!(
                "`sudo gittensor-miner-agent pat set --systemd{}` (it restarts {} with the new one)",
                service.flag(),
                service.unit()
            ),
            PatSource::Keyring { .. } => {
                "`gittensor-miner-agent pat set` as the user this agent runs as, then reload it (SIGHUP)".into()
            }
            PatSource::Environment => "set the new one in GITTENSOR_MINER_PAT and restart the agent".into(),
        }
    }

    fn snapshot(&self) -> State {
        State {
            version: 0, // set by the file
            tracker: self.core.tracker.clone(),
            pat: Some(self.pat_record.clone()),
            last_sweep_ms: self.last_sweep_ms,
            next_sweep_ms: self.next_sweep_ms,
            source: self.source.clone(),
            updated_ms: 0,
            agent: Some(self.agent.clone()),
            alerts: self.alerting.clone(),
        }
    }

    fn pending_flush_at(&self) -> Option<Instant> {
        let next_flush = self.last_flush.map_or_else(Instant::now, |at| at + FLUSH_EVERY);
        let status = self.unflushed.then_some(next_flush);
        // A change left unwritten by the save cadence is written when the cadence allows.
        let state = self.last_save.filter(|_| self.save_pending).map(|at| (at + SAVE_EVERY).max(next_flush));
        // A running agent rewrites the file at least every heartbeat, changed or not, so
        // that `status` can tell it from a stopped or hung one.
        // Never before the next flush may run: a wake-up it would refuse is a busy loop (and,
        // on a paused clock, one that never ends).
        let heartbeat = self.last_save.map(|at| (at + HEARTBEAT).max(next_flush));
        status.into_iter().chain(state).chain(heartbeat).min()
    }

    /// Brings the state file and the status line up to date, at most once a second unless
    /// `force`: a burst of answers costs one comparison, one write and one STATUS=.
    fn flush(&mut self, force: bool) {
        if !force && (!self.unflushed || self.last_flush.is_some_and(|at| at + FLUSH_EVERY > Instant::now())) {
            return;
        }
        self.unflushed = false;
        self.last_flush = Some(Instant::now());
        // What `status` shows (coverage, the validator set, the PAT's standing) is written
        // at once; answers that only refresh timestamps wait for the cadence.
        let changed = std::mem::take(&mut self.changed);
        // Announced incidents are written down at once: an agent killed right after must
        // neither announce them again nor forget to resolve them.
        let announced = self.raise_alerts();
        self.save(force || changed || announced);
        let line = self.status_line();
        self.health.status(&line);
        self.publish_metrics();
    }

    fn publish_metrics(&mut self) {
        if self.metrics_text.is_none() && self.settings.metrics.textfile.is_none() {
            return;
        }
        let text = metrics::render(&metrics::MetricsView {
            agent: self.settings.agent_name(),
            version: env!("CARGO_PKG_VERSION"),
            wallet: &self.settings.wallet_label,
            netuid: self.settings.netuid,
            tracker: &self.core.tracker,
            counters: &self.counters,
            pat: self.core.tracker.pat,
            pat_expiry_ms: self
                .pat_record
                .expires
                .as_deref()
                .and_then(clock::parse_github_time)
                .and_then(|ms| u64::try_from(ms).ok()),
            incidents: &self.alerting,
            now_ms: self.now(),
        });
        if let Some(path) = self.settings.metrics.textfile.clone() {
            match write_textfile(&path, &text) {
                Err(e) if !self.metrics_file_failing => {
                    self.metrics_file_failing = true;
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file {} ({e}): check metrics.textfile and that the service may write there", path.display());
                }
                Err(_) => {}
                Ok(()) => self.metrics_file_failing = false,
            }
        }
        if let Some(tx) = &self.metrics_text {
            tx.send_replace(text);
        }
    }

    /// Whether anything was announced.
    fn raise_alerts(&mut self) -> bool {
        let Some(settings) = self.settings.alerts.clone() else {
            // The metrics show who lacks the PAT since when, hook or not.
            self.alerting.observe(&self.core.tracker, self.now());
            return false;
        };
        let now = self.now();
        let situation = alerts::Situation {
            tracker: &self.core.tracker,
            pat: self.core.tracker.pat,
            pat_reason: self.pat_record.reason.as_deref(),
            days_to_expiry: self.days_to_expiry(now),
            expiry_warning_days: i64::from(self.settings.daemon.expiry_warning_days),
            now_ms: now,
        };
        let events = self.alerting.events(&settings, &situation);
        let announced = !events.is_empty();
        self.hooks.retain(|hook| !hook.is_finished());
        for event in events {
            tracing::warn!(event = event.event, state = event.state, subject = %event.subject, "alert: {} {} — {}", event.event, event.state, event.message);
            if self.hooks.len() >= 4 {
                tracing::warn!(command = %settings.command.display(), "the alert hook {} is still running 4 times: not started for {} {}", settings.command.display(), event.event, event.state);
                continue;
            }
            let agent = self.settings.agent_name().to_owned();
            self.hooks.push(tokio::spawn(self.world.page(&settings.command, &agent, event)));
        }
        announced
    }

    /// Writes the state when it changed, at most every [`SAVE_EVERY`] unless `now`.
    fn save(&mut self, now: bool) {
        if !now && self.last_save.is_some_and(|at| at + SAVE_EVERY > Instant::now()) {
            self.save_pending = true;
            return;
        }
        self.save_pending = false;
        let snapshot = self.snapshot();
        let heartbeat_due = self.last_save.is_none_or(|at| at + HEARTBEAT <= Instant::now());
        if self.saved.as_ref() == Some(&snapshot) && !heartbeat_due {
            return;
        }
        self.last_save = Some(Instant::now());
        // Compared with other processes' clocks (`status`): the wall clock as it is now.
        let state = State { updated_ms: self.core.clock().wall_ms(), ..snapshot.clone() };
        match self.state_file.save(&state) {
            // A full or read-only disk must not stop the agent: state is rebuilt from the
            // validators' answers anyway. Said once, not on every pass.
            Err(e) if !self.save_failing => {
                self.save_failing = true;
                tracing::warn!(path = %self.state_file.path().display(), error = %e, "cannot write the state file {}: {e}; running on without it", self.state_file.path().display());
            }
            Err(e) => tracing::debug!(error = %e, "state file still not writable"),
            Ok(()) => {
                if self.save_failing {
                    self.save_failing = false;
                    tracing::info!(path = %self.state_file.path().display(), "state file written again");
                }
                self.saved = Some(snapshot);
            }
        }
    }

    fn hotkey_of(&self, uid: u16) -> String {
        self.core.tracker.validators.get(&uid).map(|e| e.target.hotkey.clone()).unwrap_or_default()
    }

    /// "validator 12 (5FHneW46xGXgs5mU...)": the subject of a journal line, in its text.
    fn who(&self, uid: u16) -> String {
        match self.core.tracker.validators.get(&uid) {
            Some(e) => crate::report::validator_subject(uid, &e.target.hotkey),
            None => format!("validator {uid}"),
        }
    }

    /// What the validator said last, for the reason in a journal line.
    fn last_said(&self, uid: u16) -> String {
        let Some(e) = self.core.tracker.validators.get(&uid) else { return String::new() };
        let check = e.last_check.as_ref().map(|c| (c.at_ms, c.status.label(), c.reason.as_deref()));
        let sent = e.last_broadcast.as_ref().map(|b| (b.at_ms, b.status.label(), b.reason.as_deref()));
        match check.into_iter().chain(sent).max_by_key(|(at, ..)| *at) {
            Some((_, label, Some(reason))) => format!(": {label} ({})", Shown(reason)),
            Some((_, label, None)) => format!(": {label}"),
            None => String::new(),
        }
    }

    /// One line per change, the subject and the reason in the text, fields for filtering.
    fn log_changes(&self, changes: &[Change]) {
        for change in changes {
            let uid = match change {
                Change::Added { uid }
                | Change::Removed { uid }
                | Change::Moved { uid }
                | Change::WentAway { uid }
                | Change::CameBack { uid }
                | Change::Restarted { uid }
                | Change::Coverage { uid, .. }
                | Change::Alert { uid, .. }
                | Change::KeepsRefusing { uid } => *uid,
            };
            let (who, hotkey) = (self.who(uid), self.hotkey_of(uid));
            let axon = self.core.tracker.validators.get(&uid).map(|e| e.target.addr().to_string()).unwrap_or_default();
            match change {
                Change::Added { .. } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, axon = %axon, "{who} is now eligible (axon {axon}): checking it")
                }
                Change::Removed { .. } => tracing::info!(validator_uid = uid, "{who} is no longer eligible: forgotten"),
                Change::Moved { .. } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, axon = %axon, "{who}'s axon moved to {axon}: checking it now")
                }
                Change::WentAway { .. } => {
                    tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey, axon = %axon, "{who} stopped answering at {axon}")
                }
                Change::CameBack { .. } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, "{who} answers again: checking it now")
                }
                Change::Restarted { .. } => {
                    tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, "{who} restarted (new axon uuid): checking it now")
                }
                Change::Coverage { from, to, .. } => {
                    let (outcome, from_name, said) = (to.name(), from.name(), self.last_said(uid));
                    match (from, to) {
                        (Coverage::Covered, Coverage::Missing | Coverage::Failing | Coverage::Held) => {
                            tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey, outcome, from = from_name, "coverage lost: {who} is {outcome}{said}")
                        }
                        _ => {
                            tracing::info!(validator_uid = uid, validator_hotkey = %hotkey, outcome, from = from_name, "{who}: {from_name} → {outcome}{said}")
                        }
                    }
                }
                Change::KeepsRefusing { .. } => tracing::warn!(
                    validator_uid = uid, validator_hotkey = %hotkey, outcome = "keeps_refusing",
                    "{who} keeps refusing the PAT ({} broadcasts in a row){}: it is sent the PAT at the slow pace from now on, at most {} times an hour",
                    crate::reconcile::tracker::SLOW_AFTER_REJECTIONS, self.last_said(uid), crate::reconcile::tracker::SENDS_PER_HOUR
                ),
                Change::Alert { alert, .. } => {
                    let outcome = alert.token();
                    if *alert == Alert::Refused {
                        tracing::warn!(validator_uid = uid, validator_hotkey = %hotkey, outcome, "{who} {}{}", alert.advice(), self.last_said(uid));
                    } else {
                        tracing::error!(validator_uid = uid, validator_hotkey = %hotkey, outcome, "{who} {}", alert.advice());
                    }
                }
            }
        }
    }

    fn log_sweep_summary_when_done(&mut self) {
        let Some(due) = self.summary_due_ms else { return };
        let busy = self.core.tracker.validators.values().any(|e| e.busy);
        if self.now() >= due && !busy {
            self.log_sweep_summary();
        }
    }

    fn log_sweep_summary(&mut self) {
        self.summary_due_ms = None;
        if let Some(started) = self.last_sweep_ms {
            self.counters.last_sweep_seconds = Some(self.now().saturating_sub(started) as f64 / 1000.0);
        }
        let s = self.core.tracker.summary();
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
            self.status_line()
        );
    }

    /// The one line `systemctl status` shows.
    fn status_line(&self) -> String {
        let now = self.now();
        let view = StatusView {
            summary: self.core.tracker.summary(),
            pat: self.core.tracker.pat,
            days_to_expiry: self.days_to_expiry(now),
            next_sweep_ms: self.next_sweep_ms,
            cron: self.cron.is_some(),
            chain_error: self.chain.last_error.as_deref(),
            reload_error: self.reload_error.as_deref(),
        };
        view.render()
    }
}

/// How long one chain read may take: per endpoint, a connection and four calls, twice.
pub fn chain_deadline(settings: &Settings) -> Duration {
    let chain = &settings.chain;
    let per_endpoint = chain.connect_timeout + chain.call_timeout * 4;
    per_endpoint * (2 * chain.endpoints.len().max(1) as u32) + Duration::from_secs(5)
}

async fn finish<T>(slot: &mut Option<(BoxFuture<'static, T>, Instant)>) -> T {
    match slot {
        Some((future, _)) => {
            let value = future.await;
            *slot = None;
            value
        }
        None => std::future::pending().await,
    }
}

async fn next_tick(cron: &mut Option<Cron>) -> Option<()> {
    match cron {
        Some(cron) => cron.ticks.recv().await,
        None => std::future::pending().await,
    }
}

async fn start_cron(expression: &str) -> Result<Cron, tokio_cron_scheduler::JobSchedulerError> {
    let (tx, ticks) = mpsc::channel(1);
    let job = tokio_cron_scheduler::Job::new_async(expression, move |_, _| {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.try_send(());
        })
    })?;
    let scheduler = tokio_cron_scheduler::JobScheduler::new().await?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(Cron { ticks, _scheduler: scheduler })
}

/// Atomic replace, readable by node-exporter (0644): it must never see half a file.
fn write_textfile(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    crate::files::write_atomic(path, text.as_bytes(), 0o644)
}

//! The reconcile core that `post` and `run` share: the [`Tracker`] (what is known and what
//! is due) plus the steps in flight. Level-triggered, kube-rs style: due work is handed
//! out up to a concurrency bound, every answer is recorded the moment it arrives, and the
//! next step for that validator starts at once — a slow or silent validator holds up
//! only itself.
//!
//! The core owns no timers and no signals: its caller (`post`'s [`Core::run_until`], or
//! the daemon shell) decides how long to wait and when to stop.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::pipeline::{self, Outcome};
use super::tracker::{Change, Schedule, Step, Tracker, Work};
use crate::clock::Clock;
use crate::github::{PatStanding, PatValidator, PatVerdict};
use crate::secrets::Pat;
use crate::synapse::{BroadcastAnswer, CheckAnswer, REASON_MAX_CHARS};
use crate::transport::{Liveness, Target, Transport};

/// A verdict this young is reused when a validator doubts our PAT, instead of asking
/// GitHub again (every question costs the PAT's rate limit).
const FRESH_VERDICT_MS: u64 = 10 * 60 * 1000;

/// The knobs the core needs, resolved from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    pub schedule: Schedule,
    pub check_timeout: Duration,
    pub broadcast_timeout: Duration,
    pub liveness_timeout: Duration,
    /// Checks, broadcasts and liveness probes in flight at once.
    pub max_concurrency: usize,
}

impl Knobs {
    pub fn new(settings: &crate::settings::Settings) -> Self {
        let mut backoff: Backoff = settings.retry;
        // A retry never waits longer than a sweep would.
        backoff.cap = backoff.cap.min(settings.daemon.sweep_interval);
        Knobs {
            schedule: Schedule { backoff, sweep_interval_ms: settings.daemon.sweep_interval.as_millis() as u64 },
            check_timeout: settings.check_timeout,
            broadcast_timeout: settings.broadcast_timeout,
            liveness_timeout: settings.check_timeout.min(Duration::from_secs(5)),
            max_concurrency: settings.max_concurrency,
        }
    }
}

/// What happened, for the caller to log or report.
#[derive(Debug)]
pub enum Happening {
    Checked {
        target: Target,
        answer: CheckAnswer,
    },
    /// The PAT is on its way to this validator.
    Sending {
        target: Target,
    },
    Broadcast {
        target: Target,
        answer: BroadcastAnswer,
    },
    Probed {
        target: Target,
        liveness: Liveness,
    },
    Change(Change),
    /// GitHub's verdict on the current PAT.
    Verdict(PatVerdict),
}

/// Why [`Core::run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every validator is settled (covered, held, or the PAT is rejected).
    Settled,
    /// Nothing more can happen before the deadline: the remaining validators are
    /// backing off past it.
    NothingMoreInTime,
    /// The deadline passed; what was in flight was cancelled.
    Deadline,
}

pub struct Core<T, G> {
    pub tracker: Tracker,
    transport: Arc<T>,
    github: Arc<G>,
    pat: Pat,
    /// The PAT before the last rotation: validators still hold it and may echo it.
    previous_pat: Option<Pat>,
    /// Bumped on every PAT change: answers about an older PAT are not about this one.
    generation: u64,
    knobs: Knobs,
    clock: Clock,
    rng: StdRng,
    pool: FuturesUnordered<futures::future::BoxFuture<'static, (u64, Outcome)>>,
    /// Every step in flight and the latest moment it may finish.
    deadlines: HashMap<u64, Instant>,
    next_step_id: u64,
    probing: BTreeSet<u16>,
    /// Probes waiting until the transport says their answer can tell a restart apart
    /// ([`Transport::liveness_hold`]), with the moment that was due.
    held_probes: BTreeMap<u16, (Target, Instant)>,
    /// Validators with a check or broadcast in flight (the bound is on these).
    working: BTreeSet<u16>,
    verdict_in_flight: bool,
    /// When GitHub last gave a verdict on the current PAT.
    verdict_at_ms: Option<u64>,
}

impl<T: Transport + 'static, G: PatValidator> Core<T, G> {
    pub fn new(
        tracker: Tracker,
        transport: Arc<T>,
        github: Arc<G>,
        pat: Pat,
        knobs: Knobs,
        clock: Clock,
        seed: u64,
    ) -> Self {
        Core {
            tracker,
            transport,
            github,
            pat,
            previous_pat: None,
            generation: 0,
            knobs,
            clock,
            rng: StdRng::seed_from_u64(seed),
            pool: FuturesUnordered::new(),
            deadlines: HashMap::new(),
            next_step_id: 0,
            probing: BTreeSet::new(),
            held_probes: BTreeMap::new(),
            working: BTreeSet::new(),
            verdict_in_flight: false,
            verdict_at_ms: None,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn pat(&self) -> &Pat {
        &self.pat
    }

    pub fn set_knobs(&mut self, knobs: Knobs) {
        self.knobs = knobs;
    }

    /// A random draw in [0, 1) from the core's seeded source (jitter).
    pub fn unit(&mut self) -> f64 {
        self.rng.random()
    }

    fn spawn(&mut self, step: pipeline::Step) {
        let id = self.next_step_id;
        self.next_step_id += 1;
        self.deadlines.insert(id, Instant::now() + step.deadline);
        self.pool.push(Box::pin(async move { (id, step.future.await) }));
    }

    /// Steps in flight.
    pub fn in_flight(&self) -> usize {
        self.pool.len()
    }

    /// Steps in flight past their own deadline by more than `grace`: each is bounded by a
    /// timeout, so any at all means the process is not making progress.
    pub fn overdue(&self, grace: Duration) -> usize {
        let now = Instant::now();
        self.deadlines.values().filter(|&&deadline| deadline + grace < now).count()
    }

    /// The tracked set becomes the eligible set. A validator dropped and added back while
    /// a request to it is out stays busy: never two requests to one validator at once.
    pub fn sync_targets(&mut self, eligible: &[Target]) -> Vec<Change> {
        let changes = self.tracker.sync_targets(eligible, self.clock.now_ms());
        for uid in &self.working {
            if let Some(entry) = self.tracker.validators.get_mut(uid) {
                entry.busy = true;
            }
        }
        changes
    }

    /// Asks GitHub about the current PAT, unless a question is already out.
    pub fn validate_pat(&mut self) {
        if !self.verdict_in_flight {
            self.verdict_in_flight = true;
            let step = pipeline::validate_pat(self.github.clone(), self.pat.clone(), self.generation);
            self.spawn(step);
        }
    }

    /// Records a verdict obtained outside the core (`post` validates before it starts).
    pub fn assume_verdict(&mut self, standing: PatStanding) {
        let (now, unit) = (self.clock.now_ms(), self.unit());
        self.tracker.apply_verdict(standing, &self.knobs.schedule, now, unit);
        self.verdict_at_ms = Some(now);
    }

    /// A new PAT: owed to every validator, and GitHub is asked about it.
    pub fn pat_changed(&mut self, pat: Pat) {
        self.previous_pat = Some(std::mem::replace(&mut self.pat, pat));
        self.generation += 1;
        self.verdict_in_flight = false; // an answer about the old PAT is ignored
        self.verdict_at_ms = None;
        self.tracker.pat_changed(self.clock.now_ms());
        self.validate_pat();
    }

    /// `post --all`: the same PAT sent to every validator once, as if it had changed,
    /// keeping GitHub's verdict on it.
    pub fn resend_to_all(&mut self) {
        let standing = self.tracker.pat;
        self.tracker.pat_changed(self.clock.now_ms());
        self.tracker.pat = standing;
    }

    /// Starts a liveness probe of every validator not being probed already, at most
    /// `max_concurrency` probes in flight (they do not take the checks' slots). A probe the
    /// transport says would be answered alike by a restarted process (our last request to
    /// it is too recent) is held until it can tell, and then sent by [`Core::start_due`].
    pub fn probe_liveness(&mut self) {
        let now = Instant::now();
        let targets: Vec<Target> = self
            .tracker
            .validators
            .values()
            .filter(|e| !self.probing.contains(&e.target.uid) && !self.held_probes.contains_key(&e.target.uid))
            .map(|e| e.target.clone())
            .collect();
        for target in targets {
            let hold = self.transport.liveness_hold(&target);
            self.held_probes.insert(target.uid, (target, now + hold));
        }
        self.start_held_probes();
    }

    /// Sends the held probes whose time has come, re-asking the transport: a request sent
    /// meanwhile moves the moment on. A validator no longer tracked (or moved) is dropped.
    fn start_held_probes(&mut self) {
        let now = Instant::now();
        let ready: Vec<u16> = self.held_probes.iter().filter(|(_, (_, at))| *at <= now).map(|(uid, _)| *uid).collect();
        for uid in ready {
            if self.probing.len() >= self.knobs.max_concurrency {
                break;
            }
            let Some((target, _)) = self.held_probes.remove(&uid) else { continue };
            if self.tracker.validators.get(&uid).is_none_or(|e| e.target != target) {
                continue;
            }
            let hold = self.transport.liveness_hold(&target);
            if !hold.is_zero() {
                self.held_probes.insert(uid, (target, now + hold));
                continue;
            }
            self.probing.insert(uid);
            let step = pipeline::liveness(self.transport.clone(), target, self.knobs.liveness_timeout);
            self.spawn(step);
        }
    }

    /// When the next held probe is due.
    fn next_held_probe(&self) -> Option<Instant> {
        if self.probing.len() >= self.knobs.max_concurrency {
            return None; // an answer frees a slot and wakes the caller
        }
        self.held_probes.values().map(|(_, at)| *at).min()
    }

    /// Starts due checks and broadcasts, up to the concurrency bound.
    pub fn start_due(&mut self) -> Vec<Happening> {
        self.start_held_probes();
        let free = self.knobs.max_concurrency.saturating_sub(self.working.len());
        if free == 0 {
            return vec![];
        }
        let mut happenings = Vec::new();
        for (target, work) in self.tracker.take_due(self.clock.now_ms(), free) {
            self.working.insert(target.uid);
            let step = match work {
                Work::Check => {
                    pipeline::check(self.transport.clone(), target, self.generation, self.knobs.check_timeout)
                }
                Work::Broadcast => {
                    happenings.push(Happening::Sending { target: target.clone() });
                    pipeline::broadcast(
                        self.transport.clone(),
                        target,
                        self.pat.clone(),
                        self.generation,
                        self.knobs.broadcast_timeout,
                    )
                }
            };
            self.spawn(step);
        }
        happenings
    }

    /// When [`Core::start_due`] next has something to start (`None`: only answers can
    /// change that, e.g. while every slot is taken).
    pub fn next_due(&self) -> Option<Instant> {
        let work = (self.working.len() < self.knobs.max_concurrency)
            .then(|| self.tracker.next_due().map(|at| self.clock.instant_at(at)))
            .flatten();
        work.into_iter().chain(self.next_held_probe()).min()
    }

    /// The next finished step; never resolves while nothing is in flight.
    pub async fn next_outcome(&mut self) -> Outcome {
        match self.pool.next().await {
            Some((id, outcome)) => {
                self.deadlines.remove(&id);
                outcome
            }
            None => std::future::pending().await,
        }
    }

    /// Records a finished step; the next step of that validator is then due at once.
    pub fn apply(&mut self, outcome: Outcome) -> Vec<Happening> {
        let (now, unit) = (self.clock.now_ms(), self.unit());
        let schedule = self.knobs.schedule;
        let mut happenings = Vec::new();
        let mut outcome = outcome;
        self.scrub(&mut outcome);
        if let Outcome::Checked { target, .. } | Outcome::Broadcast { target, .. } = &outcome {
            self.working.remove(&target.uid);
        }
        let step = match outcome {
            Outcome::Checked { target, answer, generation } if generation != self.generation => {
                // Whatever it holds, it is not known to be the current PAT, which is owed.
                self.tracker.answered_for_old_pat(target.uid, now);
                happenings.push(Happening::Checked { target, answer });
                Step::Nothing
            }
            Outcome::Checked { target, answer, .. } => {
                let (step, changes) = self.tracker.record_check(&target, &answer, &schedule, now, unit);
                happenings.push(Happening::Checked { target, answer });
                happenings.extend(changes.into_iter().map(Happening::Change));
                step
            }
            Outcome::Broadcast { target, answer, generation } if generation != self.generation => {
                // It holds the previous PAT now; the current one is still owed.
                self.tracker.answered_for_old_pat(target.uid, now);
                happenings.push(Happening::Broadcast { target, answer });
                Step::Nothing
            }
            Outcome::Broadcast { target, answer, .. } => {
                let (step, changes) = self.tracker.record_broadcast(&target, &answer, &schedule, now, unit);
                happenings.push(Happening::Broadcast { target, answer });
                happenings.extend(changes.into_iter().map(Happening::Change));
                step
            }
            Outcome::Liveness { target, liveness } => {
                self.probing.remove(&target.uid);
                let changes = self.tracker.record_liveness(&target, &liveness, now);
                happenings.push(Happening::Probed { target, liveness });
                happenings.extend(changes.into_iter().map(Happening::Change));
                Step::Nothing
            }
            Outcome::Verdict { generation, .. } if generation != self.generation => Step::Nothing,
            Outcome::Verdict { verdict, .. } => {
                self.verdict_in_flight = false;
                self.verdict_at_ms = Some(now);
                self.tracker.apply_verdict(verdict.standing(), &schedule, now, unit);
                happenings.push(Happening::Verdict(verdict));
                Step::Nothing
            }
        };
        if step == Step::ValidatePat {
            let fresh = self.verdict_at_ms.is_some_and(|at| now.saturating_sub(at) < FRESH_VERDICT_MS);
            if fresh && self.tracker.pat == PatStanding::Valid {
                self.tracker.apply_verdict(PatStanding::Valid, &schedule, now, unit);
            } else {
                self.validate_pat();
            }
        }
        happenings
    }

    /// A validator's words are shown and stored; a hostile one may echo back the PAT it was
    /// sent (this one or the one before), whole or in pieces. They are masked, then cut to
    /// what is shown: cut first, the tail of an echo would slip past.
    fn scrub(&self, outcome: &mut Outcome) {
        let reason = match outcome {
            Outcome::Checked { answer, .. } => &mut answer.rejection_reason,
            Outcome::Broadcast { answer, .. } => &mut answer.rejection_reason,
            Outcome::Liveness { .. } | Outcome::Verdict { .. } => return,
        };
        if let Some(text) = reason.as_mut() {
            let mut secrets = vec![self.pat.expose()];
            secrets.extend(self.previous_pat.as_ref().map(Pat::expose));
            *text = crate::scrub::scrub(text, &secrets, REASON_MAX_CHARS);
        }
    }

    /// Drops every step in flight (their requests are cancelled).
    pub fn cancel_all(&mut self) {
        let now = self.clock.now_ms();
        self.pool = FuturesUnordered::new();
        self.deadlines.clear();
        self.probing.clear();
        self.held_probes.clear();
        self.verdict_in_flight = false;
        for uid in std::mem::take(&mut self.working) {
            self.tracker.cancelled(uid, now);
        }
    }

    pub fn all_settled(&self) -> bool {
        self.tracker.pat == PatStanding::Rejected || self.tracker.validators.values().all(|e| e.settled())
    }

    /// `post`: runs the pipelines until every validator is settled, nothing more can
    /// happen before `deadline`, or `deadline` passes (then what is in flight is
    /// cancelled). `seen` hears every happening as it happens.
    pub async fn run_until(&mut self, deadline: Instant, mut seen: impl FnMut(&Happening)) -> Finish {
        loop {
            for happening in self.start_due() {
                seen(&happening);
            }
            if self.pool.is_empty() {
                if self.all_settled() {
                    return Finish::Settled;
                }
                if self.next_due().is_none_or(|at| at > deadline) {
                    return Finish::NothingMoreInTime;
                }
            }
            let wake = self.next_due().unwrap_or(deadline).min(deadline);
            tokio::select! {
                outcome = self.next_outcome() => {
                    for happening in self.apply(outcome) {
                        seen(&happening);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.cancel_all();
                    return Finish::Deadline;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{json, Value};

    use super::*;
    use crate::synapse::{CheckStatus, PAT_BROADCAST};
    use crate::transport::{CallError, Liveness, Provenance, Reply, SynapseCall};

    /// Validators in memory: how long each takes to answer (`None`: never), what it holds.
    #[derive(Default)]
    struct Fake {
        delay: Mutex<HashMap<u16, Option<Duration>>>,
        holds: Mutex<HashMap<u16, String>>,
        broadcasts: Mutex<Vec<(u16, Instant)>>,
        /// Until when a probe of each validator must wait, and when each was probed.
        quiet_at: Mutex<HashMap<u16, Instant>>,
        probes: Mutex<Vec<(u16, Instant)>>,
    }

    impl Transport for Fake {
        async fn call(&self, target: &Target, call: &SynapseCall) -> Result<Reply, CallError> {
            let delay = self.delay.lock().unwrap().get(&target.uid).copied().unwrap_or(Some(Duration::from_millis(50)));
            let exchange = async {
                match delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
                let body = if call.name == PAT_BROADCAST {
                    let token = call.fields["github_access_token"].as_str().unwrap().to_owned();
                    self.broadcasts.lock().unwrap().push((target.uid, Instant::now()));
                    self.holds.lock().unwrap().insert(target.uid, token);
                    json!({"accepted": true})
                } else if self.holds.lock().unwrap().contains_key(&target.uid) {
                    json!({"has_pat": true, "pat_valid": true})
                } else {
                    json!({"has_pat": false, "pat_valid": false})
                };
                Ok::<Value, CallError>(body)
            };
            let body = tokio::time::timeout(call.timeout, exchange).await.map_err(|_| CallError::Timeout)??;
            Ok(Reply {
                http_status: 200,
                message: None,
                body: Some(body),
                axon_uuid: None,
                provenance: Provenance::Unsigned,
            })
        }

        async fn liveness(&self, target: &Target, _: Duration) -> Liveness {
            self.probes.lock().unwrap().push((target.uid, Instant::now()));
            Liveness::Alive { instance: None, forgot_us: false }
        }

        fn liveness_hold(&self, target: &Target) -> Duration {
            let quiet_at = self.quiet_at.lock().unwrap().get(&target.uid).copied();
            quiet_at.map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now()))
        }
    }

    struct AlwaysValid;
    impl PatValidator for AlwaysValid {
        async fn validate(&self, _: &Pat) -> PatVerdict {
            PatVerdict::Valid { login: "octo".into(), id: 1, expires: None }
        }
    }

    fn target(uid: u16) -> Target {
        Target { uid, hotkey: format!("hk{uid}"), ip: "127.0.0.1".parse().unwrap(), port: 9000 + uid }
    }

    fn core(fake: Arc<Fake>, validators: u16) -> Core<Fake, AlwaysValid> {
        let knobs = Knobs {
            schedule: Schedule {
                backoff: Backoff { base: Duration::from_secs(2), factor: 2.0, cap: Duration::from_secs(60) },
                sweep_interval_ms: 900_000,
            },
            check_timeout: Duration::from_secs(15),
            broadcast_timeout: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(5),
            max_concurrency: 256,
        };
        let pat = Pat::new("ghp_CoreTestToken_1234").unwrap();
        let mut core =
            Core::new(Tracker::default(), fake, Arc::new(AlwaysValid), pat, knobs, Clock::starting_at(1_000_000), 7);
        core.sync_targets(&(0..validators).map(target).collect::<Vec<_>>());
        core
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_the_transport_holds_goes_out_when_it_can_tell_a_restart_and_not_before() {
        let fake = Arc::new(Fake::default());
        let t0 = Instant::now();
        fake.quiet_at.lock().unwrap().insert(0, t0 + Duration::from_millis(5_250));
        let mut core = core(fake.clone(), 2);
        core.probe_liveness();
        assert_eq!(core.next_due(), Some(t0 + Duration::from_millis(5_250)), "the loop wakes when the hold ends");
        core.start_due();
        while core.in_flight() > 0 {
            let outcome = core.next_outcome().await;
            core.apply(outcome);
        }
        // A request sent meanwhile moves the moment on: asked again when the hold ends.
        tokio::time::sleep(Duration::from_secs(5)).await;
        fake.quiet_at.lock().unwrap().insert(0, t0 + Duration::from_secs(9));
        tokio::time::sleep_until(t0 + Duration::from_millis(5_250)).await;
        core.start_due();
        assert_eq!(core.next_due(), Some(t0 + Duration::from_secs(9)));
        tokio::time::sleep_until(t0 + Duration::from_secs(9)).await;
        core.start_due();
        while core.in_flight() > 0 {
            let outcome = core.next_outcome().await;
            core.apply(outcome);
        }
        let probes = fake.probes.lock().unwrap().clone();
        assert_eq!(probes, [(1, t0), (0, t0 + Duration::from_secs(9))], "validator 1 at once, 0 only once it can tell");
        // Probing again while one is held does not queue a second.
        fake.quiet_at.lock().unwrap().insert(0, Instant::now() + Duration::from_secs(3));
        core.probe_liveness();
        core.probe_liveness();
        tokio::time::sleep(Duration::from_secs(3)).await;
        core.start_due();
        while core.in_flight() > 0 {
            let outcome = core.next_outcome().await;
            core.apply(outcome);
        }
        assert_eq!(fake.probes.lock().unwrap().iter().filter(|(uid, _)| *uid == 0).count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_validator_does_not_hold_up_the_others_repair() {
        let fake = Arc::new(Fake::default());
        fake.delay.lock().unwrap().insert(0, None); // hangs
        let mut core = core(fake.clone(), 3);
        core.assume_verdict(PatStanding::Valid);
        let started = Instant::now();
        let finish = core.run_until(started + Duration::from_secs(5), |_| {}).await;
        assert_eq!(finish, Finish::Deadline, "the hung one is still in flight at the deadline");
        let sent: Vec<(u16, Duration)> =
            fake.broadcasts.lock().unwrap().iter().map(|(uid, at)| (*uid, *at - started)).collect();
        // Check (50 ms) then broadcast (50 ms): 100 ms, while validator 0 has not answered.
        assert_eq!(sent, [(1, Duration::from_millis(100)), (2, Duration::from_millis(100))]);
        assert_eq!(Instant::now() - started, Duration::from_secs(5), "returns at its deadline, not later");
        assert_eq!(core.in_flight(), 0, "what was in flight is cancelled");
        assert!(!core.tracker.validators[&0].busy, "and the validator is free for the next run");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_never_answers_ends_at_its_own_deadline() {
        let fake = Arc::new(Fake::default());
        fake.delay.lock().unwrap().insert(0, None);
        let mut core = core(fake, 1);
        core.assume_verdict(PatStanding::Valid);
        let started = Instant::now();
        core.start_due();
        let Outcome::Checked { answer, .. } = core.next_outcome().await else { panic!("a check") };
        assert_eq!(answer.status, CheckStatus::NoResponse);
        assert_eq!(Instant::now() - started, Duration::from_secs(15), "the check timeout");
        core.apply(Outcome::Checked { target: target(0), answer, generation: 0 });
        assert_eq!(core.next_due().unwrap() - Instant::now(), Duration::from_secs(2), "retried after the backoff base");
    }

    #[tokio::test(start_paused = true)]
    async fn post_settles_as_soon_as_everyone_holds_the_pat_and_sends_nothing_twice() {
        let fake = Arc::new(Fake::default());
        fake.holds.lock().unwrap().insert(1, "ghp_CoreTestToken_1234".into());
        let mut core = core(fake.clone(), 2);
        core.assume_verdict(PatStanding::Valid);
        let started = Instant::now();
        assert_eq!(core.run_until(started + Duration::from_secs(120), |_| {}).await, Finish::Settled);
        assert_eq!(Instant::now() - started, Duration::from_millis(100));
        assert_eq!(fake.broadcasts.lock().unwrap().iter().map(|(uid, _)| *uid).collect::<Vec<_>>(), [0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_validator_dropped_and_added_back_while_asked_is_not_asked_twice_at_once() {
        let fake = Arc::new(Fake::default());
        fake.delay.lock().unwrap().insert(0, Some(Duration::from_secs(10)));
        let mut core = core(fake, 1);
        core.assume_verdict(PatStanding::Valid);
        core.start_due();
        core.sync_targets(&[]);
        core.sync_targets(&[target(0)]);
        assert!(core.start_due().is_empty());
        assert_eq!(core.in_flight(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_answered_about_the_old_pat_leaves_the_new_one_owed_at_once() {
        let fake = Arc::new(Fake::default());
        fake.holds.lock().unwrap().insert(0, "ghp_CoreTestToken_1234".into());
        let mut core = core(fake.clone(), 1);
        core.assume_verdict(PatStanding::Valid);
        core.start_due();
        core.pat_changed(Pat::new("ghp_RotatedCoreToken_9999").unwrap()); // while the check is out
        while core.in_flight() > 0 {
            let outcome = core.next_outcome().await;
            core.apply(outcome);
        }
        assert_ne!(core.tracker.validators[&0].coverage, crate::reconcile::tracker::Coverage::Covered);
        assert!(matches!(core.start_due().as_slice(), [Happening::Sending { .. }]), "the new PAT goes at once");
    }

    #[test]
    fn a_validator_echoing_the_pat_back_is_shown_the_masked_form() {
        let core = core(Arc::new(Fake::default()), 1);
        let answer = CheckAnswer {
            status: CheckStatus::InvalidPat,
            has_pat: Some(true),
            pat_valid: Some(false),
            rejection_reason: Some("bad token ghp_CoreTestToken_1234 here".into()),
            status_code: 200,
            axon_uuid: None,
        };
        let mut outcome = Outcome::Checked { target: target(0), answer, generation: 0 };
        core.scrub(&mut outcome);
        let Outcome::Checked { answer, .. } = outcome else { unreachable!() };
        assert_eq!(answer.rejection_reason.as_deref(), Some("bad token ***1234 here"));
    }

    fn scrubbed(core: &Core<Fake, AlwaysValid>, reason: String) -> String {
        let answer = BroadcastAnswer {
            status: crate::synapse::BroadcastStatus::PatRejected,
            accepted: Some(false),
            rejection_reason: Some(reason),
            status_code: 200,
            axon_uuid: None,
        };
        let mut outcome = Outcome::Broadcast { target: target(0), answer, generation: 0 };
        core.scrub(&mut outcome);
        let Outcome::Broadcast { answer, .. } = outcome else { unreachable!() };
        answer.rejection_reason.unwrap()
    }

    #[test]
    fn an_echo_at_the_end_of_a_long_reason_is_masked_before_the_reason_is_cut() {
        let core = core(Arc::new(Fake::default()), 1);
        let shown = scrubbed(&core, format!("{}ghp_CoreTestToken_1234{}", "x".repeat(364), "y".repeat(500)));
        assert_eq!(shown, format!("{}***1234{}", "x".repeat(364), "y".repeat(29)));
        assert_eq!(scrubbed(&core, "x".repeat(10_000)).chars().count(), REASON_MAX_CHARS);
    }

    #[test]
    fn after_a_rotation_the_previous_pat_is_masked_too() {
        let mut core = core(Arc::new(Fake::default()), 1);
        core.pat_changed(Pat::new("ghp_RotatedCoreToken_9999").unwrap());
        let shown = scrubbed(&core, "had CoreTestToken_1234, now RotatedCore\u{200B}Token_9999".into());
        assert_eq!(shown, "had ***, now ***");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_asked_until_github_has_judged_the_pat() {
        let fake = Arc::new(Fake::default());
        let mut core = core(fake, 2);
        assert!(core.start_due().is_empty());
        assert_eq!(core.in_flight(), 0);
        core.validate_pat();
        let outcome = core.next_outcome().await;
        assert!(matches!(core.apply(outcome).as_slice(), [Happening::Verdict(PatVerdict::Valid { .. })]));
        core.start_due();
        assert_eq!(core.in_flight(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_to_the_old_pat_leaves_the_new_one_owed() {
        let fake = Arc::new(Fake::default());
        let mut core = core(fake.clone(), 1);
        core.assume_verdict(PatStanding::Valid);
        core.start_due(); // check
        let outcome = core.next_outcome().await;
        core.apply(outcome);
        assert!(matches!(core.start_due().as_slice(), [Happening::Sending { .. }]));
        core.pat_changed(Pat::new("ghp_RotatedCoreToken_9999").unwrap()); // while the old PAT travels
        while core.in_flight() > 0 {
            let outcome = core.next_outcome().await;
            core.apply(outcome);
        }
        assert_eq!(fake.holds.lock().unwrap()[&0], "ghp_CoreTestToken_1234", "the old one arrived");
        assert!(matches!(core.start_due().as_slice(), [Happening::Sending { .. }]), "the new PAT is sent");
        let outcome = core.next_outcome().await;
        core.apply(outcome);
        assert_eq!(fake.holds.lock().unwrap()[&0], "ghp_RotatedCoreToken_9999");
    }
}

//! The reconcile core that `post` and `run` share: the [`Tracker`] (what is known and what
//! is due) plus the steps in flight. Level-triggered, kube-rs style: due work is handed
//! out up to a concurrency bound, every answer is recorded the moment it arrives, and the
//! next step for that validator starts at once — a slow or silent validator holds up
//! only itself.
//!
//! The core owns no timers and no signals: its caller (`post`'s [`Core::run_until`], or
//! the daemon shell) decides how long to wait and when to stop.

use std::collections::{BTreeSet, HashMap};
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
use crate::synapse::{BroadcastAnswer, CheckAnswer};
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
            generation: 0,
            knobs,
            clock,
            rng: StdRng::seed_from_u64(seed),
            pool: FuturesUnordered::new(),
            deadlines: HashMap::new(),
            next_step_id: 0,
            probing: BTreeSet::new(),
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

    /// The tracked set becomes the eligible set.
    pub fn sync_targets(&mut self, eligible: &[Target]) -> Vec<Change> {
        self.tracker.sync_targets(eligible, self.clock.now_ms())
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
        self.pat = pat;
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

    /// Starts a liveness probe of every validator not being probed already.
    pub fn probe_liveness(&mut self) {
        let targets: Vec<Target> = self
            .tracker
            .validators
            .values()
            .filter(|e| !self.probing.contains(&e.target.uid))
            .map(|e| e.target.clone())
            .collect();
        for target in targets {
            self.probing.insert(target.uid);
            let step = pipeline::liveness(self.transport.clone(), target, self.knobs.liveness_timeout);
            self.spawn(step);
        }
    }

    /// Starts due checks and broadcasts, up to the concurrency bound.
    pub fn start_due(&mut self) -> Vec<Happening> {
        let free = self.knobs.max_concurrency.saturating_sub(self.pool.len());
        if free == 0 {
            return vec![];
        }
        let mut happenings = Vec::new();
        for (target, work) in self.tracker.take_due(self.clock.now_ms(), free) {
            let step = match work {
                Work::Check => pipeline::check(self.transport.clone(), target, self.knobs.check_timeout),
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
        if self.pool.len() >= self.knobs.max_concurrency {
            return None;
        }
        self.tracker.next_due().map(|at| self.clock.instant_at(at))
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
        let step = match outcome {
            Outcome::Checked { target, answer } => {
                let (step, changes) = self.tracker.record_check(&target, &answer, &schedule, now, unit);
                happenings.push(Happening::Checked { target, answer });
                happenings.extend(changes.into_iter().map(Happening::Change));
                step
            }
            Outcome::Broadcast { target, answer, generation } if generation != self.generation => {
                // It holds the previous PAT now; the current one is still owed.
                self.tracker.release(target.uid, now);
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

    /// Drops every step in flight (their requests are cancelled).
    pub fn cancel_all(&mut self) {
        let now = self.clock.now_ms();
        self.pool = FuturesUnordered::new();
        self.deadlines.clear();
        self.probing.clear();
        self.verdict_in_flight = false;
        let busy: Vec<u16> = self.tracker.validators.values().filter(|e| e.busy).map(|e| e.target.uid).collect();
        for uid in busy {
            self.tracker.release(uid, now);
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

//! Thirty days of a subnet, simulated in-process on a paused clock: 20 validators behind
//! in-memory stand-ins for the network, GitHub and the chain, driven by a seeded schedule
//! of faults — restarts that lose the PAT store and restarts that keep it, hangs, slow
//! answers, GitHub outages at a validator, axons that move, validators that leave and
//! join, a chain that stalls, this machine's network lost for a while, the agent itself
//! killed and restarted from its state file, a PAT rotation, and one validator pinned to
//! another GitHub identity. The real daemon
//! (`gittensor_miner_agent::daemon::Daemon`) runs against it with the shipped defaults.
//!
//! Every request is checked against the invariants as it is made, and every page (an alert
//! hook run) against what is true at that moment; the figures it prints are the README's. `SIM_SEED=<n>` reproduces a run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use gittensor_miner_agent::clock::Clock;
use gittensor_miner_agent::daemon::alerts::AlertEvent;
use gittensor_miner_agent::daemon::health::{Health, Notice, Notify};
use gittensor_miner_agent::daemon::shutdown::{Shutdown, StopSwitch};
use gittensor_miner_agent::daemon::state::{Loaded, State, StateFile};
use gittensor_miner_agent::daemon::{Daemon, Parts, Reloaded, World};
use gittensor_miner_agent::github::{PatValidator, PatVerdict};
use gittensor_miner_agent::secrets::{Pat, PatSource};
use gittensor_miner_agent::settings::{self, ConfigFile, Env, Flags, Settings};
use gittensor_miner_agent::synapse::{PAT_BROADCAST, PAT_CHECK};
use gittensor_miner_agent::transport::axon_v10::LIVENESS_HOLD;
use gittensor_miner_agent::transport::{CallError, Liveness, Provenance, Reply, SynapseCall, Target, Transport};
use gittensor_miner_agent::validators::{DiscoverError, ValidatorSet};

const DAYS: u64 = 30;
const VALIDATORS: u16 = 20;
/// Two more join during the month.
const LATE_JOINERS: u16 = 2;
const PINNED_UID: u16 = 7;
/// Says "no PAT" to every check and refuses every broadcast (after the late joiners).
const REFUSER_UID: u16 = VALIDATORS + LATE_JOINERS;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
/// The simulated month starts on 2026-12-01.
const EPOCH_MS: u64 = 1_796_083_200_000;
const PAT_1: &str = "ghp_SimulatedFirstToken_0001";
const PAT_2: &str = "ghp_SimulatedRotatedToken_0002";
const WATCHDOG: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cause {
    /// A restart that lost the store: what liveness must catch.
    StoreLoss,
    /// The same, 0–5 s after the agent's last request to it: a probe sent while that
    /// request's nonce is still recent would be accepted by the new process too.
    StoreLossAfterRequest,
    /// The same while the agent was stopped: its new process is a stranger to every axon.
    StoreLossWhileAgentAway,
    /// A validator that became eligible (new, or back on the chain): found by the chain read.
    Joined,
    /// The PAT the validator held was revoked.
    Revoked,
}

struct Exposure {
    cause: Cause,
    /// Time it lacked a valid PAT while able to take one and while the agent ran.
    accrued: Duration,
    /// Trouble of its own meanwhile (not another validator's): it answered slowly, or
    /// its own GitHub access was out, so it could not take the PAT when it was sent.
    own_trouble: Option<&'static str>,
}

struct SimValidator {
    uid: u16,
    hotkey: String,
    port: u16,
    on_chain: bool,
    up: bool,
    hung: bool,
    slow: bool,
    github_down: bool,
    pinned: bool,
    /// Says "no PAT" to every check and refuses every broadcast, in words that fit no known
    /// class, while GitHub accepts the PAT.
    refuses_all: bool,
    /// The PAT sends (when, which token) of the last hour it has not accepted.
    unaccepted: Vec<(Instant, String)>,
    store: Option<String>,
    instance: u64,
    /// What this process of the validator's axon knows of the agent's dendrite: the agent's
    /// life and the last nonce (ms) it accepted from it. bittensor 10.x keeps that per
    /// dendrite uuid for as long as the axon process lives.
    knows: Option<(u64, u64)>,
    /// A restart that loses the store, armed to happen this long after the next request.
    restart_after_request: Option<Duration>,
    loss_cause: Cause,
    exposure: Option<Exposure>,
    /// Trouble of its own to note on the exposure that opens next.
    pending_trouble: Option<&'static str>,
    // What the invariants need to know.
    last_valid_for: Option<String>,
    broadcast_unanswered: bool,
    locked_for: Option<String>,
    last_failure: Option<(Instant, u16)>,
    /// When it last answered a liveness probe.
    probe_answered: Option<Instant>,
    // Figures.
    able_time: Duration,
    covered_time: Duration,
    checks: u64,
}

#[derive(Default)]
struct Figures {
    repairs: Vec<(Duration, Cause, Option<&'static str>)>,
    broadcasts_repairing: u64,
    broadcasts_rotating: u64,
    needless: u64,
    checks: u64,
    probes: u64,
    /// Probes a restarted axon refused (signed 401): restarts seen by liveness.
    probes_refused: u64,
    agent_starts: u64,
    /// When the validator that refuses every broadcast was sent the PAT, and which.
    refuser_sends: Vec<(Instant, String)>,
}

/// The alert hook's runs, as the operator's pager sees them.
#[derive(Default)]
struct Pages {
    /// (event, subject) → when it was last announced.
    open: BTreeMap<(&'static str, String), Instant>,
    /// First announcements, by event.
    incidents: BTreeMap<&'static str, u64>,
    repeats: u64,
    resolved: u64,
    /// The first announcements made while each network outage lasted.
    per_outage: Vec<Vec<&'static str>>,
}

struct Sim {
    validators: Vec<SimValidator>,
    github_valid: Vec<String>,
    agent_pat: String,
    agent_up: bool,
    /// Bumped at every agent start: each process has a dendrite uuid of its own.
    agent_life: u64,
    chain_stalled: bool,
    /// This machine's network is out: no validator can be reached.
    network_down: bool,
    pages: Pages,
    repeat: Duration,
    started: Instant,
    accounted: Instant,
    rng: StdRng,
    violations: Vec<String>,
    figures: Figures,
    backoff_base: Duration,
}

impl Sim {
    fn when(&self, at: Instant) -> String {
        let secs = (at - self.started).as_secs();
        format!("day {} {:02}:{:02}:{:02}", secs / DAY, secs % DAY / HOUR, secs % HOUR / 60, secs % 60)
    }

    fn violation(&mut self, what: String) {
        let line = format!("{}: {what}", self.when(Instant::now()));
        self.violations.push(line);
    }

    fn able(v: &SimValidator) -> bool {
        v.on_chain && v.up && !v.hung && !v.github_down && !v.pinned && !v.refuses_all
    }

    fn holds_valid(&self, v: &SimValidator) -> bool {
        v.store.as_ref().is_some_and(|t| self.github_valid.contains(t))
    }

    /// Adds the time since the last call to each validator's figures, then opens or closes
    /// its exposure for the state it is in now. Called before and after every change.
    fn account(&mut self) {
        let now = Instant::now();
        let elapsed = now - self.accounted;
        self.accounted = now;
        let (agent_up, network_down) = (self.agent_up, self.network_down);
        let Sim { validators, github_valid, .. } = self;
        for v in validators.iter_mut() {
            let valid = v.store.as_ref().is_some_and(|t| github_valid.contains(t));
            if Self::able(v) {
                v.able_time += elapsed;
                if valid {
                    v.covered_time += elapsed;
                } else if let Some(exposure) = v.exposure.as_mut() {
                    if agent_up {
                        exposure.accrued += elapsed;
                    }
                    if v.slow {
                        exposure.own_trouble.get_or_insert("the validator itself answering slowly");
                    }
                    if network_down {
                        exposure.own_trouble.get_or_insert("this machine's network out");
                    }
                }
            }
        }
        for i in 0..self.validators.len() {
            let v = &self.validators[i];
            let valid = self.holds_valid(v);
            if !v.on_chain || v.pinned || v.refuses_all {
                self.validators[i].exposure = None;
            } else if valid {
                if let Some(exposure) = self.validators[i].exposure.take() {
                    self.figures.repairs.push((exposure.accrued, exposure.cause, exposure.own_trouble));
                }
            } else if Self::able(v) && v.exposure.is_none() {
                let cause = v.loss_cause;
                let own_trouble = v.slow.then_some("the validator itself answering slowly");
                let outage = self.network_down.then_some("this machine's network out");
                let own_trouble = self.validators[i].pending_trouble.take().or(own_trouble).or(outage);
                self.validators[i].exposure = Some(Exposure { cause, accrued: Duration::ZERO, own_trouble });
            }
        }
    }

    /// One run of the alert hook, judged by what is true now: a page about a validator
    /// without the PAT when it lacks it, about one that does not answer when it is down,
    /// about the network when the network is out; never twice for one incident before
    /// `repeat`, and resolved once.
    fn paged(&mut self, event: AlertEvent) {
        let now = Instant::now();
        let key = (event.event, event.subject.clone());
        let uid =
            event.subject.strip_prefix("validator ").and_then(|r| r.split(' ').next()).and_then(|u| u.parse().ok());
        let v = uid.and_then(|uid: u16| self.validators.iter().find(|v| v.uid == uid));
        let wrong = match (event.state, event.event) {
            ("resolved", _) => match self.pages.open.remove(&key) {
                Some(_) => {
                    self.pages.resolved += 1;
                    None
                }
                None => Some(format!("{} {} resolved, but it was not open", event.event, event.subject)),
            },
            (_, _) if self.pages.open.contains_key(&key) => {
                let last = self.pages.open.insert(key, now).unwrap_or(now);
                self.pages.repeats += 1;
                (now - last < self.repeat)
                    .then(|| format!("{} {} announced again after {:?}", event.event, event.subject, now - last))
            }
            (_, name) => {
                self.pages.open.insert(key, now);
                *self.pages.incidents.entry(name).or_default() += 1;
                if self.network_down {
                    if let Some(outage) = self.pages.per_outage.last_mut() {
                        outage.push(name);
                    }
                }
                match name {
                    "coverage_lost" if v.is_none_or(|v| self.holds_valid(v)) => {
                        Some(format!("paged coverage_lost for {}, which holds the PAT", event.subject))
                    }
                    "validator_unreachable" if !self.network_down && v.is_none_or(|v| v.up && !v.hung) => {
                        Some(format!("paged validator_unreachable for {}, which answers", event.subject))
                    }
                    "no_validator_reachable" if !self.network_down => {
                        Some("paged no_validator_reachable while the network was up".to_owned())
                    }
                    _ => None,
                }
            }
        };
        if let Some(wrong) = wrong {
            self.violation(format!("{wrong}: {}", event.message));
        }
    }

    fn by_uid(&mut self, uid: u16) -> Option<&mut SimValidator> {
        self.validators.iter_mut().find(|v| v.uid == uid)
    }

    fn latency(&mut self, slow: bool) -> Duration {
        if slow {
            Duration::from_millis(self.rng.random_range(5_000..12_000))
        } else {
            Duration::from_millis(self.rng.random_range(20..150))
        }
    }

    /// The invariants that hold at the moment a request leaves.
    fn on_send(&mut self, uid: u16, port: u16, token: Option<&str>) {
        let now = Instant::now();
        let base = self.backoff_base;
        let Some(v) = self.by_uid(uid) else { return };
        let mut problems = Vec::new();
        if let Some((failed_at, failed_port)) = v.last_failure {
            if failed_port == port && now - failed_at + Duration::from_millis(1) < base {
                problems.push(format!(
                    "validator {uid} asked again {:?} after a failure, faster than the backoff base {base:?}",
                    now - failed_at
                ));
            }
        }
        match token {
            None => v.checks += 1,
            Some(token) => {
                if v.last_valid_for.as_deref() == Some(token) {
                    problems.push(format!(
                        "validator {uid} was sent the PAT although its last answer was that it holds it, valid"
                    ));
                }
                if v.broadcast_unanswered {
                    problems.push(format!("validator {uid} was sent the PAT twice with no answer in between"));
                }
                if v.locked_for.as_deref() == Some(token) {
                    problems.push(format!("validator {uid} was sent the PAT again after it answered identity locked"));
                }
                // The send budget: a PAT it did not accept goes to it at most 4 times an hour.
                v.unaccepted.retain(|(at, _)| now - *at < Duration::from_secs(HOUR));
                let unaccepted = v.unaccepted.iter().filter(|(_, t)| t == token).count();
                if unaccepted >= 4 {
                    problems.push(format!(
                        "validator {uid} was sent the PAT a {}th time within an hour without accepting it",
                        unaccepted + 1
                    ));
                }
                v.unaccepted.push((now, token.to_owned()));
                v.broadcast_unanswered = true;
            }
        }
        let holds = v.store.clone();
        let refuser = v.refuses_all;
        for p in problems {
            self.violation(p);
        }
        match token {
            None => self.figures.checks += 1,
            Some(token) if refuser => self.figures.refuser_sends.push((now, token.to_owned())),
            Some(token) => match holds {
                Some(held) if held == token => self.figures.needless += 1,
                Some(held) if self.github_valid.contains(&held) => self.figures.broadcasts_rotating += 1,
                _ => self.figures.broadcasts_repairing += 1,
            },
        }
    }
}

fn lock(sim: &Arc<Mutex<Sim>>) -> std::sync::MutexGuard<'_, Sim> {
    sim.lock().unwrap_or_else(|e| e.into_inner())
}

/// The validators' axons, in memory, and the agent's side of their nonces: like the real
/// dendrite, it remembers per axon the largest nonce sent once the axon accepted one.
struct SimNet {
    sim: Arc<Mutex<Sim>>,
    life: u64,
    sent: Mutex<BTreeMap<(u16, u16), u64>>,
}

/// bittensor 10.x: an axon that does not know a dendrite accepts a nonce newer than
/// `now - 4 s - the request's timeout`; the agent's ping carries a 1 s timeout.
const AXON_RECENT_NONCE_MS: u64 = 4_000 + 1_000;

fn sim_now_ms(sim: &Sim) -> u64 {
    (Instant::now() - sim.started).as_millis() as u64
}

enum Plan {
    Refused,
    Hang,
    Answer(Duration, u64),
}

impl SimNet {
    fn new(sim: Arc<Mutex<Sim>>, life: u64) -> Self {
        SimNet { sim, life, sent: Mutex::new(BTreeMap::new()) }
    }

    fn key(target: &Target) -> (u16, u16) {
        (target.uid, target.port)
    }

    /// A fresh nonce, as the dendrite mints one: the time, past every one it sent.
    fn fresh_nonce(&self, sim: &Sim) -> u64 {
        let last = self.sent.lock().unwrap().values().copied().max().unwrap_or(0);
        sim_now_ms(sim).max(last + 1)
    }

    /// The axon's nonce check, at the moment the request arrives: accepted when it follows
    /// the last one this process took from this dendrite, or, from a stranger, when recent.
    fn axon_accepts(&self, sim: &mut Sim, target: &Target, nonce: u64) -> bool {
        let now = sim_now_ms(sim);
        let life = self.life;
        let Some(v) = sim.by_uid(target.uid) else { return false };
        let accepted = match v.knows {
            Some((known_life, last)) if known_life == life => nonce > last,
            _ => nonce + AXON_RECENT_NONCE_MS > now,
        };
        if accepted {
            v.knows = Some((life, nonce));
        }
        accepted
    }

    /// The dendrite's record: before sending where the axon knows us already, and on a 200.
    fn note_sent(&self, target: &Target, nonce: u64, accepted: bool) {
        let mut sent = self.sent.lock().unwrap();
        match sent.get_mut(&Self::key(target)) {
            Some(last) => *last = (*last).max(nonce),
            None if accepted => {
                sent.insert(Self::key(target), nonce);
            }
            None => {}
        }
    }

    fn plan(&self, target: &Target, token: Option<&str>, probe: bool) -> Plan {
        let mut sim = lock(&self.sim);
        sim.account();
        if sim.network_down {
            return Plan::Refused;
        }
        let Some(v) = sim.validators.iter().find(|v| v.uid == target.uid) else { return Plan::Refused };
        if !v.up || v.port != target.port || v.hotkey != target.hotkey {
            return Plan::Refused;
        }
        let (hung, slow, instance) = (v.hung, v.slow && !probe, v.instance);
        if probe {
            sim.figures.probes += 1;
        } else {
            sim.on_send(target.uid, target.port, token);
            // Armed to restart without its store a moment after this request, which carries
            // a fresh nonce (a probe's is old already: a restart after one is seen anyway).
            if let Some(delay) = sim.by_uid(target.uid).and_then(|v| v.restart_after_request.take()) {
                restart_briefly(&self.sim, target.uid, Cause::StoreLossAfterRequest, delay);
            }
        }
        if hung {
            return Plan::Hang;
        }
        Plan::Answer(sim.latency(slow), instance)
    }

    fn failed(&self, target: &Target, sent: Instant) {
        let mut sim = lock(&self.sim);
        if let Some(v) = sim.by_uid(target.uid) {
            // It answered a probe while this request was out: the agent knows it is back
            // (and asks it at once); this failure is older news.
            if v.probe_answered.is_some_and(|answered| answered >= sent) {
                return;
            }
            v.last_failure = Some((Instant::now(), target.port));
        }
    }

    /// What the validator says once the request has taken its time.
    fn answer(&self, target: &Target, instance: u64, token: Option<&str>) -> Result<Value, CallError> {
        let mut sim = lock(&self.sim);
        sim.account();
        let github_valid = sim.github_valid.clone();
        let Some(v) = sim.by_uid(target.uid) else { return Err(CallError::Broken("gone".into())) };
        if v.instance != instance || !v.up {
            return Err(CallError::Broken("connection reset by peer".into()));
        }
        v.last_failure = None;
        v.last_valid_for = None;
        let body = match token {
            None if v.refuses_all => {
                json!({"has_pat": false, "pat_valid": false, "rejection_reason": "No PAT stored for this miner"})
            }
            Some(_) if v.refuses_all => {
                v.broadcast_unanswered = false;
                json!({"accepted": false, "rejection_reason": "Refused by local policy 0x17"})
            }
            None => match &v.store {
                None => {
                    json!({"has_pat": false, "pat_valid": false, "rejection_reason": "No PAT stored for this miner"})
                }
                Some(_) if v.github_down => {
                    json!({"has_pat": true, "pat_valid": null, "rejection_reason": "GitHub unreachable"})
                }
                Some(held) if github_valid.contains(held) => {
                    v.last_valid_for = Some(held.clone());
                    json!({"has_pat": true, "pat_valid": true})
                }
                Some(_) => {
                    json!({"has_pat": true, "pat_valid": false, "rejection_reason": "PAT invalid: Bad credentials"})
                }
            },
            Some(token) => {
                v.broadcast_unanswered = false;
                if v.pinned {
                    v.locked_for = Some(token.to_owned());
                    json!({"accepted": false, "rejection_reason": "GitHub identity is locked to another account for this hotkey"})
                } else if v.github_down {
                    json!({"accepted": false, "rejection_reason": "GitHub validation failed (transient), try again later"})
                } else if !github_valid.iter().any(|t| t == token) {
                    json!({"accepted": false, "rejection_reason": "PAT invalid: Bad credentials"})
                } else {
                    v.store = Some(token.to_owned());
                    v.unaccepted.pop(); // this send: accepted, so it was needed
                    json!({"accepted": true})
                }
            }
        };
        if token.is_none() {
            v.broadcast_unanswered = false;
        }
        sim.account();
        Ok(body)
    }
}

impl Transport for SimNet {
    async fn call(&self, target: &Target, call: &SynapseCall) -> Result<Reply, CallError> {
        let token = match call.name {
            PAT_CHECK => None,
            PAT_BROADCAST => call.fields.get("github_access_token").and_then(Value::as_str).map(str::to_owned),
            other => panic!("unexpected synapse {other}"),
        };
        let sent = Instant::now();
        let exchange = async {
            match self.plan(target, token.as_deref(), false) {
                Plan::Refused => Err(CallError::Connect("Connection refused (os error 111)".into())),
                Plan::Hang => std::future::pending().await,
                Plan::Answer(latency, instance) => {
                    // A fresh nonce: every axon takes it, and from then on knows us.
                    let nonce = {
                        let mut sim = lock(&self.sim);
                        let nonce = self.fresh_nonce(&sim);
                        let accepted = self.axon_accepts(&mut sim, target, nonce);
                        self.note_sent(target, nonce, false);
                        assert!(accepted, "a fresh nonce is always accepted");
                        nonce
                    };
                    tokio::time::sleep(latency).await;
                    let answer = self.answer(target, instance, token.as_deref());
                    self.note_sent(target, nonce, answer.is_ok());
                    answer
                }
            }
        };
        let result = tokio::time::timeout(call.timeout, exchange).await.unwrap_or(Err(CallError::Timeout));
        match result {
            Ok(body) => Ok(Reply {
                http_status: 200,
                message: None,
                body: Some(body),
                axon_uuid: None,
                provenance: Provenance::Unsigned,
            }),
            Err(e) => {
                self.failed(target, sent);
                Err(e)
            }
        }
    }

    /// As the real dendrite probes: the nonce right after the last one this axon accepted
    /// from us (a fresh one to a stranger). A restarted process refuses it with a signed
    /// 401 naming its new instance; a 200 is unsigned and names none (bittensor 10.3.1).
    async fn liveness(&self, target: &Target, timeout: Duration) -> Liveness {
        let probe = async {
            match self.plan(target, None, true) {
                Plan::Refused => Liveness::Unreachable,
                Plan::Hang => std::future::pending().await,
                Plan::Answer(latency, instance) => {
                    let (last, accepted) = {
                        let mut sim = lock(&self.sim);
                        let last = self.sent.lock().unwrap().get(&Self::key(target)).copied();
                        let nonce = last.map_or_else(|| self.fresh_nonce(&sim), |last| last + 1);
                        let accepted = self.axon_accepts(&mut sim, target, nonce);
                        self.note_sent(target, nonce, accepted);
                        if !accepted {
                            sim.figures.probes_refused += 1;
                            // The dendrite starts afresh with this axon: a fresh ping, taken.
                            self.sent.lock().unwrap().remove(&Self::key(target));
                            let fresh = self.fresh_nonce(&sim);
                            if self.axon_accepts(&mut sim, target, fresh) {
                                self.note_sent(target, fresh, true);
                            }
                        }
                        (last, accepted)
                    };
                    tokio::time::sleep(latency).await;
                    let mut sim = lock(&self.sim);
                    match sim.by_uid(target.uid) {
                        Some(v) if v.instance == instance && v.up => {
                            v.last_failure = None;
                            v.probe_answered = Some(Instant::now());
                            if !accepted && last.is_some() {
                                Liveness::Alive { instance: Some(format!("{}-{instance}", v.uid)), forgot_us: true }
                            } else {
                                Liveness::Alive { instance: None, forgot_us: false }
                            }
                        }
                        _ => Liveness::Unreachable,
                    }
                }
            }
        };
        tokio::time::timeout(timeout, probe).await.unwrap_or(Liveness::Unreachable)
    }

    /// The real dendrite's rule ([`LIVENESS_HOLD`] after the last nonce it sent this axon).
    fn liveness_hold(&self, target: &Target) -> Duration {
        let sim = lock(&self.sim);
        let now = sim_now_ms(&sim);
        let last = self.sent.lock().unwrap().get(&Self::key(target)).copied();
        last.map_or(Duration::ZERO, |last| {
            Duration::from_millis((last + LIVENESS_HOLD.as_millis() as u64).saturating_sub(now))
        })
    }
}

/// `after` from now, a validator's process dies and its PAT store with it; a new process
/// is up 2 s later.
fn restart_briefly(sim: &Arc<Mutex<Sim>>, uid: u16, cause: Cause, after: Duration) {
    let sim = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        {
            let mut s = lock(&sim);
            s.account();
            let v = s.by_uid(uid).unwrap();
            v.up = false;
            v.instance += 1;
            v.knows = None;
            v.store = None;
            v.loss_cause = cause;
            s.account();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut s = lock(&sim);
        s.account();
        s.by_uid(uid).unwrap().up = true;
        s.account();
    });
}

struct SimGitHub(Arc<Mutex<Sim>>);

impl PatValidator for SimGitHub {
    async fn validate(&self, pat: &Pat) -> PatVerdict {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if lock(&self.0).github_valid.iter().any(|t| t == pat.expose()) {
            PatVerdict::Valid { login: "sim-miner".into(), id: 74, expires: None }
        } else {
            PatVerdict::Rejected { reason: "GitHub GET /user: 401 Bad credentials".into() }
        }
    }
}

struct SimWorld(Arc<Mutex<Sim>>);

impl World for SimWorld {
    fn discover(&self, _: &Settings) -> BoxFuture<'static, Result<ValidatorSet, DiscoverError>> {
        let sim = self.0.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if lock(&sim).chain_stalled {
                std::future::pending::<()>().await;
            }
            let sim = lock(&sim);
            let eligible = sim
                .validators
                .iter()
                .filter(|v| v.on_chain)
                .map(|v| Target {
                    uid: v.uid,
                    hotkey: v.hotkey.clone(),
                    ip: "127.0.0.1".parse().unwrap(),
                    port: v.port,
                })
                .collect();
            Ok(ValidatorSet { eligible, skipped: vec![], source: "simulated chain".into() })
        }
        .boxed()
    }

    fn reload(&self, current: &Settings) -> BoxFuture<'static, Reloaded> {
        let (sim, settings) = (self.0.clone(), current.clone());
        async move {
            let pat = Pat::new(&lock(&sim).agent_pat).map_err(|e| e.to_string());
            Reloaded { settings: Ok(settings), pat: pat.map(|p| (p, PatSource::Environment)) }
        }
        .boxed()
    }

    fn page(&self, _: &std::path::Path, _: &str, event: AlertEvent) -> BoxFuture<'static, ()> {
        lock(&self.0).paged(event);
        async {}.boxed()
    }
}

/// What the service manager heard, with when.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<(Instant, Notice)>>>);

impl Notify for Heard {
    fn notify(&self, notice: &Notice) {
        self.0.lock().unwrap().push((Instant::now(), notice.clone()));
    }
}

struct Agent {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop: StopSwitch,
    reload: mpsc::Sender<()>,
    heard: Heard,
}

fn start_agent(sim: &Arc<Mutex<Sim>>, settings: &Settings, dir: &std::path::Path, seed: u64) -> Agent {
    let clock = {
        let mut s = lock(sim);
        s.account();
        s.agent_up = true;
        s.agent_life += 1;
        s.figures.agent_starts += 1;
        // A new process: nothing it remembers of earlier failures applies to its pacing.
        for v in &mut s.validators {
            v.last_failure = None;
        }
        Clock::starting_at(EPOCH_MS + (Instant::now() - s.started).as_millis() as u64)
    };
    let state_file = StateFile::in_dir(dir);
    let state = match state_file.load(clock.now_ms()) {
        Loaded::Resumed(state) => *state,
        Loaded::Fresh => State::default(),
        Loaded::Rebuilt { reason, .. } => panic!("the state file the agent wrote is unusable: {reason}"),
    };
    let pat = Pat::new(&lock(sim).agent_pat).unwrap();
    let heard = Heard::default();
    let parts = Parts {
        settings: settings.clone(),
        transport: Arc::new(SimNet::new(sim.clone(), lock(sim).agent_life)),
        github: Arc::new(SimGitHub(sim.clone())),
        world: Arc::new(SimWorld(sim.clone())),
        health: Health::new(Box::new(heard.clone()), Some(WATCHDOG)),
        state_file,
        state,
        pat,
        pat_source: PatSource::Environment,
        clock,
        seed,
    };
    let (stop, shutdown) = Shutdown::new();
    let (reload, reloads) = mpsc::channel(1);
    let task = tokio::spawn(Daemon::new(parts).run(shutdown, reloads));
    Agent { task, stop, reload, heard }
}

/// The service manager's view of one agent life: READY never after STOPPING, and the
/// watchdog pinged at least every half of WatchdogSec while it ran.
fn check_health(sim: &mut Sim, heard: &Heard, ended: Instant) {
    let heard = heard.0.lock().unwrap();
    let mut stopping = false;
    let mut last_ping: Option<Instant> = None;
    for (at, notice) in heard.iter() {
        match notice {
            Notice::Stopping => stopping = true,
            Notice::Ready { .. } if stopping => {
                sim.violations.push(format!("{}: READY=1 after STOPPING=1", sim.when(*at)))
            }
            Notice::Watchdog => {
                if let Some(last) = last_ping {
                    if *at - last > WATCHDOG / 2 + Duration::from_secs(1) {
                        sim.violations.push(format!(
                            "{}: the loop went {:?} without a watchdog ping",
                            sim.when(*at),
                            *at - last
                        ));
                    }
                }
                last_ping = Some(*at);
            }
            _ => {}
        }
    }
    if let Some(last) = last_ping {
        if ended - last > WATCHDOG / 2 + Duration::from_secs(1) {
            sim.violations.push(format!(
                "{}: no watchdog ping for {:?} before the agent ended",
                sim.when(ended),
                ended - last
            ));
        }
    } else {
        sim.violations.push(format!("{}: an agent life without a single watchdog ping", sim.when(ended)));
    }
}

#[derive(Debug, Clone)]
enum Fault {
    Down {
        uid: u16,
        lose_store: bool,
    },
    /// Restarts without its store 0–5 s after the agent's next check or broadcast to it.
    RestartAfterRequest {
        uid: u16,
    },
    /// Restarts without its store while the agent is stopped (down a few seconds).
    RestartWhileAgentAway {
        uid: u16,
    },
    Up {
        uid: u16,
    },
    Hang {
        uid: u16,
        on: bool,
    },
    Slow {
        uid: u16,
        on: bool,
    },
    GithubDown {
        uid: u16,
        on: bool,
    },
    Move {
        uid: u16,
    },
    Leave {
        uid: u16,
    },
    Join {
        uid: u16,
    },
    ChainStall {
        on: bool,
    },
    NetworkDown {
        on: bool,
    },
    KillAgent,
    StartAgent,
    RotatePat,
    RevokeOldPat,
}

/// Episodes of one kind: one starting about every `mean` seconds (spaced `mean/2` to
/// `3·mean/2` apart), each lasting a draw from `lasting`.
fn episodes(
    rng: &mut StdRng,
    faults: &mut Vec<(u64, Fault)>,
    mean: u64,
    lasting: std::ops::Range<u64>,
    start: Fault,
    end: Fault,
) {
    let mut t = rng.random_range(0..mean);
    while t < DAYS * DAY {
        faults.push((t, start.clone()));
        faults.push((t + rng.random_range(lasting.clone()), end.clone()));
        t += mean / 2 + rng.random_range(0..mean);
    }
}

/// The month's faults, from the seed: each kind at its own rate, per validator.
fn schedule(seed: u64) -> Vec<(u64, Fault)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut faults = Vec::new();
    let month = DAYS * DAY;
    for uid in 0..VALIDATORS {
        let kinds = [
            // Restarts that lose the store, every few days; down 10 s to 5 min.
            (3 * DAY, 10..300, Fault::Down { uid, lose_store: true }, Fault::Up { uid }),
            // Restarts that keep it.
            (2 * DAY, 5..60, Fault::Down { uid, lose_store: false }, Fault::Up { uid }),
            // Hangs: TCP accepted, nothing answered, 1 to 30 minutes.
            (5 * DAY, 60..1800, Fault::Hang { uid, on: true }, Fault::Hang { uid, on: false }),
            // Slow answers (its own GitHub look-ups retrying), 1 to 6 hours.
            (4 * DAY, HOUR..6 * HOUR, Fault::Slow { uid, on: true }, Fault::Slow { uid, on: false }),
            // GitHub unreachable from the validator, 1 to 5 hours.
            (6 * DAY, HOUR..5 * HOUR, Fault::GithubDown { uid, on: true }, Fault::GithubDown { uid, on: false }),
        ];
        for (mean, lasting, start, end) in kinds {
            episodes(&mut rng, &mut faults, mean, lasting, start, end);
        }
    }
    for uid in [3, 11, 16] {
        faults.push((rng.random_range(0..month), Fault::Move { uid }));
    }
    for uid in [5, 14] {
        let t = rng.random_range(DAY..month - 3 * DAY);
        faults.push((t, Fault::Leave { uid }));
        faults.push((t + rng.random_range(DAY..2 * DAY), Fault::Join { uid }));
    }
    for uid in VALIDATORS..VALIDATORS + LATE_JOINERS {
        faults.push((rng.random_range(2 * DAY..month - 2 * DAY), Fault::Join { uid }));
    }
    // The chain stalls for 10 min to an hour.
    episodes(
        &mut rng,
        &mut faults,
        4 * DAY,
        600..3600,
        Fault::ChainStall { on: true },
        Fault::ChainStall { on: false },
    );
    // The agent is killed and back 5 to 60 s later; meanwhile a validator may restart
    // without its store (its repair is timed from the agent's return).
    let mut t = rng.random_range(0..3 * DAY);
    while t < month {
        let away = rng.random_range(5..60);
        faults.push((t, Fault::KillAgent));
        for uid in 0..VALIDATORS {
            if rng.random_bool(0.25) {
                let at = t + rng.random_range(1..away.max(2));
                faults.push((at, Fault::RestartWhileAgentAway { uid }));
            }
        }
        faults.push((t + away, Fault::StartAgent));
        t += 3 * DAY / 2 + rng.random_range(0..3 * DAY);
    }
    // Restarts right after a request (0–5 s), a few a day over the subnet.
    for uid in 0..VALIDATORS {
        let mut t = rng.random_range(0..2 * DAY);
        while t < month {
            faults.push((t, Fault::RestartAfterRequest { uid }));
            t += DAY + rng.random_range(0..2 * DAY);
        }
    }
    // This machine's network is lost for 20 minutes to an hour, a few times a month: drawn
    // last, so that the draws above stay what they were.
    episodes(
        &mut rng,
        &mut faults,
        10 * DAY,
        1200..3600,
        Fault::NetworkDown { on: true },
        Fault::NetworkDown { on: false },
    );
    faults.push((15 * DAY + 9 * HOUR, Fault::RotatePat));
    faults.push((15 * DAY + 10 * HOUR, Fault::RevokeOldPat));
    // Stable: the kill of an agent always comes before its restart at the same second.
    faults.sort_by_key(|(t, _)| *t);
    faults
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `count` validators (those below `on_chain` eligible from the start; `pinned` locked to
/// another GitHub identity) before the agent first starts.
fn new_sim(count: u16, on_chain: u16, pinned: Option<u16>, seed: u64, settings: &Settings) -> Arc<Mutex<Sim>> {
    let started = Instant::now();
    let validators = (0..count)
        .map(|uid| SimValidator {
            uid,
            hotkey: format!("5SimValidatorHotkey{uid:02}"),
            port: 8000 + uid,
            on_chain: uid < on_chain,
            up: true,
            hung: false,
            slow: false,
            github_down: false,
            pinned: Some(uid) == pinned,
            refuses_all: false,
            unaccepted: vec![],
            store: None,
            instance: 0,
            knows: None,
            restart_after_request: None,
            loss_cause: Cause::Joined,
            exposure: None,
            pending_trouble: None,
            last_valid_for: None,
            broadcast_unanswered: false,
            locked_for: None,
            last_failure: None,
            probe_answered: None,
            able_time: Duration::ZERO,
            covered_time: Duration::ZERO,
            checks: 0,
        })
        .collect();
    Arc::new(Mutex::new(Sim {
        validators,
        github_valid: vec![PAT_1.into()],
        agent_pat: PAT_1.into(),
        agent_up: false,
        agent_life: 0,
        chain_stalled: false,
        network_down: false,
        pages: Pages::default(),
        repeat: settings.alerts.as_ref().map_or(Duration::from_secs(6 * HOUR), |a| a.repeat),
        started,
        accounted: started,
        rng: StdRng::seed_from_u64(seed),
        violations: vec![],
        figures: Figures::default(),
        backoff_base: settings.retry.base,
    }))
}

/// The timing that used to fool liveness, as it was measured on real validators: liveness
/// every 3 s, a sweep every 60 s, 12 validators, each restarting without its store 0–5 s
/// after one of the agent's checks or broadcasts every few minutes, for six hours. A probe
/// sent while that request's nonce was still recent was accepted by the new process too,
/// and the restart stayed unseen until the next sweep; held until the nonce is old, every
/// restart is caught within the hold plus one liveness interval.
#[tokio::test(start_paused = true)]
async fn restarts_right_after_a_request_are_caught_within_the_probe_hold_and_one_interval() {
    let seed: u64 = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(74);
    let file: ConfigFile = toml::from_str(
        "check_timeout_secs = 15\n[daemon]\nliveness_interval_secs = 3\nsweep_interval_secs = 60\nsweep_spread_secs = 60\n",
    )
    .unwrap();
    let settings = settings::resolve(None, file, &Flags::default(), &Env::default()).unwrap();
    let liveness = settings.daemon.liveness_interval;
    let dir =
        tempfile::Builder::new().prefix("gma-sim").tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
    const COUNT: u16 = 12;
    const HOURS: u64 = 6;
    let sim = new_sim(COUNT, COUNT, None, seed, &settings);
    let started = lock(&sim).started;
    let agent = start_agent(&sim, &settings, dir.path(), seed);
    // Settled first: every validator holds the PAT.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x16);
    let end = started + Duration::from_secs(HOURS * HOUR);
    let mut next: Vec<Instant> =
        (0..COUNT).map(|_| Instant::now() + Duration::from_secs(rng.random_range(0..300))).collect();
    loop {
        let (uid, at) = next.iter().enumerate().min_by_key(|(_, at)| **at).map(|(i, at)| (i as u16, *at)).unwrap();
        if at >= end {
            break;
        }
        tokio::time::sleep_until(at).await;
        let delay = Duration::from_millis(rng.random_range(0..5_000));
        if let Some(v) = lock(&sim).by_uid(uid) {
            v.restart_after_request = Some(delay);
        }
        next[uid as usize] = at + Duration::from_secs(rng.random_range(180..420));
    }
    tokio::time::sleep_until(end).await;
    agent.stop.stop("SIGTERM");
    let _ = tokio::time::timeout(Duration::from_secs(1), agent.task).await;
    let mut s = lock(&sim);
    s.account();
    let mut repairs: Vec<Duration> = s
        .figures
        .repairs
        .iter()
        .filter(|(_, c, t)| *c == Cause::StoreLossAfterRequest && t.is_none())
        .map(|r| r.0)
        .collect();
    repairs.sort();
    let worst = repairs.last().copied().unwrap_or_default();
    println!(
        "simulation (liveness 3 s): {} restarts 0–5 s after a request, repaired p50 {:.1} s max {:.1} s (bound: hold {:.2} s + liveness {:.0} s + 1 s); {} probes refused by a restarted axon",
        repairs.len(),
        percentile(&repairs, 0.5).as_secs_f64(),
        worst.as_secs_f64(),
        LIVENESS_HOLD.as_secs_f64(),
        liveness.as_secs_f64(),
        s.figures.probes_refused,
    );
    assert!(s.violations.is_empty(), "seed {seed}: {} violations:\n{}", s.violations.len(), s.violations.join("\n"));
    assert!(repairs.len() >= 300, "seed {seed}: only {} timed restarts", repairs.len());
    let bound = LIVENESS_HOLD + liveness + Duration::from_secs(1);
    assert!(
        worst <= bound,
        "seed {seed}: a restart right after a request was repaired only after {worst:?}, over {bound:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn thirty_days_of_a_subnet_keep_the_pat_everywhere_it_can_be() {
    let seed: u64 = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(74);
    eprintln!("simulation seed {seed} (SIM_SEED={seed} reproduces this run)");
    // The shipped defaults, with an alert hook (whose runs the simulated world counts).
    let file = settings::parse(std::path::Path::new("sim.toml"), "[alerts]\ncommand = \"/bin/true\"\n").unwrap();
    let settings = settings::resolve(None, file, &Flags::default(), &Env::default()).unwrap();
    let liveness = settings.daemon.liveness_interval;
    let check_timeout = settings.check_timeout;
    let dir =
        tempfile::Builder::new().prefix("gma-sim").tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();

    let sim = new_sim(VALIDATORS + LATE_JOINERS + 1, VALIDATORS, Some(PINNED_UID), seed, &settings);
    let started = lock(&sim).started;
    // One more, on chain all month, that refuses every broadcast (issue 18 item 11).
    if let Some(v) = lock(&sim).by_uid(REFUSER_UID) {
        v.on_chain = true;
        v.refuses_all = true;
    }

    let mut agent = Some(start_agent(&sim, &settings, dir.path(), seed));
    let faults = schedule(seed);
    let fault_count = faults.len();
    let wall = std::time::Instant::now();
    let mut day_reported = 0;
    for (at, fault) in faults {
        if at >= DAYS * DAY {
            break;
        }
        tokio::time::sleep_until(started + Duration::from_secs(at)).await;
        if at / DAY > day_reported {
            day_reported = at / DAY;
            eprintln!("  … day {day_reported} after {:.1} s", wall.elapsed().as_secs_f64());
        }
        let mut s = lock(&sim);
        s.account();
        match fault {
            Fault::Down { uid, lose_store } => {
                let v = s.by_uid(uid).unwrap();
                v.up = false;
                v.instance += 1;
                v.knows = None;
                if lose_store {
                    v.store = None;
                    v.loss_cause = Cause::StoreLoss;
                }
            }
            Fault::RestartAfterRequest { uid } => {
                let delay = Duration::from_millis(s.rng.random_range(0..5_000));
                let v = s.by_uid(uid).unwrap();
                if v.up && v.on_chain {
                    v.restart_after_request = Some(delay);
                }
            }
            Fault::RestartWhileAgentAway { uid } => {
                let agent_up = s.agent_up;
                let v = s.by_uid(uid).unwrap();
                if v.up && v.on_chain && !agent_up {
                    drop(s);
                    restart_briefly(&sim, uid, Cause::StoreLossWhileAgentAway, Duration::ZERO);
                    continue;
                }
            }
            Fault::Up { uid } => s.by_uid(uid).unwrap().up = true,
            Fault::Hang { uid, on } => s.by_uid(uid).unwrap().hung = on,
            Fault::Slow { uid, on } => s.by_uid(uid).unwrap().slow = on,
            Fault::GithubDown { uid, on } => {
                let github_valid = s.github_valid.clone();
                let v = s.by_uid(uid).unwrap();
                v.github_down = on;
                // Lacking the PAT when its GitHub comes back: it refused the PAT meanwhile,
                // and the agent retries such a validator slowly (each retry carries the PAT).
                let lacking = !v.store.as_ref().is_some_and(|t| github_valid.contains(t));
                if !on && lacking {
                    v.pending_trouble = Some("the validator's own GitHub access out before");
                }
            }
            Fault::Move { uid } => {
                let v = s.by_uid(uid).unwrap();
                v.port += 1000;
                v.instance += 1;
                v.knows = None;
            }
            Fault::Leave { uid } => s.by_uid(uid).unwrap().on_chain = false,
            Fault::Join { uid } => {
                let v = s.by_uid(uid).unwrap();
                v.on_chain = true;
                v.store = None;
                v.loss_cause = Cause::Joined;
                v.instance += 1;
                v.knows = None;
            }
            Fault::ChainStall { on } => s.chain_stalled = on,
            Fault::NetworkDown { on } => {
                if on && !s.network_down {
                    s.pages.per_outage.push(Vec::new());
                }
                s.network_down = on;
            }
            Fault::KillAgent => {
                if let Some(running) = agent.take() {
                    // kill -9: no STOPPING, no last save.
                    running.task.abort();
                    s.agent_up = false;
                    let now = Instant::now();
                    check_health(&mut s, &running.heard, now);
                }
            }
            Fault::StartAgent => {
                drop(s);
                agent = Some(start_agent(&sim, &settings, dir.path(), seed.wrapping_add(at)));
                continue;
            }
            Fault::RotatePat => {
                s.github_valid.push(PAT_2.into());
                s.agent_pat = PAT_2.into();
                if let Some(running) = &agent {
                    running.reload.try_send(()).unwrap();
                }
            }
            Fault::RevokeOldPat => {
                s.github_valid.retain(|t| t != PAT_1);
                for v in &mut s.validators {
                    v.loss_cause = Cause::Revoked;
                }
            }
        }
        s.account();
    }
    tokio::time::sleep_until(started + Duration::from_secs(DAYS * DAY)).await;
    lock(&sim).account();

    // A clean stop at the end: STOPPING and an exit within a second.
    let running = agent.take().expect("the agent runs at the end of the month");
    let asked = Instant::now();
    running.stop.stop("SIGTERM");
    let stopped = tokio::time::timeout(Duration::from_secs(1), running.task).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "the agent did not stop within 1 s: {stopped:?}");
    let mut s = lock(&sim);
    check_health(&mut s, &running.heard, asked);
    assert!(running.heard.0.lock().unwrap().iter().any(|(_, n)| *n == Notice::Stopping));

    // The figures.
    let (able, covered) =
        s.validators.iter().fold((Duration::ZERO, Duration::ZERO), |(a, c), v| (a + v.able_time, c + v.covered_time));
    let coverage = 100.0 * covered.as_secs_f64() / able.as_secs_f64();
    let mut by_cause: BTreeMap<(Cause, Option<&str>), Vec<Duration>> = BTreeMap::new();
    for (duration, cause, trouble) in &s.figures.repairs {
        by_cause.entry((*cause, *trouble)).or_default().push(*duration);
    }
    for list in by_cause.values_mut() {
        list.sort();
    }
    let restarts = by_cause.get(&(Cause::StoreLoss, None)).cloned().unwrap_or_default();
    let max_of = |cause| by_cause.get(&(cause, None)).and_then(|l| l.last().copied()).unwrap_or_default();
    let (after_request, while_away) = (max_of(Cause::StoreLossAfterRequest), max_of(Cause::StoreLossWhileAgentAway));
    let repairs = s.figures.repairs.len() as f64;
    let per_repair = s.figures.broadcasts_repairing as f64 / repairs.max(1.0);
    let validator_days = s.validators.iter().filter(|v| v.uid < VALIDATORS).count() as f64 * DAYS as f64;
    let checks_per_day = s.figures.checks as f64 / validator_days;
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let pages = &s.pages;
    let incidents: u64 = pages.incidents.values().sum();
    let outages = pages.per_outage.len();
    let outage_pages: usize = pages.per_outage.iter().map(Vec::len).sum();
    println!(
        "simulation: {DAYS} days, {VALIDATORS} validators, covered {coverage:.2}%, repair p50 {} p99 {} max {}, broadcasts per repair {per_repair:.2}, needless broadcasts {}, checks per validator per day {checks_per_day:.0}, pages {incidents} (one per incident; {outages} network outages: {outage_pages} pages)",
        secs(percentile(&restarts, 0.5)),
        secs(percentile(&restarts, 0.99)),
        secs(restarts.last().copied().unwrap_or_default()),
        s.figures.needless,
    );
    println!(
        "  pages by event: {}; {} announced again after repeat_secs, {} resolved",
        pages.incidents.iter().map(|(event, n)| format!("{event} {n}")).collect::<Vec<_>>().join(", "),
        pages.repeats,
        pages.resolved,
    );
    for ((cause, trouble), list) in &by_cause {
        println!(
            "  repairs after {cause:?}{}: {} — p50 {} p99 {} max {}",
            trouble.map(|t| format!(" ({t})")).unwrap_or_default(),
            list.len(),
            secs(percentile(list, 0.5)),
            secs(percentile(list, 0.99)),
            secs(*list.last().unwrap()),
        );
    }
    println!(
        "  restarts 0–5 s after a request: repair max {}; while the agent was away: repair max {} (from its return)",
        secs(after_request),
        secs(while_away),
    );
    println!(
        "  {fault_count} faults; {} agent starts; {} checks, {} liveness probes ({} refused by a restarted axon), {} broadcasts that repaired, {} that delivered the rotated PAT",
        s.figures.agent_starts, s.figures.checks, s.figures.probes, s.figures.probes_refused, s.figures.broadcasts_repairing, s.figures.broadcasts_rotating
    );

    let refused = &s.figures.refuser_sends;
    // Per PAT: a new one is owed at once, whatever the budget of the old one.
    let most_in_an_hour = (0..refused.len())
        .map(|i| {
            let (from, token) = &refused[i];
            refused[i..]
                .iter()
                .take_while(|(at, _)| *at - *from < Duration::from_secs(HOUR))
                .filter(|(_, t)| t == token)
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "  the validator refusing every broadcast: sent the PAT {} times in {DAYS} days ({:.1} a day), at most {most_in_an_hour} in any hour (per PAT)",
        refused.len(),
        refused.len() as f64 / DAYS as f64
    );
    assert!(s.violations.is_empty(), "seed {seed}: {} violations:\n{}", s.violations.len(), s.violations.join("\n"));
    assert!(refused.len() >= DAYS as usize, "seed {seed}: the refusing validator is still tried, slowly");
    assert!(most_in_an_hour <= 4, "seed {seed}: {most_in_an_hour} sends in an hour to a validator refusing them");
    assert_eq!(s.figures.needless, 0, "seed {seed}: needless broadcasts");
    assert!(outages > 0, "seed {seed}: the month had no network outage to count pages for");
    assert_eq!(
        s.pages.incidents.get("identity_locked"),
        Some(&1),
        "seed {seed}: the one pinned validator is one incident, down or up, across restarts and the rotation"
    );
    for (i, outage) in s.pages.per_outage.iter().enumerate() {
        assert_eq!(outage, &["no_validator_reachable"], "seed {seed}: network outage {i} paged {outage:?}, not once");
    }
    assert!(coverage >= 99.9, "seed {seed}: covered {coverage:.3}% of the time validators could hold the PAT");
    let goal = liveness + check_timeout;
    let worst = restarts.last().copied().unwrap_or_default();
    assert!(
        worst <= goal,
        "seed {seed}: a repair after a restart took {worst:?}, over liveness + check timeout {goal:?}"
    );
    // A restart right after a request is caught within the probe's hold + one interval.
    let goal_after_request = LIVENESS_HOLD + liveness + check_timeout;
    assert!(
        after_request <= goal_after_request,
        "seed {seed}: a repair after a restart 0–5 s after a request took {after_request:?}, over hold + liveness + check timeout {goal_after_request:?}"
    );
    assert!(
        while_away <= goal,
        "seed {seed}: a repair after a restart while the agent was away took {while_away:?} from its return, over liveness + check timeout {goal:?}"
    );
    let counted = |cause| by_cause.iter().filter(|((c, _), _)| *c == cause).map(|(_, l)| l.len()).sum::<usize>();
    assert!(
        counted(Cause::StoreLossAfterRequest) >= 100 && counted(Cause::StoreLossWhileAgentAway) >= 10,
        "seed {seed}: too few of the timed restarts to say anything"
    );
}

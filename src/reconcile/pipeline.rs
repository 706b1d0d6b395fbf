//! The network steps of one validator's pipeline, each a self-contained future with its
//! own deadline: a check, a broadcast, a liveness probe — and the one step shared by all
//! validators, asking GitHub about our PAT. The core runs many of these at once; none of
//! them waits for another.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::github::{PatValidator, PatVerdict, VALIDATION_DEADLINE};
use crate::secrets::Pat;
use crate::synapse::{self, BroadcastAnswer, CheckAnswer};
use crate::transport::{CallError, Liveness, Target, Transport};

/// On top of a request's own timeout, before the step gives up on it regardless: the
/// transport's timeout should always fire first.
const SLACK: Duration = Duration::from_millis(500);

/// What a finished step reports.
#[derive(Debug)]
pub enum Outcome {
    /// `generation` names the PAT that was current when it was asked.
    Checked {
        target: Target,
        answer: CheckAnswer,
        generation: u64,
    },
    /// `generation` names the PAT that was sent (it may have changed since).
    Broadcast {
        target: Target,
        answer: BroadcastAnswer,
        generation: u64,
    },
    Liveness {
        target: Target,
        liveness: Liveness,
    },
    Verdict {
        verdict: PatVerdict,
        generation: u64,
    },
}

/// A step, with the latest moment it may finish.
pub struct Step {
    pub deadline: Duration,
    pub future: BoxFuture<'static, Outcome>,
}

pub fn check<T: Transport + 'static>(transport: Arc<T>, target: Target, generation: u64, timeout: Duration) -> Step {
    let deadline = timeout + SLACK;
    let future = async move {
        let call = synapse::pat_check_call(timeout);
        let result = tokio::time::timeout(deadline, transport.call(&target, &call)).await;
        let answer = synapse::classify_check(&result.unwrap_or(Err(CallError::Timeout)));
        Outcome::Checked { target, answer, generation }
    };
    Step { deadline, future: future.boxed() }
}

/// The one step that carries the PAT. Callers decide who needs it (`super::policy`).
pub fn broadcast<T: Transport + 'static>(
    transport: Arc<T>,
    target: Target,
    pat: Pat,
    generation: u64,
    timeout: Duration,
) -> Step {
    let deadline = timeout + SLACK;
    let future = async move {
        let call = synapse::pat_broadcast_call(&pat, timeout);
        let result = tokio::time::timeout(deadline, transport.call(&target, &call)).await;
        let answer = synapse::classify_broadcast(&result.unwrap_or(Err(CallError::Timeout)));
        Outcome::Broadcast { target, answer, generation }
    };
    Step { deadline, future: future.boxed() }
}

pub fn liveness<T: Transport + 'static>(transport: Arc<T>, target: Target, timeout: Duration) -> Step {
    let deadline = timeout + SLACK;
    let future = async move {
        let liveness =
            tokio::time::timeout(deadline, transport.liveness(&target, timeout)).await.unwrap_or(Liveness::Unreachable);
        Outcome::Liveness { target, liveness }
    };
    Step { deadline, future: future.boxed() }
}

pub fn validate_pat<G: PatValidator>(github: Arc<G>, pat: Pat, generation: u64) -> Step {
    let deadline = VALIDATION_DEADLINE + SLACK;
    let future = async move {
        let verdict = tokio::time::timeout(deadline, github.validate(&pat)).await.unwrap_or_else(|_| {
            PatVerdict::Unavailable { reason: "GitHub did not answer in time".into(), retry_after_secs: None }
        });
        Outcome::Verdict { verdict, generation }
    };
    Step { deadline, future: future.boxed() }
}

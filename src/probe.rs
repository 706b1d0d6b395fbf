//! Fan-out for `check`: one PatCheck to many validators at once, bounded in concurrency,
//! each with its own timeout, answers returned in the order of the targets.

use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::synapse::{self, CheckAnswer};
use crate::transport::{CallError, Reply, SynapseCall, Target, Transport};

async fn fan_out<T: Transport, A>(
    transport: &T,
    targets: &[Target],
    call: &SynapseCall,
    concurrency: usize,
    classify: fn(&Result<Reply, CallError>) -> A,
) -> Vec<A> {
    stream::iter(targets)
        .map(|target| async move { classify(&transport.call(target, call).await) })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

pub async fn check_all<T: Transport>(
    transport: &T,
    targets: &[Target],
    timeout: Duration,
    concurrency: usize,
) -> Vec<CheckAnswer> {
    let mut answers =
        fan_out(transport, targets, &synapse::pat_check_call(timeout), concurrency, synapse::classify_check).await;
    // `check` holds no PAT: what it can mask in a validator's words is any GitHub token
    // shape, before the words are cut to what is shown.
    for answer in &mut answers {
        if let Some(reason) = answer.rejection_reason.as_mut() {
            *reason = crate::scrub::scrub(reason, &[], synapse::REASON_MAX_CHARS);
        }
    }
    answers
}

//! Fan-out: one synapse call to many validators at once, bounded in concurrency, each
//! with its own timeout, answers returned in the order of the targets.

use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::secrets::Pat;
use crate::synapse::{self, BroadcastAnswer, CheckAnswer};
use crate::transport::{Target, Transport};

pub async fn check_all<T: Transport>(
    transport: &T,
    targets: &[Target],
    timeout: Duration,
    concurrency: usize,
) -> Vec<CheckAnswer> {
    let call = synapse::pat_check_call(timeout);
    stream::iter(targets)
        .map(|target| {
            let call = &call;
            async move { synapse::classify_check(&transport.call(target, call).await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// Sends the PAT to exactly `targets`: callers decide who needs it (see `reconcile::decide`).
pub async fn broadcast_all<T: Transport>(
    transport: &T,
    targets: &[Target],
    pat: &Pat,
    timeout: Duration,
    concurrency: usize,
) -> Vec<BroadcastAnswer> {
    let call = synapse::pat_broadcast_call(pat, timeout);
    stream::iter(targets)
        .map(|target| {
            let call = &call;
            async move { synapse::classify_broadcast(&transport.call(target, call).await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

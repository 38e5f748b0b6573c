//! The policy's work in fixed shards, run on several threads.
//!
//! A batch splits into `shards` contiguous parts whose bounds depend only on the batch's size
//! and the shard count; each part's work is a pure function of its index, and the results come
//! back in shard order. So the numbers depend on the shard count, never on the thread count or
//! on which thread finished first.
//!
//! The shards run as tasks of a rayon pool: candle's CPU kernels split some loops with rayon,
//! and from a thread of the pool those loops run on the pool; from threads of our own they would
//! all queue on rayon's global pool (one thread, under `kernels_on_one_thread`) and take turns.

use std::ops::Range;

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::Result;

/// `0..n` in at most `shards` contiguous, non-empty ranges, the first ones one longer when
/// `n` does not divide evenly (none when `n` is 0).
pub(super) fn ranges(n: usize, shards: usize) -> Vec<Range<usize>> {
    let parts = shards.max(1).min(n);
    if parts == 0 {
        return Vec::new();
    }
    let (base, extra) = (n / parts, n % parts);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for k in 0..parts {
        let len = base + usize::from(k < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

/// A pool of `threads` named workers for the shards; `None` (shards run on the calling
/// thread) for one thread, or when the workers cannot be started.
pub(super) fn pool(threads: usize) -> Option<ThreadPool> {
    if threads < 2 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spelunk-shard-{i}"))
        .build()
        .ok()
}

/// `f(k, item)` for the `k`-th of `items` (one per shard), on `pool`'s threads (on the calling
/// thread without one). Results in shard order; the first error in shard order is returned.
pub(super) fn run<I, T, F>(pool: Option<&ThreadPool>, items: Vec<I>, f: F) -> Result<Vec<T>>
where
    I: Send,
    T: Send,
    F: Fn(usize, I) -> Result<T> + Sync,
{
    match pool {
        Some(pool) if items.len() > 1 => {
            let done: Vec<Result<T>> = pool.install(|| {
                items.into_par_iter().enumerate().map(|(k, item)| f(k, item)).collect()
            });
            done.into_iter().collect()
        }
        _ => items.into_iter().enumerate().map(|(k, item)| f(k, item)).collect(),
    }
}

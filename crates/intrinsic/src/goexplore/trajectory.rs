//! Archived trajectories as chains of shared segments.
//!
//! A cell found by exploring from another is reached by the source cell's trajectory and then
//! the task's actions. Copying the source's actions into every admitted entry copied about a
//! kilobyte per admission (and freed as much on every replacement); a [`Trajectory`] instead
//! points at its source's and adds only the new actions, so admitting a cell costs one small
//! allocation whatever the depth. The actions are written out flat where they are needed
//! whole: demos, checkpoints, replays.

use std::fmt;
use std::sync::Arc;

/// The actions from `reset(seed)` to a state (discrete action indices).
#[derive(Clone, Default)]
pub struct Trajectory(Option<Arc<Segment>>);

struct Segment {
    /// The actions before these.
    parent: Trajectory,
    actions: Box<[u8]>,
    /// Length of the whole trajectory.
    len: usize,
}

impl Drop for Segment {
    fn drop(&mut self) {
        // Free a long chain iteratively: the derived drop would recurse once per segment.
        let mut next = self.parent.0.take();
        while let Some(seg) = next {
            match Arc::try_unwrap(seg) {
                Ok(mut s) => next = s.parent.0.take(),
                Err(_) => break,
            }
        }
    }
}

impl Trajectory {
    /// The empty trajectory.
    pub fn new() -> Self {
        Self(None)
    }
    /// A trajectory of these actions (one segment).
    pub fn from_actions(actions: &[u8]) -> Self {
        Self::new().then(actions)
    }
    /// This trajectory followed by `actions` (shares this one; allocates only the new part).
    #[must_use]
    pub fn then(&self, actions: &[u8]) -> Self {
        if actions.is_empty() {
            return self.clone();
        }
        Self(Some(Arc::new(Segment {
            parent: self.clone(),
            actions: actions.into(),
            len: self.len() + actions.len(),
        })))
    }
    /// Number of actions.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len)
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The actions in order.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        let mut end = out.len();
        let mut at = self.0.as_deref();
        while let Some(s) = at {
            out[end - s.actions.len()..end].copy_from_slice(&s.actions);
            end -= s.actions.len();
            at = s.parent.0.as_deref();
        }
        out
    }
}

impl PartialEq for Trajectory {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_vec() == other.to_vec()
    }
}

impl fmt::Debug for Trajectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Trajectory({} actions)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_share_their_prefix_and_flatten_in_order() {
        let a = Trajectory::from_actions(&[1, 2, 3]);
        let b = a.then(&[4, 5]);
        let c = a.then(&[9]);
        assert_eq!((a.len(), b.len(), c.len()), (3, 5, 4));
        assert_eq!(b.to_vec(), vec![1, 2, 3, 4, 5]);
        assert_eq!(c.to_vec(), vec![1, 2, 3, 9]);
        assert_eq!(a.then(&[]), a);
        assert_eq!(Trajectory::new().to_vec(), Vec::<u8>::new());
        assert_eq!(b, Trajectory::from_actions(&[1, 2]).then(&[3, 4, 5]), "equal by actions");
        drop(a);
        assert_eq!(b.to_vec(), vec![1, 2, 3, 4, 5], "the prefix outlives its first owner");
    }

    #[test]
    fn a_long_chain_drops_without_deep_recursion() {
        // 200,000 one-action segments: a recursive drop would overflow a thread's stack.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut t = Trajectory::new();
                for i in 0..200_000u32 {
                    t = t.then(&[(i % 5) as u8]);
                }
                assert_eq!(t.len(), 200_000);
                drop(t);
            })
            .expect("thread");
        handle.join().expect("dropped");
    }
}

//! The [`Env`] trait: one environment with Gymnasium semantics.
//!
//! `reset(seed, options) -> info` and `step(action) -> (reward, terminated, truncated, info)`,
//! with the observation written into a caller-provided buffer ([`ObsMut`]) laid out as the
//! observation space's flat layout. Nothing is allocated per step in steady state.
//!
//! Episode rules every implementation follows:
//! - `reset(Some(seed))` reseeds the environment's generator; `reset(None)` continues its
//!   stream (so an autoresetting vector env stays deterministic).
//! - After `terminated` or `truncated`, `step` returns [`Error::NeedsReset`] until `reset`.
//! - An action outside the action space returns [`Error::InvalidAction`]; the state is
//!   unchanged.

use serde_json::Value;

use crate::{DType, Error, Result, Snapshot, Space};

/// One action, borrowed from the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action<'a> {
    /// An index into a `Discrete` space.
    Discrete(i64),
    /// One value per entry of a `MultiDiscrete` space.
    MultiDiscrete(&'a [i64]),
    /// Values of a continuous `Box` space.
    Continuous(&'a [f32]),
}

impl Action<'_> {
    /// The discrete index, or an [`Error::InvalidAction`] naming `env` and the space size.
    pub fn discrete_in(&self, env: &str, n: u64) -> Result<u64> {
        match *self {
            Action::Discrete(a) if a >= 0 && (a as u64) < n => Ok(a as u64),
            Action::Discrete(a) => Err(Error::InvalidAction {
                env: env.to_owned(),
                reason: format!("action {a} is outside Discrete({n})"),
            }),
            other => Err(Error::InvalidAction {
                env: env.to_owned(),
                reason: format!("expected a discrete action in 0..{n}, got {other:?}"),
            }),
        }
    }
}

/// A mutable observation buffer of one element type.
#[derive(Debug)]
pub enum ObsMut<'a> {
    /// Bytes.
    U8(&'a mut [u8]),
    /// Floats.
    F32(&'a mut [f32]),
}

impl<'a> ObsMut<'a> {
    /// Borrow it again for a shorter time (to pass it on and keep it).
    pub fn reborrow(&mut self) -> ObsMut<'_> {
        match self {
            ObsMut::U8(b) => ObsMut::U8(b),
            ObsMut::F32(b) => ObsMut::F32(b),
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ObsMut::U8(b) => b.len(),
            ObsMut::F32(b) => b.len(),
        }
    }
    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            ObsMut::U8(_) => DType::U8,
            ObsMut::F32(_) => DType::F32,
        }
    }
    /// Check element type and length without consuming the buffer.
    pub fn check(&self, env: &str, dtype: DType, len: usize) -> Result<()> {
        if self.dtype() == dtype && self.len() == len {
            Ok(())
        } else {
            Err(Error::ObsBuffer {
                env: env.to_owned(),
                expected: len,
                expected_dtype: dtype,
                got: self.len(),
                got_dtype: self.dtype(),
            })
        }
    }
    /// The byte buffer, checked against the expected length.
    pub fn expect_u8(self, env: &str, len: usize) -> Result<&'a mut [u8]> {
        match self {
            ObsMut::U8(b) if b.len() == len => Ok(b),
            other => Err(Error::ObsBuffer {
                env: env.to_owned(),
                expected: len,
                expected_dtype: DType::U8,
                got: other.len(),
                got_dtype: other.dtype(),
            }),
        }
    }
    /// The float buffer, checked against the expected length.
    pub fn expect_f32(self, env: &str, len: usize) -> Result<&'a mut [f32]> {
        match self {
            ObsMut::F32(b) if b.len() == len => Ok(b),
            other => Err(Error::ObsBuffer {
                env: env.to_owned(),
                expected: len,
                expected_dtype: DType::F32,
                got: other.len(),
                got_dtype: other.dtype(),
            }),
        }
    }
}

/// A read-only observation of one element type (a row of a vector env's buffer, or an
/// [`ObsBuf`] borrowed).
#[derive(Clone, Copy, Debug)]
pub enum ObsRef<'a> {
    /// Bytes.
    U8(&'a [u8]),
    /// Floats.
    F32(&'a [f32]),
}

impl<'a> ObsRef<'a> {
    /// The bytes, if this is a byte observation.
    pub fn as_u8(self) -> Option<&'a [u8]> {
        match self {
            ObsRef::U8(b) => Some(b),
            ObsRef::F32(_) => None,
        }
    }
    /// The floats, if this is a float observation.
    pub fn as_f32(self) -> Option<&'a [f32]> {
        match self {
            ObsRef::F32(b) => Some(b),
            ObsRef::U8(_) => None,
        }
    }
}

/// An owned observation buffer (one observation, or a batch back to back).
#[derive(Clone, Debug, PartialEq)]
pub enum ObsBuf {
    /// Bytes.
    U8(Vec<u8>),
    /// Floats.
    F32(Vec<f32>),
}

impl ObsBuf {
    /// A zeroed buffer of `len` elements for the space's element type.
    pub fn zeros(dtype: DType, len: usize) -> Self {
        match dtype {
            DType::U8 => ObsBuf::U8(vec![0; len]),
            DType::F32 => ObsBuf::F32(vec![0.0; len]),
        }
    }
    /// A zeroed buffer for one observation of `space`.
    pub fn for_space(space: &Space) -> Self {
        Self::zeros(space.dtype(), space.flat_len())
    }
    /// Borrow all of it mutably.
    pub fn as_mut(&mut self) -> ObsMut<'_> {
        match self {
            ObsBuf::U8(b) => ObsMut::U8(b),
            ObsBuf::F32(b) => ObsMut::F32(b),
        }
    }
    /// Borrow all of it read-only.
    pub fn view(&self) -> ObsRef<'_> {
        match self {
            ObsBuf::U8(b) => ObsRef::U8(b),
            ObsBuf::F32(b) => ObsRef::F32(b),
        }
    }
    /// Borrow elements `range` mutably.
    pub fn slice_mut(&mut self, range: std::ops::Range<usize>) -> ObsMut<'_> {
        match self {
            ObsBuf::U8(b) => ObsMut::U8(&mut b[range]),
            ObsBuf::F32(b) => ObsMut::F32(&mut b[range]),
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ObsBuf::U8(b) => b.len(),
            ObsBuf::F32(b) => b.len(),
        }
    }
    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The bytes, if this is a byte buffer.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match self {
            ObsBuf::U8(b) => Some(b),
            ObsBuf::F32(_) => None,
        }
    }
    /// The floats, if this is a float buffer.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            ObsBuf::F32(b) => Some(b),
            ObsBuf::U8(_) => None,
        }
    }
    /// Feed elements `range` into a digest.
    pub fn digest_range(&self, range: std::ops::Range<usize>, d: &mut crate::Digest) {
        match self {
            ObsBuf::U8(b) => d.bytes(&b[range]),
            ObsBuf::F32(b) => d.f32s(&b[range]),
        }
    }
}

/// Typed step/reset information. Fields an environment does not define stay `None`.
///
/// It is `Copy` so that vector environments keep one per env in a preallocated array.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Info {
    /// Agent column in the current room (gridworlds) or level.
    pub x: Option<i32>,
    /// Agent row.
    pub y: Option<i32>,
    /// Index of the room the agent is in.
    pub room: Option<u32>,
    /// Level index (Montezuma-style levels).
    pub level: Option<u32>,
    /// Held items as a bit set (bit *k*: the level's item kind *k*).
    pub inventory: Option<u64>,
    /// Cumulative score of the episode.
    pub score: Option<f32>,
    /// Lives left.
    pub lives: Option<u32>,
    /// Direction the agent faces (0 right, 1 down, 2 left, 3 up).
    pub direction: Option<u8>,
    /// The best action now (bandits), so regret can be computed.
    pub optimal_action: Option<u32>,
    /// Expected regret of the last action (bandits).
    pub regret: Option<f32>,
    /// Whether the task is solved at this step.
    pub is_success: Option<bool>,
    /// Whether the agent is watching a source of noise at this step (the noisy-TV maze's TV);
    /// not a success, so trainers never count it as one.
    pub watching_tv: Option<bool>,
}

/// An RGB image, row-major `(height, width, 3)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Image {
    /// A black image.
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, rgb: vec![0; width * height * 3] }
    }
    /// Fill a `size × size` square whose top-left pixel is `(x, y)`.
    pub fn fill_square(&mut self, x: usize, y: usize, size: usize, color: [u8; 3]) {
        for py in y..(y + size).min(self.height) {
            for px in x..(x + size).min(self.width) {
                let i = (py * self.width + px) * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }
}

/// The result of one step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Step {
    /// Extrinsic reward.
    pub reward: f32,
    /// The episode reached a terminal state of the MDP.
    pub terminated: bool,
    /// The episode was cut (time limit).
    pub truncated: bool,
    /// Typed information.
    pub info: Info,
}

/// One environment with Gymnasium semantics. See the module page for the episode rules.
pub trait Env: Send {
    /// Versioned id, e.g. `MiniGrid-DoorKey-8x8-v0`.
    fn id(&self) -> &str;
    /// Observation space; the buffer given to `reset`/`step` has its flat layout.
    fn observation_space(&self) -> &Space;
    /// Action space.
    fn action_space(&self) -> &Space;
    /// Start an episode; writes the first observation.
    fn reset(
        &mut self,
        seed: Option<u64>,
        options: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> Result<Info>;
    /// Advance one step; writes the next observation.
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step>;
    /// Write the current observation without stepping (after `restore`, for instance).
    fn observe(&self, obs: ObsMut<'_>) -> Result<()>;
    /// The current typed information.
    fn info(&self) -> Info;
    /// Save the full state exactly.
    fn snapshot(&self) -> Result<Snapshot> {
        Err(Error::NotSnapshottable { env: self.id().to_owned() })
    }
    /// Restore a state saved by [`Env::snapshot`] of the same family.
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let _ = snapshot;
        Err(Error::NotSnapshottable { env: self.id().to_owned() })
    }
    /// Re-seed the env's own randomness (sticky actions, noise, reward draws) from `seed`
    /// without changing its state. A snapshot carries the generator of the episode it was
    /// taken in, so episodes started from one snapshot would all see the same noise; starting
    /// points that should differ (privileged starts) restore, then re-seed. Envs without
    /// randomness after reset keep the default, which does nothing.
    fn reseed(&mut self, seed: u64) {
        let _ = seed;
    }
    /// A human-readable text rendering of the state, if the environment has one.
    fn render_text(&self) -> Option<String> {
        None
    }
    /// A picture of the whole state for people (not an observation), if the env has one.
    fn render_rgb(&self) -> Option<Image> {
        None
    }
    /// The tile the agent is drawn on in [`Env::render_rgb`]'s picture, as `[column, row,
    /// side]` in pixels (its top-left pixel and its size), so that recorders can overlay the
    /// agent's path and per-cell maps (visits, bonuses) on the frames.
    fn agent_tile(&self) -> Option<[u32; 3]> {
        None
    }
    /// The world as primitives with poses and colours, for recorders and viewers (3D envs);
    /// with `cameras`, each camera's images are rendered into the scene's views as well.
    fn scene(&self, cameras: bool) -> Option<crate::Scene> {
        let _ = cameras;
        None
    }
    /// The episode's instruction, if any (MiniGrid's mission string).
    fn mission(&self) -> Option<&str> {
        None
    }
    /// Names of the discrete actions, for help screens and text policies.
    fn action_names(&self) -> &[&'static str] {
        &[]
    }
    /// The time limit of an episode, if there is one.
    fn max_episode_steps(&self) -> Option<u32> {
        None
    }
}

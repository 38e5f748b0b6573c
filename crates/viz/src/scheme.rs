//! The entity paths and timelines of Spelunk's recordings: one scheme for every command, so
//! that recordings of different runs line up in one viewer.
//!
//! | entity | what | when |
//! |---|---|---|
//! | `run/config`, `run/summary` | the run's settings and final figures (Markdown) | static |
//! | `run/messages` | what the run says (solved, files written) | as said |
//! | `metrics/<name>` | every metric of an iteration (`charts/…`, `losses/…`, `cells`, …) | `iteration`, `frame` |
//! | `episodes/return`, `episodes/success`, `episodes/length` | each finished episode | when it ends |
//! | `env/frame` | the env's rendered picture | each step |
//! | `env/frame/agent`, `env/frame/path` | the agent (the centre of its tile) and its recent path, in the frame's pixels; the whole path at the episode's end | each step |
//! | `env/mission` | the instruction | each episode |
//! | `env/action`, `env/action/<k>` | the action (one value, or one per dimension) | each step |
//! | `env/reward`, `env/return` | the reward and the episode's return so far | each step |
//! | `env/bonus/<module>` | each intrinsic bonus of the transition | each step |
//! | `env/info/<field>` | `x`, `y`, `room`, `level`, `score`, `lives`, `is_success`, `regret` where the env reports them | each step |
//! | `env/maps/visits`, `env/maps/bonus/<module>` | visits and mean bonus per tile over the recording, colour-mapped | each episode's end |
//! | `world` | view coordinates (z up) and the class colours (annotation context) | static |
//! | `world/bodies/<name>` | every body's shape (static) and pose | each step for moving bodies |
//! | `world/end_effector`, `world/end_effector_path`, `world/goal` | the grip point, its path this episode, the goal | each step |
//! | `world/cameras/<name>` | each camera's pose and pinhole; `…/rgb`, `…/depth`, `…/segmentation` its images | each step |
//! | `archive/level` | the level under the cells | static |
//! | `archive/cells` | Go-Explore's cells where their states draw the agent, coloured by score, sized by times chosen | `iteration` |
//! | `archive/count`, `archive/rooms`, `archive/room_list` | cells, rooms found, and when each was first reached | `iteration` |
//! | `outcomes/points` (`outcomes/<task>/<method>/seed<k>` in the STAX experiment), `…/count` | novelty search's archived behaviour descriptors (unit square) | `generation` |
//!
//! No recording has a wall-clock timeline: two runs with the same seed write the same data.

/// Timeline names.
pub mod timeline {
    /// States recorded so far, over all episodes (each reset and each step).
    pub const ENV_STEP: &str = "env_step";
    /// The episode's number (evaluation episodes: iteration × 10⁶ + their index).
    pub const EPISODE: &str = "episode";
    /// Steps taken in the episode.
    pub const STEP: &str = "step";
    /// Training or exploration iterations.
    pub const ITERATION: &str = "iteration";
    /// Env steps (frames) a run has spent, at each iteration.
    pub const FRAME: &str = "frame";
    /// Novelty search's generations.
    pub const GENERATION: &str = "generation";
}

/// The run's settings.
pub const RUN_CONFIG: &str = "run/config";
/// The run's final figures.
pub const RUN_SUMMARY: &str = "run/summary";
/// The run's messages.
pub const MESSAGES: &str = "run/messages";
/// Iteration metrics (`metrics/<name>`).
pub const METRICS: &str = "metrics";
/// Finished episodes' returns.
pub const EPISODE_RETURN: &str = "episodes/return";
/// Finished episodes' success flags.
pub const EPISODE_SUCCESS: &str = "episodes/success";
/// Finished episodes' lengths.
pub const EPISODE_LENGTH: &str = "episodes/length";
/// The rendered frame.
pub const FRAME: &str = "env/frame";
/// The agent on the frame.
pub const AGENT: &str = "env/frame/agent";
/// The agent's path on the frame.
pub const PATH: &str = "env/frame/path";
/// The instruction.
pub const MISSION: &str = "env/mission";
/// The action.
pub const ACTION: &str = "env/action";
/// The reward.
pub const REWARD: &str = "env/reward";
/// The return so far.
pub const RETURN: &str = "env/return";
/// Intrinsic bonuses (`env/bonus/<module>`).
pub const BONUS: &str = "env/bonus";
/// Info fields (`env/info/<field>`).
pub const INFO: &str = "env/info";
/// Visits per tile.
pub const VISITS: &str = "env/maps/visits";
/// Mean bonus per tile (`env/maps/bonus/<module>`).
pub const BONUS_MAPS: &str = "env/maps/bonus";
/// The 3D world's root.
pub const WORLD: &str = "world";
/// Bodies (`world/bodies/<name>`).
pub const BODIES: &str = "world/bodies";
/// The grip point.
pub const END_EFFECTOR: &str = "world/end_effector";
/// The grip point's path.
pub const END_EFFECTOR_PATH: &str = "world/end_effector_path";
/// The goal.
pub const GOAL: &str = "world/goal";
/// Cameras (`world/cameras/<name>`).
pub const CAMERAS: &str = "world/cameras";
/// The level under the archive.
pub const ARCHIVE_LEVEL: &str = "archive/level";
/// Go-Explore's cells.
pub const ARCHIVE_CELLS: &str = "archive/cells";
/// Number of cells.
pub const ARCHIVE_COUNT: &str = "archive/count";
/// Rooms found.
pub const ARCHIVE_ROOMS: &str = "archive/rooms";
/// When each room was first reached.
pub const ARCHIVE_ROOM_LIST: &str = "archive/room_list";
/// Novelty search's outcomes: `outcomes/points` for one search, and
/// `outcomes/<task>/<method>/seed<k>` for each search of the STAX experiment; `…/count`
/// beside each.
pub const OUTCOMES_ROOT: &str = "outcomes";
/// One search's outcomes.
pub const OUTCOMES: &str = "outcomes/points";

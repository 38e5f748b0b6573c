//! What a viewer shows, without the viewer: episodes as sequences of states, each state what
//! the env says about itself (its picture and the agent's tile for grid worlds, its scene of
//! primitives for 3D worlds), and the checks that prove a rendered picture shows that state.
//!
//! The Bevy viewer (`crates/viewer`, `spelunk-viewer`) draws these states; everything it
//! decides about an episode — re-simulating an episode file and checking it state by state,
//! a policy acting live, keyboard teleoperation, comparing a screenshot with the env's own
//! rendering — lives here, so that it is tested with the rest of the library and usable from
//! any front end.
//!
//! ```no_run
//! # fn main() -> spelunk_experiments::Result<()> {
//! use spelunk_experiments::view::{replay_file, ViewEvent};
//! let file = spelunk_core::EpisodeFile::load("eps/episode_0.json".as_ref())?;
//! let mut states = 0;
//! replay_file(&file, 0, &mut |e| {
//!     states += usize::from(matches!(e, ViewEvent::State(_)));
//!     true
//! })?;
//! println!("{states} states, each checked against the recording");
//! # Ok(()) }
//! ```

use serde_json::Value;
use spelunk_core::{
    CameraView, DemoAction, Env, EnvStep, EpisodeFile, EpisodeFinished, EpisodeStarted, Image,
    Info, ObsBuf, Observer, ObserverResult, Scene, SceneClass, Space,
};

use crate::error::{bail, Context as _, Result};
use crate::record::{record, RecordSpec};

/// One state of an episode as a viewer draws it.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    /// The episode's number in the stream (0, 1, …).
    pub episode: u64,
    /// Steps taken in the episode (0 after the reset).
    pub step: u64,
    /// The action that led here (none after the reset).
    pub action: Option<DemoAction>,
    /// The action's name, for envs that name their discrete actions.
    pub action_name: Option<String>,
    /// The step's reward (0 after the reset).
    pub reward: f64,
    /// The episode's return so far.
    pub episodic_return: f64,
    /// Each intrinsic bonus of the transition, by module.
    pub bonuses: Vec<(String, f64)>,
    /// The episode ended in a terminal state here.
    pub terminated: bool,
    /// The episode was cut here.
    pub truncated: bool,
    /// The env's info.
    pub info: Info,
    /// The env's picture (grid worlds, Montezuma-style levels; not for envs with a scene).
    pub frame: Option<Image>,
    /// The agent's tile in `frame`: `[column, row, side]` in pixels.
    pub agent_tile: Option<[u32; 3]>,
    /// The 3D world (arm tasks), without camera images.
    pub scene: Option<Scene>,
    /// The instruction, if any.
    pub mission: Option<String>,
}

impl ViewState {
    /// What `env` shows now: its scene, if it has one (3D worlds, whose picture would be a
    /// camera's ray cast), else its picture.
    pub fn of_env(env: &dyn Env, episode: u64, step: u64) -> Self {
        let scene = env.scene(false);
        Self {
            episode,
            step,
            info: env.info(),
            frame: if scene.is_none() { env.render_rgb() } else { None },
            agent_tile: env.agent_tile(),
            scene,
            mission: env.mission().map(str::to_owned),
            ..Self::default()
        }
    }

    /// Fill in what the step did (`return_before` is the episode's return before it, `info`
    /// the step's own).
    fn with_step(
        mut self,
        env: &dyn Env,
        action: DemoAction,
        reward: f64,
        return_before: f64,
        flags: (bool, bool),
        info: Info,
    ) -> Self {
        self.info = info;
        if let DemoAction::Discrete(a) = action {
            self.action_name = usize::try_from(a)
                .ok()
                .and_then(|k| env.action_names().get(k))
                .map(|s| (*s).to_owned());
        }
        self.action = Some(action);
        self.reward = reward;
        self.episodic_return = return_before + reward;
        (self.terminated, self.truncated) = flags;
        self
    }

    /// Whether the episode ends at this state.
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// What a stream of episodes tells a viewer.
#[derive(Clone, Debug)]
pub enum ViewEvent {
    /// A state (the first of an episode has `step == 0`).
    State(Box<ViewState>),
    /// An episode ended.
    EpisodeFinished {
        /// Its number in the stream.
        episode: u64,
        /// Its undiscounted return.
        episodic_return: f64,
        /// Whether the env reported success.
        success: bool,
    },
}

/// Where the states go: `false` means nobody watches any more, and the stream stops.
pub type ViewSink<'a> = dyn FnMut(ViewEvent) -> bool + 'a;

/// An observer that turns a run's episode and step events into [`ViewEvent`]s.
struct Collector<'s, 'a> {
    sink: &'s mut ViewSink<'a>,
    /// The stream's number of the current episode.
    episode: u64,
    /// Episodes started so far.
    started: u64,
    episodic_return: f64,
}

fn closed() -> spelunk_core::ObserverError {
    "the viewer was closed".into()
}

impl Observer for Collector<'_, '_> {
    fn wants_steps(&self) -> bool {
        true
    }
    fn episode_started(&mut self, e: &EpisodeStarted<'_>) -> ObserverResult {
        self.episode = self.started;
        self.started += 1;
        self.episodic_return = 0.0;
        let state = ViewState::of_env(e.env, self.episode, 0);
        if (self.sink)(ViewEvent::State(Box::new(state))) {
            Ok(())
        } else {
            Err(closed())
        }
    }
    fn env_step(&mut self, e: &EnvStep<'_>) -> ObserverResult {
        let action = e.action.into();
        let mut state = ViewState::of_env(e.env, self.episode, e.step).with_step(
            e.env,
            action,
            e.reward,
            self.episodic_return,
            (e.terminated, e.truncated),
            e.info,
        );
        state.bonuses = e.bonuses.iter().map(|&(n, v)| (n.to_owned(), v)).collect();
        self.episodic_return = state.episodic_return;
        if (self.sink)(ViewEvent::State(Box::new(state))) {
            Ok(())
        } else {
            Err(closed())
        }
    }
    fn episode_finished(&mut self, e: &EpisodeFinished) -> ObserverResult {
        let event = ViewEvent::EpisodeFinished {
            episode: self.episode,
            episodic_return: e.episodic_return,
            success: e.success,
        };
        if (self.sink)(event) {
            Ok(())
        } else {
            Err(closed())
        }
    }
}

/// Re-simulate an episode file in a fresh env of its id and config, checking every state
/// against the file's checksum, and tell `sink` each state as episode `episode` of the
/// stream (then the episode's end). Fails at the first state that differs, naming it, before
/// that state reaches the sink.
pub fn replay_file(
    file: &EpisodeFile,
    episode: u64,
    sink: &mut ViewSink<'_>,
) -> Result<EpisodeFinished> {
    let make = crate::registry().factory(&file.env, file.env_config.clone());
    let mut env = make(None).with_context(|| format!("making {} for the replay", file.env))?;
    let mut c = Collector { sink, episode, started: episode, episodic_return: 0.0 };
    let finished = file.replay(env.as_mut(), episode, &mut c)?;
    c.episode_finished(&finished)?;
    Ok(finished)
}

/// A fresh env of the file's id and config at state `state` of the episode (0: just reset),
/// each state on the way checked against the file's checksum.
pub fn env_at(file: &EpisodeFile, state: usize) -> Result<Box<dyn Env>> {
    if state > file.actions.len() {
        bail!("the episode has states 0..={}, not {state}", file.actions.len());
    }
    let part = EpisodeFile {
        actions: file.actions[..state].to_vec(),
        checksums: file.checksums[..=state].to_vec(),
        ..file.clone()
    };
    let make = crate::registry().factory(&file.env, file.env_config.clone());
    let mut env = make(None).with_context(|| format!("making {} for the replay", file.env))?;
    part.replay(env.as_mut(), 0, &mut spelunk_core::Observers::new())?;
    Ok(env)
}

/// Episodes played by `spec`'s actor (random, scripted or a trained run's policy), each
/// state told to `sink` as it happens; stops early, without an error, when the sink says
/// nobody watches any more.
pub fn live(spec: &RecordSpec, sink: &mut ViewSink<'_>) -> Result<()> {
    let mut watching = true;
    let mut guard = |e: ViewEvent| {
        watching = sink(e);
        watching
    };
    let mut c = Collector { sink: &mut guard, episode: 0, started: 0, episodic_return: 0.0 };
    match record(spec, &mut c) {
        Ok(_) => Ok(()),
        Err(_) if !watching => Ok(()),
        Err(e) => Err(e),
    }
}

/// A key a person presses to drive an env ([`Teleop`]); each env maps the keys it has a
/// meaning for and ignores the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeleopKey {
    /// Arrow up: forward (MiniGrid), up (level and maze envs), +x (arm).
    Up,
    /// Arrow down: down (level and maze envs), −x (arm).
    Down,
    /// Arrow left: turn left (MiniGrid), left (level and maze envs), +y (arm).
    Left,
    /// Arrow right: turn right (MiniGrid), right (level and maze envs), −y (arm).
    Right,
    /// Raise the gripper (+z).
    Raise,
    /// Lower the gripper (−z).
    Lower,
    /// Open or close the gripper.
    Grip,
    /// Pick up (MiniGrid).
    Pickup,
    /// Drop (MiniGrid).
    Drop,
    /// Toggle, open a door (MiniGrid); the remote (noisy-TV maze).
    Toggle,
    /// Done (MiniGrid).
    Done,
    /// Wait a step.
    Wait,
}

impl TeleopKey {
    /// The names a discrete action may carry for this key, first match wins.
    fn action_names(self) -> &'static [&'static str] {
        match self {
            TeleopKey::Up => &["forward", "up"],
            TeleopKey::Down => &["down"],
            TeleopKey::Left => &["left"],
            TeleopKey::Right => &["right"],
            TeleopKey::Pickup => &["pickup"],
            TeleopKey::Drop => &["drop"],
            TeleopKey::Toggle => &["toggle", "remote"],
            TeleopKey::Done => &["done"],
            TeleopKey::Wait => &["noop"],
            TeleopKey::Raise | TeleopKey::Lower | TeleopKey::Grip => &[],
        }
    }
}

/// An env driven from the keyboard, one step per key press.
pub struct Teleop {
    env: Box<dyn Env>,
    obs: ObsBuf,
    seed: u64,
    episode: u64,
    step: u64,
    episodic_return: f64,
    /// The arm's gripper command (+1 open, −1 closed).
    grip: f32,
    done: bool,
}

impl std::fmt::Debug for Teleop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Teleop({}, episode {}, step {})", self.env.id(), self.episode, self.step)
    }
}

impl Teleop {
    /// `env` (with `config` overrides) reset with `seed`; returns the first state too.
    pub fn new(env: &str, config: Option<Value>, seed: u64) -> Result<(Self, ViewState)> {
        let env = crate::registry().factory(env, config)(None)?;
        let keys_mean_something = match env.action_space() {
            Space::Discrete { .. } => !env.action_names().is_empty(),
            Space::Box { shape, .. } => shape.iter().product::<usize>() == 4,
            _ => false,
        };
        if !keys_mean_something {
            bail!(
                "{} cannot be driven from the keyboard: teleoperation knows envs with named \
                 discrete actions (grid worlds, levels, mazes) and the arm tasks' Δxyz + gripper \
                 action",
                env.id()
            );
        }
        let obs = ObsBuf::for_space(env.observation_space());
        let mut t = Self {
            env,
            obs,
            seed,
            episode: 0,
            step: 0,
            episodic_return: 0.0,
            grip: 1.0,
            done: false,
        };
        let first = t.reset_with(seed)?;
        Ok((t, first))
    }

    /// The env.
    pub fn env(&self) -> &dyn Env {
        self.env.as_ref()
    }

    fn reset_with(&mut self, seed: u64) -> Result<ViewState> {
        self.env.reset(Some(seed), None, self.obs.as_mut())?;
        (self.step, self.episodic_return, self.grip, self.done) = (0, 0.0, 1.0, false);
        Ok(ViewState::of_env(self.env.as_ref(), self.episode, 0))
    }

    /// Start the next episode (seed + 1).
    pub fn next_episode(&mut self) -> Result<ViewState> {
        self.episode += 1;
        self.reset_with(self.seed + self.episode)
    }

    /// The action a key means for this env, if any.
    pub fn action_for(&mut self, key: TeleopKey) -> Option<DemoAction> {
        if let Space::Discrete { .. } = self.env.action_space() {
            let names = self.env.action_names();
            return key.action_names().iter().find_map(|want| {
                names.iter().position(|n| n == want).map(|k| DemoAction::Discrete(k as i64))
            });
        }
        let mut a = [0.0, 0.0, 0.0, self.grip];
        match key {
            TeleopKey::Up => a[0] = 1.0,
            TeleopKey::Down => a[0] = -1.0,
            TeleopKey::Left => a[1] = 1.0,
            TeleopKey::Right => a[1] = -1.0,
            TeleopKey::Raise => a[2] = 1.0,
            TeleopKey::Lower => a[2] = -1.0,
            TeleopKey::Grip => {
                self.grip = -self.grip;
                a[3] = self.grip;
            }
            TeleopKey::Wait => {}
            _ => return None,
        }
        Some(DemoAction::Continuous(a.to_vec()))
    }

    /// Press `key`: one step when it means an action here and the episode has not ended.
    pub fn press(&mut self, key: TeleopKey) -> Result<Option<ViewState>> {
        if self.done {
            return Ok(None);
        }
        let Some(action) = self.action_for(key) else { return Ok(None) };
        let s = self.env.step(action.as_action(), self.obs.as_mut())?;
        self.step += 1;
        let reward = f64::from(s.reward);
        let state = ViewState::of_env(self.env.as_ref(), self.episode, self.step).with_step(
            self.env.as_ref(),
            action,
            reward,
            self.episodic_return,
            (s.terminated, s.truncated),
            s.info,
        );
        self.episodic_return = state.episodic_return;
        self.done = state.done();
        Ok(Some(state))
    }
}

/// How many of a check's pixels agreed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PixelCheck {
    /// Pixels compared.
    pub checked: usize,
    /// Pixels that agreed.
    pub matched: usize,
}

impl PixelCheck {
    /// The fraction that agreed (1 when nothing was compared).
    pub fn fraction(&self) -> f64 {
        if self.checked == 0 {
            1.0
        } else {
            self.matched as f64 / self.checked as f64
        }
    }
}

fn pixel(img: &Image, x: usize, y: usize) -> [u8; 3] {
    let i = (y * img.width + x) * 3;
    [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]]
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

/// Compare a screenshot with an env's picture drawn into it at `origin` (its top-left pixel)
/// magnified `scale` times: the centre of each magnified pixel must have the picture's
/// colour (within 2 per channel). Pixels that fall outside the screenshot count as misses.
pub fn check_frame(shot: &Image, frame: &Image, origin: [usize; 2], scale: usize) -> PixelCheck {
    let mut c = PixelCheck::default();
    for y in 0..frame.height {
        for x in 0..frame.width {
            c.checked += 1;
            let (sx, sy) = (origin[0] + x * scale + scale / 2, origin[1] + y * scale + scale / 2);
            if sx < shot.width
                && sy < shot.height
                && close(pixel(shot, sx, sy), pixel(frame, x, y), 2)
            {
                c.matched += 1;
            }
        }
    }
    c
}

/// The agent's tile of a state's picture, checked in a screenshot as [`check_frame`] does.
pub fn check_agent_tile(
    shot: &Image,
    frame: &Image,
    tile: [u32; 3],
    origin: [usize; 2],
    scale: usize,
) -> PixelCheck {
    let [col, row, side] = tile.map(|v| v as usize);
    let mut sub = Image::new(side, side);
    for y in 0..side {
        for x in 0..side {
            let i = (y * side + x) * 3;
            sub.rgb[i..i + 3].copy_from_slice(&pixel(frame, col + x, row + y));
        }
    }
    check_frame(shot, &sub, [origin[0] + col * scale, origin[1] + row * scale], scale)
}

/// One class's agreement between a screenshot drawn in flat class colours through a camera
/// and the env's own segmentation through the same camera.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassCheck {
    /// The class's name (`nothing` for the background).
    pub name: String,
    /// Its pixels inside its regions of the env's segmentation (all four neighbours of the
    /// same class), and how many of them the screenshot gives the class's colour (the nearest
    /// of the classes' colours and the background's).
    pub pixels: PixelCheck,
    /// The same for its pixels on a region's edge, where a rasteriser's tessellated shapes
    /// and coverage rule and the ray cast's exact shapes may disagree by a pixel.
    pub edges: PixelCheck,
}

/// Compare a screenshot of `camera`'s view, `scale` times its size and drawn in flat colours
/// (each body its class's colour, `background` where nothing is), with the env's ray-cast
/// segmentation from the same camera: per class, how many of its pixels have its colour,
/// inside its regions and on their edges.
pub fn check_classes(
    shot: &Image,
    camera: &CameraView,
    classes: &[SceneClass],
    background: [u8; 3],
    scale: usize,
) -> Result<Vec<ClassCheck>> {
    if camera.segmentation.len() != camera.width * camera.height {
        bail!("camera {} has no segmentation image (render the scene with cameras)", camera.name);
    }
    if shot.width != camera.width * scale || shot.height != camera.height * scale {
        bail!(
            "the screenshot is {}x{}, not camera {}'s {}x{} times {scale}",
            shot.width,
            shot.height,
            camera.name,
            camera.width,
            camera.height
        );
    }
    let mut palette: Vec<(u8, [u8; 3])> = vec![(0, background)];
    palette.extend(classes.iter().filter(|c| c.id != 0).map(|c| (c.id, c.color)));
    let mut out: Vec<(u8, ClassCheck)> = palette
        .iter()
        .map(|&(id, _)| {
            let name = classes.iter().find(|c| c.id == id).map_or("nothing", |c| &c.name);
            let none = PixelCheck::default();
            (id, ClassCheck { name: name.to_owned(), pixels: none, edges: none })
        })
        .collect();
    let seg = |u: usize, v: usize| camera.segmentation[v * camera.width + u];
    for v in 0..camera.height {
        for u in 0..camera.width {
            let want = seg(u, v);
            let edge = (u > 0 && seg(u - 1, v) != want)
                || (u + 1 < camera.width && seg(u + 1, v) != want)
                || (v > 0 && seg(u, v - 1) != want)
                || (v + 1 < camera.height && seg(u, v + 1) != want);
            let got = pixel(shot, u * scale + scale / 2, v * scale + scale / 2);
            let nearest = palette
                .iter()
                .min_by_key(|(_, c)| {
                    c.iter()
                        .zip(got)
                        .map(|(&a, b)| (i32::from(a) - i32::from(b)).pow(2))
                        .sum::<i32>()
                })
                .map(|&(id, _)| id);
            if let Some((_, check)) = out.iter_mut().find(|(id, _)| *id == want) {
                let tally = if edge { &mut check.edges } else { &mut check.pixels };
                tally.checked += 1;
                tally.matched += usize::from(nearest == Some(want));
            }
        }
    }
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// The scene of `env`'s current state with its cameras' images (for [`check_classes`]).
pub fn scene_with_cameras(env: &dyn Env) -> Result<Scene> {
    match env.scene(true) {
        Some(s) => Ok(s),
        None => bail!("{} has no 3D scene", env.id()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observers::EpisodeFiles;
    use crate::record::Actor;

    /// `episodes` episodes of `env` by `actor`, written as episode files and read back.
    fn episode_files(env: &str, actor: Actor, episodes: usize, tag: &str) -> Vec<EpisodeFile> {
        let dir = std::env::temp_dir().join(format!("spelunk-view-{tag}-{}", std::process::id()));
        let mut files = EpisodeFiles::new(&dir, None).unwrap();
        let spec = RecordSpec { actor, episodes, seed: 5, ..RecordSpec::new(env) };
        record(&spec, &mut files).unwrap();
        let paths = files.finish().unwrap();
        let out = paths.iter().map(|p| EpisodeFile::load(p).unwrap()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    fn states_of(file: &EpisodeFile) -> (Vec<ViewState>, Vec<ViewEvent>) {
        let (mut states, mut ends) = (Vec::new(), Vec::new());
        replay_file(file, 3, &mut |e| {
            match e {
                ViewEvent::State(s) => states.push(*s),
                other @ ViewEvent::EpisodeFinished { .. } => ends.push(other),
            }
            true
        })
        .unwrap();
        (states, ends)
    }

    #[test]
    fn a_replayed_grid_episode_shows_every_state_as_the_env_renders_it() {
        let [file] = &episode_files("MiniGrid-DoorKey-8x8-v0", Actor::Random, 1, "grid")[..] else {
            panic!("one file")
        };
        let (states, ends) = states_of(file);
        assert_eq!(states.len(), file.actions.len() + 1);
        // An independent run of the same actions renders the same pictures.
        let mut env = crate::registry().make(&file.env).unwrap();
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(file.seed), None, obs.as_mut()).unwrap();
        let mut ret = 0.0;
        for (k, s) in states.iter().enumerate() {
            if k > 0 {
                let step = env.step(file.actions[k - 1].as_action(), obs.as_mut()).unwrap();
                ret += f64::from(step.reward);
                assert_eq!(s.action.as_ref(), Some(&file.actions[k - 1]));
                let name = env.action_names()[usize::try_from(match file.actions[k - 1] {
                    DemoAction::Discrete(a) => a,
                    DemoAction::Continuous(_) => unreachable!(),
                })
                .unwrap()];
                assert_eq!(s.action_name.as_deref(), Some(name));
            }
            assert_eq!((s.episode, s.step), (3, k as u64));
            assert_eq!(s.frame, env.render_rgb(), "state {k}");
            assert!((s.episodic_return - ret).abs() < 1e-9);
            // The agent's tile is where info says the agent is.
            let [col, row, side] = s.agent_tile.unwrap();
            assert_eq!(
                [col / side, row / side],
                [s.info.x.unwrap() as u32, s.info.y.unwrap() as u32]
            );
            assert_eq!(s.mission.as_deref(), env.mission());
        }
        // Only the last state ends the episode (reached the goal, or the time limit).
        assert!(states.last().unwrap().done());
        assert!(states[..states.len() - 1].iter().all(|s| !s.done()));
        assert!(matches!(
            ends[..],
            [ViewEvent::EpisodeFinished { episode: 3, episodic_return, .. }]
                if (episodic_return - ret).abs() < 1e-9
        ));
        // env_at is the env at a state of the file.
        let k = file.actions.len() / 2;
        assert_eq!(env_at(file, k).unwrap().render_rgb(), states[k].frame);
        assert!(env_at(file, file.actions.len() + 1).is_err());
    }

    #[test]
    fn a_changed_episode_stops_before_the_state_that_differs_reaches_the_viewer() {
        let mut files = episode_files("MiniGrid-DoorKey-5x5-v0", Actor::Random, 1, "edit");
        let file = &mut files[0];
        let k = file.actions.len() / 2;
        file.actions[k] = match file.actions[k] {
            DemoAction::Discrete(a) => DemoAction::Discrete((a + 1) % 3),
            DemoAction::Continuous(_) => unreachable!(),
        };
        let mut shown = 0;
        let err = replay_file(file, 0, &mut |e| {
            shown += usize::from(matches!(e, ViewEvent::State(_)));
            true
        });
        let message = err.unwrap_err().to_string();
        // States 0..=k were shown; state k + 1 differs (unless the changed action did the
        // same as the recorded one, which DoorKey's turning actions never do).
        assert_eq!(shown, k + 1, "{message}");
        assert!(message.contains(&format!("state {} differs", k + 1)), "{message}");
        assert!(env_at(file, k + 1).is_err());
        assert!(env_at(file, k).is_ok());
    }

    #[test]
    fn a_3d_episode_shows_its_scene_and_live_play_stops_when_nobody_watches() {
        let files = episode_files("Arm-Reach-v0", Actor::Scripted, 1, "arm");
        let (states, _) = states_of(&files[0]);
        let scene = states[0].scene.as_ref().expect("a scene");
        assert!(scene.bodies.iter().any(|b| b.name == "table"));
        assert!(scene.cameras.iter().any(|c| c.name == "front" && c.rgb.is_empty()));
        let path: Vec<[f32; 3]> =
            states.iter().map(|s| s.scene.as_ref().unwrap().end_effector.unwrap()).collect();
        let moved = |w: &[[f32; 3]]| w[0].iter().zip(w[1]).any(|(a, b)| (a - b).abs() > 1e-4);
        assert!(path.windows(2).any(moved), "the gripper moves");
        let last = states.last().unwrap();
        assert_eq!(last.info.is_success, Some(true), "the scripted controller reaches");
        // Live: the same controller's states, the stream stopped after five.
        let spec = RecordSpec {
            actor: Actor::Scripted,
            episodes: 2,
            seed: 5,
            ..RecordSpec::new("Arm-Reach-v0")
        };
        let mut got = Vec::new();
        live(&spec, &mut |e| {
            if let ViewEvent::State(s) = e {
                got.push(*s);
            }
            got.len() < 5
        })
        .unwrap();
        assert_eq!(got.len(), 5);
        for (a, b) in got.iter().zip(&states) {
            assert_eq!(a.scene, b.scene);
            assert_eq!(a.action, b.action);
        }
        // The whole stream numbers its episodes.
        let mut episodes = Vec::new();
        live(&spec, &mut |e| {
            if let ViewEvent::State(s) = e {
                if s.step == 0 {
                    episodes.push(s.episode);
                }
            }
            true
        })
        .unwrap();
        assert_eq!(episodes, [0, 1]);
    }

    #[test]
    fn teleop_keys_are_the_envs_actions() {
        let (mut t, first) = Teleop::new("MiniGrid-DoorKey-5x5-v0", None, 1).unwrap();
        let dir = first.info.direction.unwrap();
        let s = t.press(TeleopKey::Left).unwrap().expect("a step");
        assert_eq!(s.action_name.as_deref(), Some("left"));
        assert_eq!(s.info.direction, Some((dir + 3) % 4));
        assert_eq!(t.action_for(TeleopKey::Up), Some(DemoAction::Discrete(2)));
        assert_eq!(t.action_for(TeleopKey::Toggle), Some(DemoAction::Discrete(5)));
        assert!(t.press(TeleopKey::Raise).unwrap().is_none(), "no arm keys on a grid");
        let next = t.next_episode().unwrap();
        assert_eq!((next.episode, next.step), (1, 0));

        let (mut m, _) = Teleop::new("Montezuma-Lite-v0", None, 0).unwrap();
        assert_eq!(m.action_for(TeleopKey::Up), Some(DemoAction::Discrete(1)));
        assert_eq!(m.action_for(TeleopKey::Wait), Some(DemoAction::Discrete(0)));

        let (mut arm, first) = Teleop::new("Arm-Reach-v0", None, 0).unwrap();
        let x0 = first.scene.unwrap().end_effector.unwrap()[0];
        let mut s = None;
        for _ in 0..3 {
            s = arm.press(TeleopKey::Up).unwrap();
        }
        let x3 = s.unwrap().scene.unwrap().end_effector.unwrap()[0];
        assert!(x3 > x0 + 0.03, "three +x steps move the gripper: {x0} → {x3}");
        let close = arm.action_for(TeleopKey::Grip).unwrap();
        assert_eq!(close, DemoAction::Continuous(vec![0.0, 0.0, 0.0, -1.0]));
        assert_eq!(
            arm.action_for(TeleopKey::Lower),
            Some(DemoAction::Continuous(vec![0.0, 0.0, -1.0, -1.0]))
        );

        let err = Teleop::new("Bandit-Bernoulli-10-v0", None, 0).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("cannot be driven from the keyboard"), "{err}");
    }

    fn magnify(frame: &Image, origin: [usize; 2], scale: usize, size: [usize; 2]) -> Image {
        let mut shot = Image::new(size[0], size[1]);
        for y in 0..frame.height * scale {
            for x in 0..frame.width * scale {
                let i = ((origin[1] + y) * shot.width + origin[0] + x) * 3;
                shot.rgb[i..i + 3].copy_from_slice(&pixel(frame, x / scale, y / scale));
            }
        }
        shot
    }

    #[test]
    fn screenshot_checks_find_each_pixel_that_differs() {
        let mut env = crate::registry().make("MiniGrid-DoorKey-5x5-v0").unwrap();
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(2), None, obs.as_mut()).unwrap();
        let frame = env.render_rgb().unwrap();
        let tile = env.agent_tile().unwrap();
        let shot = magnify(&frame, [0, 0], 3, [frame.width * 3 + 50, frame.height * 3]);
        let all = check_frame(&shot, &frame, [0, 0], 3);
        assert_eq!(
            (all.matched, all.checked),
            (frame.width * frame.height, frame.width * frame.height)
        );
        let side = tile[2] as usize;
        assert_eq!(check_agent_tile(&shot, &frame, tile, [0, 0], 3).matched, side * side);
        // One magnified pixel off by more than the tolerance, inside the agent's tile.
        let mut bad = shot.clone();
        let (x, y) = (tile[0] as usize * 3 + 1, tile[1] as usize * 3 + 1);
        bad.rgb[(y * bad.width + x) * 3] ^= 0x40;
        assert_eq!(check_frame(&bad, &frame, [0, 0], 3).matched, all.checked - 1);
        assert_eq!(check_agent_tile(&bad, &frame, tile, [0, 0], 3).matched, side * side - 1);
        // Drawn a tile off, or too small: pixels miss.
        assert!(check_frame(&shot, &frame, [side * 3, 0], 3).matched < all.checked);
        let small = magnify(&frame, [0, 0], 1, [frame.width, frame.height]);
        assert!(check_frame(&small, &frame, [0, 0], 3).fraction() < 0.5);

        // Classes: the env's own segmentation, painted in class colours, agrees everywhere.
        let mut arm = crate::registry().make("Arm-Push-v0").unwrap();
        let mut obs = ObsBuf::for_space(arm.observation_space());
        arm.reset(Some(4), None, obs.as_mut()).unwrap();
        let scene = scene_with_cameras(arm.as_ref()).unwrap();
        let cam = scene.cameras.iter().find(|c| c.name == "front").unwrap().clone();
        let bg = [52, 56, 66];
        let mut painted = Image::new(cam.width, cam.height);
        for (k, &c) in cam.segmentation.iter().enumerate() {
            let color = if c == 0 { bg } else { scene.color(c) };
            painted.rgb[k * 3..k * 3 + 3].copy_from_slice(&color);
        }
        let shot = magnify(&painted, [0, 0], 2, [cam.width * 2, cam.height * 2]);
        let checks = check_classes(&shot, &cam, &scene.classes, bg, 2).unwrap();
        let object = checks.iter().find(|c| c.name == "object").unwrap();
        assert!(object.pixels.checked > 20, "the cube is in view");
        assert!(object.edges.checked > 8, "the cube has edges");
        let agree = |p: PixelCheck| p.matched == p.checked;
        assert!(checks.iter().all(|c| agree(c.pixels) && agree(c.edges)), "{checks:?}");
        // The cube painted as the table: every cube pixel misses.
        let table = scene.classes.iter().find(|c| c.name == "table").unwrap().color;
        let object_id = scene.classes.iter().find(|c| c.name == "object").unwrap().id;
        let mut wrong = painted.clone();
        for (k, &c) in cam.segmentation.iter().enumerate() {
            if c == object_id {
                wrong.rgb[k * 3..k * 3 + 3].copy_from_slice(&table);
            }
        }
        let shot = magnify(&wrong, [0, 0], 2, [cam.width * 2, cam.height * 2]);
        let checks = check_classes(&shot, &cam, &scene.classes, bg, 2).unwrap();
        let object = checks.iter().find(|c| c.name == "object").unwrap();
        assert_eq!((object.pixels.matched, object.edges.matched), (0, 0));
        assert!(check_classes(&painted, &cam, &scene.classes, bg, 2).is_err(), "wrong size");
    }
}

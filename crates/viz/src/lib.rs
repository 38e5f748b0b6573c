//! `spelunk-viz`: Rerun recordings of what runs do — episodes of every env family (frames,
//! the agent and its path, rewards, bonuses, per-cell maps; 3D arm scenes with every body,
//! the end effector's path and each camera with its images), training metrics, Go-Explore's
//! archive and novelty search's outcomes.
//!
//! [`Recorder`] is an [`Observer`]: it watches a run through the run-event seam of
//! `spelunk-core` and never the other way round — envs describe themselves
//! ([`Env::render_rgb`](spelunk_core::Env::render_rgb), [`Env::agent_tile`](spelunk_core::Env::agent_tile),
//! [`Env::scene`](spelunk_core::Env::scene)) and the trainer and explorers
//! only emit events. The entity paths and timelines are in [`scheme`]; `docs/viz.md` lists
//! them with the commands.
//!
//! ```no_run
//! use spelunk_viz::{Recorder, RecorderOptions, Sink};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink: Sink = "episode.rrd".parse()?;
//! let mut rec = Recorder::open("spelunk", &sink, RecorderOptions::default())?;
//! // hand `&mut rec` to a run as its observer (spelunk_experiments::record::record, …)
//! rec.finish()?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use rerun::{RecordingStream, RecordingStreamBuilder};
use spelunk_core::events::CellSummary;
use spelunk_core::{
    Action, ArchiveUpdate, Checkpoint, EnvStep, EpisodeFinished, EpisodeStarted, Image, Info,
    IterationMetrics, Observer, ObserverResult, RunFinished, RunStarted, Scene, Shape,
};

pub mod scheme;

use scheme::timeline;

/// What went wrong opening or writing a recording.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// A `--rerun` value that is none of the sinks.
    #[error("--rerun {given}: {why}")]
    Sink {
        /// What was given.
        given: String,
        /// Why it is not a sink.
        why: String,
    },
    /// `spawn` on a machine with no display.
    #[error(
        "--rerun spawn: this machine has no display (neither DISPLAY nor WAYLAND_DISPLAY is set): \
         save to a file with --rerun out.rrd and open it where there is a screen, or stream to a \
         viewer on another machine with --rerun connect=ADDR"
    )]
    NoDisplay,
    /// The `rerun` viewer binary is not on `PATH`.
    #[error(
        "--rerun spawn needs the `rerun` viewer on PATH: install it with `pip install \
         rerun-sdk=={version}` (or `cargo install rerun-cli@{version} --locked`), or save to a \
         file with --rerun out.rrd and open it later with `rerun out.rrd`"
    )]
    NoViewer {
        /// The SDK version the viewer must match.
        version: &'static str,
    },
    /// The SDK refused (a file it cannot create, an address it cannot reach).
    #[error("rerun: {0}")]
    Rerun(String),
}

/// The version of the Rerun SDK recordings are written with (a viewer of the same minor
/// version reads them).
pub const RERUN_VERSION: &str = "0.36";

/// Where a recording goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// An `.rrd` file.
    Save(PathBuf),
    /// A viewer started on this machine (the `rerun` binary on `PATH`).
    Spawn,
    /// A running viewer at this gRPC address (`None`: the local default,
    /// `rerun+http://127.0.0.1:9876/proxy`).
    Connect(Option<String>),
}

impl std::str::FromStr for Sink {
    type Err = VizError;
    fn from_str(s: &str) -> Result<Self, VizError> {
        let bad = |why: &str| VizError::Sink { given: s.to_owned(), why: why.to_owned() };
        match s {
            "" => Err(bad("give a file ending in .rrd, `spawn` or `connect[=ADDR]`")),
            "spawn" => Ok(Sink::Spawn),
            "connect" => Ok(Sink::Connect(None)),
            _ => {
                if let Some(addr) = s.strip_prefix("connect=") {
                    if addr.is_empty() {
                        return Err(bad("connect= needs an address, e.g. connect=127.0.0.1:9876"));
                    }
                    let url = if addr.contains("://") {
                        addr.to_owned()
                    } else {
                        format!("rerun+http://{addr}/proxy")
                    };
                    return Ok(Sink::Connect(Some(url)));
                }
                let path = PathBuf::from(s);
                if path.extension().and_then(|e| e.to_str()) != Some("rrd") {
                    return Err(bad("a recording file must end in .rrd (or use spawn, connect)"));
                }
                if path.is_dir() {
                    return Err(bad("is a folder; give a file name ending in .rrd"));
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    if !parent.is_dir() {
                        return Err(bad(&format!(
                            "the folder {} does not exist; create it first",
                            parent.display()
                        )));
                    }
                }
                Ok(Sink::Save(path))
            }
        }
    }
}

/// What a [`Recorder`] logs besides metrics and events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecorderOptions {
    /// The env's rendered frame at every step (gridworlds, Montezuma; the arm's front view is a
    /// camera, see `cameras`).
    pub frames: bool,
    /// Each camera's RGB, depth and segmentation images at every step (3D scenes; costs a ray
    /// cast per pixel).
    pub cameras: bool,
    /// The archive at most every this many iterations (Go-Explore logs its archive after
    /// every iteration; drawing thousands of cells each time would dwarf the run).
    pub archive_every: u64,
    /// Points of the agent's path drawn at each step (the whole path at the episode's end).
    pub trail: usize,
    /// Per-step values (frame, agent, scalars) gathered into columns of up to this many steps
    /// and sent at once — at the latest when an episode ends — in file recordings; 1 sends
    /// each step as it happens, which live viewers (`spawn`, `connect`) always get. With
    /// more than 1, the path is drawn once per batch and at the episode's end.
    pub batch: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self { frames: true, cameras: true, archive_every: 10, trail: 256, batch: 256 }
    }
}

/// Per-cell counts over a grid env's frames: visits and the sum of each bonus.
#[derive(Default)]
struct CellMaps {
    /// Frame size in tiles, and the tile side in pixels.
    grid: Option<(u32, u32, u32)>,
    visits: Vec<u64>,
    bonus: BTreeMap<String, Vec<f64>>,
}

/// The time of a row on the episode timelines.
#[derive(Clone, Copy, Default)]
struct Now {
    env_step: i64,
    episode: i64,
    step: i64,
    iteration: Option<i64>,
}

/// The times of an entity's gathered rows.
#[derive(Default)]
struct Times(Vec<Now>);

impl Times {
    fn columns(&self) -> Vec<rerun::TimeColumn> {
        let seq = |name: &'static str, f: fn(&Now) -> i64| {
            rerun::TimeColumn::new_sequence(name, self.0.iter().map(f))
        };
        let mut cols = vec![
            seq(timeline::ENV_STEP, |n| n.env_step),
            seq(timeline::EPISODE, |n| n.episode),
            seq(timeline::STEP, |n| n.step),
        ];
        // Rows gathered within one episode share its iteration (or its lack of one).
        if self.0.iter().all(|n| n.iteration.is_some()) && !self.0.is_empty() {
            cols.push(seq(timeline::ITERATION, |n| n.iteration.unwrap_or(0)));
        }
        cols
    }
}

/// Per-step values waiting to be sent as columns ([`RecorderOptions::batch`]).
#[derive(Default)]
struct Pending {
    rows: usize,
    scalars: BTreeMap<String, (Times, Vec<f64>)>,
    /// The agent's positions and its marker's radius.
    agent: (Times, Vec<(f32, f32)>, f32),
    /// Frames and their size.
    frames: (Times, Vec<Vec<u8>>, [u32; 2]),
}

/// Logs a run into a Rerun recording (see the crate page).
pub struct Recorder {
    rec: RecordingStream,
    opts: RecorderOptions,
    now: Now,
    pending: Pending,
    env_step: i64,
    iteration: Option<u64>,
    episode: u64,
    episode_return: f64,
    path: Vec<[f32; 2]>,
    /// Tile side of the agent's path (set once the env draws an agent).
    path_side: Option<f32>,
    ee_path: Vec<[f32; 3]>,
    scene_logged: bool,
    maps: CellMaps,
    last_archive: Option<u64>,
    background: Option<Image>,
    rooms_seen: HashMap<u32, u64>,
    outcomes: String,
}

/// The agent's marker and path.
const AGENT_COLOUR: rerun::Color = rerun::Color(rerun::datatypes::Rgba32(0xff50_c8ff));

fn err(e: impl std::fmt::Display) -> VizError {
    VizError::Rerun(e.to_string())
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
}

impl Recorder {
    /// A recording of application `app` into `sink`.
    pub fn open(app: &'static str, sink: &Sink, opts: RecorderOptions) -> Result<Self, VizError> {
        // A live viewer shows each step as it happens.
        let opts = match sink {
            Sink::Save(_) => opts,
            Sink::Spawn | Sink::Connect(_) => RecorderOptions { batch: 1, ..opts },
        };
        let builder = RecordingStreamBuilder::new(app);
        let rec = match sink {
            Sink::Save(path) => builder.save(path).map_err(err)?,
            Sink::Spawn => {
                let display = ["DISPLAY", "WAYLAND_DISPLAY"]
                    .iter()
                    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
                if cfg!(target_os = "linux") && !display {
                    return Err(VizError::NoDisplay);
                }
                if !on_path("rerun") {
                    return Err(VizError::NoViewer { version: RERUN_VERSION });
                }
                builder.spawn().map_err(err)?
            }
            Sink::Connect(None) => builder.connect_grpc().map_err(err)?,
            Sink::Connect(Some(url)) => builder.connect_grpc_opts(url.clone()).map_err(err)?,
        };
        Ok(Self::from_stream(rec, opts))
    }

    /// A recorder on a stream the caller made (an in-memory sink in tests, say).
    pub fn from_stream(rec: RecordingStream, opts: RecorderOptions) -> Self {
        // No wall-clock or log-call timelines: runs with the same seed record the same data.
        rec.set_log_time_enabled(false);
        rec.set_log_tick_enabled(false);
        Self {
            rec,
            opts,
            now: Now::default(),
            pending: Pending::default(),
            env_step: 0,
            iteration: None,
            episode: 0,
            episode_return: 0.0,
            path: Vec::new(),
            path_side: None,
            ee_path: Vec::new(),
            scene_logged: false,
            maps: CellMaps::default(),
            last_archive: None,
            background: None,
            rooms_seen: HashMap::new(),
            outcomes: scheme::OUTCOMES.to_owned(),
        }
    }

    /// The stream, to log more of one's own.
    pub fn stream(&self) -> &RecordingStream {
        &self.rec
    }

    /// A picture drawn under the archive's cells (the env's rendered level at reset), in the
    /// pixels [`CellSummary::pixel`] uses.
    pub fn set_archive_background(&mut self, image: Image) {
        self.background = Some(image);
    }

    /// Write everything logged so far to the sink and close it.
    pub fn finish(mut self) -> Result<(), VizError> {
        self.send_pending().map_err(err)?;
        self.rec.flush_blocking().map_err(err)
    }

    fn batching(&self) -> bool {
        self.opts.batch > 1
    }

    /// A per-step scalar at the current episode time: gathered, or logged at once.
    fn step_scalar(&mut self, path: &str, v: f64) -> ObserverResult {
        if !v.is_finite() {
            return Ok(());
        }
        if !self.batching() {
            return self.scalar(path, v);
        }
        let now = self.now;
        let (t, values) = match self.pending.scalars.get_mut(path) {
            Some(e) => e,
            None => self.pending.scalars.entry(path.to_owned()).or_default(),
        };
        t.0.push(now);
        values.push(v);
        Ok(())
    }

    /// Send the gathered rows, one chunk per entity.
    fn send_pending(&mut self) -> ObserverResult {
        let p = std::mem::take(&mut self.pending);
        for (path, (t, values)) in p.scalars {
            self.rec.send_columns(
                path,
                t.columns(),
                rerun::Scalars::new(values).columns_of_unit_batches()?,
            )?;
        }
        let (t, positions, radius) = p.agent;
        if !positions.is_empty() {
            let n = positions.len();
            self.rec.send_columns(
                scheme::AGENT,
                t.columns(),
                rerun::Points2D::update_fields()
                    .with_positions(positions)
                    .with_radii(std::iter::repeat_n(radius, n))
                    .with_colors(std::iter::repeat_n(AGENT_COLOUR, n))
                    .columns_of_unit_batches()?,
            )?;
        }
        let (t, buffers, size) = p.frames;
        if !buffers.is_empty() {
            let n = buffers.len();
            self.rec.send_columns(
                scheme::FRAME,
                t.columns(),
                rerun::Image::update_fields()
                    .with_many_buffer(buffers)
                    .with_many_format(std::iter::repeat_n(
                        rerun::datatypes::ImageFormat::rgb8(size),
                        n,
                    ))
                    .columns_of_unit_batches()?,
            )?;
        }
        Ok(())
    }

    /// One more gathered row; sends the rows when the batch is full.
    fn row_done(&mut self) -> ObserverResult {
        if self.batching() {
            self.pending.rows += 1;
            if self.pending.rows >= self.opts.batch {
                self.send_pending()?;
                self.log_path(false)?;
            }
        }
        Ok(())
    }

    fn scalar(&self, path: &str, v: f64) -> ObserverResult {
        if v.is_finite() {
            self.rec.log(path, &rerun::Scalars::single(v))?;
        }
        Ok(())
    }

    fn image(&self, path: &str, image: &Image) -> ObserverResult {
        self.rec.log(
            path,
            &rerun::Image::from_rgb24(image.rgb.clone(), [image.width as u32, image.height as u32]),
        )?;
        Ok(())
    }

    fn set_episode_times(&mut self, step: u64) {
        self.now = Now {
            env_step: self.env_step,
            episode: self.episode as i64,
            step: step as i64,
            iteration: self.iteration.map(|i| i as i64),
        };
        self.rec.set_time_sequence(timeline::ENV_STEP, self.env_step);
        self.rec.set_time_sequence(timeline::EPISODE, self.episode as i64);
        self.rec.set_time_sequence(timeline::STEP, step as i64);
        if let Some(it) = self.iteration {
            self.rec.set_time_sequence(timeline::ITERATION, it as i64);
        }
    }

    /// The agent's trail (the whole path with `whole`), at the current time.
    fn log_path(&mut self, whole: bool) -> ObserverResult {
        let Some(side) = self.path_side else { return Ok(()) };
        if self.path.is_empty() {
            return Ok(());
        }
        let from = if whole { 0 } else { self.path.len().saturating_sub(self.opts.trail) };
        let strip: Vec<(f32, f32)> = self.path[from..].iter().map(|p| (p[0], p[1])).collect();
        self.rec.log(
            scheme::PATH,
            &rerun::LineStrips2D::new([strip])
                .with_radii([(side * 0.12).max(0.5)])
                .with_colors([AGENT_COLOUR]),
        )?;
        Ok(())
    }

    /// The frame, the agent and its trail (gridworlds), and the agent's tile counted in the
    /// visit and bonus maps. A 3D env's picture is its front camera, logged with its scene,
    /// so `frame` is false for it.
    fn log_grid(
        &mut self,
        env: &dyn spelunk_core::Env,
        whole_path: bool,
        frame: bool,
        bonuses: &[(&str, f64)],
    ) -> ObserverResult {
        if self.opts.frames && frame {
            if let Some(image) = env.render_rgb() {
                if self.maps.grid.is_none() {
                    if let Some([_, _, side]) = env.agent_tile() {
                        let side = side.max(1);
                        let (w, h) = (image.width as u32 / side, image.height as u32 / side);
                        self.maps.grid = Some((w, h, side));
                        self.maps.visits = vec![0; (w * h) as usize];
                    }
                }
                if self.batching() {
                    let size = [image.width as u32, image.height as u32];
                    if self.pending.frames.2 != size && !self.pending.frames.1.is_empty() {
                        self.send_pending()?;
                    }
                    let now = self.now;
                    let f = &mut self.pending.frames;
                    f.0 .0.push(now);
                    f.1.push(image.rgb);
                    f.2 = size;
                } else {
                    self.image(scheme::FRAME, &image)?;
                }
            }
        }
        if let Some([x, y, side]) = env.agent_tile() {
            let c = [x as f32 + side as f32 / 2.0, y as f32 + side as f32 / 2.0];
            self.path.push(c);
            self.path_side = Some(side as f32);
            let radius = side as f32 * 0.35;
            if self.batching() {
                let now = self.now;
                let a = &mut self.pending.agent;
                a.0 .0.push(now);
                a.1.push((c[0], c[1]));
                a.2 = radius;
                if whole_path {
                    self.log_path(true)?;
                }
            } else {
                self.rec.log(
                    scheme::AGENT,
                    &rerun::Points2D::new([(c[0], c[1])])
                        .with_radii([radius])
                        .with_colors([AGENT_COLOUR]),
                )?;
                self.log_path(whole_path)?;
            }
            if let Some((w, h, s)) = self.maps.grid {
                let (cx, cy) = (x / s, y / s);
                if cx < w && cy < h {
                    let k = (cy * w + cx) as usize;
                    self.maps.visits[k] += 1;
                    for (name, v) in bonuses {
                        let sums = self
                            .maps
                            .bonus
                            .entry((*name).to_owned())
                            .or_insert_with(|| vec![0.0; (w * h) as usize]);
                        sums[k] += v;
                    }
                }
            }
        }
        Ok(())
    }

    /// Each body's pose, the end effector and its path, the goal and each camera (3D).
    fn log_scene(&mut self, scene: &Scene) -> ObserverResult {
        if !self.scene_logged {
            self.rec.log_static(scheme::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())?;
            self.rec.log_static(
                scheme::WORLD,
                &rerun::AnnotationContext::new(scene.classes.iter().map(|c| {
                    let [r, g, b] = c.color;
                    (u16::from(c.id), c.name.as_str(), rerun::Rgba32::from_rgb(r, g, b))
                })),
            )?;
            for b in &scene.bodies {
                let path = format!("{}/{}", scheme::BODIES, b.name);
                let [r, g, bl] = scene.color(b.class);
                let color = rerun::Color::from_rgb(r, g, bl);
                let class = u16::from(b.class);
                match b.shape {
                    Shape::Box { half_extents } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Boxes3D::from_half_sizes([half_extents])
                            .with_colors([color])
                            .with_class_ids([class])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    Shape::Sphere { radius } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Ellipsoids3D::from_radii([radius])
                            .with_colors([color])
                            .with_class_ids([class])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    // Rerun's cylinders and capsules run along z, the scene's along y:
                    // −90° about x.
                    Shape::Cylinder { half_height, radius } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Cylinders3D::from_lengths_and_radii([2.0 * half_height], [radius])
                            .with_quaternions([Y_FROM_Z])
                            .with_colors([color])
                            .with_class_ids([class])
                            .with_fill_mode(rerun::FillMode::Solid),
                    )?,
                    Shape::Capsule { half_height, radius } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Capsules3D::from_lengths_and_radii([2.0 * half_height], [radius])
                            .with_quaternions([Y_FROM_Z])
                            .with_colors([color])
                            .with_class_ids([class]),
                    )?,
                }
                if !b.moving {
                    self.rec.log_static(path.as_str(), &transform(&b.pose))?;
                }
            }
            self.scene_logged = true;
        }
        for b in scene.bodies.iter().filter(|b| b.moving) {
            self.rec.log(format!("{}/{}", scheme::BODIES, b.name), &transform(&b.pose))?;
        }
        if let Some(p) = scene.end_effector {
            self.ee_path.push(p);
            self.rec.log(
                scheme::END_EFFECTOR,
                &rerun::Points3D::new([p])
                    .with_radii([0.006])
                    .with_colors([rerun::Color::from_rgb(255, 200, 0)]),
            )?;
            self.rec.log(
                scheme::END_EFFECTOR_PATH,
                &rerun::LineStrips3D::new([self.ee_path.clone()])
                    .with_radii([0.002])
                    .with_colors([rerun::Color::from_rgb(255, 200, 0)]),
            )?;
        }
        if let Some(g) = scene.goal {
            self.rec.log(
                scheme::GOAL,
                &rerun::Points3D::new([g])
                    .with_radii([0.01])
                    .with_colors([rerun::Color::from_rgb(40, 180, 70)]),
            )?;
        }
        for cam in &scene.cameras {
            let base = format!("{}/{}", scheme::CAMERAS, cam.name);
            self.rec.log(base.as_str(), &transform(&cam.pose))?;
            self.rec.log(
                base.as_str(),
                &rerun::Pinhole::from_focal_length_and_resolution(
                    [cam.focal, cam.focal],
                    [cam.width as f32, cam.height as f32],
                ),
            )?;
            let size = [cam.width as u32, cam.height as u32];
            if !cam.rgb.is_empty() {
                self.rec
                    .log(format!("{base}/rgb"), &rerun::Image::from_rgb24(cam.rgb.clone(), size))?;
            }
            if !cam.depth.is_empty() {
                // Rays that hit nothing carry the camera's far limit; as 0 ("no depth") they
                // stay out of the 3D view's point cloud, which would otherwise be a wall of
                // points at that distance dwarfing the scene.
                let hit = |k: usize| cam.segmentation.get(k).is_none_or(|&c| c != 0);
                let bytes: Vec<u8> = cam
                    .depth
                    .iter()
                    .enumerate()
                    .flat_map(|(k, &d)| (if hit(k) { d } else { 0.0 }).to_le_bytes())
                    .collect();
                self.rec.log(
                    format!("{base}/depth"),
                    &rerun::DepthImage::from_data_type_and_bytes(
                        bytes,
                        size,
                        rerun::ChannelDatatype::F32,
                    )
                    .with_meter(1.0),
                )?;
            }
            if !cam.segmentation.is_empty() {
                self.rec.log(
                    format!("{base}/segmentation"),
                    &rerun::SegmentationImage::new(
                        cam.segmentation.clone(),
                        rerun::components::ImageFormat::segmentation(
                            size,
                            rerun::ChannelDatatype::U8,
                        ),
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// Visits and mean bonus per cell, as colour-mapped pictures the size of the frames.
    fn log_maps(&self) -> ObserverResult {
        let Some((w, h, _)) = self.maps.grid else { return Ok(()) };
        let visits: Vec<f64> = self.maps.visits.iter().map(|&v| v as f64).collect();
        self.image(scheme::VISITS, &colour_map(&visits, w as usize, h as usize, true))?;
        for (name, sums) in &self.maps.bonus {
            let mean: Vec<f64> = sums
                .iter()
                .zip(&self.maps.visits)
                .map(|(s, &n)| if n > 0 { s / n as f64 } else { f64::NAN })
                .collect();
            self.image(
                &format!("{}/{name}", scheme::BONUS_MAPS),
                &colour_map(&mean, w as usize, h as usize, false),
            )?;
        }
        Ok(())
    }

    fn log_info(&mut self, info: &Info) -> ObserverResult {
        let fields: [(&str, Option<f64>); 8] = [
            ("x", info.x.map(f64::from)),
            ("y", info.y.map(f64::from)),
            ("room", info.room.map(f64::from)),
            ("level", info.level.map(f64::from)),
            ("score", info.score.map(f64::from)),
            ("lives", info.lives.map(f64::from)),
            ("is_success", info.is_success.map(|b| f64::from(u8::from(b)))),
            ("regret", info.regret.map(f64::from)),
        ];
        for (name, v) in fields {
            if let Some(v) = v {
                self.step_scalar(&format!("{}/{name}", scheme::INFO), v)?;
            }
        }
        Ok(())
    }
}

/// −90° about x: takes Rerun's z-axis shapes onto the scene's y axis.
const Y_FROM_Z: rerun::Quaternion = rerun::Quaternion::from_xyzw([
    -std::f32::consts::FRAC_1_SQRT_2,
    0.0,
    0.0,
    std::f32::consts::FRAC_1_SQRT_2,
]);

fn transform(p: &spelunk_core::Pose) -> rerun::Transform3D {
    rerun::Transform3D::from_translation_rotation(
        p.translation,
        rerun::Quaternion::from_xyzw(p.rotation),
    )
}

/// Values on a `w × h` grid as a picture: a perceptual blue → yellow ramp over the range
/// (log-scaled for counts), black where a value is missing or zero counts.
pub fn colour_map(values: &[f64], w: usize, h: usize, counts: bool) -> Image {
    let f = |v: f64| if counts { (1.0 + v).ln() } else { v };
    let live = values.iter().copied().filter(|v| v.is_finite() && (!counts || *v > 0.0));
    let (lo, hi) =
        live.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(f(v)), b.max(f(v))));
    let mut img = Image::new(w, h);
    for (k, &v) in values.iter().enumerate().take(w * h) {
        if !v.is_finite() || (counts && v <= 0.0) {
            continue;
        }
        let t = if hi > lo { ((f(v) - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 1.0 };
        img.rgb[k * 3..k * 3 + 3].copy_from_slice(&ramp(t));
    }
    img
}

/// A blue → teal → yellow ramp (after viridis' end points), `t` in [0, 1].
fn ramp(t: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let x = t * 4.0;
    let i = (x.floor() as usize).min(3);
    let u = x - i as f64;
    std::array::from_fn(|c| (STOPS[i][c] + (STOPS[i + 1][c] - STOPS[i][c]) * u).round() as u8)
}

fn action_value(a: &Action<'_>) -> Vec<f64> {
    match a {
        Action::Discrete(x) => vec![*x as f64],
        Action::MultiDiscrete(v) => v.iter().map(|&x| x as f64).collect(),
        Action::Continuous(v) => v.iter().map(|&x| f64::from(x)).collect(),
    }
}

impl Observer for Recorder {
    fn run_started(&mut self, e: &RunStarted) -> ObserverResult {
        self.iteration = Some(e.start_iteration);
        // Searches of one experiment (`stax/<task>/<method>/seed<k>`) each get their own
        // outcome entity.
        self.outcomes = match e.kind.split_once('/') {
            Some((_, rest)) => format!("{}/{rest}", scheme::OUTCOMES_ROOT),
            None => format!("{}/points", scheme::OUTCOMES_ROOT),
        };
        let text = serde_json::to_string_pretty(&e.config).unwrap_or_default();
        self.rec.log_static(
            scheme::RUN_CONFIG,
            &rerun::TextDocument::from_markdown(format!(
                "# {} run{}\n\nseed {}\n\n```json\n{text}\n```",
                e.kind,
                e.env_id.as_deref().map(|id| format!(" on {id}")).unwrap_or_default(),
                e.seed
            )),
        )?;
        Ok(())
    }

    fn iteration(&mut self, m: &IterationMetrics, _run: &dyn Checkpoint) -> ObserverResult {
        self.iteration = Some(m.iteration);
        self.rec.set_time_sequence(timeline::ITERATION, m.iteration as i64);
        self.rec.set_time_sequence(timeline::FRAME, m.env_steps as i64);
        for (name, v) in &m.scalars {
            self.scalar(&format!("{}/{name}", scheme::METRICS), v.as_f64())?;
        }
        Ok(())
    }

    fn wants_steps(&self) -> bool {
        true
    }

    fn episode_started(&mut self, e: &EpisodeStarted<'_>) -> ObserverResult {
        self.send_pending()?;
        self.episode = e.number();
        if e.iteration.is_some() {
            self.iteration = e.iteration;
        }
        self.episode_return = 0.0;
        self.path.clear();
        self.ee_path.clear();
        self.env_step += 1;
        self.set_episode_times(0);
        if let Some(m) = e.env.mission() {
            self.rec.log(scheme::MISSION, &rerun::TextDocument::new(m.to_owned()))?;
        }
        self.log_info(&e.env.info())?;
        let scene = e.env.scene(self.opts.cameras);
        self.log_grid(e.env, false, scene.is_none(), &[])?;
        if let Some(scene) = scene {
            self.log_scene(&scene)?;
        }
        self.row_done()
    }

    fn env_step(&mut self, e: &EnvStep<'_>) -> ObserverResult {
        self.env_step += 1;
        self.set_episode_times(e.step);
        self.episode_return += e.reward;
        let action = action_value(&e.action);
        if let [a] = action.as_slice() {
            self.step_scalar(scheme::ACTION, *a)?;
        } else {
            for (k, a) in action.iter().enumerate() {
                self.step_scalar(&format!("{}/{k}", scheme::ACTION), *a)?;
            }
        }
        self.step_scalar(scheme::REWARD, e.reward)?;
        self.step_scalar(scheme::RETURN, self.episode_return)?;
        for (name, v) in e.bonuses {
            self.step_scalar(&format!("{}/{name}", scheme::BONUS), *v)?;
        }
        self.log_info(&e.info)?;
        let end = e.terminated || e.truncated;
        let scene = e.env.scene(self.opts.cameras);
        self.log_grid(e.env, end, scene.is_none(), e.bonuses)?;
        if let Some(scene) = scene {
            self.log_scene(&scene)?;
        }
        if end {
            self.send_pending()?;
            self.log_maps()?;
            return Ok(());
        }
        self.row_done()
    }

    fn episode_finished(&mut self, e: &EpisodeFinished) -> ObserverResult {
        self.scalar(scheme::EPISODE_RETURN, e.episodic_return)?;
        self.scalar(scheme::EPISODE_SUCCESS, f64::from(u8::from(e.success)))?;
        self.scalar(scheme::EPISODE_LENGTH, e.length as f64)?;
        Ok(())
    }

    fn wants_archive(&self) -> bool {
        true
    }

    fn archive_updated(&mut self, u: &ArchiveUpdate) -> ObserverResult {
        match u {
            ArchiveUpdate::Cells { iteration, cells } => {
                if self
                    .last_archive
                    .is_some_and(|l| iteration.saturating_sub(l) < self.opts.archive_every)
                {
                    return Ok(());
                }
                self.last_archive = Some(*iteration);
                self.rec.set_time_sequence(timeline::ITERATION, *iteration as i64);
                if let Some(bg) = self.background.take() {
                    self.rec.log_static(
                        scheme::ARCHIVE_LEVEL,
                        &rerun::Image::from_rgb24(bg.rgb, [bg.width as u32, bg.height as u32])
                            .with_opacity(0.5),
                    )?;
                }
                self.log_cells(cells)?;
            }
            ArchiveUpdate::Outcomes { generation, points } => {
                self.rec.set_time_sequence(timeline::GENERATION, *generation as i64);
                self.rec.log(
                    self.outcomes.as_str(),
                    &rerun::Points2D::new(points.iter().map(|p| (p[0] as f32, p[1] as f32)))
                        .with_radii([0.004])
                        .with_colors([rerun::Color::from_rgb(40, 120, 200)]),
                )?;
                self.scalar(&format!("{}/count", self.outcomes), points.len() as f64)?;
            }
        }
        Ok(())
    }

    fn message(&mut self, text: &str) -> ObserverResult {
        self.rec.log(scheme::MESSAGES, &rerun::TextLog::new(text.to_owned()))?;
        Ok(())
    }

    fn run_finished(&mut self, e: &RunFinished, _run: &dyn Checkpoint) -> ObserverResult {
        let lines: Vec<String> = e.summary.iter().map(|(k, v)| format!("- {k}: {v}")).collect();
        self.rec.log_static(
            scheme::RUN_SUMMARY,
            &rerun::TextDocument::from_markdown(format!(
                "# Run finished\n\n{} iterations, {} env steps\n\n{}",
                e.iterations,
                e.env_steps,
                lines.join("\n")
            )),
        )?;
        self.send_pending()?;
        self.rec.flush_blocking()?;
        Ok(())
    }
}

impl Recorder {
    fn log_cells(&mut self, cells: &[CellSummary]) -> ObserverResult {
        let placed: Vec<&CellSummary> = cells.iter().filter(|c| c.pixel.is_some()).collect();
        let top = cells.iter().map(|c| c.score).fold(f64::NEG_INFINITY, f64::max);
        let low = cells.iter().map(|c| c.score).fold(f64::INFINITY, f64::min);
        let colour = |s: f64| {
            let t = if top > low { (s - low) / (top - low) } else { 1.0 };
            let [r, g, b] = ramp(t);
            rerun::Color::from_rgb(r, g, b)
        };
        if !placed.is_empty() {
            self.rec.log(
                scheme::ARCHIVE_CELLS,
                &rerun::Points2D::new(placed.iter().map(|c| {
                    let p = c.pixel.unwrap_or_default();
                    (p[0], p[1])
                }))
                .with_colors(placed.iter().map(|c| colour(c.score)))
                .with_radii(placed.iter().map(|c| 1.0 + (c.visits as f32).sqrt().min(8.0)))
                .with_labels(
                    placed
                        .iter()
                        .map(|c| format!("{} (score {}, chosen {})", c.key, c.score, c.visits)),
                ),
            )?;
        }
        for c in cells {
            if let Some(room) = c.room {
                self.rooms_seen.entry(room).or_insert(c.found_at);
            }
        }
        self.scalar(scheme::ARCHIVE_COUNT, cells.len() as f64)?;
        self.scalar(scheme::ARCHIVE_ROOMS, self.rooms_seen.len() as f64)?;
        let mut rooms: Vec<(u32, u64)> = self.rooms_seen.iter().map(|(&r, &f)| (r, f)).collect();
        rooms.sort_by_key(|&(r, f)| (f, r));
        let lines: Vec<String> =
            rooms.iter().map(|(r, f)| format!("- room {r}: first at frame {f}")).collect();
        self.rec.log(
            scheme::ARCHIVE_ROOM_LIST,
            &rerun::TextDocument::from_markdown(format!("# Rooms found\n\n{}", lines.join("\n"))),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse_and_bad_ones_say_what_to_do() {
        assert_eq!("spawn".parse::<Sink>().ok(), Some(Sink::Spawn));
        assert_eq!("connect".parse::<Sink>().ok(), Some(Sink::Connect(None)));
        assert_eq!(
            "connect=10.0.0.2:9876".parse::<Sink>().ok(),
            Some(Sink::Connect(Some("rerun+http://10.0.0.2:9876/proxy".into())))
        );
        let dir = std::env::temp_dir();
        let file = dir.join("spelunk-viz-test.rrd");
        assert_eq!(file.to_str().unwrap_or("").parse::<Sink>().ok(), Some(Sink::Save(file)));
        let said = |s: &str| s.parse::<Sink>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(said("out.txt").contains("must end in .rrd"), "{}", said("out.txt"));
        assert!(said("connect=").contains("needs an address"));
        assert!(said("no/such/folder/x.rrd").contains("does not exist"));
        assert!(said("").contains("spawn"));
        let folder = dir.join("spelunk-viz-test-folder.rrd");
        std::fs::create_dir_all(&folder).expect("folder");
        assert!(said(folder.to_str().unwrap_or("")).contains("is a folder"));
        let _ = std::fs::remove_dir(&folder);
    }

    #[test]
    fn spawning_a_viewer_without_a_display_says_what_to_do_instead() {
        // No other test of this crate reads these variables.
        std::env::remove_var("DISPLAY");
        std::env::remove_var("WAYLAND_DISPLAY");
        let err = Recorder::open("spelunk-test", &Sink::Spawn, RecorderOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        if cfg!(target_os = "linux") {
            assert!(err.contains("no display") && err.contains("--rerun out.rrd"), "{err}");
        }
    }

    #[test]
    fn colour_maps_leave_unvisited_tiles_black_and_span_the_ramp() {
        let img = colour_map(&[0.0, 1.0, 10.0, 100.0], 2, 2, true);
        assert_eq!(&img.rgb[0..3], &[0, 0, 0]);
        assert_eq!(&img.rgb[3..6], &ramp(0.0));
        assert_eq!(&img.rgb[9..12], &ramp(1.0));
        // Means: NaN (never visited) stays black; equal values take the ramp's top.
        let img = colour_map(&[f64::NAN, 0.5, 0.5, 0.5], 2, 2, false);
        assert_eq!(&img.rgb[0..3], &[0, 0, 0]);
        assert_eq!(&img.rgb[3..6], &ramp(1.0));
        assert_eq!(ramp(0.0), [68, 1, 84]);
        assert_eq!(ramp(1.0), [253, 231, 37]);
    }
}

//! The Bevy app: a timeline of states drawn as a grid world's picture or a 3D scene, a side
//! panel with what happened at each state, playback, scrubbing, an orbit camera, teleop, and
//! offscreen screenshots with their checks.

use std::collections::HashMap;
use std::f32::consts::PI;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::asset::RenderAssetUsages;
use bevy::camera::{ClearColorConfig, RenderTarget, Viewport};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::image::ImageSampler;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::render::view::screenshot::{save_to_disk, Screenshot, ScreenshotCaptured};
use bevy::render::RenderPlugin;
use bevy::window::{ExitCondition, WindowResolution};
use bevy::winit::WinitPlugin;
use spelunk_core::{CameraView, Image as Picture, Pose, Scene, Shape};
use spelunk_experiments::view::{self as model, TeleopKey, ViewEvent, ViewState};

use crate::{Opening, RenderArgs, Source};

/// Width of the side panel, px.
const PANEL: u32 = 400;
/// The panel's colour, and the 3D background.
const PANEL_BG: [u8; 3] = [24, 26, 31];
const SKY: [u8; 3] = [52, 56, 66];
/// The progress bar's rows at the top of the panel (the panel's padding), px.
const BAR_TOP: f32 = 12.0;
const BAR_HEIGHT: f32 = 10.0;
/// A screenshot is taken once this many frames have been drawn (meshes, pipelines and the
/// font atlas are ready by then).
const SHOT_FRAME: u32 = 4;
/// Share of the pixels inside each class's regions of the env's segmentation (all four
/// neighbours of the same class) that a flat 3D screenshot must colour as that class. Edge
/// pixels are reported, not held to it: tessellated spheres and cylinders and the
/// rasteriser's coverage rule differ from the ray cast's exact shapes there by a pixel.
const CLASS_AGREEMENT: f64 = 0.99;
const ALL_AGREEMENT: f64 = 0.995;

/// What the timeline draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The env's picture.
    Grid,
    /// The env's 3D scene.
    Scene,
}

/// The states, where the viewer is among them, and playback.
#[derive(Resource)]
struct Timeline {
    env: String,
    title: String,
    states: Vec<ViewState>,
    cursor: usize,
    playing: bool,
    /// States per second.
    speed: f32,
    acc: f32,
    live: Option<Mutex<mpsc::Receiver<Result<ViewEvent, String>>>>,
    /// Each finished episode: number, return, success.
    finished: Vec<(u64, f64, bool)>,
    message: Option<String>,
    /// The cursor moved or a state arrived since the last draw.
    dirty: bool,
}

impl Timeline {
    fn state(&self) -> &ViewState {
        &self.states[self.cursor]
    }

    /// Take what a live source has ready, one state at most; `true` when a state came.
    fn pull(&mut self) -> bool {
        let Some(rx) = &self.live else { return false };
        let got = rx.lock().map(|rx| rx.try_recv()).map_err(|_| ());
        match got {
            Ok(Ok(Ok(ViewEvent::State(s)))) => {
                self.states.push(*s);
                true
            }
            Ok(Ok(Ok(ViewEvent::EpisodeFinished { episode, episodic_return, success }))) => {
                self.finished.push((episode, episodic_return, success));
                self.dirty = true;
                false
            }
            Ok(Ok(Err(message))) => {
                eprintln!("error: {message}");
                self.message = Some(message);
                self.live = None;
                self.dirty = true;
                false
            }
            Ok(Err(mpsc::TryRecvError::Empty)) => false,
            Ok(Err(mpsc::TryRecvError::Disconnected)) | Err(()) => {
                self.live = None;
                self.dirty = true;
                false
            }
        }
    }

    /// One state on; `false` at the end of what is known (and nothing new came).
    fn advance(&mut self) -> bool {
        if self.cursor + 1 >= self.states.len() && !self.pull() {
            return false;
        }
        self.cursor += 1;
        self.dirty = true;
        true
    }

    fn seek(&mut self, k: usize) {
        let k = k.min(self.states.len() - 1);
        if k != self.cursor {
            self.cursor = k;
            self.dirty = true;
        }
    }

    /// The first state of the episode the cursor is in.
    fn episode_start(&self) -> usize {
        (0..=self.cursor).rev().find(|&k| self.states[k].step == 0).unwrap_or(0)
    }
}

/// An env driven from the keyboard (not `Send`: the env stays on the main thread).
struct TeleopSource(Box<spelunk_experiments::view::Teleop>);

/// Where things are drawn.
#[derive(Resource, Clone, Copy)]
struct Layout {
    kind: Kind,
    /// The picture's or the 3D view's size on screen, px.
    content: UVec2,
    /// Magnification of the picture, or of the front camera's image.
    scale: u32,
    flat: bool,
}

impl Layout {
    fn size(&self) -> UVec2 {
        UVec2::new(self.content.x + PANEL, self.content.y.max(560))
    }
}

/// The 3D camera's orbit.
#[derive(Resource)]
struct Rig {
    /// The env's front camera, exactly.
    front: Option<Transform>,
    /// The mouse has moved the view off the front camera (C brings it back).
    free: bool,
    target: Vec3,
    yaw: f32,
    pitch: f32,
    distance: f32,
}

impl Rig {
    fn transform(&self) -> Transform {
        if let (Some(t), false) = (self.front, self.free) {
            return t;
        }
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.cos(),
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
        );
        Transform::from_translation(self.target + dir * self.distance)
            .looking_at(self.target, Vec3::Z)
    }
}

/// What has been spawned to draw states.
#[derive(Resource)]
struct Drawn {
    frame: Handle<Image>,
    frame_size: (usize, usize),
    bodies: HashMap<String, Entity>,
    materials: HashMap<u8, Handle<StandardMaterial>>,
}

#[derive(Component)]
struct InfoText;
#[derive(Component)]
struct BarFill;
#[derive(Component)]
struct FrameNode;
#[derive(Component)]
struct SceneCamera;
/// One bar of a panel chart: `chart` 0 is the reward, 1 the first bonus.
#[derive(Component)]
struct ChartBar {
    chart: usize,
    index: usize,
}
/// A chart's caption, and the chart (hidden when there is nothing to plot).
#[derive(Component)]
struct ChartCaption(usize);
#[derive(Component)]
struct Chart(usize);

/// States a panel chart shows: the last ones of the episode, up to the cursor.
const CHART_STATES: usize = 94;

/// The offscreen screenshot: where it goes and what it is checked against.
#[derive(Resource)]
struct Shot {
    path: PathBuf,
    target: Handle<Image>,
    frames: u32,
    check: Option<CheckRef>,
    state: usize,
}

/// The env's own rendering of the state a screenshot draws.
enum CheckRef {
    Grid { frame: Picture, tile: Option<[u32; 3]> },
    Scene { camera: CameraView, scene: Scene },
}

/// How the run ended.
#[derive(Resource, Default)]
struct Outcome(Option<String>);

fn to_color(c: [u8; 3]) -> Color {
    Color::srgb_u8(c[0], c[1], c[2])
}

/// A pose in Bevy's terms (the world stays z-up; only the camera needs care).
fn transform(p: &Pose) -> Transform {
    let [x, y, z, w] = p.rotation;
    Transform::from_translation(Vec3::from_array(p.translation))
        .with_rotation(Quat::from_xyzw(x, y, z, w).normalize())
}

/// A camera's pose (x right, y down, z forward) as a Bevy camera's (x right, y up, −z
/// forward): half a turn about the camera's own x axis.
fn camera_transform(view: &CameraView) -> Transform {
    let t = transform(&view.pose);
    t.with_rotation(t.rotation * Quat::from_rotation_x(PI))
}

fn front(scene: &Scene) -> Option<&CameraView> {
    scene.cameras.iter().find(|c| c.name == "front").or(scene.cameras.first())
}

/// Run the viewer; returns the exit code (a screenshot whose check failed is a failure).
pub fn run(mut opening: Opening, render: &RenderArgs) -> Result<ExitCode> {
    // A live source's first state decides what is drawn.
    if let Source::Live(rx) = &opening.source {
        loop {
            match rx.recv() {
                Ok(Ok(ViewEvent::State(s))) => {
                    opening.states.push(*s);
                    break;
                }
                Ok(Ok(ViewEvent::EpisodeFinished { .. })) => {}
                Ok(Err(message)) => bail!("{message}"),
                Err(_) => bail!("the policy stopped before its first state"),
            }
        }
    }
    let Some(first) = opening.states.first() else { bail!("no states to show") };
    let kind = if first.scene.is_some() {
        Kind::Scene
    } else if first.frame.is_some() {
        Kind::Grid
    } else {
        bail!("{} draws neither a picture nor a 3D scene: nothing to show", opening.env)
    };
    let (content, scale) = match kind {
        Kind::Grid => {
            let f = first.frame.as_ref().expect("a grid state has a frame");
            let s = (640 / f.width.max(f.height)).max(1) as u32;
            (UVec2::new(f.width as u32 * s, f.height as u32 * s), s)
        }
        Kind::Scene => {
            let scene = first.scene.as_ref().expect("a 3D state has a scene");
            let (w, h) = front(scene).map_or((160, 120), |c| (c.width, c.height));
            let s = (720 / w).max(1) as u32;
            (UVec2::new(w as u32 * s, h as u32 * s), s)
        }
    };
    let layout = Layout { kind, content, scale, flat: render.flat };

    let n = opening.states.len();
    let start = if render.screenshot.is_some() {
        let k = render.at.unwrap_or(n - 1);
        if k >= n {
            bail!("--at {k}: the stream has states 0..={}", n - 1);
        }
        k
    } else {
        0
    };
    let check = if render.check {
        let s = &opening.states[start];
        Some(match kind {
            Kind::Grid => CheckRef::Grid {
                frame: s.frame.clone().context("the state has no picture")?,
                tile: s.agent_tile,
            },
            Kind::Scene => {
                if !render.flat {
                    bail!("--check of a 3D scene compares flat colours with the env's segmentation: add --flat");
                }
                let env_at =
                    opening.env_at.as_ref().context("nothing to check this stream against")?;
                let env = env_at(start)?;
                let scene = model::scene_with_cameras(env.as_ref())?;
                let camera = front(&scene).context("the scene has no camera")?.clone();
                CheckRef::Scene { camera, scene }
            }
        })
    } else {
        None
    };

    let mut app = App::new();
    let log = LogPlugin {
        level: bevy::log::Level::WARN,
        // Software rendering is what CI and headless machines have: no warning for it.
        filter: "wgpu=error,naga=warn,bevy_render::renderer=error".into(),
        ..default()
    };
    let size = layout.size();
    let mut timeline = Timeline {
        env: opening.env.clone(),
        title: opening.title.clone(),
        states: std::mem::take(&mut opening.states),
        cursor: start,
        playing: render.screenshot.is_none(),
        speed: if kind == Kind::Grid { 8.0 } else { 25.0 },
        acc: 0.0,
        live: None,
        finished: Vec::new(),
        message: None,
        dirty: true,
    };
    match opening.source {
        Source::Live(rx) => timeline.live = Some(Mutex::new(rx)),
        Source::Teleop(t) => {
            timeline.playing = false;
            app.insert_non_send(TeleopSource(t));
        }
        Source::Fixed => {}
    }

    if let Some(path) = &render.screenshot {
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: None,
                    exit_condition: ExitCondition::DontExit,
                    ..default()
                })
                .set(RenderPlugin { synchronous_pipeline_compilation: true, ..default() })
                .set(log)
                .disable::<WinitPlugin>(),
        )
        // Without winit nothing drives the frames: a loop does, until the screenshot is in.
        .add_plugins(ScheduleRunnerPlugin::run_loop(Duration::ZERO));
        let mut target =
            Image::new_target_texture(size.x, size.y, TextureFormat::Rgba8UnormSrgb, None);
        target.asset_usage = RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD;
        let handle = app.world_mut().resource_mut::<Assets<Image>>().add(target);
        app.insert_resource(Shot {
            path: path.clone(),
            target: handle,
            frames: 0,
            check,
            state: start,
        });
        app.add_systems(Update, take_screenshot);
    } else {
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title: format!("spelunk-viewer — {}", opening.env),
                        resolution: WindowResolution::from(size).with_scale_factor_override(1.0),
                        ..default()
                    }),
                    ..default()
                })
                .set(log),
        );
        app.add_systems(Update, (keys, teleop, mouse, playback, fit_viewport).before(draw));
    }
    app.insert_resource(timeline)
        .insert_resource(layout)
        .insert_resource(ClearColor(to_color(PANEL_BG)))
        .insert_resource(GlobalAmbientLight {
            color: Color::WHITE,
            brightness: 600.0,
            affects_lightmapped_meshes: true,
        })
        .init_resource::<Outcome>()
        .add_systems(Startup, setup)
        .add_systems(Update, (draw, path_gizmo).chain());
    let exit = app.run();
    let outcome = app.world().get_resource::<Outcome>().and_then(|o| o.0.clone());
    match (exit, outcome) {
        (AppExit::Success, _) => Ok(ExitCode::SUCCESS),
        (AppExit::Error(_), Some(why)) => bail!("{why}"),
        (AppExit::Error(_), None) => Ok(ExitCode::FAILURE),
    }
}

fn setup(
    mut commands: Commands,
    layout: Res<Layout>,
    shot: Option<Res<Shot>>,
    timeline: Res<Timeline>,
    mut images: ResMut<Assets<Image>>,
) {
    let target =
        shot.map_or(RenderTarget::default(), |s| RenderTarget::Image(s.target.clone().into()));
    let frame = images.add(Image::default());
    commands.insert_resource(Drawn {
        frame: frame.clone(),
        frame_size: (0, 0),
        bodies: HashMap::new(),
        materials: HashMap::new(),
    });
    // The panel's camera clears the whole target; the 3D camera draws into its viewport.
    let ui_camera = commands
        .spawn((Camera2d, Camera { order: 0, ..default() }, target.clone(), IsDefaultUiCamera))
        .id();
    if layout.kind == Kind::Scene {
        let scene = timeline.state().scene.as_ref();
        let view = scene.and_then(front);
        let (exact, fov) = match view {
            Some(v) => {
                (Some(camera_transform(v)), 2.0 * ((v.height as f32 / 2.0) / v.focal).atan())
            }
            None => (None, PI / 4.0),
        };
        // Orbit around the table's centre (or the origin), from where the front camera is.
        let target_point = scene
            .and_then(|s| s.bodies.iter().find(|b| b.name == "table"))
            .map_or(Vec3::ZERO, |b| Vec3::from_array(b.pose.translation));
        let eye = exact.map_or(Vec3::new(1.5, 0.0, 1.2), |t| t.translation);
        let d = eye - target_point;
        let rig = Rig {
            front: exact,
            free: false,
            target: target_point,
            yaw: d.y.atan2(d.x),
            pitch: (d.z / d.length().max(1e-6)).asin(),
            distance: d.length().max(0.2),
        };
        commands.spawn((
            Camera3d::default(),
            Camera {
                order: 1,
                viewport: Some(Viewport {
                    physical_position: UVec2::ZERO,
                    physical_size: layout.content,
                    ..default()
                }),
                clear_color: ClearColorConfig::Custom(to_color(SKY)),
                ..default()
            },
            Projection::Perspective(PerspectiveProjection {
                fov,
                aspect_ratio: layout.content.x as f32 / layout.content.y as f32,
                near: 0.01,
                far: 100.0,
                ..default()
            }),
            Tonemapping::None,
            rig.transform(),
            target,
            SceneCamera,
        ));
        commands.insert_resource(rig);
        if !layout.flat {
            commands.spawn((
                DirectionalLight { illuminance: 6000.0, shadow_maps_enabled: false, ..default() },
                Transform::from_xyz(1.0, 0.6, 3.0).looking_at(Vec3::ZERO, Vec3::Z),
            ));
        }
    }
    let text = |size: f32| TextFont { font_size: bevy::text::FontSize::Px(size), ..default() };
    commands
        .spawn((
            Node {
                width: percent(100),
                height: percent(100),
                flex_direction: FlexDirection::Row,
                ..default()
            },
            UiTargetCamera(ui_camera),
        ))
        .with_children(|root| {
            let mut content = root.spawn(Node {
                width: px(layout.content.x),
                height: px(layout.content.y),
                flex_shrink: 0.0,
                ..default()
            });
            if layout.kind == Kind::Grid {
                content.with_children(|c| {
                    c.spawn((
                        ImageNode::new(frame),
                        Node { width: percent(100), height: percent(100), ..default() },
                        FrameNode,
                    ));
                });
            }
            root.spawn((
                Node {
                    width: px(PANEL),
                    flex_shrink: 0.0,
                    flex_direction: FlexDirection::Column,
                    padding: UiRect::all(px(BAR_TOP)),
                    row_gap: px(8),
                    ..default()
                },
                BackgroundColor(to_color(PANEL_BG)),
            ))
            .with_children(|p| {
                p.spawn((
                    Node {
                        width: percent(100),
                        height: px(BAR_HEIGHT),
                        flex_shrink: 0.0,
                        ..default()
                    },
                    BackgroundColor(Color::srgb_u8(60, 64, 74)),
                ))
                .with_children(|bar| {
                    bar.spawn((
                        Node { width: percent(0), height: percent(100), ..default() },
                        BackgroundColor(Color::srgb_u8(120, 170, 255)),
                        BarFill,
                    ));
                });
                for chart in 0..2 {
                    p.spawn((
                        Node {
                            width: percent(100),
                            flex_shrink: 0.0,
                            flex_direction: FlexDirection::Column,
                            row_gap: px(4),
                            ..default()
                        },
                        Chart(chart),
                    ))
                    .with_children(|box_| {
                        box_.spawn((
                            Text::new(""),
                            text(13.0),
                            TextColor(Color::srgb_u8(170, 176, 190)),
                            ChartCaption(chart),
                        ));
                        box_.spawn((
                            Node {
                                width: percent(100),
                                height: px(44),
                                flex_direction: FlexDirection::Row,
                                align_items: AlignItems::FlexEnd,
                                column_gap: px(1),
                                ..default()
                            },
                            BackgroundColor(Color::srgb_u8(34, 37, 44)),
                        ))
                        .with_children(|c| {
                            for index in 0..CHART_STATES {
                                c.spawn((
                                    Node { width: px(3), height: percent(0), ..default() },
                                    BackgroundColor(Color::NONE),
                                    ChartBar { chart, index },
                                ));
                            }
                        });
                    });
                }
                p.spawn((Text::new(""), text(15.0), TextColor(Color::WHITE), InfoText));
            });
        });
}

/// The panel's text for the state under the cursor.
fn describe(t: &Timeline, teleop: bool) -> String {
    let s = t.state();
    let mut out = format!("{}\n{}\n\n", t.env, t.title);
    let known = if t.live.is_some() { "+" } else { "" };
    out += &format!(
        "state {} of {}{known}   episode {}   step {}\n",
        t.cursor,
        t.states.len(),
        s.episode,
        s.step
    );
    if let Some(m) = &s.mission {
        out += &format!("mission: {m}\n");
    }
    match (&s.action_name, &s.action) {
        (Some(name), _) => out += &format!("action: {name}\n"),
        (None, Some(spelunk_core::DemoAction::Discrete(a))) => out += &format!("action: {a}\n"),
        (None, Some(spelunk_core::DemoAction::Continuous(v))) => {
            // `+ 0.0` turns a negative zero into zero.
            let v: Vec<String> = v.iter().map(|x| format!("{:+.2}", x + 0.0)).collect();
            out += &format!("action: [{}]\n", v.join(", "));
        }
        (None, None) => out += "action: (reset)\n",
    }
    out += &format!("reward: {:+.3}   return: {:+.3}\n", s.reward + 0.0, s.episodic_return + 0.0);
    for (name, v) in &s.bonuses {
        out += &format!("bonus {name}: {v:.4}\n");
    }
    let i = &s.info;
    let mut info = Vec::new();
    if let (Some(x), Some(y)) = (i.x, i.y) {
        info.push(format!("x {x}  y {y}"));
    }
    if let Some(r) = i.room {
        info.push(format!("room {r}"));
    }
    if let Some(v) = i.score {
        info.push(format!("score {v}"));
    }
    if let Some(v) = i.lives {
        info.push(format!("lives {v}"));
    }
    if let Some(v) = i.is_success {
        info.push(format!("success {v}"));
    }
    if !info.is_empty() {
        out += &format!("{}\n", info.join("   "));
    }
    if s.terminated {
        out += "terminated\n";
    } else if s.truncated {
        out += "truncated (time limit)\n";
    }
    if let Some(scene) = &s.scene {
        if let Some([x, y, z]) = scene.end_effector {
            out += &format!("gripper: ({x:.3}, {y:.3}, {z:.3}) m\n");
        }
        if let Some([x, y, z]) = scene.goal {
            out += &format!("goal: ({x:.3}, {y:.3}, {z:.3}) m\n");
        }
    }
    if let Some((ep, ret, ok)) = t.finished.iter().rev().find(|f| f.0 <= s.episode) {
        out += &format!("\nepisode {ep} ended: return {ret:+.3}, success {ok}\n");
    }
    if let Some(m) = &t.message {
        out += &format!("\n{m}\n");
    }
    out += &format!("\n{} at {} states/s\n", if t.playing { "playing" } else { "paused" }, t.speed);
    out += if teleop {
        "\narrows move (arm: x and y)   PgUp/PgDn: z   G gripper\nP pick up  D drop  T toggle  Enter done  W wait\nR next episode   ,/. scrub back/forward\nS save the window as PNG   Esc quit"
    } else {
        "\nSpace play/pause   Left/Right step (Shift: 10)\nHome/End first/last   PgUp/PgDn episode\nUp/Down faster/slower   click the bar to seek\n3D: drag to orbit, wheel to zoom, C front camera\nS save the window as PNG   Esc quit"
    };
    out
}

fn keys(
    mut commands: Commands,
    input: Res<ButtonInput<KeyCode>>,
    mut timeline: ResMut<Timeline>,
    teleop: Option<NonSend<TeleopSource>>,
    mut exit: MessageWriter<AppExit>,
    mut rig: Option<ResMut<Rig>>,
) {
    if input.just_pressed(KeyCode::Escape) || input.just_pressed(KeyCode::KeyQ) {
        exit.write(AppExit::Success);
    }
    if input.just_pressed(KeyCode::KeyS) {
        // The window as it is, beside where the viewer was started.
        let path = format!("spelunk-viewer-state{}.png", timeline.cursor);
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path.clone()));
        timeline.message = Some(format!("saved {path}"));
        timeline.dirty = true;
    }
    let n = timeline.states.len();
    if teleop.is_some() {
        if input.just_pressed(KeyCode::Comma) {
            let k = timeline.cursor.saturating_sub(1);
            timeline.seek(k);
        }
        if input.just_pressed(KeyCode::Period) {
            let k = timeline.cursor + 1;
            timeline.seek(k);
        }
        return;
    }
    let jump = if input.pressed(KeyCode::ShiftLeft) || input.pressed(KeyCode::ShiftRight) {
        10
    } else {
        1
    };
    if input.just_pressed(KeyCode::Space) {
        timeline.playing = !timeline.playing;
        if timeline.playing && timeline.cursor + 1 >= n && timeline.live.is_none() {
            timeline.seek(0);
        }
        timeline.dirty = true;
    }
    if input.just_pressed(KeyCode::ArrowRight) {
        timeline.playing = false;
        for _ in 0..jump {
            timeline.advance();
        }
    }
    if input.just_pressed(KeyCode::ArrowLeft) {
        timeline.playing = false;
        let k = timeline.cursor.saturating_sub(jump);
        timeline.seek(k);
    }
    if input.just_pressed(KeyCode::Home) {
        timeline.seek(0);
    }
    if input.just_pressed(KeyCode::End) {
        timeline.seek(n - 1);
    }
    if input.just_pressed(KeyCode::PageDown) {
        let next = (timeline.cursor + 1..n).find(|&k| timeline.states[k].step == 0);
        timeline.seek(next.unwrap_or(n - 1));
    }
    if input.just_pressed(KeyCode::PageUp) {
        // The start of this episode, or of the one before when already there.
        let start = timeline.episode_start();
        if timeline.cursor == start && start > 0 {
            timeline.seek(start - 1);
        }
        let start = timeline.episode_start();
        timeline.seek(start);
    }
    if input.just_pressed(KeyCode::ArrowUp) {
        timeline.speed = (timeline.speed * 2.0).min(960.0);
        timeline.dirty = true;
    }
    if input.just_pressed(KeyCode::ArrowDown) {
        timeline.speed = (timeline.speed / 2.0).max(0.5);
        timeline.dirty = true;
    }
    if input.just_pressed(KeyCode::KeyC) {
        if let Some(rig) = rig.as_deref_mut() {
            // Back to the env's front camera.
            rig.free = false;
        }
    }
}

/// Keyboard teleop: a key press is a step (held keys repeat, ten steps a second).
fn teleop(
    input: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    mut timeline: ResMut<Timeline>,
    teleop: Option<NonSendMut<TeleopSource>>,
    mut held: Local<f32>,
) {
    let Some(mut t) = teleop else { return };
    let map = [
        (KeyCode::ArrowUp, TeleopKey::Up),
        (KeyCode::ArrowDown, TeleopKey::Down),
        (KeyCode::ArrowLeft, TeleopKey::Left),
        (KeyCode::ArrowRight, TeleopKey::Right),
        (KeyCode::PageUp, TeleopKey::Raise),
        (KeyCode::PageDown, TeleopKey::Lower),
        (KeyCode::KeyG, TeleopKey::Grip),
        (KeyCode::KeyP, TeleopKey::Pickup),
        (KeyCode::KeyD, TeleopKey::Drop),
        (KeyCode::KeyT, TeleopKey::Toggle),
        (KeyCode::Enter, TeleopKey::Done),
        (KeyCode::KeyW, TeleopKey::Wait),
    ];
    let mut key = map.iter().find(|(k, _)| input.just_pressed(*k)).map(|&(_, t)| t);
    if key.is_some() {
        *held = -0.3;
    } else if let Some(&(_, k)) =
        map.iter().find(|(k, tk)| input.pressed(*k) && *tk != TeleopKey::Grip)
    {
        *held += time.delta_secs();
        if *held >= 0.1 {
            *held = 0.0;
            key = Some(k);
        }
    }
    let result = if input.just_pressed(KeyCode::KeyR) {
        t.0.next_episode().map(Some)
    } else if let Some(k) = key {
        t.0.press(k)
    } else {
        return;
    };
    match result {
        Ok(Some(state)) => {
            timeline.states.push(state);
            let last = timeline.states.len() - 1;
            timeline.seek(last);
            timeline.message = None;
        }
        Ok(None) => {}
        Err(e) => timeline.message = Some(format!("error: {e}")),
    }
    timeline.dirty = true;
}

fn mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    windows: Query<&Window>,
    layout: Res<Layout>,
    mut timeline: ResMut<Timeline>,
    mut rig: Option<ResMut<Rig>>,
) {
    let Ok(window) = windows.single() else { return };
    // The window's scale factor is 1: logical and physical pixels agree.
    let cursor = window.cursor_position();
    // The progress bar: the top of the panel, its width less the padding.
    if buttons.just_pressed(MouseButton::Left) {
        if let Some(p) = cursor {
            let x0 = layout.content.x as f32 + 12.0;
            let w = PANEL as f32 - 24.0;
            let on_bar = (x0..=x0 + w).contains(&p.x)
                && (BAR_TOP - 6.0..=BAR_TOP + BAR_HEIGHT + 6.0).contains(&p.y);
            if on_bar && timeline.states.len() > 1 {
                let f = (p.x - x0) / w;
                let k = (f * (timeline.states.len() - 1) as f32).round() as usize;
                timeline.playing = false;
                timeline.seek(k);
            }
        }
    }
    let Some(rig) = rig.as_deref_mut() else { return };
    let in_view = cursor.is_some_and(|p| p.x < layout.content.x as f32);
    if buttons.pressed(MouseButton::Left) && in_view && motion.delta != Vec2::ZERO {
        rig.free = true;
        rig.yaw -= motion.delta.x * 0.005;
        rig.pitch = (rig.pitch + motion.delta.y * 0.005).clamp(-1.5, 1.5);
    }
    if scroll.delta.y != 0.0 && in_view {
        rig.free = true;
        rig.distance = (rig.distance * (1.0 - scroll.delta.y * 0.1)).clamp(0.1, 20.0);
    }
}

fn playback(time: Res<Time>, mut timeline: ResMut<Timeline>) {
    if !timeline.playing {
        return;
    }
    timeline.acc += time.delta_secs() * timeline.speed;
    while timeline.acc >= 1.0 {
        timeline.acc -= 1.0;
        if !timeline.advance() {
            timeline.acc = 0.0;
            if timeline.live.is_none() {
                timeline.playing = false;
                timeline.dirty = true;
            }
            break;
        }
    }
}

/// Keep the 3D view beside the panel as the window is resized (grid worlds have no 3D
/// camera).
fn fit_viewport(windows: Query<&Window>, mut cameras: Query<&mut Camera, With<SceneCamera>>) {
    let Ok(window) = windows.single() else { return };
    let size = window.physical_size();
    for mut camera in &mut cameras {
        let want = UVec2::new(size.x.saturating_sub(PANEL).max(1), size.y.max(1));
        if camera.viewport.as_ref().map(|v| v.physical_size) != Some(want) {
            camera.viewport = Some(Viewport { physical_size: want, ..default() });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn draw(
    mut commands: Commands,
    mut timeline: ResMut<Timeline>,
    layout: Res<Layout>,
    mut drawn: ResMut<Drawn>,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut texts: Query<&mut Text, With<InfoText>>,
    mut fill: Query<&mut Node, With<BarFill>>,
    mut frame_nodes: Query<&mut ImageNode, With<FrameNode>>,
    mut cameras: Query<&mut Transform, With<SceneCamera>>,
    mut bodies: Query<(&mut Transform, &mut Visibility), Without<SceneCamera>>,
    rig: Option<Res<Rig>>,
    teleop: Option<NonSend<TeleopSource>>,
    mut charts: Charts,
) {
    if let Some(rig) = &rig {
        if rig.is_changed() {
            for mut t in &mut cameras {
                *t = rig.transform();
            }
        }
    }
    if !timeline.dirty {
        return;
    }
    timeline.dirty = false;
    let state = timeline.state().clone();
    if let Ok(mut text) = texts.single_mut() {
        text.0 = describe(&timeline, teleop.is_some());
    }
    charts.show(&timeline);
    if let Ok(mut node) = fill.single_mut() {
        let n = timeline.states.len().max(2) - 1;
        node.width = percent(100.0 * timeline.cursor as f32 / n as f32);
    }
    if let Some(frame) = &state.frame {
        let mut rgba = Vec::with_capacity(frame.width * frame.height * 4);
        for px in frame.rgb.chunks_exact(3) {
            rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
        }
        if drawn.frame_size != (frame.width, frame.height) {
            let mut image = Image::new(
                Extent3d {
                    width: frame.width as u32,
                    height: frame.height as u32,
                    depth_or_array_layers: 1,
                },
                TextureDimension::D2,
                rgba,
                TextureFormat::Rgba8UnormSrgb,
                RenderAssetUsages::default(),
            );
            image.sampler = ImageSampler::nearest();
            drawn.frame = images.add(image);
            drawn.frame_size = (frame.width, frame.height);
            for mut node in &mut frame_nodes {
                node.image = drawn.frame.clone();
            }
        } else if let Some(mut image) = images.get_mut(&drawn.frame) {
            image.data = Some(rgba);
        }
    }
    if let Some(scene) = &state.scene {
        let mut seen = Vec::with_capacity(scene.bodies.len());
        for body in &scene.bodies {
            let t = transform(&body.pose);
            seen.push(body.name.as_str());
            if let Some(&e) = drawn.bodies.get(&body.name) {
                if let Ok((mut tr, mut vis)) = bodies.get_mut(e) {
                    *tr = t;
                    *vis = Visibility::Inherited;
                }
                continue;
            }
            let mesh = match body.shape {
                Shape::Box { half_extents: [x, y, z] } => {
                    meshes.add(Cuboid::new(2.0 * x, 2.0 * y, 2.0 * z))
                }
                Shape::Sphere { radius } => meshes.add(Sphere::new(radius).mesh().uv(48, 24)),
                Shape::Cylinder { half_height, radius } => {
                    meshes.add(Cylinder::new(radius, 2.0 * half_height).mesh().resolution(48))
                }
                Shape::Capsule { half_height, radius } => {
                    meshes.add(Capsule3d::new(radius, 2.0 * half_height).mesh().longitudes(48))
                }
            };
            let color = scene.color(body.class);
            let flat = layout.flat;
            let material = drawn
                .materials
                .entry(body.class)
                .or_insert_with(|| {
                    materials.add(StandardMaterial {
                        base_color: to_color(color),
                        unlit: flat,
                        perceptual_roughness: 0.8,
                        ..default()
                    })
                })
                .clone();
            let e = commands.spawn((Mesh3d(mesh), MeshMaterial3d(material), t)).id();
            drawn.bodies.insert(body.name.clone(), e);
        }
        for (name, &e) in &drawn.bodies {
            if !seen.contains(&name.as_str()) {
                if let Ok((_, mut vis)) = bodies.get_mut(e) {
                    *vis = Visibility::Hidden;
                }
            }
        }
    }
}

/// The panel's charts: the reward and the first bonus of the episode's last states.
#[derive(bevy::ecs::system::SystemParam)]
struct Charts<'w, 's> {
    bars: Query<
        'w,
        's,
        (&'static ChartBar, &'static mut Node, &'static mut BackgroundColor),
        (Without<BarFill>, Without<Chart>),
    >,
    captions: Query<'w, 's, (&'static ChartCaption, &'static mut Text), Without<InfoText>>,
    boxes:
        Query<'w, 's, (&'static Chart, &'static mut Node), (Without<BarFill>, Without<ChartBar>)>,
}

impl Charts<'_, '_> {
    fn show(&mut self, t: &Timeline) {
        let start = t.episode_start().max((t.cursor + 1).saturating_sub(CHART_STATES));
        let states = &t.states[start..=t.cursor];
        let bonus = t.state().bonuses.first().map(|(name, _)| name.clone());
        let values = |chart: usize| -> Vec<f64> {
            states
                .iter()
                .map(|s| match chart {
                    0 => s.reward,
                    _ => s.bonuses.first().map_or(0.0, |b| b.1),
                })
                .collect()
        };
        let series = [values(0), values(1)];
        let scale = series.clone().map(|v| v.iter().fold(0.0f64, |m, x| m.max(x.abs())));
        for (chart, mut text) in &mut self.captions {
            text.0 = match (chart.0, &bonus) {
                (0, _) => {
                    format!("reward, last {} states (largest |r| {:.3})", states.len(), scale[0])
                }
                (_, Some(name)) => format!("bonus {name} (largest {:.4})", scale[1]),
                (_, None) => String::new(),
            };
        }
        for (chart, mut node) in &mut self.boxes {
            node.display =
                if chart.0 == 0 || bonus.is_some() { Display::Flex } else { Display::None };
        }
        for (bar, mut node, mut color) in &mut self.bars {
            let v = series[bar.chart].get(bar.index).copied().unwrap_or(0.0);
            let h = if scale[bar.chart] > 0.0 { v.abs() / scale[bar.chart] } else { 0.0 };
            node.height = percent((100.0 * h) as f32);
            color.0 = match (bar.chart, v >= 0.0, bar.index + 1 == states.len()) {
                (_, _, true) => Color::WHITE,
                (0, true, _) => Color::srgb_u8(90, 200, 120),
                (0, false, _) => Color::srgb_u8(230, 90, 80),
                _ => Color::srgb_u8(120, 170, 255),
            };
        }
    }
}

/// The gripper's path this episode, up to the state shown (not in flat colours).
fn path_gizmo(timeline: Res<Timeline>, layout: Res<Layout>, mut gizmos: Gizmos) {
    if layout.kind != Kind::Scene || layout.flat {
        return;
    }
    let start = timeline.episode_start();
    let points: Vec<Vec3> = timeline.states[start..=timeline.cursor]
        .iter()
        .filter_map(|s| s.scene.as_ref()?.end_effector.map(Vec3::from_array))
        .collect();
    if points.len() > 1 {
        gizmos.linestrip(points, Color::srgb_u8(255, 200, 60));
    }
}

fn take_screenshot(mut commands: Commands, mut shot: ResMut<Shot>) {
    shot.frames += 1;
    if shot.frames == SHOT_FRAME {
        commands.spawn(Screenshot::image(shot.target.clone())).observe(captured);
    }
}

fn captured(
    event: On<ScreenshotCaptured>,
    shot: Res<Shot>,
    layout: Res<Layout>,
    mut outcome: ResMut<Outcome>,
    mut exit: MessageWriter<AppExit>,
) {
    let result = finish_shot(&event.image, &shot, &layout);
    match result {
        Ok(()) => {
            exit.write(AppExit::Success);
        }
        Err(e) => {
            outcome.0 = Some(format!("{e:#}"));
            exit.write(AppExit::error());
        }
    }
}

/// Write the screenshot, then check it against the env's own rendering when asked.
fn finish_shot(image: &Image, shot: &Shot, layout: &Layout) -> Result<()> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let data = image.data.as_ref().context("the screenshot has no pixels")?;
    if data.len() != w * h * 4 {
        bail!("the screenshot has {} bytes for {w}x{h} RGBA pixels", data.len());
    }
    let mut pic = Picture::new(w, h);
    for (out, px) in pic.rgb.chunks_exact_mut(3).zip(data.chunks_exact(4)) {
        out.copy_from_slice(&px[..3]);
    }
    spelunk_experiments::report::png::write(&shot.path, &pic)?;
    println!("wrote {} ({w}x{h}, state {})", shot.path.display(), shot.state);
    let Some(check) = &shot.check else { return Ok(()) };
    let scale = layout.scale as usize;
    match check {
        CheckRef::Grid { frame, tile } => {
            let all = model::check_frame(&pic, frame, [0, 0], scale);
            println!(
                "frame: {}/{} of the env's picture's pixels drawn in their colour",
                all.matched, all.checked
            );
            let mut ok = all.matched == all.checked;
            if let Some(tile) = tile {
                let t = model::check_agent_tile(&pic, frame, *tile, [0, 0], scale);
                println!(
                    "agent's tile at pixel ({}, {}) of the picture: {}/{} pixels",
                    tile[0], tile[1], t.matched, t.checked
                );
                ok &= t.matched == t.checked;
            }
            if !ok {
                bail!("the screenshot does not show the env's picture of state {}", shot.state);
            }
        }
        CheckRef::Scene { camera, scene } => {
            let content = crop(&pic, layout.content.x as usize, layout.content.y as usize);
            let classes = model::check_classes(&content, camera, &scene.classes, SKY, scale)?;
            let (mut matched, mut checked) = (0, 0);
            let mut ok = true;
            for c in &classes {
                matched += c.pixels.matched;
                checked += c.pixels.checked;
                if c.pixels.checked + c.edges.checked == 0 {
                    continue;
                }
                println!(
                    "{}: {}/{} pixels inside its regions ({:.1}%), {}/{} on their edges",
                    c.name,
                    c.pixels.matched,
                    c.pixels.checked,
                    100.0 * c.pixels.fraction(),
                    c.edges.matched,
                    c.edges.checked
                );
                ok &= c.pixels.fraction() >= CLASS_AGREEMENT;
            }
            let all = matched as f64 / checked.max(1) as f64;
            println!(
                "all: {matched}/{checked} pixels inside regions ({:.2}%) coloured as camera {}'s segmentation",
                100.0 * all,
                camera.name
            );
            for name in ["object", "goal"] {
                if !classes.iter().any(|c| c.name == name && c.pixels.checked > 0) {
                    println!("{name}: no pixel inside a region in view");
                }
            }
            if !ok || all < ALL_AGREEMENT {
                bail!(
                    "the screenshot does not match the env's segmentation of state {} (needs {:.1}% of the pixels inside regions, of each class and of all)",
                    shot.state,
                    100.0 * CLASS_AGREEMENT
                );
            }
        }
    }
    Ok(())
}

/// The top-left `w × h` of a picture.
fn crop(p: &Picture, w: usize, h: usize) -> Picture {
    let mut out = Picture::new(w, h);
    for y in 0..h.min(p.height) {
        let n = w.min(p.width) * 3;
        out.rgb[y * w * 3..y * w * 3 + n]
            .copy_from_slice(&p.rgb[y * p.width * 3..y * p.width * 3 + n]);
    }
    out
}

//! Round trips and refusals, on a small env of the tests' own.
// Values are compared exactly: a round trip through the files must keep every bit.
#![allow(clippy::float_cmp)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use spelunk_core::{Action, DType, Env, Info, ObsBuf, ObsMut, Rng, Space, Step};

use crate::{Column, Dataset, Writer};

/// A walker in a 4×6 picture: a dict of an image, a state, a direction, and a text mission;
/// a 2-D continuous action. Deterministic per seed.
struct Walker {
    id: String,
    obs_space: Space,
    act_space: Space,
    rng: Rng,
    pos: [f32; 2],
    t: u32,
    mission: String,
}

impl Walker {
    fn new(id: &str, action_dims: usize) -> Self {
        let inf = f32::INFINITY;
        Self {
            id: id.to_owned(),
            obs_space: Space::Dict(vec![
                ("image".into(), Space::uniform_box(&[4, 6, 3], 0.0, 255.0, DType::F32)),
                ("direction".into(), Space::discrete(4)),
                ("observation".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
            ]),
            act_space: Space::uniform_box(&[action_dims], -1.0, 1.0, DType::F32),
            rng: Rng::seed_from_u64(0),
            pos: [0.0; 2],
            t: 0,
            mission: String::new(),
        }
    }
    fn write(&self, obs: ObsMut<'_>) {
        let ObsMut::F32(o) = obs else { panic!("f32 observations") };
        for (k, px) in o[..72].iter_mut().enumerate() {
            *px = ((k as f32 * 7.0 + self.pos[0] * 40.0 + self.t as f32) as u32 % 256) as f32;
        }
        o[72] = (self.t % 4) as f32;
        o[73..76].copy_from_slice(&[self.pos[0], self.pos[1], self.t as f32 * 0.25]);
    }
}

impl Env for Walker {
    fn id(&self) -> &str {
        &self.id
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(
        &mut self,
        seed: Option<u64>,
        _: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> spelunk_core::Result<Info> {
        self.rng = Rng::seed_from_u64(seed.unwrap_or(0));
        self.pos = [self.rng.f32(), self.rng.f32()];
        self.t = 0;
        self.mission = format!("walk {}", ["north", "south"][self.rng.index(2)]);
        self.write(obs);
        Ok(Info::default())
    }
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> spelunk_core::Result<Step> {
        let Action::Continuous(a) = action else { panic!("continuous") };
        self.pos[0] += a[0] * 0.1;
        self.pos[1] += a[1] * 0.1;
        self.t += 1;
        self.write(obs);
        let done = self.t >= 5 + (self.pos[0].abs() * 10.0) as u32 % 3;
        Ok(Step {
            reward: -self.pos[0].abs(),
            terminated: done,
            truncated: false,
            info: Info { is_success: Some(done), ..Info::default() },
        })
    }
    fn observe(&self, obs: ObsMut<'_>) -> spelunk_core::Result<()> {
        self.write(obs);
        Ok(())
    }
    fn info(&self) -> Info {
        Info::default()
    }
    fn mission(&self) -> Option<&str> {
        Some(&self.mission)
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spelunk-dataset-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(crate::write::partial_path(&dir));
    dir
}

/// Episodes of `env` (seeds 10, 11, …): every observation row and action, in order.
fn play(env: &mut Walker, writer: &mut Writer, episodes: u64) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let (mut rows, mut acts, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = ObsBuf::for_space(env.observation_space());
    for e in 0..episodes {
        env.reset(Some(10 + e), None, buf.as_mut()).unwrap();
        writer.begin_episode(env).unwrap();
        let mut n = 0;
        loop {
            rows.extend_from_slice(buf.as_f32().unwrap());
            let a = [env.rng.f32() * 2.0 - 1.0, 0.5];
            acts.extend_from_slice(&a);
            let s = env.step(Action::Continuous(&a), buf.as_mut()).unwrap();
            writer
                .step(
                    Action::Continuous(&a),
                    f64::from(s.reward),
                    s.terminated,
                    s.terminated,
                    buf.view(),
                )
                .unwrap();
            n += 1;
            if s.terminated {
                break;
            }
        }
        lengths.push(n);
    }
    (rows, acts, lengths)
}

fn written(name: &str) -> (PathBuf, Walker, Vec<f32>, Vec<f32>, Vec<usize>) {
    let dir = temp(name);
    let mut env = Walker::new("Walker-v0", 2);
    let mut w = Writer::create(&dir, &env, Some(serde_json::json!({"size": 4})), 15).unwrap();
    let (rows, acts, lengths) = play(&mut env, &mut w, 4);
    let s = w.finish().unwrap();
    assert_eq!((s.episodes, s.frames), (4, lengths.iter().sum()));
    (dir, env, rows, acts, lengths)
}

#[test]
fn a_dataset_reads_back_frame_for_frame() {
    let (dir, env, rows, acts, lengths) = written("roundtrip");
    let ds = Dataset::open(&dir).unwrap();
    assert_eq!(ds.env, Some(("Walker-v0".to_owned(), Some(serde_json::json!({"size": 4})))));
    assert_eq!(ds.fps, 15.0);
    assert_eq!(ds.episodes.iter().map(|e| e.length).collect::<Vec<_>>(), lengths);
    assert_eq!(ds.observations_for(&env).unwrap(), rows);
    assert_eq!(ds.actions_for(&env).unwrap(), acts);
    // Every episode's task is its mission; tasks are listed once each.
    assert!(ds.tasks.iter().all(|t| t.starts_with("walk ")));
    for e in &ds.episodes {
        assert_eq!(e.tasks, vec![ds.tasks[ds.task_of[e.from]].clone()]);
    }
    let Some(Column::Numbers { values, .. }) = ds.column("next.done") else { panic!("done") };
    let ends: Vec<usize> = (0..ds.len()).filter(|&r| values[r] > 0.5).collect();
    let last: Vec<usize> = ds.episodes.iter().map(|e| e.from + e.length - 1).collect();
    assert_eq!(ends, last);
    let Some(Column::Numbers { values, .. }) = ds.column("timestamp") else { panic!("t") };
    assert_eq!(values[1], 1.0 / 15.0);
    // LeRobot's statistics: images per channel on 0–1, shaped [3, 1, 1].
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta/stats.json")).unwrap())
            .unwrap();
    let img = &stats["observation.image"];
    assert_eq!(img["mean"].as_array().unwrap().len(), 3);
    assert!(img["max"][0][0][0].as_f64().unwrap() <= 1.0);
    assert_eq!(stats["action"]["count"][0].as_u64().unwrap() as usize, ds.len());
    let n = rows.len() / 76;
    let mean0 = (0..n).map(|r| f64::from(rows[r * 76 + 73])).sum::<f64>() / n as f64;
    assert!((stats["observation.state"]["mean"][0].as_f64().unwrap() - mean0).abs() < 1e-5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_writer_never_overwrites_and_a_killed_one_leaves_no_dataset() {
    let (dir, mut env, ..) = written("overwrite");
    let e = Writer::create(&dir, &env, None, 15).unwrap_err();
    assert!(e.to_string().contains("never written over"), "{e}");
    // A writer dropped before `finish` (as a killed one) leaves only DIR.partial.
    let fresh = temp("killed");
    let mut w = Writer::create(&fresh, &env, None, 15).unwrap();
    play(&mut env, &mut w, 1);
    drop(w);
    let e = Dataset::open(&fresh).unwrap_err();
    assert!(e.to_string().contains("never finished"), "{e}");
    let e = Dataset::open(&crate::write::partial_path(&fresh)).unwrap_err();
    assert!(e.to_string().contains("never finished"), "{e}");
    // A dataset whose info.json is gone is not taken for whole.
    std::fs::remove_file(dir.join("meta/info.json")).unwrap();
    let e = Dataset::open(&dir).unwrap_err();
    assert!(e.to_string().contains("info.json is missing"), "{e}");
    // An episode of another env cannot join.
    let mut w = Writer::create(&temp("mixed"), &env, None, 15).unwrap();
    let e = w.begin_episode(&Walker::new("Other-v0", 2)).unwrap_err();
    assert!(e.to_string().contains("Other-v0"), "{e}");
    for d in [dir, fresh.clone(), crate::write::partial_path(&fresh), temp("mixed")] {
        let _ = std::fs::remove_dir_all(crate::write::partial_path(&d));
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Rewrite the data file without frame `drop_row`, as a damaged copy would be.
fn drop_frame(dir: &Path, drop_row: usize) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = dir.join("data/chunk-000/file-000.parquet");
    let file = std::fs::File::open(&path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1, "the test's files fit one batch");
    let batch = &batches[0];
    let keep =
        [batch.slice(0, drop_row), batch.slice(drop_row + 1, batch.num_rows() - drop_row - 1)];
    let out = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(out, batch.schema(), None).unwrap();
    for b in &keep {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn bad_datasets_are_refused_saying_what_and_where() {
    // A frame missing from an episode.
    let (dir, _, _, _, lengths) = written("missing");
    drop_frame(&dir, lengths[0] + 2);
    let e = Dataset::open(&dir).unwrap_err().to_string();
    assert!(e.contains("file-000.parquet") && e.contains("missing"), "{e}");
    assert!(e.contains("episode 1"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();

    // Another env's episodes; an env whose action has another size.
    let (dir, ..) = written("otherenv");
    let e = Dataset::open(&dir).unwrap().observations_for(&Walker::new("Other-v0", 2)).unwrap_err();
    assert!(e.to_string().contains("holds episodes of Walker-v0, not Other-v0"), "{e}");
    let e = Dataset::open(&dir).unwrap().actions_for(&Walker::new("Walker-v0", 3)).unwrap_err();
    assert!(
        e.to_string().contains("action holds 2 values per frame")
            && e.to_string().contains("needs 3"),
        "{e}"
    );

    // info.json that disagrees with the files: an action shape, a total, a layout version.
    let info_path = dir.join("meta/info.json");
    let info = std::fs::read_to_string(&info_path).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(info.contains(from), "{from}");
        std::fs::write(&info_path, info.replacen(from, to, 1)).unwrap();
        Dataset::open(&dir).unwrap_err().to_string()
    };
    let v: Value = serde_json::from_str(&info).unwrap();
    let frames = v["total_frames"].as_u64().unwrap();
    let e =
        edit(&format!("\"total_frames\": {frames}"), &format!("\"total_frames\": {}", frames + 1));
    assert!(e.contains("total_frames") && e.contains("missing"), "{e}");
    let e = edit("\"codebase_version\": \"v3.0\"", "\"codebase_version\": \"v2.1\"");
    assert!(e.contains("v2.1") && e.contains("v3.0"), "{e}");
    let action = serde_json::to_string_pretty(&v["features"]["action"]).unwrap();
    let e = edit(
        &action.replace('\n', "\n    "),
        &action.replace("2\n", "3\n").replace('\n', "\n    "),
    );
    assert!(
        e.contains("feature action") && e.contains("frame 0 has 2 values") && e.contains("gives 3"),
        "{e}"
    );
    std::fs::write(&info_path, &info).unwrap();
    // A feature's column gone from the data file.
    let mut v2 = v.clone();
    v2["features"]["observation.extra"] = serde_json::json!({"dtype": "float32", "shape": [2]});
    std::fs::write(&info_path, serde_json::to_string(&v2).unwrap()).unwrap();
    let e = Dataset::open(&dir).unwrap_err().to_string();
    assert!(
        e.contains("observation.extra column is missing") && e.contains("file-000.parquet"),
        "{e}"
    );
    std::fs::write(&info_path, &info).unwrap();
    assert!(Dataset::open(&dir).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A dataset written as LeRobot writes one (`datasets` with embedded PNG images, pyarrow with
/// snappy, dictionary pages and a row group per episode, pandas' tasks index):
/// `scripts/fixtures/lerobot_dataset.py`.
#[test]
fn a_dataset_written_by_lerobots_libraries_reads_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/lerobot/walker");
    let ds = Dataset::open(&dir).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let floats = |k: &str| -> Vec<f32> {
        expected[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
    };
    assert_eq!(ds.len(), 12);
    assert_eq!(ds.env, None);
    assert_eq!(ds.fps, 30.0);
    assert_eq!(ds.tasks, vec!["pick the cube", "push the cube"]);
    assert_eq!(
        ds.episodes.iter().map(|e| (e.length, e.from)).collect::<Vec<_>>(),
        vec![(4, 0), (3, 4), (5, 7)]
    );
    assert_eq!(ds.episodes[1].tasks, vec!["push the cube"]);
    let task: Vec<usize> =
        expected["task"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(ds.task_of, task);
    let Some(Column::Numbers { width: 3, values }) = ds.column("observation.state") else {
        panic!("state")
    };
    assert_eq!(values, &floats("state"));
    let Some(Column::Numbers { width: 2, values }) = ds.column("action") else { panic!("action") };
    assert_eq!(values, &floats("action"));
    let Some(Column::Images { height: 4, width: 6, pixels }) = ds.column("observation.images.top")
    else {
        panic!("images")
    };
    let px: Vec<u8> =
        expected["pixels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(pixels, &px);
    // An env whose observation is `observation.state` alone reads it; one with an image member
    // reads `observation.images.<member>`.
    let mut env = Walker::new("Walker-v0", 2);
    env.obs_space = Space::Dict(vec![
        ("top".into(), Space::uniform_box(&[4, 6, 3], 0.0, 255.0, DType::U8)),
        ("observation".into(), Space::uniform_box(&[3], -1e9, 1e9, DType::F32)),
    ]);
    let rows = ds.observations_for(&env).unwrap();
    assert_eq!(rows.len(), 12 * (72 + 3));
    assert_eq!(rows[72..75], floats("state")[..3]);
    assert_eq!(rows[0], f32::from(px[0]));
    assert_eq!(ds.actions_for(&env).unwrap(), floats("action"));
}

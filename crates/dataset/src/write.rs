//! [`Writer`]: episodes of any env into a LeRobot dataset folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field};
use serde_json::{json, Value};
use spelunk_core::events::{EnvStep, EpisodeFinished, EpisodeStarted, ObserverResult};
use spelunk_core::{Action, Env, ObsBuf, ObsRef, Observer};

use crate::schema::{Kind, Schema, Slot, BOOKKEEPING, OUTCOMES};
use crate::{invalid, io_err, Error, Result, CODEBASE_VERSION};

/// Frames of one feature, as they arrive.
enum Values {
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Images(Vec<Vec<u8>>),
    Text(Vec<String>),
}

impl Values {
    fn for_kind(kind: &Kind) -> Self {
        match kind {
            Kind::Image { .. } => Values::Images(Vec::new()),
            Kind::Floats(_) => Values::Floats(Vec::new()),
            Kind::Ints(_) => Values::Ints(Vec::new()),
            Kind::Text => Values::Text(Vec::new()),
        }
    }
}

struct EpisodeRow {
    length: usize,
    task: usize,
}

/// What [`Writer::finish`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The dataset's folder.
    pub dir: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Frames written.
    pub frames: usize,
    /// Distinct tasks.
    pub tasks: usize,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Writes episodes into a LeRobot dataset (see the crate's text). As an [`Observer`] it takes
/// the episodes any run plays (`spelunk record --lerobot`, a policy's evaluation); frames can
/// also be added by hand with [`Writer::begin_episode`] and [`Writer::step`]. Nothing reaches
/// `DIR` until [`Writer::finish`].
pub struct Writer {
    dir: PathBuf,
    partial: PathBuf,
    env_id: String,
    env_config: Option<Value>,
    fps: u32,
    robot_type: Option<String>,
    schema: Schema,
    columns: Vec<Values>,
    action: Values,
    reward: Vec<f32>,
    done: Vec<bool>,
    success: Vec<bool>,
    frame_index: Vec<i64>,
    episode_index: Vec<i64>,
    task_index: Vec<i64>,
    episodes: Vec<EpisodeRow>,
    tasks: Vec<String>,
    /// The observation the next action is taken in, with the episode's task.
    current: Option<(ObsBuf, usize)>,
    frames_in_episode: usize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.dir)
            .field("env", &self.env_id)
            .field("episodes", &self.episodes.len())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer of `env`'s episodes (made with `env_config`, kept in the data file's metadata)
    /// into `dir`, at `fps` frames per second of env time. `dir` must not exist yet (or be an
    /// empty folder): a dataset is never written over.
    ///
    /// # Errors
    /// An existing `dir`, a space with no dataset form, a folder that cannot be made.
    pub fn create(dir: &Path, env: &dyn Env, env_config: Option<Value>, fps: u32) -> Result<Self> {
        if fps == 0 {
            return invalid("a dataset's fps must be at least 1");
        }
        if dir.exists() && std::fs::read_dir(dir).map_err(io_err(dir))?.next().is_some() {
            return invalid(format!(
                "{} already exists and is not empty; a dataset is never written over (choose a \
                 new folder)",
                dir.display()
            ));
        }
        let schema = Schema::for_spaces(env.observation_space(), env.action_space())?;
        let partial = partial_path(dir);
        if partial.exists() {
            // What a killed writer left: never a dataset, so nothing is lost.
            std::fs::remove_dir_all(&partial).map_err(io_err(&partial))?;
        }
        std::fs::create_dir_all(partial.join("meta")).map_err(io_err(&partial))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            partial,
            env_id: env.id().to_owned(),
            env_config,
            fps,
            robot_type: None,
            columns: schema.observation.iter().map(|s| Values::for_kind(&s.kind)).collect(),
            action: Values::for_kind(&schema.action.kind),
            schema,
            reward: Vec::new(),
            done: Vec::new(),
            success: Vec::new(),
            frame_index: Vec::new(),
            episode_index: Vec::new(),
            task_index: Vec::new(),
            episodes: Vec::new(),
            tasks: Vec::new(),
            current: None,
            frames_in_episode: 0,
        })
    }

    /// `meta/info.json`'s `robot_type` (LeRobot names the robot there: `so100`, `fetch7`).
    #[must_use]
    pub fn with_robot_type(mut self, robot: Option<String>) -> Self {
        self.robot_type = robot;
        self
    }

    /// The features written.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Start an episode in `env`, just reset: its observation and task (the env's mission,
    /// else its id) are taken now. An episode still open is ended first.
    ///
    /// # Errors
    /// An env of another id than the writer's, or one that cannot give its observation.
    pub fn begin_episode(&mut self, env: &dyn Env) -> Result<()> {
        if env.id() != self.env_id {
            return invalid(format!(
                "this dataset holds {} episodes; an episode of {} cannot join it",
                self.env_id,
                env.id()
            ));
        }
        self.end_episode();
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.observe(obs.as_mut())?;
        let task = env.mission().unwrap_or(env.id()).to_owned();
        let t = if let Some(t) = self.tasks.iter().position(|x| *x == task) {
            t
        } else {
            self.tasks.push(task);
            self.tasks.len() - 1
        };
        self.current = Some((obs, t));
        Ok(())
    }

    /// One step of the open episode: `action` was taken in the current observation, the env
    /// gave `reward`, `done` (terminated or truncated), `success`, and `obs` next.
    ///
    /// # Errors
    /// No open episode, an action or observation of the wrong size, an image value outside
    /// 0–255.
    pub fn step(
        &mut self,
        action: Action<'_>,
        reward: f64,
        done: bool,
        success: bool,
        obs: ObsRef<'_>,
    ) -> Result<()> {
        let Some((current, task)) = self.current.take() else {
            return invalid("a step with no episode begun (call begin_episode after reset)");
        };
        let frame = self.frame_index.len();
        for (slot, col) in self.schema.observation.iter().zip(&mut self.columns) {
            push_slot(slot, col, current.view(), frame)?;
        }
        push_action(&self.schema.action, &mut self.action, action, frame)?;
        self.reward.push(reward as f32);
        self.done.push(done);
        self.success.push(success);
        self.frame_index.push(self.frames_in_episode as i64);
        self.episode_index.push(self.episodes.len() as i64);
        self.task_index.push(task as i64);
        self.frames_in_episode += 1;
        let mut next = current;
        match (&mut next, obs) {
            (ObsBuf::F32(b), ObsRef::F32(v)) if b.len() == v.len() => b.copy_from_slice(v),
            (ObsBuf::U8(b), ObsRef::U8(v)) if b.len() == v.len() => b.copy_from_slice(v),
            _ => {
                return invalid(format!("{}: an observation of another size or type", self.env_id))
            }
        }
        self.current = Some((next, task));
        Ok(())
    }

    /// End the open episode (an episode of no steps is dropped).
    pub fn end_episode(&mut self) {
        if let Some((_, task)) = self.current.take() {
            if self.frames_in_episode > 0 {
                self.episodes.push(EpisodeRow { length: self.frames_in_episode, task });
            }
        }
        self.frames_in_episode = 0;
    }

    /// Write the dataset: data, episodes, tasks, statistics, and `meta/info.json`, into
    /// `DIR.partial`, then rename it to `DIR`.
    ///
    /// # Errors
    /// No frames, or a file that cannot be written.
    pub fn finish(mut self) -> Result<Summary> {
        self.end_episode();
        let frames = self.frame_index.len();
        if frames == 0 {
            let _ = std::fs::remove_dir_all(&self.partial);
            return invalid(format!("{}: no frames were recorded", self.dir.display()));
        }
        let root = self.partial.clone();
        let data = root.join("data/chunk-000/file-000.parquet");
        let batch = self.data_batch()?;
        let meta = vec![(
            "spelunk".to_owned(),
            json!({ "env": self.env_id, "env_config": self.env_config }).to_string(),
        )];
        let mut starts = Vec::with_capacity(self.episodes.len());
        let mut from = 0;
        for e in &self.episodes {
            starts.push((from, e.length));
            from += e.length;
        }
        write_parquet(&data, &batch, &starts, meta)?;
        self.write_episodes(&root)?;
        self.write_tasks(&root)?;
        write_json(&root.join("meta/stats.json"), &stats(&batch))?;
        let features = self.schema.features();
        let info = json!({
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": self.episodes.len(),
            "total_frames": frames,
            "total_tasks": self.tasks.len(),
            "chunks_size": 1000,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": self.fps,
            "splits": { "train": format!("0:{}", self.episodes.len()) },
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": null,
            "features": features,
        });
        write_json(&root.join("meta/info.json"), &info)?;
        if self.dir.exists() {
            // An empty folder, checked at create.
            std::fs::remove_dir(&self.dir).map_err(io_err(&self.dir))?;
        }
        std::fs::rename(&root, &self.dir).map_err(io_err(&self.dir))?;
        Ok(Summary {
            dir: self.dir.clone(),
            episodes: self.episodes.len(),
            frames,
            tasks: self.tasks.len(),
            bytes: folder_bytes(&self.dir),
        })
    }

    fn data_batch(&mut self) -> Result<RecordBatch> {
        let n = self.frame_index.len();
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let slots: Vec<Slot> = self
            .schema
            .observation
            .iter()
            .chain(std::iter::once(&self.schema.action))
            .cloned()
            .collect();
        let mut values: Vec<Values> = std::mem::take(&mut self.columns);
        values.push(std::mem::replace(&mut self.action, Values::Floats(Vec::new())));
        for (slot, v) in slots.iter().zip(values) {
            let array = to_array(&slot.kind, v)?;
            fields.push(Field::new(&slot.key, array.data_type().clone(), false));
            arrays.push(array);
        }
        let fps = f64::from(self.fps);
        let extra: Vec<(&str, ArrayRef)> = vec![
            ("next.reward", Arc::new(Float32Array::from(std::mem::take(&mut self.reward)))),
            ("next.done", Arc::new(BooleanArray::from(std::mem::take(&mut self.done)))),
            ("next.success", Arc::new(BooleanArray::from(std::mem::take(&mut self.success)))),
            (
                "timestamp",
                Arc::new(Float32Array::from(
                    self.frame_index.iter().map(|&f| (f as f64 / fps) as f32).collect::<Vec<_>>(),
                )),
            ),
            ("frame_index", Arc::new(Int64Array::from(self.frame_index.clone()))),
            ("episode_index", Arc::new(Int64Array::from(self.episode_index.clone()))),
            ("index", Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>()))),
            ("task_index", Arc::new(Int64Array::from(self.task_index.clone()))),
        ];
        debug_assert_eq!(extra.len(), OUTCOMES.len() + BOOKKEEPING.len());
        for (name, a) in extra {
            fields.push(Field::new(name, a.data_type().clone(), false));
            arrays.push(a);
        }
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), arrays)
            .map_err(|e| Error::Invalid(format!("building the frames' table: {e}")))
    }

    fn write_episodes(&self, root: &Path) -> Result<()> {
        let k = self.episodes.len();
        let lengths: Vec<i64> = self.episodes.iter().map(|e| e.length as i64).collect();
        let mut from = Vec::with_capacity(k);
        let mut acc = 0i64;
        for &l in &lengths {
            from.push(acc);
            acc += l;
        }
        let to: Vec<i64> = from.iter().zip(&lengths).map(|(f, l)| f + l).collect();
        let zeros = || -> ArrayRef { Arc::new(Int64Array::from(vec![0i64; k])) };
        let tasks = {
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let names: Vec<&str> =
                self.episodes.iter().map(|e| self.tasks[e.task].as_str()).collect();
            arrow_array::ListArray::try_new(
                item,
                arrow_buffer::OffsetBuffer::from_lengths(vec![1; k]),
                Arc::new(StringArray::from(names)),
                None,
            )
            .map_err(|e| Error::Invalid(format!("building the episodes' tasks: {e}")))?
        };
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("episode_index", Arc::new(Int64Array::from((0..k as i64).collect::<Vec<_>>()))),
            ("tasks", Arc::new(tasks)),
            ("length", Arc::new(Int64Array::from(lengths))),
            ("data/chunk_index", zeros()),
            ("data/file_index", zeros()),
            ("dataset_from_index", Arc::new(Int64Array::from(from))),
            ("dataset_to_index", Arc::new(Int64Array::from(to))),
            ("meta/episodes/chunk_index", zeros()),
            ("meta/episodes/file_index", zeros()),
        ];
        let batch = batch_of(columns)?;
        write_parquet(&root.join("meta/episodes/chunk-000/file-000.parquet"), &batch, &[], vec![])
    }

    fn write_tasks(&self, root: &Path) -> Result<()> {
        let k = self.tasks.len();
        let batch = batch_of(vec![
            ("task_index", Arc::new(Int64Array::from((0..k as i64).collect::<Vec<_>>()))),
            ("task", Arc::new(StringArray::from(self.tasks.clone()))),
        ])?;
        // pandas reads `task` back as the frame's index, as LeRobot writes and reads it.
        let pandas = json!({
            "index_columns": ["task"],
            "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode",
                                "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
            "columns": [
                {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                 "numpy_type": "int64", "metadata": null},
                {"name": "task", "field_name": "task", "pandas_type": "unicode",
                 "numpy_type": "object", "metadata": null}
            ],
            "creator": {"library": "spelunk-dataset", "version": env!("CARGO_PKG_VERSION")},
            "pandas_version": "2.2.3"
        });
        write_parquet(
            &root.join("meta/tasks.parquet"),
            &batch,
            &[],
            vec![("pandas".to_owned(), pandas.to_string())],
        )
    }
}

/// `meta/stats.json`: min, max, mean, std and count per numeric feature; images per channel on
/// LeRobot's 0–1 scale, shaped `[3, 1, 1]`.
fn stats(batch: &RecordBatch) -> Value {
    let mut out = serde_json::Map::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        if let Some(s) = crate::read::column_stats(array.as_ref()) {
            out.insert(field.name().clone(), s);
        }
    }
    Value::Object(out)
}

impl Observer for Writer {
    fn wants_steps(&self) -> bool {
        true
    }
    fn episode_started(&mut self, event: &EpisodeStarted<'_>) -> ObserverResult {
        Ok(self.begin_episode(event.env)?)
    }
    fn env_step(&mut self, e: &EnvStep<'_>) -> ObserverResult {
        let done = e.terminated || e.truncated;
        Ok(self.step(e.action, e.reward, done, e.info.is_success == Some(true), e.obs)?)
    }
    fn episode_finished(&mut self, _event: &EpisodeFinished) -> ObserverResult {
        self.end_episode();
        Ok(())
    }
}

/// `DIR.partial`, beside `DIR`.
pub(crate) fn partial_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Append one member of the observation `obs` (its slot's span, read in place) to its column.
fn push_slot(slot: &Slot, col: &mut Values, obs: ObsRef<'_>, frame: usize) -> Result<()> {
    let span = slot.offset..slot.offset + slot.len;
    let v: Vec<f32> = match obs {
        ObsRef::F32(o) => o[span.clone()].to_vec(),
        ObsRef::U8(o) => o[span.clone()].iter().map(|&b| f32::from(b)).collect(),
    };
    match col {
        Values::Floats(out) => out.extend_from_slice(&v),
        Values::Ints(out) => out.extend(v.iter().map(|&x| x as i64)),
        Values::Images(out) => {
            let Kind::Image { height, width } = slot.kind else { unreachable!("image slot") };
            let mut bytes = Vec::with_capacity(v.len());
            for &x in &v {
                if !(0.0..=255.0).contains(&x) || x.fract() != 0.0 {
                    return invalid(format!(
                        "frame {frame}: {} holds {x}, not a pixel value 0–255",
                        slot.key
                    ));
                }
                bytes.push(x as u8);
            }
            out.push(encode_png(&bytes, width, height)?);
        }
        Values::Text(out) => {
            let bytes = obs.as_u8().map_or(&[][..], |r| &r[span]);
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            out.push(String::from_utf8_lossy(&bytes[..end]).into_owned());
        }
    }
    Ok(())
}

fn push_action(slot: &Slot, col: &mut Values, action: Action<'_>, frame: usize) -> Result<()> {
    let want = slot.kind.flat_len();
    let (floats, ints): (Vec<f32>, Vec<i64>) = match action {
        Action::Discrete(a) => (vec![a as f32], vec![a]),
        Action::MultiDiscrete(v) => (v.iter().map(|&a| a as f32).collect(), v.to_vec()),
        Action::Continuous(v) => (v.to_vec(), v.iter().map(|&a| a as i64).collect()),
    };
    if floats.len() != want {
        return invalid(format!(
            "frame {frame}: an action of {} values where the env's action space has {want}",
            floats.len()
        ));
    }
    match col {
        Values::Floats(out) => out.extend(floats),
        Values::Ints(out) => out.extend(ints),
        _ => unreachable!("actions are numbers"),
    }
    Ok(())
}

fn encode_png(rgb: &[u8], width: usize, height: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: png::EncodingError| Error::Invalid(format!("encoding a PNG frame: {e}"));
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(err)?;
        w.write_image_data(rgb).map_err(err)?;
    }
    Ok(out)
}

fn to_array(kind: &Kind, v: Values) -> Result<ArrayRef> {
    let list = |values: ArrayRef, item: DataType, n: usize| -> Result<ArrayRef> {
        if n == 1 {
            return Ok(values);
        }
        let field = Arc::new(Field::new("item", item, true));
        Ok(Arc::new(
            FixedSizeListArray::try_new(field, n as i32, values, None)
                .map_err(|e| Error::Invalid(format!("building a list column: {e}")))?,
        ))
    };
    match (kind, v) {
        (Kind::Floats(n), Values::Floats(x)) => {
            list(Arc::new(Float32Array::from(x)), DataType::Float32, *n)
        }
        (Kind::Ints(n), Values::Ints(x)) => {
            list(Arc::new(Int64Array::from(x)), DataType::Int64, *n)
        }
        (Kind::Image { .. }, Values::Images(x)) => Ok(Arc::new(image_struct(x))),
        (Kind::Text, Values::Text(x)) => Ok(Arc::new(StringArray::from(x))),
        _ => invalid("a feature's values do not match its kind"),
    }
}

/// Hugging Face's image struct: `{bytes: binary, path: string}`, the path left null.
fn image_struct(pngs: Vec<Vec<u8>>) -> arrow_array::StructArray {
    let n = pngs.len();
    let bytes = arrow_array::BinaryArray::from_iter_values(pngs);
    let path = StringArray::new_null(n);
    let fields = vec![
        Arc::new(Field::new("bytes", DataType::Binary, true)),
        Arc::new(Field::new("path", DataType::Utf8, true)),
    ];
    arrow_array::StructArray::new(fields.into(), vec![Arc::new(bytes), Arc::new(path)], None)
}

fn batch_of(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> =
        columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), false)).collect();
    RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| Error::Invalid(format!("building a metadata table: {e}")))
}

/// Write `batch` as a snappy-compressed parquet file, one row group per `(start, len)` range
/// (all in one when empty), with `meta` as key-value metadata.
fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    groups: &[(usize, usize)],
    meta: Vec<(String, String)>,
) -> Result<()> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let perr = |e: parquet::errors::ParquetError| Error::Parquet {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    // In the Arrow schema's metadata, which the writer stores in the file's key-value metadata
    // and in its embedded Arrow schema (where pyarrow looks for pandas' index columns).
    let schema =
        Arc::new(batch.schema().as_ref().clone().with_metadata(meta.into_iter().collect()));
    let batch = &RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("spelunk-dataset {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(perr)?;
    if groups.is_empty() {
        w.write(batch).map_err(perr)?;
    } else {
        for &(start, len) in groups {
            w.write(&batch.slice(start, len)).map_err(perr)?;
            w.flush().map_err(perr)?;
        }
    }
    w.close().map_err(perr)?;
    Ok(())
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, text + "\n").map_err(io_err(path))
}

fn folder_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            total +=
                if p.is_dir() { folder_bytes(&p) } else { e.metadata().map_or(0, |m| m.len()) };
        }
    }
    total
}

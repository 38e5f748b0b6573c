//! [`Dataset`]: a LeRobot dataset read whole and checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::{json, Value};
use spelunk_core::Env;

use crate::schema::{Kind, Schema};
use crate::write::partial_path;
use crate::{invalid, io_err, Error, Result};

/// One feature's values over every frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// `width` numbers per frame (bools and integers as floats).
    Numbers {
        /// Values per frame.
        width: usize,
        /// Frame after frame.
        values: Vec<f32>,
    },
    /// An RGB picture per frame.
    Images {
        /// Rows.
        height: usize,
        /// Columns.
        width: usize,
        /// `height × width × 3` bytes per frame, frame after frame.
        pixels: Vec<u8>,
    },
    /// A string per frame.
    Text(Vec<String>),
}

impl Column {
    /// Values per frame as they go into an observation row.
    pub fn width(&self) -> usize {
        match self {
            Column::Numbers { width, .. } => *width,
            Column::Images { height, width, .. } => height * width * 3,
            Column::Text(_) => 1,
        }
    }
    fn len(&self) -> usize {
        match self {
            Column::Numbers { width, values } => values.len() / (*width).max(1),
            Column::Images { height, width, pixels } => pixels.len() / (height * width * 3).max(1),
            Column::Text(v) => v.len(),
        }
    }
    fn append(&mut self, other: Column) {
        match (self, other) {
            (Column::Numbers { values, .. }, Column::Numbers { values: more, .. }) => {
                values.extend(more);
            }
            (Column::Images { pixels, .. }, Column::Images { pixels: more, .. }) => {
                pixels.extend(more);
            }
            (Column::Text(v), Column::Text(more)) => v.extend(more),
            _ => unreachable!("columns of one feature share a kind"),
        }
    }
}

/// One episode's entry in `meta/episodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpisodeMeta {
    /// `episode_index`.
    pub index: usize,
    /// Frames.
    pub length: usize,
    /// Its tasks.
    pub tasks: Vec<String>,
    /// Its first frame's `index`.
    pub from: usize,
}

/// A LeRobot dataset (v3.0 layout), read whole and checked against its own metadata.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The dataset's folder.
    pub root: PathBuf,
    /// `meta/info.json` as written.
    pub info: Value,
    /// Frames per second.
    pub fps: f64,
    /// Feature keys with their `dtype` and `shape`, in `info.json`'s order.
    pub features: Vec<(String, String, Vec<usize>)>,
    /// Episodes in order.
    pub episodes: Vec<EpisodeMeta>,
    /// Tasks by `task_index`.
    pub tasks: Vec<String>,
    /// The env the episodes were recorded in and its config (datasets written by
    /// [`crate::Writer`]; `None` for others).
    pub env: Option<(String, Option<Value>)>,
    columns: BTreeMap<String, Column>,
    /// `episode_index` per frame.
    pub episode_of: Vec<usize>,
    /// `task_index` per frame.
    pub task_of: Vec<usize>,
    frames: usize,
}

impl Dataset {
    /// Read and check the dataset in `dir`.
    ///
    /// # Errors
    /// A folder that is not a whole dataset (no `meta/info.json`, a `.partial` folder left by a
    /// writer that did not finish), another layout version, a feature's column missing or of
    /// another type or shape, an episode's frames missing or out of order, totals that
    /// disagree — each saying which file, episode, frame and feature.
    pub fn open(dir: &Path) -> Result<Self> {
        let partial = partial_path(dir);
        if !dir.is_dir() {
            if partial.exists() {
                return invalid(format!(
                    "{} is not a dataset: its writer never finished ({} holds what it had \
                     written when it stopped)",
                    dir.display(),
                    partial.display()
                ));
            }
            return invalid(format!("{}: no such dataset folder", dir.display()));
        }
        if dir.extension().is_some_and(|e| e == "partial") {
            return invalid(format!(
                "{} is a dataset its writer never finished (it is renamed without `.partial` \
                 when whole)",
                dir.display()
            ));
        }
        let info_path = dir.join("meta/info.json");
        if !info_path.is_file() {
            return invalid(format!(
                "{} is missing: {} is not a LeRobot dataset, or one whose writer did not finish",
                info_path.display(),
                dir.display()
            ));
        }
        let text = std::fs::read_to_string(&info_path).map_err(io_err(&info_path))?;
        let info: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", info_path.display())))?;
        let at = |what: &str| format!("{}: {what}", info_path.display());
        let version = info["codebase_version"].as_str().unwrap_or("");
        if !version.starts_with("v3.") {
            return invalid(at(&format!(
                "codebase_version is {:?}; this reader reads LeRobot's v3.0 layout (convert the \
                 dataset to v3.0 first)",
                info["codebase_version"]
            )));
        }
        let fps = info["fps"]
            .as_f64()
            .filter(|f| *f > 0.0)
            .ok_or_else(|| Error::Invalid(at("fps is missing or not a positive number")))?;
        let Some(feature_map) = info["features"].as_object() else {
            return invalid(at("features is missing"));
        };
        let mut features = Vec::new();
        for (key, f) in feature_map {
            let dtype = f["dtype"]
                .as_str()
                .ok_or_else(|| Error::Invalid(at(&format!("feature {key} has no dtype"))))?;
            let shape: Vec<usize> = f["shape"]
                .as_array()
                .and_then(|s| s.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
                .ok_or_else(|| Error::Invalid(at(&format!("feature {key} has no shape"))))?;
            features.push((key.clone(), dtype.to_owned(), shape));
        }
        for required in ["episode_index", "frame_index", "index"] {
            if !feature_map.contains_key(required) {
                return invalid(at(&format!("the {required} feature is missing")));
            }
        }
        let total = |k: &str| {
            info[k]
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| Error::Invalid(at(&format!("{k} is missing"))))
        };
        let (total_frames, total_episodes) = (total("total_frames")?, total("total_episodes")?);

        let tasks = read_tasks(dir)?;
        let episodes = read_episodes(dir)?;
        if episodes.len() != total_episodes {
            return invalid(format!(
                "{}: meta/episodes lists {} episodes, info.json says total_episodes = {}",
                dir.display(),
                episodes.len(),
                total_episodes
            ));
        }

        let files = parquet_files(&dir.join("data"))?;
        if files.is_empty() {
            return invalid(format!("{}: no data files under data/", dir.display()));
        }
        let mut columns: BTreeMap<String, Column> = BTreeMap::new();
        let (mut episode_of, mut frame_of, mut index_of, mut task_of) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut env = None;
        for file in &files {
            let rel = file.display().to_string();
            let first_row = index_of.len();
            let (batches, meta) = read_parquet(file)?;
            if env.is_none() {
                env = meta
                    .get("spelunk")
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    .and_then(|v| {
                        let id = v["env"].as_str()?.to_owned();
                        let cfg = (!v["env_config"].is_null()).then(|| v["env_config"].clone());
                        Some((id, cfg))
                    });
            }
            for batch in batches {
                let row0 = index_of.len();
                for (key, dtype, shape) in &features {
                    let Some(array) = batch.column_by_name(key) else {
                        return invalid(format!(
                            "{rel}: the {key} column is missing (meta/info.json lists it as a \
                             feature)"
                        ));
                    };
                    let what = format!("{rel}: feature {key}");
                    let col = to_column(array.as_ref(), dtype, shape, &what, row0)?;
                    match key.as_str() {
                        "episode_index" => episode_of.extend(indices(&col, &what)?),
                        "frame_index" => frame_of.extend(indices(&col, &what)?),
                        "index" => index_of.extend(indices(&col, &what)?),
                        "task_index" => task_of.extend(indices(&col, &what)?),
                        _ => {}
                    }
                    match columns.get_mut(key) {
                        Some(c) => c.append(col),
                        None => {
                            columns.insert(key.clone(), col);
                        }
                    }
                }
            }
            check_order(&rel, first_row, &index_of, &episode_of, &frame_of, &episodes)?;
        }
        let frames = index_of.len();
        if frames != total_frames {
            return invalid(format!(
                "{}: the data files hold {frames} frames, info.json says total_frames = \
                 {total_frames} (frames are missing or the dataset is incomplete)",
                dir.display()
            ));
        }
        let mut next = 0;
        for e in &episodes {
            if e.from != next {
                return invalid(format!(
                    "{}: episode {} starts at frame {} but the episodes before it end at {next}",
                    dir.display(),
                    e.index,
                    e.from
                ));
            }
            next += e.length;
        }
        if next != frames {
            return invalid(format!(
                "{}: meta/episodes' lengths add up to {next} frames, the data files hold {frames}",
                dir.display()
            ));
        }
        if let Some((r, &t)) = task_of.iter().enumerate().find(|(_, &t)| t >= tasks.len()) {
            return invalid(format!(
                "{}: frame {r} has task_index {t}; meta/tasks.parquet has {} tasks",
                dir.display(),
                tasks.len()
            ));
        }
        Ok(Self {
            root: dir.to_path_buf(),
            info,
            fps,
            features,
            episodes,
            tasks,
            env,
            columns,
            episode_of,
            task_of,
            frames,
        })
    }

    /// Frames in the dataset.
    pub fn len(&self) -> usize {
        self.frames
    }

    /// Whether it holds no frames.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// One feature's values.
    pub fn column(&self, key: &str) -> Option<&Column> {
        self.columns.get(key)
    }

    /// Every frame's observation in `env`'s flat layout (frames × the space's flat length), each
    /// member from its feature ([`Schema::for_spaces`] names them).
    ///
    /// # Errors
    /// A dataset recorded in another env, or a member whose feature is missing or of another
    /// shape.
    pub fn observations_for(&self, env: &dyn Env) -> Result<Vec<f32>> {
        let schema = self.check_env(env)?;
        let dim = env.observation_space().flat_len();
        let mut out = vec![0f32; self.frames * dim];
        for slot in &schema.observation {
            let col = self.feature_for(
                &slot.key,
                &slot.kind,
                &format!("the env's `{}`", slot.member),
                env,
            )?;
            for r in 0..self.frames {
                let dst = &mut out[r * dim + slot.offset..r * dim + slot.offset + slot.len];
                match col {
                    Column::Numbers { width, values } => {
                        dst.copy_from_slice(&values[r * width..(r + 1) * width]);
                    }
                    Column::Images { pixels, .. } => {
                        let n = slot.len;
                        for (d, &p) in dst.iter_mut().zip(&pixels[r * n..(r + 1) * n]) {
                            *d = f32::from(p);
                        }
                    }
                    Column::Text(v) => {
                        dst.fill(0.0);
                        for (d, b) in dst.iter_mut().zip(v[r].bytes()) {
                            *d = f32::from(b);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every frame's action (frames × the action space's flat length).
    ///
    /// # Errors
    /// A dataset recorded in another env, or an action of another size.
    pub fn actions_for(&self, env: &dyn Env) -> Result<Vec<f32>> {
        let schema = self.check_env(env)?;
        match self.feature_for("action", &schema.action.kind, "the env's action", env)? {
            Column::Numbers { values, .. } => Ok(values.clone()),
            _ => invalid(format!("{}: the action feature is not numbers", self.root.display())),
        }
    }

    fn check_env(&self, env: &dyn Env) -> Result<Schema> {
        if let Some((id, _)) = &self.env {
            if id != env.id() {
                return invalid(format!(
                    "{} holds episodes of {id}, not {}",
                    self.root.display(),
                    env.id()
                ));
            }
        }
        Schema::for_spaces(env.observation_space(), env.action_space())
    }

    fn feature_for(&self, key: &str, kind: &Kind, what: &str, env: &dyn Env) -> Result<&Column> {
        let Some(col) = self.columns.get(key) else {
            let have: Vec<&str> = self.features.iter().map(|(k, _, _)| k.as_str()).collect();
            return invalid(format!(
                "{}: no {key} feature for {what} in {} (it has {})",
                self.root.display(),
                env.id(),
                have.join(", ")
            ));
        };
        let fits = match (kind, col) {
            (Kind::Image { height, width }, Column::Images { height: h, width: w, .. }) => {
                height == h && width == w
            }
            (Kind::Text, Column::Text(_)) => true,
            (Kind::Floats(n) | Kind::Ints(n), Column::Numbers { width, .. }) => n == width,
            _ => false,
        };
        if !fits {
            let dataset = match col {
                Column::Images { height, width, .. } => format!("{height}×{width} images"),
                Column::Numbers { width, .. } => format!("{width} values per frame"),
                Column::Text(_) => "text".to_owned(),
            };
            let wanted = match kind {
                Kind::Image { height, width } => format!("{height}×{width} images"),
                Kind::Floats(n) | Kind::Ints(n) => format!("{n} values"),
                Kind::Text => "text".to_owned(),
            };
            return invalid(format!(
                "{}: {key} holds {dataset}; {what} in {} needs {wanted}",
                self.root.display(),
                env.id()
            ));
        }
        Ok(col)
    }
}

/// Frames must run `index` 0, 1, 2, … and each episode's `frame_index` 0, 1, 2, … in the
/// episode's range; the rows from `first` on (those one file added) are checked.
fn check_order(
    rel: &str,
    first: usize,
    index: &[usize],
    episode: &[usize],
    frame: &[usize],
    episodes: &[EpisodeMeta],
) -> Result<()> {
    let starts: BTreeMap<usize, &EpisodeMeta> = episodes.iter().map(|e| (e.index, e)).collect();
    for (r, &i) in index.iter().enumerate().skip(first) {
        if i != r {
            return invalid(format!(
                "{rel}: frame index {i} where {r} was due (episode {}, frame {}): a frame is \
                 missing or out of order",
                episode[r], frame[r]
            ));
        }
        let Some(e) = starts.get(&episode[r]) else {
            return invalid(format!(
                "{rel}: frame {r} belongs to episode {}, which meta/episodes does not list",
                episode[r]
            ));
        };
        if r < e.from || r >= e.from + e.length || frame[r] != r - e.from {
            let due = r.saturating_sub(e.from);
            return invalid(format!(
                "{rel}: episode {} frame {} sits at index {r}, where its frame {due} was due \
                 (meta/episodes: frames {}..{}): a frame is missing or out of order",
                e.index,
                frame[r],
                e.from,
                e.from + e.length
            ));
        }
    }
    Ok(())
}

fn indices(col: &Column, what: &str) -> Result<Vec<usize>> {
    match col {
        Column::Numbers { width: 1, values } => values
            .iter()
            .map(|&v| {
                if v >= 0.0 && v.fract() == 0.0 {
                    Ok(v as usize)
                } else {
                    invalid(format!("{what}: {v} is not an index"))
                }
            })
            .collect(),
        _ => invalid(format!("{what}: not one integer per frame")),
    }
}

/// Every `chunk-*/file-*.parquet` under `dir`, in order.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut chunks: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(io_err(dir))?.flatten().map(|e| e.path()).collect();
    chunks.sort();
    for c in chunks.iter().filter(|c| c.is_dir()) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(c)
            .map_err(io_err(c))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

type Batches = (Vec<RecordBatch>, BTreeMap<String, String>);

fn read_parquet(path: &Path) -> Result<Batches> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| perr(&e))?;
    // The file's key-value metadata, and the embedded Arrow schema's (where Arrow writers
    // keep theirs).
    let mut meta: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().filter_map(|k| Some((k.key.clone(), k.value.clone()?))).collect())
        .unwrap_or_default();
    meta.extend(builder.schema().metadata().iter().map(|(k, v)| (k.clone(), v.clone())));
    let reader = builder.with_batch_size(8192).build().map_err(|e| perr(&e))?;
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| perr(&e))?;
    Ok((batches, meta))
}

fn read_tasks(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("meta/tasks.parquet");
    if !path.is_file() {
        return invalid(format!("{} is missing", path.display()));
    }
    let (batches, _) = read_parquet(&path)?;
    let mut pairs = Vec::new();
    for b in batches {
        let name = ["task", "__index_level_0__"]
            .into_iter()
            .find_map(|k| b.column_by_name(k))
            .ok_or_else(|| Error::Invalid(format!("{}: no task column", path.display())))?;
        let names = strings(name.as_ref(), &format!("{}: task", path.display()))?;
        let idx = b
            .column_by_name("task_index")
            .ok_or_else(|| Error::Invalid(format!("{}: no task_index column", path.display())))?;
        let col =
            to_column(idx.as_ref(), "int64", &[1], &format!("{}: task_index", path.display()), 0)?;
        pairs.extend(indices(&col, &path.display().to_string())?.into_iter().zip(names));
    }
    pairs.sort();
    for (k, (i, _)) in pairs.iter().enumerate() {
        if *i != k {
            return invalid(format!("{}: task_index {i} where {k} was due", path.display()));
        }
    }
    Ok(pairs.into_iter().map(|(_, t)| t).collect())
}

fn read_episodes(dir: &Path) -> Result<Vec<EpisodeMeta>> {
    let files = parquet_files(&dir.join("meta/episodes"))?;
    if files.is_empty() {
        return invalid(format!("{}: no meta/episodes/chunk-*/file-*.parquet", dir.display()));
    }
    let mut out = Vec::new();
    for file in files {
        let (batches, _) = read_parquet(&file)?;
        let rel = file.display().to_string();
        for b in batches {
            let ints = |k: &str| -> Result<Vec<usize>> {
                let a = b
                    .column_by_name(k)
                    .ok_or_else(|| Error::Invalid(format!("{rel}: the {k} column is missing")))?;
                let what = format!("{rel}: {k}");
                indices(&to_column(a.as_ref(), "int64", &[1], &what, 0)?, &what)
            };
            let (index, length, from) =
                (ints("episode_index")?, ints("length")?, ints("dataset_from_index")?);
            let tasks: Vec<Vec<String>> = match b.column_by_name("tasks") {
                Some(a) => list_of_strings(a.as_ref(), &format!("{rel}: tasks"))?,
                None => vec![Vec::new(); index.len()],
            };
            for (((index, length), from), tasks) in
                index.into_iter().zip(length).zip(from).zip(tasks)
            {
                out.push(EpisodeMeta { index, length, tasks, from });
            }
        }
    }
    out.sort_by_key(|e| e.index);
    for (k, e) in out.iter().enumerate() {
        if e.index != k {
            return invalid(format!(
                "{}: meta/episodes lists episode {} where {k} was due",
                dir.display(),
                e.index
            ));
        }
    }
    Ok(out)
}

fn strings(a: &dyn Array, what: &str) -> Result<Vec<String>> {
    if a.null_count() > 0 {
        return invalid(format!("{what}: a value is missing (null)"));
    }
    if let Some(s) = a.as_string_opt::<i32>() {
        return Ok(s.iter().map(|x| x.unwrap_or_default().to_owned()).collect());
    }
    if let Some(s) = a.as_string_opt::<i64>() {
        return Ok(s.iter().map(|x| x.unwrap_or_default().to_owned()).collect());
    }
    if let Some(s) = a.as_string_view_opt() {
        return Ok(s.iter().map(|x| x.unwrap_or_default().to_owned()).collect());
    }
    invalid(format!("{what}: strings expected, found {}", a.data_type()))
}

fn list_of_strings(a: &dyn Array, what: &str) -> Result<Vec<Vec<String>>> {
    if a.null_count() > 0 {
        return invalid(format!("{what}: a row is missing (null)"));
    }
    let Some(rows) = list_rows(a) else {
        return invalid(format!("{what}: a list of strings expected, found {}", a.data_type()));
    };
    rows.iter().map(|r| strings(r.as_ref(), what)).collect()
}

/// One primitive array's values as floats.
fn primitive(a: &dyn Array) -> Option<Vec<f32>> {
    macro_rules! prim {
        ($($t:ty),*) => {$(
            if let Some(p) = a.as_primitive_opt::<$t>() {
                #[allow(clippy::cast_lossless)]
                return Some(p.values().iter().map(|&v| v as f32).collect());
            }
        )*};
    }
    prim!(Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type);
    prim!(UInt16Type, UInt32Type, UInt64Type);
    a.as_boolean_opt().map(|b| b.values().iter().map(|v| if v { 1.0 } else { 0.0 }).collect())
}

/// A numeric column's values, `width` per row, lists of any depth flattened row by row.
fn numbers(a: &dyn Array, width: usize, what: &str, row0: usize) -> Result<Vec<f32>> {
    if a.null_count() > 0 {
        let r = (0..a.len()).find(|&r| a.is_null(r)).unwrap_or(0);
        return invalid(format!("{what}: frame {} has no value (null)", row0 + r));
    }
    if let Some(v) = primitive(a) {
        if width != 1 {
            return invalid(format!("{what}: one value per frame where {width} were due"));
        }
        return Ok(v);
    }
    let Some(rows) = list_rows(a) else {
        return invalid(format!("{what}: numbers expected, found {}", a.data_type()));
    };
    let mut out = Vec::with_capacity(rows.len() * width);
    for (r, row) in rows.iter().enumerate() {
        let v = flat(row.as_ref()).ok_or_else(|| {
            Error::Invalid(format!(
                "{what}: frame {} holds {}, not numbers",
                row0 + r,
                row.data_type()
            ))
        })?;
        if v.len() != width {
            return invalid(format!(
                "{what}: frame {} has {} values where the feature's shape gives {width}",
                row0 + r,
                v.len()
            ));
        }
        out.extend(v);
    }
    Ok(out)
}

/// All numbers of a (possibly nested) list value.
fn flat(a: &dyn Array) -> Option<Vec<f32>> {
    if let Some(v) = primitive(a) {
        return Some(v);
    }
    let mut out = Vec::new();
    for p in list_rows(a)? {
        out.extend(flat(p.as_ref())?);
    }
    Some(out)
}

/// Each row of a list column (fixed-size, 32- or 64-bit offsets) as its own array; a null row
/// as an empty one. `None`: not a list.
fn list_rows(a: &dyn Array) -> Option<Vec<std::sync::Arc<dyn Array>>> {
    let empty = || -> std::sync::Arc<dyn Array> {
        std::sync::Arc::new(arrow_array::Float32Array::from(Vec::<f32>::new()))
    };
    Some(match a.data_type() {
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list();
            (0..l.len()).map(|r| l.value(r)).collect()
        }
        DataType::List(_) => a.as_list::<i32>().iter().map(|r| r.unwrap_or_else(empty)).collect(),
        DataType::LargeList(_) => {
            a.as_list::<i64>().iter().map(|r| r.unwrap_or_else(empty)).collect()
        }
        _ => return None,
    })
}

/// One feature's arrow column as a [`Column`], checked against its dtype and shape.
pub(crate) fn to_column(
    a: &dyn Array,
    dtype: &str,
    shape: &[usize],
    what: &str,
    row0: usize,
) -> Result<Column> {
    match dtype {
        "image" => {
            let [height, width, channels] = shape else {
                return invalid(format!("{what}: an image's shape is [height, width, channels]"));
            };
            // LeRobot's own datasets say [height, width, 3]; channel-first shapes also occur.
            let (height, width) = if *channels == 3 {
                (*height, *width)
            } else if *height == 3 {
                (*width, *channels)
            } else {
                return invalid(format!("{what}: an image of shape {shape:?} is not RGB"));
            };
            let Some(s) = a.as_struct_opt() else {
                return invalid(format!(
                    "{what}: images are {{bytes, path}} structs, found {}",
                    a.data_type()
                ));
            };
            let bytes = s
                .column_by_name("bytes")
                .ok_or_else(|| Error::Invalid(format!("{what}: the image struct has no bytes")))?;
            let n = a.len();
            let mut pixels = Vec::with_capacity(n * height * width * 3);
            for r in 0..n {
                let png = if let Some(b) = bytes.as_binary_opt::<i32>() {
                    (!b.is_null(r)).then(|| b.value(r))
                } else if let Some(b) = bytes.as_binary_opt::<i64>() {
                    (!b.is_null(r)).then(|| b.value(r))
                } else {
                    return invalid(format!("{what}: image bytes of type {}", bytes.data_type()));
                };
                let Some(png) = png else {
                    return invalid(format!(
                        "{what}: frame {} has no image bytes (images must be embedded)",
                        row0 + r
                    ));
                };
                let (h, w, rgb) = decode_png(png)
                    .map_err(|e| Error::Invalid(format!("{what}: frame {}: {e}", row0 + r)))?;
                if (h, w) != (height, width) {
                    return invalid(format!(
                        "{what}: frame {} is {h}×{w} pixels, the feature's shape says \
                         {height}×{width}",
                        row0 + r
                    ));
                }
                pixels.extend(rgb);
            }
            Ok(Column::Images { height, width, pixels })
        }
        "video" => invalid(format!(
            "{what}: video features are not read (decoding needs a video codec); write the \
             dataset with images"
        )),
        "string" => Ok(Column::Text(strings(a, what)?)),
        _ => {
            let width: usize = shape.iter().product();
            Ok(Column::Numbers { width, values: numbers(a, width, what, row0)? })
        }
    }
}

/// A PNG's rows, columns and RGB bytes (grey, palette and alpha converted).
fn decode_png(bytes: &[u8]) -> std::result::Result<(usize, usize, Vec<u8>), String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let size = reader.output_buffer_size().ok_or("a PNG too large to decode")?;
    let mut buf = vec![0u8; size];
    let out = reader.next_frame(&mut buf).map_err(|e| format!("a broken PNG: {e}"))?;
    let (w, h) = (out.width as usize, out.height as usize);
    let data = &buf[..out.buffer_size()];
    let rgb = match out.color_type {
        png::ColorType::Rgb => data.to_vec(),
        png::ColorType::Rgba => data.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        png::ColorType::Grayscale => data.iter().flat_map(|&g| [g, g, g]).collect(),
        png::ColorType::GrayscaleAlpha => data.chunks(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        png::ColorType::Indexed => return Err("an indexed PNG left unexpanded".into()),
    };
    Ok((h, w, rgb))
}

/// LeRobot's statistics of one column (`None` for text): per value position over frames, and
/// for images per channel on a 0–1 scale, shaped `[3, 1, 1]`.
pub(crate) fn column_stats(a: &dyn Array) -> Option<Value> {
    let col = if let Some(s) = a.as_struct_opt() {
        // The shape is read from the first frame.
        let b = s.column_by_name("bytes")?.as_binary_opt::<i32>()?;
        let (h, w, _) = decode_png(b.value(0)).ok()?;
        to_column(a, "image", &[h, w, 3], "stats", 0).ok()?
    } else {
        let width = match a.data_type() {
            DataType::FixedSizeList(_, n) => *n as usize,
            _ => 1,
        };
        to_column(a, "float32", &[width], "stats", 0).ok()?
    };
    let (width, count, values): (usize, usize, Vec<f64>) = match &col {
        Column::Numbers { width, values } => {
            (*width, col.len(), values.iter().map(|&v| f64::from(v)).collect())
        }
        Column::Images { pixels, .. } => {
            (3, col.len(), pixels.iter().map(|&p| f64::from(p) / 255.0).collect())
        }
        Column::Text(_) => return None,
    };
    let mut min = vec![f64::INFINITY; width];
    let mut max = vec![f64::NEG_INFINITY; width];
    let mut sum = vec![0f64; width];
    let mut sq = vec![0f64; width];
    let rows = values.len() / width;
    for row in values.chunks(width) {
        for (k, &v) in row.iter().enumerate() {
            min[k] = min[k].min(v);
            max[k] = max[k].max(v);
            sum[k] += v;
            sq[k] += v * v;
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / rows.max(1) as f64).collect();
    let std: Vec<f64> = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / rows.max(1) as f64 - m * m).max(0.0).sqrt())
        .collect();
    let shaped = |v: Vec<f64>| -> Value {
        if matches!(col, Column::Images { .. }) {
            json!(v.into_iter().map(|x| json!([[x]])).collect::<Vec<_>>())
        } else {
            json!(v)
        }
    };
    Some(json!({
        "min": shaped(min), "max": shaped(max), "mean": shaped(mean), "std": shaped(std),
        "count": [count],
    }))
}

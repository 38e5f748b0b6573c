//! ONNX: policies written out as ONNX models, and (with the `onnx` feature) ONNX policies run
//! through `ort` on its pure-Rust `tract` backend — no download, no system library.
//!
//! An exported policy is one graph from the raw observation to the logits, so another runtime
//! needs nothing of ours to use it:
//!
//! ```text
//! obs [N, obs_dim] → ÷ scale → (x − mean) ÷ std, clipped to ±5 (when the run normalised) →
//! the head (MLP: Gemm + activation per layer; CNN: Slice, Reshape, Transpose, Conv + Relu,
//! Flatten, Gemm, Concat, MLP) → Reshape → logits [N, dims, vocab]
//! ```
//!
//! (opset 13, IR version 8). The model's metadata (`metadata_props`) carries
//! `spelunk.codec` (the [`ActionCodec`] as JSON: how tokens become actions), `spelunk.env`
//! and `spelunk.env_config`, so a served policy knows its task. The writer is a few lines of
//! protobuf encoding; [`metadata`] reads the metadata back without a runtime.

use std::collections::BTreeMap;

use candle_core::Tensor;
use candle_nn::{Conv2d, Linear};

use crate::layers::{Activation, Cnn, Mlp};
use crate::policy::{ActionCodec, Policy};
use crate::{Error, Result};

/// Protobuf wire encoding, the subset ONNX needs.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v as u64);
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }
    fn msg(&mut self, field: u32, m: &Pb) {
        self.bytes(field, &m.0);
    }
    fn float(&mut self, field: u32, f: f32) {
        self.key(field, 5);
        self.0.extend_from_slice(&f.to_le_bytes());
    }
}

/// A node attribute.
#[derive(Clone, Copy, Debug)]
pub enum Attr<'a> {
    /// An integer.
    Int(&'a str, i64),
    /// Integers.
    Ints(&'a str, &'a [i64]),
    /// A float.
    Float(&'a str, f32),
}

/// An ONNX graph under construction: nodes in order, and initializers (weights, constants).
#[derive(Default)]
pub struct OnnxGraph {
    nodes: Vec<Pb>,
    inits: Vec<Pb>,
    count: usize,
}

fn tensor_values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

impl OnnxGraph {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}_{}", self.count)
    }

    /// A float initializer of shape `dims`; returns its name.
    pub fn floats(&mut self, base: &str, dims: &[i64], data: &[f32]) -> String {
        let name = self.fresh(base);
        let mut t = Pb::default();
        for &d in dims {
            t.int(1, d);
        }
        t.int(2, 1); // FLOAT
        t.string(8, &name);
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        t.bytes(9, &raw);
        self.inits.push(t);
        name
    }

    /// An int64 initializer (a shape, slice bounds); returns its name.
    pub fn ints(&mut self, base: &str, data: &[i64]) -> String {
        let name = self.fresh(base);
        let mut t = Pb::default();
        t.int(1, data.len() as i64);
        t.int(2, 7); // INT64
        t.string(8, &name);
        let raw: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        t.bytes(9, &raw);
        self.inits.push(t);
        name
    }

    /// A tensor's values as an initializer.
    ///
    /// # Errors
    /// The tensor cannot be read.
    pub fn weights(&mut self, base: &str, t: &Tensor) -> Result<String> {
        let dims: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
        Ok(self.floats(base, &dims, &tensor_values(t)?))
    }

    /// A node `op(inputs)` with attributes; returns its output's name.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: &[Attr<'_>]) -> String {
        let out = self.fresh(&op.to_lowercase());
        let mut n = Pb::default();
        for i in inputs {
            n.string(1, i);
        }
        n.string(2, &out);
        n.string(3, &out);
        n.string(4, op);
        for a in attrs {
            let mut p = Pb::default();
            match *a {
                Attr::Int(name, v) => {
                    p.string(1, name);
                    p.int(3, v);
                    p.int(20, 2);
                }
                Attr::Ints(name, vs) => {
                    p.string(1, name);
                    for &v in vs {
                        p.int(8, v);
                    }
                    p.int(20, 7);
                }
                Attr::Float(name, v) => {
                    p.string(1, name);
                    p.float(2, v);
                    p.int(20, 1);
                }
            }
            n.msg(5, &p);
        }
        self.nodes.push(n);
        out
    }

    /// `x Wᵀ + b`.
    ///
    /// # Errors
    /// The layer's tensors cannot be read.
    pub fn linear(&mut self, l: &Linear, x: &str) -> Result<String> {
        let w = self.weights("weight", l.weight())?;
        let mut inputs = vec![x.to_owned(), w];
        if let Some(b) = l.bias() {
            inputs.push(self.weights("bias", b)?);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.op("Gemm", &refs, &[Attr::Int("transB", 1)]))
    }

    /// An activation.
    pub fn activation(&mut self, a: Activation, x: &str) -> String {
        match a {
            Activation::Relu => self.op("Relu", &[x], &[]),
            Activation::Tanh => self.op("Tanh", &[x], &[]),
            Activation::Silu => {
                let s = self.op("Sigmoid", &[x], &[]);
                self.op("Mul", &[x, &s], &[])
            }
        }
    }

    /// An MLP.
    ///
    /// # Errors
    /// A layer's tensors cannot be read.
    pub fn mlp(&mut self, m: &Mlp, x: &str) -> Result<String> {
        let mut h = x.to_owned();
        let n = m.layers().len();
        for (i, l) in m.layers().iter().enumerate() {
            h = self.linear(l, &h)?;
            if i + 1 < n {
                h = self.activation(m.activation(), &h);
            }
        }
        Ok(h)
    }

    fn conv(&mut self, c: &Conv2d, x: &str) -> Result<String> {
        let w = self.weights("conv_weight", c.weight())?;
        let k = c.weight().dims()[2] as i64;
        let cfg = c.config();
        let (p, s) = (cfg.padding as i64, cfg.stride as i64);
        let mut inputs = vec![x.to_owned(), w];
        if let Some(b) = c.bias() {
            inputs.push(self.weights("conv_bias", b)?);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(self.op(
            "Conv",
            &refs,
            &[
                Attr::Ints("kernel_shape", &[k, k]),
                Attr::Ints("pads", &[p, p, p, p]),
                Attr::Ints("strides", &[s, s]),
            ],
        ))
    }

    /// A CNN trunk on `[N, C, H, W]` frames.
    ///
    /// # Errors
    /// A layer's tensors cannot be read.
    pub fn cnn(&mut self, c: &Cnn, x: &str) -> Result<String> {
        let mut h = x.to_owned();
        for conv in c.convs() {
            h = self.conv(conv, &h)?;
            h = self.op("Relu", &[&h], &[]);
        }
        let f = self.op("Flatten", &[&h], &[Attr::Int("axis", 1)]);
        self.linear(c.head(), &f)
    }

    /// Columns `start..end` of a `[N, D]` tensor.
    pub fn columns(&mut self, x: &str, start: usize, end: usize) -> String {
        let s = self.ints("starts", &[start as i64]);
        let e = self.ints("ends", &[end as i64]);
        let a = self.ints("axes", &[1]);
        self.op("Slice", &[x, &s, &e, &a], &[])
    }

    /// Reshape to `shape` (−1 once for the batch).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.ints("shape", shape);
        self.op("Reshape", &[x, &s], &[])
    }
}

/// What happens to an observation before the policy: the trainer's feature scale, and its
/// running normalisation when the run used one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preprocess {
    /// Observations are divided by this.
    pub scale: f32,
    /// Per feature: (mean, standard deviation); the result is clipped to ±5.
    pub norm: Option<(Vec<f32>, Vec<f32>)>,
}

/// Write `policy` with its preprocessing as an ONNX model (bytes of a `.onnx` file), with
/// `metadata` (and `spelunk.codec`) in its `metadata_props`.
///
/// # Errors
/// A head that cannot be exported (the transformer and VLA heads), or tensors that cannot be read.
pub fn export(
    policy: &dyn Policy,
    pre: &Preprocess,
    metadata: &[(String, String)],
) -> Result<Vec<u8>> {
    let mut g = OnnxGraph::default();
    let d = policy.obs_dim();
    let scale = g.floats("scale", &[1], &[pre.scale]);
    let mut x = g.op("Div", &["obs", &scale], &[]);
    if let Some((mean, std)) = &pre.norm {
        if mean.len() != d || std.len() != d {
            return Err(Error::Config(format!(
                "normalisation of {} features for a policy of {d}",
                mean.len()
            )));
        }
        let m = g.floats("mean", &[d as i64], mean);
        let s = g.floats("std", &[d as i64], std);
        let centred = g.op("Sub", &[&x, &m], &[]);
        let z = g.op("Div", &[&centred, &s], &[]);
        let lo = g.floats("clip_min", &[], &[-5.0]);
        let hi = g.floats("clip_max", &[], &[5.0]);
        x = g.op("Clip", &[&z, &lo, &hi], &[]);
    }
    let flat = policy.onnx(&mut g, &x)?;
    let codec = policy.codec();
    let logits = g.reshape(&flat, &[-1, codec.dims() as i64, codec.vocab() as i64]);
    let mut last = Pb::default();
    last.string(1, &logits);
    last.string(2, "logits");
    last.string(3, "output");
    last.string(4, "Identity");
    g.nodes.push(last);

    let value_info = |name: &str, dims: &[Result<i64, &str>]| {
        let mut shape = Pb::default();
        for d in dims {
            let mut dim = Pb::default();
            match d {
                Ok(v) => dim.int(1, *v),
                Err(p) => dim.string(2, p),
            }
            shape.msg(1, &dim);
        }
        let mut tt = Pb::default();
        tt.int(1, 1);
        tt.msg(2, &shape);
        let mut ty = Pb::default();
        ty.msg(1, &tt);
        let mut vi = Pb::default();
        vi.string(1, name);
        vi.msg(2, &ty);
        vi
    };
    let mut graph = Pb::default();
    for n in &g.nodes {
        graph.msg(1, n);
    }
    graph.string(2, "spelunk_policy");
    for t in &g.inits {
        graph.msg(5, t);
    }
    graph.msg(11, &value_info("obs", &[Err("batch"), Ok(d as i64)]));
    graph.msg(
        12,
        &value_info("logits", &[Err("batch"), Ok(codec.dims() as i64), Ok(codec.vocab() as i64)]),
    );

    let mut model = Pb::default();
    model.int(1, 8); // IR version 8
    model.string(2, "spelunk");
    model.string(3, env!("CARGO_PKG_VERSION"));
    let mut opset = Pb::default();
    opset.string(1, "");
    opset.int(2, 13);
    model.msg(8, &opset);
    model.msg(7, &graph);
    let codec_json = serde_json::to_string(codec).map_err(|e| Error::Config(e.to_string()))?;
    let mut props: Vec<(String, String)> = vec![("spelunk.codec".into(), codec_json)];
    props.extend(metadata.iter().cloned());
    for (k, v) in &props {
        let mut p = Pb::default();
        p.string(1, k);
        p.string(2, v);
        model.msg(14, &p);
    }
    Ok(model.0)
}

/// A protobuf field read by [`metadata`].
fn read_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// The `metadata_props` of an ONNX model's bytes (key → value), read without a runtime.
///
/// # Errors
/// Bytes that are not a protobuf message.
pub fn metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>> {
    let bad = |at: usize| Error::Config(format!("not an ONNX model: broken protobuf at byte {at}"));
    let mut out = BTreeMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = read_varint(bytes, &mut at).ok_or_else(|| bad(at))?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                read_varint(bytes, &mut at).ok_or_else(|| bad(at))?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = read_varint(bytes, &mut at).ok_or_else(|| bad(at))? as usize;
                let end =
                    at.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| bad(at))?;
                if field == 14 {
                    let entry = &bytes[at..end];
                    let (mut k, mut v) = (String::new(), String::new());
                    let mut p = 0;
                    while p < entry.len() {
                        let key = read_varint(entry, &mut p).ok_or_else(|| bad(at + p))?;
                        if key & 7 != 2 {
                            return Err(bad(at + p));
                        }
                        let len = read_varint(entry, &mut p).ok_or_else(|| bad(at + p))? as usize;
                        let e = p
                            .checked_add(len)
                            .filter(|&e| e <= entry.len())
                            .ok_or_else(|| bad(at + p))?;
                        let s = String::from_utf8_lossy(&entry[p..e]).into_owned();
                        match key >> 3 {
                            1 => k = s,
                            2 => v = s,
                            _ => {}
                        }
                        p = e;
                    }
                    out.insert(k, v);
                }
                at = end;
            }
            _ => return Err(bad(at)),
        }
    }
    if at > bytes.len() {
        return Err(bad(bytes.len()));
    }
    Ok(out)
}

/// The action codec an exported model carries, if it is one of ours.
///
/// # Errors
/// A `spelunk.codec` entry that is not a codec.
pub fn codec_of(meta: &BTreeMap<String, String>) -> Result<Option<ActionCodec>> {
    meta.get("spelunk.codec")
        .map(|c| serde_json::from_str(c).map_err(|e| Error::Config(format!("spelunk.codec: {e}"))))
        .transpose()
}

#[cfg(feature = "onnx")]
pub use runtime::OnnxPolicy;

#[cfg(feature = "onnx")]
mod runtime {
    use std::collections::BTreeMap;
    use std::path::Path;

    use ort::session::Session;
    use ort::value::Tensor;

    use crate::{Error, Result};

    fn ort_err(e: impl std::fmt::Display) -> Error {
        Error::Config(format!("ONNX: {e}"))
    }

    /// The runtime: tract, pure Rust.
    #[cfg(not(feature = "onnxruntime"))]
    fn environment() -> std::result::Result<ort::environment::Environment, String> {
        ort::set_api(ort_tract::api());
        ort::init().build().map_err(|e| e.to_string())
    }

    /// The runtime: ONNX Runtime's shared library from `ORT_DYLIB_PATH`, its C API handed to
    /// `ort` as the backend (the library stays loaded for the process's life).
    #[cfg(feature = "onnxruntime")]
    fn environment() -> std::result::Result<ort::environment::Environment, String> {
        let path = std::env::var("ORT_DYLIB_PATH").map_err(|_| {
            "the onnxruntime feature needs ORT_DYLIB_PATH: the path of ONNX Runtime's shared \
             library (pip install onnxruntime; it is onnxruntime/capi/libonnxruntime.so.* there)"
                .to_owned()
        })?;
        // SAFETY: loading ONNX Runtime runs its initialisers, which expect nothing of us; the
        // symbol has the C API's documented signature.
        let api = unsafe {
            let lib = libloading::Library::new(&path).map_err(|e| format!("{path}: {e}"))?;
            let base: libloading::Symbol<
                '_,
                unsafe extern "C" fn() -> *const ort::sys::OrtApiBase,
            > = lib.get(b"OrtGetApiBase").map_err(|e| format!("{path}: not ONNX Runtime ({e})"))?;
            let base = base();
            if base.is_null() {
                return Err(format!("{path}: OrtGetApiBase returned nothing"));
            }
            let api = ((*base).GetApi)(ort::sys::ORT_API_VERSION);
            if api.is_null() {
                return Err(format!(
                    "{path}: this ONNX Runtime is older than C API {}",
                    ort::sys::ORT_API_VERSION
                ));
            }
            // A table of function pointers that ONNX Runtime keeps for the process: copied.
            let api = std::ptr::read(api);
            std::mem::forget(lib);
            api
        };
        ort::set_api(api);
        ort::init().build().map_err(|e| e.to_string())
    }

    /// An ONNX policy run by `ort`: on its pure-Rust `tract` backend, or on ONNX Runtime with
    /// the `onnxruntime` feature.
    pub struct OnnxPolicy {
        session: Session,
        input: String,
        output: String,
        /// The model's `metadata_props`.
        pub metadata: BTreeMap<String, String>,
        /// Features per observation (the input's last dimension).
        pub obs_dim: usize,
    }

    impl std::fmt::Debug for OnnxPolicy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OnnxPolicy")
                .field("input", &self.input)
                .field("output", &self.output)
                .finish_non_exhaustive()
        }
    }

    impl OnnxPolicy {
        /// Load a model file (ours, or any with one float input `[N, obs_dim]` and one float
        /// output).
        ///
        /// # Errors
        /// The file cannot be read, is not an ONNX model, or has another shape of inputs.
        pub fn load(path: &Path) -> Result<Self> {
            let bytes =
                spelunk_core::files::read_capped(path, spelunk_core::files::MAX_BINARY_BYTES)
                    .map_err(|e| Error::Config(e.to_string()))?;
            Self::from_bytes(&bytes).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
        }

        /// Load a model from its bytes.
        ///
        /// # Errors
        /// As [`OnnxPolicy::load`].
        pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
            static ENV: std::sync::OnceLock<
                std::result::Result<ort::environment::Environment, String>,
            > = std::sync::OnceLock::new();
            let env = ENV
                .get_or_init(environment)
                .as_ref()
                .map_err(|e| Error::Config(format!("ONNX: {e}")))?;
            let metadata = super::metadata(bytes)?;
            let session = Session::builder(env)
                .map_err(ort_err)?
                .commit_from_memory(bytes)
                .map_err(ort_err)?;
            let [input] = session.inputs() else {
                return Err(Error::Config(format!(
                    "the model has {} inputs; a policy has one",
                    session.inputs().len()
                )));
            };
            let obs_dim = input
                .dtype()
                .tensor_shape()
                .and_then(|s| s.last().copied())
                .filter(|&d| d > 0)
                .ok_or_else(|| {
                    Error::Config("the model's input has no fixed last dimension".into())
                })?;
            let input_name = input.name().to_owned();
            let output = session
                .outputs()
                .first()
                .map(|o| o.name().to_owned())
                .ok_or_else(|| Error::Config("the model has no output".into()))?;
            Ok(Self { session, input: input_name, output, metadata, obs_dim: obs_dim as usize })
        }

        /// Run on `rows` observations (`rows × obs_dim` values, raw as the env writes them);
        /// returns the output's values and shape.
        ///
        /// # Errors
        /// The wrong number of values, or the runtime failed.
        pub fn run(&mut self, obs: &[f32], rows: usize) -> Result<(Vec<f32>, Vec<usize>)> {
            if obs.len() != rows * self.obs_dim {
                return Err(Error::Config(format!(
                    "{} values for {rows} observations of {}",
                    obs.len(),
                    self.obs_dim
                )));
            }
            let input =
                Tensor::from_array(([rows, self.obs_dim], obs.to_vec())).map_err(ort_err)?;
            let outputs =
                self.session.run(ort::inputs![self.input.as_str() => input]).map_err(ort_err)?;
            let (shape, data) =
                outputs[self.output.as_str()].try_extract_tensor::<f32>().map_err(ort_err)?;
            Ok((data.to_vec(), shape.iter().map(|&d| d as usize).collect()))
        }
    }
}

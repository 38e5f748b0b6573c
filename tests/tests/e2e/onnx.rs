//! ONNX: the MLP and CNN heads exported with their preprocessing and run through ort on its
//! tract backend give our logits (to 1e-5); a model laid out as PyTorch's exporter writes one
//! gives onnxruntime's outputs; broken model files are errors, never panics.

use candle_core::{Device, Tensor};
use spelunk_core::Rng;
use spelunk_models::onnx::{codec_of, export, metadata, OnnxPolicy, Preprocess};
use spelunk_models::{
    ActionCodec, Activation, CnnPolicy, ImageLayout, MlpPolicy, Policy, PolicyConfig,
};

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Our logits for raw rows: scale, normalise as the trainer does, then the head.
fn ours(policy: &dyn Policy, pre: &Preprocess, raw: &[f32], rows: usize) -> Vec<f32> {
    let d = policy.obs_dim();
    let mut x: Vec<f32> = raw.iter().map(|v| v / pre.scale).collect();
    if let Some((mean, std)) = &pre.norm {
        for row in x.chunks_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                *v = ((*v - m) / s).clamp(-5.0, 5.0);
            }
        }
    }
    let t = Tensor::from_slice(&x, (rows, d), &Device::Cpu).expect("tensor");
    policy
        .logits(&t)
        .expect("logits")
        .flatten_all()
        .expect("flat")
        .to_vec1::<f32>()
        .expect("values")
}

fn random_rows(rng: &mut Rng, n: usize, high: f32) -> Vec<f32> {
    (0..n).map(|_| rng.f32() * high).collect()
}

#[test]
fn exported_mlp_and_cnn_heads_give_our_logits_in_ort() {
    let mut rng = Rng::seed_from_u64(3);
    let binned = ActionCodec::Binned { bins: 32, low: vec![-1.0; 3], high: vec![1.0; 3] };
    for activation in [Activation::Relu, Activation::Tanh, Activation::Silu] {
        let config = PolicyConfig { hidden: vec![48, 32], activation, ..PolicyConfig::default() };
        let policy = MlpPolicy::new(17, binned.clone(), &config, &Device::Cpu, 11).expect("mlp");
        let mean: Vec<f32> = random_rows(&mut rng, 17, 1.0);
        let std: Vec<f32> = (0..17).map(|_| 0.1 + rng.f32()).collect();
        let pre = Preprocess { scale: 4.0, norm: Some((mean, std)) };
        let meta = [("spelunk.env".to_owned(), "Arm-Reach-v0".to_owned())];
        let bytes = export(&policy, &pre, &meta).expect("exports");
        let m = metadata(&bytes).expect("metadata");
        assert_eq!(codec_of(&m).expect("codec"), Some(binned.clone()));
        assert_eq!(m.get("spelunk.env").map(String::as_str), Some("Arm-Reach-v0"));
        let mut run = OnnxPolicy::from_bytes(&bytes).expect("loads");
        let raw = random_rows(&mut rng, 5 * 17, 8.0);
        let (theirs, shape) = run.run(&raw, 5).expect("runs");
        assert_eq!(shape, [5, 3, 32]);
        let d = max_diff(&theirs, &ours(&policy, &pre, &raw, 5));
        assert!(d < 1e-5, "{activation:?}: max |Δ| {d}");
    }
    // The CNN head on a MiniGrid-like row: a direction value, then a 7×7×3 image.
    let layout = ImageLayout { offset: 1, shape: [7, 7, 3], total: 1 + 147 };
    let discrete = ActionCodec::Discrete { n: 7, start: 0 };
    let config = PolicyConfig { hidden: vec![32, 16], ..PolicyConfig::default() };
    let policy = CnnPolicy::new(layout, discrete, &config, &Device::Cpu, 5).expect("cnn");
    let pre = Preprocess { scale: 10.0, norm: None };
    let bytes = export(&policy, &pre, &[]).expect("exports");
    let mut run = OnnxPolicy::from_bytes(&bytes).expect("loads");
    let raw = random_rows(&mut rng, 4 * 148, 10.0);
    let (theirs, shape) = run.run(&raw, 4).expect("runs");
    assert_eq!(shape, [4, 1, 7]);
    let d = max_diff(&theirs, &ours(&policy, &pre, &raw, 4));
    assert!(d < 1e-5, "cnn: max |Δ| {d}");
}

#[test]
fn a_policy_laid_out_as_pytorch_exports_it_runs_as_onnxruntime_runs_it() {
    // tests/fixtures/onnx/torch_style_reach.{onnx,json}, from scripts/fixtures/torch_style_policy.py.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/onnx");
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("torch_style_reach.json")).expect("json"),
    )
    .expect("parses");
    let rows = |k: &str| -> Vec<f32> {
        fixture[k]
            .as_array()
            .expect("rows")
            .iter()
            .flat_map(|r| {
                r.as_array().expect("row").iter().map(|v| v.as_f64().expect("number") as f32)
            })
            .collect()
    };
    let (inputs, outputs) = (rows("inputs"), rows("outputs"));
    let mut p = OnnxPolicy::load(&dir.join("torch_style_reach.onnx")).expect("loads");
    assert_eq!(p.obs_dim, 30);
    assert!(codec_of(&p.metadata).expect("no codec").is_none());
    let (theirs, shape) = p.run(&inputs, 6).expect("runs");
    assert_eq!(shape, [6, 4]);
    let d = max_diff(&theirs, &outputs);
    assert!(d < 1e-5, "max |Δ| against onnxruntime {d}");
    assert!(p.run(&inputs[..29], 1).is_err(), "29 values for 30");
}

#[test]
fn broken_model_files_are_errors_not_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/onnx");
    let good = std::fs::read(dir.join("torch_style_reach.onnx")).expect("fixture");
    let mut rng = Rng::seed_from_u64(9);
    let mut cases: Vec<Vec<u8>> =
        vec![Vec::new(), b"not a model".to_vec(), good[..good.len() / 2].to_vec()];
    for _ in 0..40 {
        let mut b = good.clone();
        for _ in 0..=rng.index(8) {
            let at = rng.index(b.len());
            b[at] = rng.next_u32() as u8;
        }
        cases.push(b);
    }
    for bytes in cases {
        let r = std::panic::catch_unwind(|| OnnxPolicy::from_bytes(&bytes).map(|_| ()));
        assert!(r.is_ok(), "loading {} damaged bytes panicked", bytes.len());
    }
    let e = OnnxPolicy::load(std::path::Path::new("/nonexistent/policy.onnx"))
        .expect_err("missing")
        .to_string();
    assert!(e.contains("/nonexistent/policy.onnx"), "{e}");
}

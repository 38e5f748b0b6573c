//! The CNN trunk's forward and backward pass (frames per second) through candle's CPU
//! convolution and through `cpu_ops::conv2d` (im2col and one matrix product): the Nature-DQN
//! trunk on 44×60 RGB frames (Montezuma-Lite's pixels, as RND and RDD read them) and the small
//! trunk on the VLA head's 24×24 camera image.
//!
//! Protocol: per trunk, one set of weights and one batch of frames serve both sides; after two
//! warm-up passes each, the sides take turns running windows of passes, and each window's
//! frames per second is recorded; the report gives each side's median and the ratio. One
//! kernel thread, as the `spelunk` binary runs.
//!
//! `cargo bench -p spelunk-models --bench conv` (prints a table; with
//! `SPELUNK_BENCH_JSON=path` also writes it as JSON, and the Markdown beside it).

use std::time::Instant;

use candle_core::{Device, Module, Tensor};
use spelunk_models::{cpu_ops, Cnn, ParamStore};

const WINDOWS: usize = 7;

/// (label, [channels, height, width], convolutions, outputs, batch, passes per window)
type Setting =
    (&'static str, [usize; 3], &'static [(usize, usize, usize, usize)], usize, usize, usize);

const SETTINGS: [Setting; 2] = [
    ("Nature-DQN trunk, 44×60×3 frames", [3, 44, 60], &Cnn::NATURE, 512, 64, 4),
    ("small trunk, 24×24×3 frames", [3, 24, 24], &Cnn::SMALL, 32, 256, 1),
];

/// One forward and backward pass; `ours`: through `cpu_ops::conv2d`.
fn pass(cnn: &Cnn, x: &Tensor, ours: bool) {
    let mut y = x.clone();
    for conv in cnn.convs() {
        y = if ours { cpu_ops::conv2d(conv, &y) } else { conv.forward(&y) }
            .and_then(|t| t.relu())
            .expect("convolution");
    }
    let out = cnn.head().forward(&y.flatten_from(1).expect("flatten")).expect("head");
    out.sqr().and_then(|t| t.sum_all()).and_then(|l| l.backward()).expect("backward");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "conv".contains(a.as_str())) {
        return;
    }
    spelunk_models::keep_freed_heap();
    spelunk_models::kernels_on_one_thread();
    println!("CNN forward + backward, frames/s (median of {WINDOWS} windows; 1 kernel thread)");
    println!("| trunk | batch | candle's conv2d | im2col + matmul | ratio |");
    println!("|---|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (label, shape, layers, outputs, batch, per_window) in SETTINGS {
        let mut params = ParamStore::new(&Device::Cpu, 0);
        let cnn = Cnn::with_layers(&mut params, "cnn", shape, outputs, layers).expect("cnn");
        let [c, h, w] = shape;
        let x = Tensor::rand(0f32, 1.0, (batch, c, h, w), &Device::Cpu).expect("frames");
        for ours in [false, true, false, true] {
            pass(&cnn, &x, ours);
        }
        let mut rates = [Vec::new(), Vec::new()];
        for _ in 0..WINDOWS {
            for (side, ours) in [false, true].into_iter().enumerate() {
                let start = Instant::now();
                for _ in 0..per_window {
                    pass(&cnn, &x, ours);
                }
                rates[side].push((batch * per_window) as f64 / start.elapsed().as_secs_f64());
            }
        }
        let [candle, ours] = rates.map(median);
        println!("| {label} | {batch} | {candle:.0} | {ours:.0} | {:.2}× |", ours / candle);
        rows.push(serde_json::json!({
            "trunk": label, "batch": batch, "passes_per_window": per_window,
            "candle_frames_per_s": candle, "im2col_frames_per_s": ours, "ratio": ours / candle,
        }));
    }
    if let Ok(path) = std::env::var("SPELUNK_BENCH_JSON") {
        // A relative path is the workspace's (cargo runs benches in the package's folder).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        let json = serde_json::json!({
            "bench": "conv",
            "command": "SPELUNK_BENCH_JSON=docs/results/conv.json cargo bench -p spelunk-models --bench conv",
            "commit": spelunk_core::provenance::commit(),
            "machine": spelunk_core::provenance::machine(),
            "windows": WINDOWS,
            "rows": rows,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json") + "\n")
            .expect("write");
        std::fs::write(path.with_extension("md"), markdown(&json)).expect("write");
    }
}

/// The report as Markdown: the table and a sentence per trunk, both made from the rows.
fn markdown(json: &serde_json::Value) -> String {
    let text = |k: &str| json[k].as_str().unwrap_or("?").to_owned();
    let mut md = format!(
        "# CNN trunks: candle's convolution against im2col + matmul\n\n`{}` (commit {}, {}; \
         median of {} windows, the sides taking turns, one kernel thread; a forward and backward \
         pass per batch):\n\n| trunk | batch | candle's conv2d, frames/s | im2col + matmul, \
         frames/s | ratio |\n|---|---:|---:|---:|---:|\n",
        text("command"),
        text("commit"),
        text("machine"),
        json["windows"]
    );
    let rows = json["rows"].as_array().cloned().unwrap_or_default();
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2}× |\n",
            r["trunk"].as_str().unwrap_or("?"),
            r["batch"],
            num(r, "candle_frames_per_s"),
            num(r, "im2col_frames_per_s"),
            num(r, "ratio")
        ));
    }
    md.push('\n');
    for r in &rows {
        md.push_str(&format!(
            "The {} trains {:.2}× as many frames per second through im2col + matmul as through \
             candle's conv2d.\n",
            r["trunk"].as_str().unwrap_or("?"),
            num(r, "ratio")
        ));
    }
    md
}

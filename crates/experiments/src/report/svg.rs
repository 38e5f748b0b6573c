//! Small SVG charts (line charts with a legend, horizontal bar charts), written by hand so
//! plots need no native library and render anywhere, GitHub included.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{write_file, Result};

/// Series colours, in order.
pub const PALETTE: [&str; 8] =
    ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

/// One line of a line chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

/// The smallest of 1, 2, 2.5, 5 × 10ᵏ at or above `v` (an axis end).
pub fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// An SVG document of `w × h` pixels on white, with a centred title.
fn svg_start(w: f64, h: f64, title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A line chart with axes from 0.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let (w, h) = (640.0, 400.0);
    let (l, r, t, b) = (70.0, 20.0, 40.0, 50.0);
    let xmax =
        nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max));
    let ymax =
        nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max));
    let sx = |x: f64| l + x / xmax * (w - l - r);
    let sy = |y: f64| h - b - y / ymax * (h - t - b);
    let mut s = svg_start(w, h, title);
    for k in 0..=5 {
        let (xv, yv) = (xmax * f64::from(k) / 5.0, ymax * f64::from(k) / 5.0);
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            w - r,
            l - 6.0,
            sy(yv) + 4.0,
            fmt(yv),
            y = sy(yv)
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            sx(xv),
            h - b + 18.0,
            fmt(xv)
        );
    }
    let _ = write!(
        s,
        r#"<line x1="{l}" x2="{l}" y1="{t}" y2="{}" stroke="black"/><line x1="{l}" x2="{}" y1="{y}" y2="{y}" stroke="black"/>"#,
        h - b,
        w - r,
        y = h - b
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (l + w - r) / 2.0,
        h - 10.0,
        esc(x_label)
    );
    let _ = write!(
        s,
        r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (t + h - b) / 2.0,
        esc(y_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let step = (ser.points.len() / 400).max(1);
        let pts: Vec<String> = ser
            .points
            .iter()
            .step_by(step)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = t + 8.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            l + 12.0,
            l + 36.0,
            l + 42.0,
            ly + 4.0,
            esc(&ser.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A horizontal bar chart on a log scale (values spanning orders of magnitude).
pub fn log_bar_chart(title: &str, unit: &str, bars: &[(String, f64)]) -> String {
    let row = 22.0;
    let (l, r, t) = (260.0, 90.0, 40.0);
    let w = 760.0;
    let h = t + row * bars.len() as f64 + 30.0;
    let lo = bars.iter().map(|b| b.1).filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min).max(1.0);
    let hi = bars.iter().map(|b| b.1).fold(1.0, f64::max);
    let (llo, lhi) = (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0));
    let sx = |v: f64| l + (v.max(1.0).log10() - llo) / (lhi - llo) * (w - l - r);
    let mut s = svg_start(w, h, title);
    let mut e = llo;
    while e <= lhi {
        let x = sx(10f64.powf(e));
        let _ = write!(
            s,
            r##"<line x1="{x}" x2="{x}" y1="{t}" y2="{}" stroke="#ddd"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            h - 30.0,
            h - 14.0,
            fmt(10f64.powf(e))
        );
        e += 1.0;
    }
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = t + row * i as f64;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            l - 6.0,
            y + 15.0,
            esc(label)
        );
        let _ = write!(
            s,
            r##"<rect x="{l}" y="{}" width="{}" height="{}" fill="#1f77b4"/><text x="{}" y="{}">{} {unit}</text>"##,
            y + 3.0,
            (sx(*v) - l).max(1.0),
            row - 6.0,
            sx(*v) + 4.0,
            y + 15.0,
            fmt(*v)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A tick label: `1.5k`, `2M`, `0.25`.
pub fn fmt(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Write an SVG file.
pub fn write(path: &Path, svg: &str) -> Result<()> {
    write_file(path, svg)
}

//! PNG line charts, drawn pixel by pixel with a built-in 5×7 font, so they need no native
//! library and no font files. Letters are drawn as capitals.

use std::path::Path;

use crate::error::Result;
use spelunk_core::Image;

use super::svg::{fmt, nice_max, Series, PALETTE};

/// An RGB canvas.
struct Canvas {
    img: Image,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self { img: Image { width, height, rgb: vec![255; width * height * 3] } }
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.img.width && (y as usize) < self.img.height {
            let k = (y as usize * self.img.width + x as usize) * 3;
            self.img.rgb[k..k + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.put(x, y, c);
            }
        }
    }

    /// A line `width` pixels thick (a square brush along Bresenham's path).
    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), width: i64, c: [u8; 3]) {
        let (mut x, mut y) = (x0.round() as i64, y0.round() as i64);
        let (xe, ye) = (x1.round() as i64, y1.round() as i64);
        let (dx, dy) = ((xe - x).abs(), -(ye - y).abs());
        let (sx, sy) = (if x < xe { 1 } else { -1 }, if y < ye { 1 } else { -1 });
        let mut err = dx + dy;
        let lo = -(width - 1) / 2;
        let hi = lo + width - 1;
        loop {
            self.rect(x + lo, y + lo, x + hi, y + hi, c);
            if x == xe && y == ye {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Text at `scale` pixels per font pixel; `(x, y)` is the top-left corner, or with
    /// `vertical` the bottom-left corner of text that reads upwards.
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, vertical: bool, c: [u8; 3]) {
        for (i, ch) in s.chars().enumerate() {
            let rows = glyph(ch);
            let offset = i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits >> (4 - col) & 1 == 1 {
                        let (u, v) = (offset + col * scale, r as i64 * scale);
                        let (px, py) =
                            if vertical { (x + v, y - u - scale + 1) } else { (x + u, y + v) };
                        self.rect(px, py, px + scale - 1, py + scale - 1, c);
                    }
                }
            }
        }
    }
}

/// Width in pixels of `s` drawn at `scale`.
fn text_width(s: &str, scale: i64) -> i64 {
    (s.chars().count() as i64 * 6 - 1).max(0) * scale
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap_or(0);
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// A line chart with axes from 0 and the legend on the right, as a PNG image.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> Image {
    // The legend's column fits its longest label: the canvas widens, the plot keeps 510 px.
    let legend = series.iter().map(|s| text_width(&s.label, 2)).max().unwrap_or(0);
    let r = (legend + 72).max(310) as f64;
    let (w, h) = (590 + r as usize, 440usize);
    let (l, t, b) = (80.0, 44.0, 56.0);
    let (wf, hf) = (w as f64, h as f64);
    let xmax =
        nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max));
    let ymax =
        nice_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max));
    let sx = |x: f64| l + x / xmax * (wf - l - r);
    let sy = |y: f64| hf - b - y / ymax * (hf - t - b);
    let mut c = Canvas::new(w, h);
    let (black, grey, light) = ([0, 0, 0], [90, 90, 90], [225, 225, 225]);
    let tw = text_width(title, 2);
    c.text((w as i64 - tw) / 2, 12, title, 2, false, black);
    for k in 0..=5 {
        let (xv, yv) = (xmax * f64::from(k) / 5.0, ymax * f64::from(k) / 5.0);
        c.line((l, sy(yv)), (wf - r, sy(yv)), 1, light);
        let label = fmt(yv);
        c.text(l as i64 - 8 - text_width(&label, 2), sy(yv) as i64 - 7, &label, 2, false, grey);
        let label = fmt(xv);
        c.text(
            sx(xv) as i64 - text_width(&label, 2) / 2,
            (hf - b) as i64 + 8,
            &label,
            2,
            false,
            grey,
        );
    }
    c.line((l, t), (l, hf - b), 1, black);
    c.line((l, hf - b), (wf - r, hf - b), 1, black);
    let xw = text_width(x_label, 2);
    c.text(((l + wf - r) as i64 - xw) / 2, h as i64 - 22, x_label, 2, false, black);
    // A y label longer than the axis is drawn at half size.
    let ys = if text_width(y_label, 2) as f64 > hf - t - b { 1 } else { 2 };
    let yw = text_width(y_label, ys);
    c.text(8 + 7 * (2 - ys), ((t + hf - b) as i64 + yw) / 2, y_label, ys, true, black);
    for (i, ser) in series.iter().enumerate() {
        let col = hex(PALETTE[i % PALETTE.len()]);
        for pair in ser.points.windows(2) {
            c.line((sx(pair[0].0), sy(pair[0].1)), (sx(pair[1].0), sy(pair[1].1)), 3, col);
        }
        let ly = t as i64 + 10 + 24 * i as i64;
        let lx = (wf - r) as i64 + 20;
        c.rect(lx, ly + 5, lx + 24, ly + 8, col);
        c.text(lx + 32, ly, &ser.label, 2, false, black);
    }
    c.img
}

/// One picture of [`keypoint_panels`]: an RGB image (`width` × `height` pixels, 3 bytes
/// each), points on it (`(x, y)` in [-1, 1], pixel centres from the left and top edges, as a
/// spatial soft-argmax gives them) and a caption.
pub struct KeypointPanel {
    /// Pixels across.
    pub width: usize,
    /// Pixels down.
    pub height: usize,
    /// Row-major RGB bytes.
    pub rgb: Vec<u8>,
    /// The points, each drawn as a ring in the palette's colour of its index.
    pub points: Vec<(f32, f32)>,
    /// Text under the picture, wrapped to its width.
    pub caption: String,
}

/// Pictures side by side under a title, each enlarged `cell` times, its points as numbered
/// coloured rings (point `i` in the same colour in every panel) and its caption beneath.
pub fn keypoint_panels(title: &str, panels: &[KeypointPanel], cell: usize) -> Image {
    let gap = 16usize;
    let pw = panels.iter().map(|p| p.width * cell).max().unwrap_or(0);
    let ph = panels.iter().map(|p| p.height * cell).max().unwrap_or(0);
    let per_line = ((pw as i64 + 1) / 12).max(1) as usize;
    let wrap = |s: &str| {
        let mut lines: Vec<String> = vec![String::new()];
        for word in s.split_whitespace() {
            let last = lines.last_mut().map_or(0, |l| l.chars().count());
            if last > 0 && last + 1 + word.chars().count() > per_line {
                lines.push(String::new());
            }
            let l = lines.last_mut().expect("a line");
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
        lines
    };
    let caption_lines = panels.iter().map(|p| wrap(&p.caption).len()).max().unwrap_or(0);
    let top = 44usize;
    let width = (panels.len() * (pw + gap) + gap).max(text_width(title, 2) as usize + 2 * gap);
    let height = top + ph + 12 + caption_lines * 18 + gap;
    let mut c = Canvas::new(width, height);
    let black = [0, 0, 0];
    c.text((width as i64 - text_width(title, 2)) / 2, 12, title, 2, false, black);
    for (i, p) in panels.iter().enumerate() {
        let x0 = gap + i * (pw + gap);
        for y in 0..p.height * cell {
            for x in 0..p.width * cell {
                let k = ((y / cell) * p.width + x / cell) * 3;
                if let Some(px) = p.rgb.get(k..k + 3) {
                    c.put((x0 + x) as i64, (top + y) as i64, [px[0], px[1], px[2]]);
                }
            }
        }
        let r = (cell as f64 * 0.9).max(4.0);
        for (j, &(kx, ky)) in p.points.iter().enumerate() {
            let col = hex(PALETTE[j % PALETTE.len()]);
            let at = |v: f32, n: usize| f64::midpoint(f64::from(v), 1.0) * (n.max(2) - 1) as f64;
            let cx = x0 as f64 + (at(kx, p.width) + 0.5) * cell as f64;
            let cy = top as f64 + (at(ky, p.height) + 0.5) * cell as f64;
            for step in 0..48 {
                let (a, b) = (
                    f64::from(step) / 48.0 * std::f64::consts::TAU,
                    f64::from(step + 1) / 48.0 * std::f64::consts::TAU,
                );
                let ring = |t: f64| (cx + r * t.cos(), cy + r * t.sin());
                c.line(ring(a), ring(b), 3, col);
            }
            let label = (j + 1).to_string();
            c.text((cx + r) as i64 + 2, (cy - r) as i64 - 7, &label, 1, false, col);
        }
        for (k, line) in wrap(&p.caption).iter().enumerate() {
            let y = (top + ph + 12 + k * 18) as i64;
            c.text(x0 as i64, y, line, 2, false, black);
        }
    }
    c.img
}

/// Write a chart as a PNG file.
pub fn write(path: &Path, img: &Image) -> Result<()> {
    super::png::write(path, img)
}

/// The 5×7 glyph of a character (rows top to bottom, bit 4 the leftmost column); lower case
/// draws as upper case, and characters without a glyph as a box.
fn glyph(ch: char) -> [u8; 7] {
    let b = |rows: [&str; 7]| rows.map(|r| u8::from_str_radix(r, 2).unwrap_or(0));
    match ch.to_ascii_uppercase() {
        ' ' => [0; 7],
        '0' => b(["01110", "10001", "10011", "10101", "11001", "10001", "01110"]),
        '1' => b(["00100", "01100", "00100", "00100", "00100", "00100", "01110"]),
        '2' => b(["01110", "10001", "00001", "00010", "00100", "01000", "11111"]),
        '3' => b(["11111", "00010", "00100", "00010", "00001", "10001", "01110"]),
        '4' => b(["00010", "00110", "01010", "10010", "11111", "00010", "00010"]),
        '5' => b(["11111", "10000", "11110", "00001", "00001", "10001", "01110"]),
        '6' => b(["00110", "01000", "10000", "11110", "10001", "10001", "01110"]),
        '7' => b(["11111", "00001", "00010", "00100", "01000", "01000", "01000"]),
        '8' => b(["01110", "10001", "10001", "01110", "10001", "10001", "01110"]),
        '9' => b(["01110", "10001", "10001", "01111", "00001", "00010", "01100"]),
        'A' => b(["01110", "10001", "10001", "11111", "10001", "10001", "10001"]),
        'B' => b(["11110", "10001", "10001", "11110", "10001", "10001", "11110"]),
        'C' => b(["01110", "10001", "10000", "10000", "10000", "10001", "01110"]),
        'D' => b(["11100", "10010", "10001", "10001", "10001", "10010", "11100"]),
        'E' => b(["11111", "10000", "10000", "11110", "10000", "10000", "11111"]),
        'F' => b(["11111", "10000", "10000", "11110", "10000", "10000", "10000"]),
        'G' => b(["01110", "10001", "10000", "10111", "10001", "10001", "01111"]),
        'H' => b(["10001", "10001", "10001", "11111", "10001", "10001", "10001"]),
        'I' => b(["01110", "00100", "00100", "00100", "00100", "00100", "01110"]),
        'J' => b(["00111", "00010", "00010", "00010", "00010", "10010", "01100"]),
        'K' => b(["10001", "10010", "10100", "11000", "10100", "10010", "10001"]),
        'L' => b(["10000", "10000", "10000", "10000", "10000", "10000", "11111"]),
        'M' => b(["10001", "11011", "10101", "10101", "10001", "10001", "10001"]),
        'N' => b(["10001", "10001", "11001", "10101", "10011", "10001", "10001"]),
        'O' => b(["01110", "10001", "10001", "10001", "10001", "10001", "01110"]),
        'P' => b(["11110", "10001", "10001", "11110", "10000", "10000", "10000"]),
        'Q' => b(["01110", "10001", "10001", "10001", "10101", "10010", "01101"]),
        'R' => b(["11110", "10001", "10001", "11110", "10100", "10010", "10001"]),
        'S' => b(["01111", "10000", "10000", "01110", "00001", "00001", "11110"]),
        'T' => b(["11111", "00100", "00100", "00100", "00100", "00100", "00100"]),
        'U' => b(["10001", "10001", "10001", "10001", "10001", "10001", "01110"]),
        'V' => b(["10001", "10001", "10001", "10001", "10001", "01010", "00100"]),
        'W' => b(["10001", "10001", "10001", "10101", "10101", "10101", "01010"]),
        'X' => b(["10001", "10001", "01010", "00100", "01010", "10001", "10001"]),
        'Y' => b(["10001", "10001", "10001", "01010", "00100", "00100", "00100"]),
        'Z' => b(["11111", "00001", "00010", "00100", "01000", "10000", "11111"]),
        '.' => b(["00000", "00000", "00000", "00000", "00000", "01100", "01100"]),
        ',' => b(["00000", "00000", "00000", "00000", "01100", "00100", "01000"]),
        ':' => b(["00000", "01100", "01100", "00000", "01100", "01100", "00000"]),
        '-' => b(["00000", "00000", "00000", "11111", "00000", "00000", "00000"]),
        '+' => b(["00000", "00100", "00100", "11111", "00100", "00100", "00000"]),
        '(' => b(["00010", "00100", "01000", "01000", "01000", "00100", "00010"]),
        ')' => b(["01000", "00100", "00010", "00010", "00010", "00100", "01000"]),
        '[' => b(["01110", "01000", "01000", "01000", "01000", "01000", "01110"]),
        ']' => b(["01110", "00010", "00010", "00010", "00010", "00010", "01110"]),
        '/' => b(["00000", "00001", "00010", "00100", "01000", "10000", "00000"]),
        '%' => b(["11000", "11001", "00010", "00100", "01000", "10011", "00011"]),
        '_' => b(["00000", "00000", "00000", "00000", "00000", "00000", "11111"]),
        '=' => b(["00000", "00000", "11111", "00000", "11111", "00000", "00000"]),
        '\'' => b(["00100", "00100", "01000", "00000", "00000", "00000", "00000"]),
        '×' => b(["00000", "10001", "01010", "00100", "01010", "10001", "00000"]),
        '±' => b(["00100", "00100", "11111", "00100", "00100", "00000", "11111"]),
        _ => b(["11111", "10001", "10001", "10001", "10001", "10001", "11111"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_land_where_the_axes_say() {
        // y = x from (0, 0) to (10, 10): the point (5, 5) is drawn in the first colour.
        let s = Series { label: "a".into(), points: vec![(0.0, 0.0), (10.0, 10.0)] };
        let img = line_chart("T", "x", "y", &[s]);
        let (l, r, t, b) = (80.0, 310.0, 44.0, 56.0);
        let x = (l + 0.5 * (img.width as f64 - l - r)).round() as usize;
        let y = (img.height as f64 - b - 0.5 * (img.height as f64 - t - b)).round() as usize;
        let k = (y * img.width + x) * 3;
        assert_eq!(img.rgb[k..k + 3], hex(PALETTE[0]));
        // A corner far from everything stays white.
        assert_eq!(img.rgb[img.rgb.len() - 3..], [255, 255, 255]);
    }

    #[test]
    fn keypoints_land_on_their_pixels() {
        // A 4 × 3 grey image, enlarged 10×: point 1 at the bottom-right pixel's centre (1, 1),
        // point 2 at the top-left one's (-1, -1). Each ring passes 9 px from its centre.
        let rgb = vec![128u8; 4 * 3 * 3];
        let panel = KeypointPanel {
            width: 4,
            height: 3,
            rgb,
            points: vec![(1.0, 1.0), (-1.0, -1.0)],
            caption: "push the red puck to the blue target".into(),
        };
        let img = keypoint_panels("T", &[panel], 10);
        let at = |x: usize, y: usize| {
            let k = (y * img.width + x) * 3;
            [img.rgb[k], img.rgb[k + 1], img.rgb[k + 2]]
        };
        let (x0, top) = (16, 44);
        assert_eq!(at(x0 + 35, top + 25 - 9), hex(PALETTE[0]), "above point 1's centre");
        assert_eq!(at(x0 + 5 - 9 + 1, top + 5), hex(PALETTE[1]), "left of point 2's centre");
        assert_eq!(at(x0 + 15, top + 15), [128; 3], "the image between them");
        // The caption wraps to the picture's width (40 px: 3 letters a line) below it.
        assert!(img.height > top + 30 + 12 + 18 * 5, "{}", img.height);
    }

    #[test]
    fn long_legends_and_axis_labels_stay_on_the_canvas() {
        let label = "success from the real start, no restoring, sticky actions".to_string();
        let s = Series { label, points: vec![(0.0, 0.0), (1.0, 1.0)] };
        let img = line_chart(
            "T",
            "x",
            "a y label longer than the axis it stands beside, drawn small",
            &[s],
        );
        let white = |x: usize, y: usize| {
            let k = (y * img.width + x) * 3;
            img.rgb[k..k + 3] == [255, 255, 255]
        };
        // Nothing touches the right or the top edge: the legend's column grew to fit.
        assert!((0..img.height).all(|y| white(img.width - 1, y)), "legend clipped on the right");
        assert!((0..img.width).all(|x| white(x, 0)), "y label clipped at the top");
        assert!(img.width > 900);
    }

    #[test]
    fn every_glyph_of_the_labels_is_drawn() {
        for ch in "0123456789abcdefghijklmnopqrstuvwxyz.,:-+()[]/%_='×±".chars() {
            let g = glyph(ch);
            assert!(g.iter().any(|&r| r != 0), "{ch}");
            assert_ne!(g, glyph('\u{1}'), "{ch} has no glyph");
        }
    }
}

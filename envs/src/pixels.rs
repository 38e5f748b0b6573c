//! Cheap image helpers for cell representations (Go-Explore's downscaled frames).
//!
//! [`downscale_gray`] turns an RGB frame into a `width × height` grey image by area
//! averaging, then quantises it to `levels` intensity levels — Go-Explore's generic cell
//! (Ecoffet et al. 2021: 11×8 frames with 8 levels by default).

/// Downscale a row-major RGB frame (`src_w × src_h × 3`) to `out_w × out_h` grey values
/// quantised to `levels` levels (`0..levels`). `out` must hold `out_w * out_h` bytes.
pub fn downscale_gray(
    rgb: &[u8],
    src_w: usize,
    src_h: usize,
    out_w: usize,
    out_h: usize,
    levels: u8,
    out: &mut [u8],
) {
    assert_eq!(rgb.len(), src_w * src_h * 3, "frame size");
    assert_eq!(out.len(), out_w * out_h, "output size");
    let levels = u32::from(levels.max(1));
    for oy in 0..out_h {
        let (y0, y1) = (oy * src_h / out_h, ((oy + 1) * src_h / out_h).max(oy * src_h / out_h + 1));
        for ox in 0..out_w {
            let (x0, x1) =
                (ox * src_w / out_w, ((ox + 1) * src_w / out_w).max(ox * src_w / out_w + 1));
            let mut sum = 0u32;
            let mut n = 0u32;
            for y in y0..y1.min(src_h) {
                for x in x0..x1.min(src_w) {
                    let i = (y * src_w + x) * 3;
                    // ITU-R BT.601 luma, integer weights summing to 1000.
                    sum += (299 * u32::from(rgb[i])
                        + 587 * u32::from(rgb[i + 1])
                        + 114 * u32::from(rgb[i + 2]))
                        / 1000;
                    n += 1;
                }
            }
            let grey = sum / n.max(1);
            out[oy * out_w + ox] = ((grey * levels) / 256).min(levels - 1) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_frames_quantise_to_expected_levels() {
        let white = vec![255u8; 8 * 4 * 3];
        let mut out = [0u8; 4];
        downscale_gray(&white, 8, 4, 2, 2, 8, &mut out);
        assert_eq!(out, [7; 4]);
        let black = vec![0u8; 8 * 4 * 3];
        downscale_gray(&black, 8, 4, 2, 2, 8, &mut out);
        assert_eq!(out, [0; 4]);
        // Left half white, right half black.
        let mut half = vec![0u8; 8 * 4 * 3];
        for y in 0..4 {
            for x in 0..4 {
                half[(y * 8 + x) * 3..(y * 8 + x) * 3 + 3].fill(255);
            }
        }
        downscale_gray(&half, 8, 4, 2, 1, 4, &mut out[..2]);
        assert_eq!(&out[..2], &[3, 0]);
    }
}

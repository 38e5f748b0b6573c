//! Reports, written once for every experiment: curves averaged over runs, mean and spread,
//! PNG line charts with a built-in font ([`raster`], encoded by [`png`]) and
//! SVG charts ([`svg`]) — no native library, so they render anywhere, GitHub included.

pub mod png;
pub mod raster;
pub mod svg;

/// Point by point, the mean over runs of curves sampled at the same x (the first run's x).
pub fn mean_curve(curves: &[&Vec<(usize, f64)>]) -> Vec<(f64, f64)> {
    let n = curves.len().max(1) as f64;
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len)
        .map(|k| (curves[0][k].0 as f64, curves.iter().map(|c| c[k].1).sum::<f64>() / n))
        .collect()
}

/// Point by point, the mean over runs of both coordinates (runs whose x differ, such as env
/// steps per iteration), up to the shortest run.
pub fn mean_points(curves: &[&Vec<(f64, f64)>]) -> Vec<(f64, f64)> {
    let k = curves.len().max(1) as f64;
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            (
                curves.iter().map(|c| c[i].0).sum::<f64>() / k,
                curves.iter().map(|c| c[i].1).sum::<f64>() / k,
            )
        })
        .collect()
}

/// Mean and population standard deviation (0, 0 for no values).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

/// The median of `v` (the mean of the middle two for an even count; 0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => s[n / 2],
        _ => f64::midpoint(s[n / 2 - 1], s[n / 2]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_hand_computed_values() {
        let (m, sd) = mean_std(&[1.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (sd - 1.0).abs() < 1e-12);
        let a = vec![(0.0, 1.0), (2.0, 3.0), (9.0, 9.0)];
        let b = vec![(2.0, 3.0), (4.0, 5.0)];
        assert_eq!(mean_points(&[&a, &b]), vec![(1.0, 2.0), (3.0, 4.0)]);
    }
}

//! Novelty (mean distance to the k nearest neighbours) and the ground-truth metrics of the
//! STAX paper: coverage and uniformity of a 50 × 50 grid over the outcome space.

/// Mean Euclidean distance from `x` to its `k` nearest neighbours among `pool` (all of them
/// when fewer; `skip` excludes one index, the point itself when it is in the pool).
pub fn novelty(x: &[f32], pool: &[&[f32]], k: usize, skip: Option<usize>) -> f32 {
    let mut d: Vec<f32> = pool
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, p)| p.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt())
        .collect();
    if d.is_empty() {
        return 0.0;
    }
    let k = k.clamp(1, d.len());
    d.select_nth_unstable_by(k - 1, f32::total_cmp);
    d[..k].iter().sum::<f32>() / k as f32
}

/// A `side × side` grid over `[0, 1]²` with the cells a task can reach.
#[derive(Clone, Debug)]
pub struct Grid {
    side: usize,
    reachable: Vec<bool>,
}

impl Grid {
    /// The grid, with a cell reachable when `reachable` holds at its centre.
    pub fn new(side: usize, reachable: impl Fn([f32; 2]) -> bool) -> Self {
        let side = side.max(1);
        let reachable = (0..side * side)
            .map(|i| {
                let (x, y) = (i % side, i / side);
                reachable([(x as f32 + 0.5) / side as f32, (y as f32 + 0.5) / side as f32])
            })
            .collect();
        Self { side, reachable }
    }

    /// The cell of a point.
    pub fn cell(&self, p: [f32; 2]) -> usize {
        let c = |v: f32| ((v.clamp(0.0, 1.0) * self.side as f32) as usize).min(self.side - 1);
        c(p[1]) * self.side + c(p[0])
    }

    /// Reachable cells.
    pub fn reachable_cells(&self) -> usize {
        self.reachable.iter().filter(|r| **r).count()
    }

    /// Coverage: the fraction of reachable cells holding at least one of `points`.
    pub fn coverage(&self, points: &[[f32; 2]]) -> f64 {
        let mut hit = vec![false; self.side * self.side];
        for p in points {
            hit[self.cell(*p)] = true;
        }
        let covered = hit.iter().zip(&self.reachable).filter(|(h, r)| **h && **r).count();
        covered as f64 / self.reachable_cells().max(1) as f64
    }

    /// Uniformity: `1 − JSD(P ‖ U)` (base-2 logs, so in `[0, 1]`), P the points' histogram
    /// over the cells and U uniform over the reachable cells. 1 means the points spread
    /// evenly over everything reachable.
    pub fn uniformity(&self, points: &[[f32; 2]]) -> f64 {
        if points.is_empty() {
            return 0.0;
        }
        let mut counts = vec![0usize; self.side * self.side];
        for p in points {
            counts[self.cell(*p)] += 1;
        }
        let n = points.len() as f64;
        let u = 1.0 / self.reachable_cells().max(1) as f64;
        let mut jsd = 0.0;
        for (c, r) in counts.iter().zip(&self.reachable) {
            let p = *c as f64 / n;
            let q = if *r { u } else { 0.0 };
            let m = 0.5 * (p + q);
            if p > 0.0 {
                jsd += 0.5 * p * (p / m).log2();
            }
            if q > 0.0 {
                jsd += 0.5 * q * (q / m).log2();
            }
        }
        1.0 - jsd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn novelty_is_the_mean_distance_to_the_k_nearest() {
        let pts: Vec<Vec<f32>> = (0..5).map(|i| vec![i as f32, 0.0]).collect();
        let pool: Vec<&[f32]> = pts.iter().map(Vec::as_slice).collect();
        // From x = 0 (itself skipped): neighbours at 1, 2 → mean 1.5.
        assert!((novelty(&pts[0], &pool, 2, Some(0)) - 1.5).abs() < 1e-6);
        // k larger than the pool: every other point, (1 + 2 + 3 + 4) / 4.
        assert!((novelty(&pts[0], &pool, 15, Some(0)) - 2.5).abs() < 1e-6);
        assert!(novelty(&[0.0, 0.0], &[], 3, None).abs() < f32::EPSILON);
    }

    #[test]
    fn coverage_and_uniformity_have_their_closed_forms() {
        let grid = Grid::new(50, |_| true);
        assert_eq!(grid.reachable_cells(), 2500);
        // One point per cell everywhere: full coverage, perfectly uniform.
        let all: Vec<[f32; 2]> = (0..2500)
            .map(|i| [((i % 50) as f32 + 0.5) / 50.0, ((i / 50) as f32 + 0.5) / 50.0])
            .collect();
        assert!((grid.coverage(&all) - 1.0).abs() < 1e-12);
        assert!((grid.uniformity(&all) - 1.0).abs() < 1e-9);
        // Everything in one cell: coverage 1/N. Against uniform U over N cells, M = (P + U)/2
        // is (1 + 1/N)/2 at that cell and 1/2N elsewhere, so JSD = ½log2(1/m0) +
        // ½(1/N)log2((1/N)/m0) + ½(N − 1)/N.
        let one = vec![[0.01, 0.01]; 10];
        assert!((grid.coverage(&one) - 1.0 / 2500.0).abs() < 1e-12);
        let n = 2500.0f64;
        let m0 = 0.5 * (1.0 + 1.0 / n);
        let jsd = 0.5 * (1.0 / m0).log2()
            + 0.5 * (1.0 / n) * ((1.0 / n) / m0).log2()
            + 0.5 * (n - 1.0) / n;
        assert!((grid.uniformity(&one) - (1.0 - jsd)).abs() < 1e-9, "{}", grid.uniformity(&one));
        // Unreachable cells do not count towards coverage.
        let half = Grid::new(50, |p| p[0] < 0.5);
        assert_eq!(half.reachable_cells(), 1250);
        assert!((half.coverage(&all) - 1.0).abs() < 1e-12);
    }
}

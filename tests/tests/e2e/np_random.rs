//! `NpRandom` reproduces numpy's `Generator(PCG64(SeedSequence(seed)))` draw for draw
//! (fixture made by `tests/fixtures/np_random/make_draws.py`).

use serde::Deserialize;
use spelunk_core::np_random::{seed_sequence_state, NpRandom};

#[derive(Deserialize)]
struct Fixture {
    numpy_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    seed: u64,
    seed_sequence: Vec<u32>,
    integers: Vec<(i64, i64, i64)>,
    random: Vec<String>,
    raw: Vec<String>,
}

#[test]
fn np_random_matches_numpy_draw_for_draw() {
    let text =
        std::fs::read_to_string(spelunk_tests::fixture("np_random/draws.json")).expect("fixture");
    let fx: Fixture = serde_json::from_str(&text).expect("parses");
    assert!(fx.cases.len() >= 10);
    for c in &fx.cases {
        let what = format!("seed {} (numpy {})", c.seed, fx.numpy_version);
        assert_eq!(seed_sequence_state(c.seed, 8), c.seed_sequence, "{what}: SeedSequence state");
        let mut raw = NpRandom::new(c.seed);
        for (k, want) in c.raw.iter().enumerate() {
            assert_eq!(raw.next_u64().to_string(), *want, "{what}: raw draw {k}");
        }
        let mut g = NpRandom::new(c.seed);
        for (k, &(lo, hi, want)) in c.integers.iter().enumerate() {
            assert_eq!(g.integers(lo, hi), want, "{what}: integers({lo}, {hi}) draw {k}");
        }
        for (k, want) in c.random.iter().enumerate() {
            assert_eq!(g.random().to_bits().to_string(), *want, "{what}: random() draw {k}");
        }
    }
}

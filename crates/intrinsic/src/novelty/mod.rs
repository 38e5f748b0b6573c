//! Novelty search, TAXONS, SERENE emitters and STAX: searching the weights of small neural
//! controllers for behaviours nobody asked for, and exploiting the rare rewards they find.
//!
//! - **Novelty search** (Lehman & Stanley 2011): a (μ + λ) search over genomes (controller
//!   weights) that keeps the most *novel* individuals. Novelty of a behaviour descriptor `b`:
//!   `ρ(b) = (1/k) Σ dist(b, μ_i)` over its k = 15 nearest neighbours among the archive and the
//!   current population and offspring. Each generation `archive_add` = 5 offspring, drawn at
//!   random (as TAXONS and STAX do), join the archive. Here the descriptor is the task's
//!   ground truth (final position) — the hand-designed baseline.
//! - **TAXONS** (Paolo et al. 2020): the descriptor is instead learned — the code of an
//!   autoencoder trained on the episodes' final frames (10 values by default), retrained every
//!   `retrain_every` generations on the archive and population; surprise is the
//!   reconstruction error. Each generation selects on novelty in the code space or on surprise,
//!   with probability ½ each.
//! - **SERENE** (Paolo et al. 2021): once an evaluation earns reward, its genome seeds an
//!   *emitter*, a local elitist search (`emitter_offspring` Gaussian mutants of the elite per
//!   generation, σ = `emitter_sigma`; the elite is replaced by a better offspring) that stops
//!   after `stagnation` generations without improvement. The budget alternates between
//!   exploration chunks (`explore_chunk` evaluations of the novelty search) and exploitation
//!   chunks (`exploit_chunk` evaluations of emitters, the one whose parent was most novel
//!   first).
//! - **STAX** (Paolo et al. 2022) = TAXONS' learned behaviour space + SERENE's emitters: it
//!   needs no hand-designed descriptor.
//!
//! Metrics (the STAX paper's): **coverage** — the fraction of a 50 × 50 grid of the
//! ground-truth outcome space (reachable cells only) that the evaluated policies reached;
//! **uniformity** — `1 − JSD` between the evaluations' distribution over those cells and the
//! uniform one; **reward areas found** and the best reward in each. All three use every
//! evaluation a method spent, so a method is judged by what its whole budget found. Random
//! search (fresh random genomes) is the floor.
//!
//! Defaults: μ = λ = 50, k = 15, 5 archive additions per generation, per-gene Gaussian mutation
//! σ = 0.2 with probability 0.2 (genes clipped to ±5), latent 10, AE retrained every 10
//! generations for 5 epochs (Adam 1e-3, batches of 64), exploration and exploitation chunks
//! of 500 evaluations, emitters of 10 offspring with σ = 0.1 and a patience of 5.

pub mod metrics;
pub mod tasks;
pub mod taxons;

use serde::{Deserialize, Serialize};
use spelunk_core::{ArchiveUpdate, Rng};

use crate::{Error, Result};
use metrics::{novelty, Grid};
use tasks::{EpisodicTask, Outcome};
use taxons::AutoEncoder;

/// Which search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Fresh random genomes every evaluation.
    Random,
    /// Novelty search on the ground-truth descriptor.
    NoveltyGroundTruth,
    /// TAXONS: novelty or surprise in a learned behaviour space.
    Taxons,
    /// STAX: TAXONS plus SERENE emitters.
    Stax,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 4] =
        [Method::Random, Method::NoveltyGroundTruth, Method::Taxons, Method::Stax];

    /// Name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Random => "random",
            Method::NoveltyGroundTruth => "ns-gt",
            Method::Taxons => "taxons",
            Method::Stax => "stax",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Settings of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoveltyConfig {
    /// Evaluation budget.
    pub evaluations: usize,
    /// Population μ.
    pub population: usize,
    /// Offspring λ per generation.
    pub offspring: usize,
    /// Nearest neighbours of the novelty.
    pub k: usize,
    /// Offspring added to the archive per generation (at random).
    pub archive_add: usize,
    /// Mutation standard deviation per gene.
    pub mutation_sigma: f32,
    /// Probability that a gene mutates.
    pub mutation_prob: f64,
    /// Genes are clipped to ±this.
    pub gene_bound: f32,
    /// TAXONS code size.
    pub latent: usize,
    /// Generations between autoencoder trainings.
    pub retrain_every: usize,
    /// Epochs per training.
    pub ae_epochs: usize,
    /// Autoencoder learning rate.
    pub ae_lr: f64,
    /// Evaluations per exploration chunk (STAX).
    pub explore_chunk: usize,
    /// Evaluations per exploitation chunk (STAX).
    pub exploit_chunk: usize,
    /// Offspring per emitter generation.
    pub emitter_offspring: usize,
    /// Emitter mutation σ (every gene).
    pub emitter_sigma: f32,
    /// Emitter generations without improvement before it stops.
    pub stagnation: usize,
    /// Report every this many evaluations.
    pub report_every: usize,
    /// Seed.
    pub seed: u64,
    /// Worker threads for evaluations (0: all cores). Results do not depend on it.
    pub threads: usize,
}

impl Default for NoveltyConfig {
    fn default() -> Self {
        Self {
            evaluations: 10_000,
            population: 50,
            offspring: 50,
            k: 15,
            archive_add: 5,
            mutation_sigma: 0.2,
            mutation_prob: 0.2,
            gene_bound: 5.0,
            latent: 10,
            retrain_every: 10,
            ae_epochs: 5,
            ae_lr: 1e-3,
            explore_chunk: 500,
            exploit_chunk: 500,
            emitter_offspring: 10,
            emitter_sigma: 0.1,
            stagnation: 5,
            report_every: 500,
            seed: 0,
            threads: 0,
        }
    }
}

/// One row of a run's curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Evaluations spent.
    pub evaluations: usize,
    /// Coverage of the 50 × 50 ground-truth grid.
    pub coverage: f64,
    /// Uniformity over it.
    pub uniformity: f64,
    /// Distinct reward areas reached.
    pub areas_found: usize,
    /// Best reward reached in each area (0 where none).
    pub best_reward: Vec<f32>,
}

/// A run's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// EpisodicTask name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// The curve, ending at the budget.
    pub curve: Vec<Point>,
    /// Final archive size (0 for random search).
    pub archive: usize,
    /// Emitters started (STAX).
    pub emitters: usize,
    /// Evaluations spent by emitters (STAX).
    pub emitter_evaluations: usize,
}

impl Report {
    /// The last row.
    pub fn last(&self) -> &Point {
        self.curve.last().expect("a run reports at least once")
    }
}

/// Evaluate genomes on `threads` workers; the result is in genome order whatever the count.
pub fn evaluate_all(task: &dyn EpisodicTask, genomes: &[Vec<f32>], threads: usize) -> Vec<Outcome> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        threads
    };
    if threads <= 1 || genomes.len() < 8 {
        return genomes.iter().map(|g| task.evaluate(g)).collect();
    }
    let chunk = genomes.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = genomes
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|g| task.evaluate(g)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("evaluation worker")).collect()
    })
}

/// An evaluated genome.
#[derive(Clone, Debug)]
struct Individual {
    genome: Vec<f32>,
    outcome: Outcome,
    /// Behaviour descriptor in the space the search uses.
    descriptor: Vec<f32>,
    /// Reconstruction error (TAXONS).
    surprise: f32,
    novelty: f32,
}

struct Emitter {
    elite: Vec<f32>,
    elite_reward: f32,
    /// The parent's final frame and ground-truth descriptor, to place it in the search's
    /// behaviour space when emitters are chosen.
    frame: Vec<f32>,
    truth: [f32; 2],
    stale: usize,
}

/// Bookkeeping of everything evaluated: the metric grid, histogram and reward records.
struct Tally {
    grid: Grid,
    points: Vec<[f32; 2]>,
    best: Vec<f32>,
    found: Vec<bool>,
    evaluations: usize,
    curve: Vec<Point>,
    report_every: usize,
    next_report: usize,
}

impl Tally {
    fn record(&mut self, outcomes: &[Outcome]) {
        for o in outcomes {
            self.points.push(o.descriptor);
            if let Some(a) = o.area {
                self.found[a] = true;
                self.best[a] = self.best[a].max(o.reward);
            }
            self.evaluations += 1;
            if self.evaluations >= self.next_report {
                self.report();
                self.next_report += self.report_every;
            }
        }
    }

    fn report(&mut self) {
        self.curve.push(Point {
            evaluations: self.evaluations,
            coverage: self.grid.coverage(&self.points),
            uniformity: self.grid.uniformity(&self.points),
            areas_found: self.found.iter().filter(|f| **f).count(),
            best_reward: self.best.clone(),
        });
    }
}

/// Run `method` on `task` for `config.evaluations` evaluations.
pub fn run(task: &dyn EpisodicTask, method: Method, config: &NoveltyConfig) -> Result<Report> {
    run_observed(task, method, config, &mut spelunk_core::Observers::new())
}

/// [`run`], telling `observer` the outcome space after every generation (every outcome
/// evaluated so far, as an [`ArchiveUpdate::Outcomes`]) when it asks for archive updates.
pub fn run_observed(
    task: &dyn EpisodicTask,
    method: Method,
    config: &NoveltyConfig,
    observer: &mut dyn spelunk_core::Observer,
) -> Result<Report> {
    let bad = |m: String| Error::Config { module: "novelty", message: m };
    if config.evaluations == 0 || config.population == 0 || config.offspring == 0 {
        return Err(bad("evaluations, population and offspring must be positive".into()));
    }
    if config.k == 0 || config.latent == 0 || config.report_every == 0 {
        return Err(bad("k, latent and report_every must be positive".into()));
    }
    if method == Method::Stax
        && (config.explore_chunk == 0 || config.exploit_chunk == 0 || config.emitter_offspring == 0)
    {
        return Err(bad("STAX needs positive chunks and emitter offspring".into()));
    }
    Search::new(task, method, config)?.run(observer)
}

struct Search<'a> {
    task: &'a dyn EpisodicTask,
    method: Method,
    cfg: &'a NoveltyConfig,
    rng: Rng,
    tally: Tally,
    genome_len: usize,
    population: Vec<Individual>,
    archive: Vec<Individual>,
    ae: Option<AutoEncoder>,
    generation: usize,
    candidates: Vec<Emitter>,
    active: Option<Emitter>,
    /// Parents (frame, ground truth) of the emitters started so far.
    started: Vec<(Vec<f32>, [f32; 2])>,
    emitters: usize,
    emitter_evaluations: usize,
}

impl<'a> Search<'a> {
    fn new(task: &'a dyn EpisodicTask, method: Method, cfg: &'a NoveltyConfig) -> Result<Self> {
        let areas = task.areas().len();
        let ae = match method {
            Method::Taxons | Method::Stax => Some(AutoEncoder::new(
                tasks::FRAME * tasks::FRAME,
                cfg.latent,
                cfg.ae_lr,
                cfg.seed ^ 0xAE,
            )?),
            _ => None,
        };
        Ok(Self {
            task,
            method,
            cfg,
            rng: Rng::seed_from_u64(cfg.seed),
            tally: Tally {
                grid: Grid::new(50, |p| task.reachable(p)),
                points: Vec::with_capacity(cfg.evaluations),
                best: vec![0.0; areas],
                found: vec![false; areas],
                evaluations: 0,
                curve: Vec::new(),
                report_every: cfg.report_every,
                next_report: cfg.report_every,
            },
            genome_len: task.controller().genome_len(),
            population: Vec::new(),
            archive: Vec::new(),
            ae,
            generation: 0,
            candidates: Vec::new(),
            active: None,
            started: Vec::new(),
            emitters: 0,
            emitter_evaluations: 0,
        })
    }

    fn left(&self) -> usize {
        self.cfg.evaluations - self.tally.evaluations
    }

    fn random_genome(&mut self) -> Vec<f32> {
        (0..self.genome_len).map(|_| self.rng.normal() as f32).collect()
    }

    fn mutate(&mut self, parent: &[f32]) -> Vec<f32> {
        let b = self.cfg.gene_bound;
        parent
            .iter()
            .map(|&g| {
                if self.rng.bernoulli(self.cfg.mutation_prob) {
                    (g + self.cfg.mutation_sigma * self.rng.normal() as f32).clamp(-b, b)
                } else {
                    g
                }
            })
            .collect()
    }

    /// Evaluate and record genomes (at most the budget left).
    fn evaluate(&mut self, mut genomes: Vec<Vec<f32>>) -> Vec<Individual> {
        genomes.truncate(self.left());
        let outcomes = evaluate_all(self.task, &genomes, self.cfg.threads);
        self.tally.record(&outcomes);
        genomes
            .into_iter()
            .zip(outcomes)
            .map(|(genome, outcome)| Individual {
                descriptor: outcome.descriptor.to_vec(),
                genome,
                outcome,
                surprise: 0.0,
                novelty: 0.0,
            })
            .collect()
    }

    /// Every outcome reached so far, to an observer that draws them (after each generation;
    /// random search: after each batch of `offspring` evaluations).
    fn tell(&self, generation: u64, observer: &mut dyn spelunk_core::Observer) -> Result<()> {
        if observer.wants_archive() {
            let points = self.tally.points.iter();
            let update = ArchiveUpdate::Outcomes {
                generation,
                points: points.map(|p| [f64::from(p[0]), f64::from(p[1])]).collect(),
            };
            observer.archive_updated(&update).map_err(|e| Error::Config {
                module: "novelty",
                message: format!("observer: {e}"),
            })?;
        }
        Ok(())
    }

    fn run(mut self, observer: &mut dyn spelunk_core::Observer) -> Result<Report> {
        if self.method == Method::Random {
            let mut batches = 0u64;
            while self.left() > 0 {
                let n = self.cfg.offspring.min(self.left());
                let genomes: Vec<Vec<f32>> = (0..n).map(|_| self.random_genome()).collect();
                self.evaluate(genomes);
                batches += 1;
                self.tell(batches, observer)?;
            }
        } else {
            let first: Vec<Vec<f32>> =
                (0..self.cfg.population).map(|_| self.random_genome()).collect();
            self.population = self.evaluate(first);
            self.note_rewards_of_population();
            self.relearn()?;
            let mut chunk_used = 0usize;
            while self.left() > 0 {
                if self.method == Method::Stax && chunk_used >= self.cfg.explore_chunk {
                    self.exploit()?;
                    chunk_used = 0;
                    continue;
                }
                let before = self.tally.evaluations;
                self.generation_step()?;
                chunk_used += self.tally.evaluations - before;
                self.tell(self.generation as u64, observer)?;
            }
        }
        if self.tally.curve.last().map(|p| p.evaluations) != Some(self.tally.evaluations) {
            self.tally.report();
        }
        Ok(Report {
            task: self.task.name().to_owned(),
            method: self.method.name().to_owned(),
            seed: self.cfg.seed,
            curve: self.tally.curve,
            archive: self.archive.len(),
            emitters: self.emitters,
            emitter_evaluations: self.emitter_evaluations,
        })
    }

    /// One (μ + λ) generation of the novelty search.
    fn generation_step(&mut self) -> Result<()> {
        let parents: Vec<Vec<f32>> = (0..self.cfg.offspring)
            .map(|_| {
                let i = self.rng.below(self.population.len() as u64) as usize;
                self.population[i].genome.clone()
            })
            .collect();
        let children: Vec<Vec<f32>> = parents.iter().map(|p| self.mutate(p)).collect();
        let mut offspring = self.evaluate(children);
        if offspring.is_empty() {
            return Ok(());
        }
        if self.method == Method::Stax {
            for o in &offspring {
                self.note_reward(o);
            }
        }
        self.describe(&mut offspring)?;
        // Random offspring join the archive.
        let mut idx: Vec<usize> = (0..offspring.len()).collect();
        self.rng.shuffle(&mut idx);
        for &i in idx.iter().take(self.cfg.archive_add) {
            self.archive.push(offspring[i].clone());
        }
        let mut pool = std::mem::take(&mut self.population);
        pool.extend(offspring);
        self.score_novelty(&mut pool);
        let by_surprise = self.ae.is_some() && self.rng.bernoulli(0.5);
        pool.sort_by(|a, b| {
            let (x, y) =
                if by_surprise { (a.surprise, b.surprise) } else { (a.novelty, b.novelty) };
            y.total_cmp(&x)
        });
        pool.truncate(self.cfg.population);
        self.population = pool;
        self.generation += 1;
        if self.generation % self.cfg.retrain_every.max(1) == 0 {
            self.relearn()?;
        }
        Ok(())
    }

    /// Give individuals their descriptor in the search's space (ground truth, or the
    /// autoencoder's code and surprise).
    fn describe(&mut self, who: &mut [Individual]) -> Result<()> {
        if let Some(ae) = &mut self.ae {
            let frames: Vec<&[f32]> = who.iter().map(|i| i.outcome.frame.as_slice()).collect();
            let codes = ae.encode(&frames)?;
            for (ind, (code, surprise)) in who.iter_mut().zip(codes) {
                ind.descriptor = code;
                ind.surprise = surprise;
            }
        }
        Ok(())
    }

    /// Novelty of each member of `pool` against the archive and the pool itself.
    fn score_novelty(&self, pool: &mut [Individual]) {
        let refs: Vec<&[f32]> =
            self.archive.iter().chain(pool.iter()).map(|i| i.descriptor.as_slice()).collect();
        let n = self.archive.len();
        let scores: Vec<f32> = (0..pool.len())
            .map(|i| novelty(&pool[i].descriptor, &refs, self.cfg.k, Some(n + i)))
            .collect();
        for (ind, s) in pool.iter_mut().zip(scores) {
            ind.novelty = s;
        }
    }

    /// Train the autoencoder on the archive and population, then re-describe both.
    fn relearn(&mut self) -> Result<()> {
        let Some(ae) = &mut self.ae else { return Ok(()) };
        let frames: Vec<&[f32]> = self
            .archive
            .iter()
            .chain(&self.population)
            .map(|i| i.outcome.frame.as_slice())
            .collect();
        let mut rng =
            Rng::seed_from_u64(self.cfg.seed ^ (self.generation as u64).wrapping_mul(0x9E37));
        ae.train(&frames, self.cfg.ae_epochs, 64, &mut rng)?;
        let mut archive = std::mem::take(&mut self.archive);
        let mut population = std::mem::take(&mut self.population);
        self.describe(&mut archive)?;
        self.describe(&mut population)?;
        self.archive = archive;
        self.population = population;
        Ok(())
    }

    fn note_rewards_of_population(&mut self) {
        if self.method == Method::Stax {
            let pop = std::mem::take(&mut self.population);
            for p in &pop {
                self.note_reward(p);
            }
            self.population = pop;
        }
    }

    /// A rewarding evaluation from the exploration becomes an emitter candidate.
    fn note_reward(&mut self, ind: &Individual) {
        if ind.outcome.reward > 0.0 {
            self.candidates.push(Emitter {
                elite: ind.genome.clone(),
                elite_reward: ind.outcome.reward,
                frame: ind.outcome.frame.clone(),
                truth: ind.outcome.descriptor,
                stale: 0,
            });
        }
    }

    /// The candidate whose parent is most novel with respect to the parents of the emitters
    /// already started (in the search's behaviour space), so that a reward area many
    /// candidates share is not exploited again before a new one.
    fn most_novel_candidate(&mut self) -> Result<usize> {
        let describe = |ae: &mut Option<AutoEncoder>, items: Vec<(&[f32], [f32; 2])>| match ae {
            Some(ae) => {
                let frames: Vec<&[f32]> = items.iter().map(|i| i.0).collect();
                ae.encode(&frames).map(|v| v.into_iter().map(|(c, _)| c).collect::<Vec<_>>())
            }
            None => Ok(items.iter().map(|i| i.1.to_vec()).collect()),
        };
        let cands: Vec<(&[f32], [f32; 2])> =
            self.candidates.iter().map(|c| (c.frame.as_slice(), c.truth)).collect();
        let started: Vec<(&[f32], [f32; 2])> =
            self.started.iter().map(|(f, t)| (f.as_slice(), *t)).collect();
        let cands = describe(&mut self.ae, cands)?;
        let started = describe(&mut self.ae, started)?;
        let refs: Vec<&[f32]> = started.iter().map(Vec::as_slice).collect();
        let scores: Vec<f32> = if refs.is_empty() {
            vec![0.0; cands.len()]
        } else {
            cands.iter().map(|c| novelty(c, &refs, self.cfg.k, None)).collect()
        };
        Ok((0..scores.len())
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))
            .expect("non-empty"))
    }

    /// One exploitation chunk: run emitters, most novel parent first, until the chunk is
    /// spent; an emitter stops after `stagnation` generations without improvement.
    fn exploit(&mut self) -> Result<()> {
        let mut spent = 0usize;
        while spent < self.cfg.exploit_chunk && self.left() > 0 {
            if self.active.is_none() {
                if self.candidates.is_empty() {
                    break;
                }
                let best = self.most_novel_candidate()?;
                let em = self.candidates.swap_remove(best);
                self.started.push((em.frame.clone(), em.truth));
                self.active = Some(em);
                self.emitters += 1;
            }
            let mut em = self.active.take().expect("active emitter");
            let b = self.cfg.gene_bound;
            let n = self.cfg.emitter_offspring.min(self.cfg.exploit_chunk - spent);
            let children: Vec<Vec<f32>> = (0..n)
                .map(|_| {
                    em.elite
                        .iter()
                        .map(|&g| {
                            (g + self.cfg.emitter_sigma * self.rng.normal() as f32).clamp(-b, b)
                        })
                        .collect()
                })
                .collect();
            let evaluated = self.evaluate(children);
            spent += evaluated.len();
            self.emitter_evaluations += evaluated.len();
            let best =
                evaluated.iter().max_by(|a, b| a.outcome.reward.total_cmp(&b.outcome.reward));
            match best {
                Some(c) if c.outcome.reward > em.elite_reward => {
                    em.elite.clone_from(&c.genome);
                    em.elite_reward = c.outcome.reward;
                    em.stale = 0;
                }
                _ => em.stale += 1,
            }
            if em.stale < self.cfg.stagnation {
                self.active = Some(em);
            }
        }
        // With no emitter to run, the exploitation budget goes back to exploration.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome-space sizes an observer was told, by generation.
    #[derive(Default)]
    struct Sizes(Vec<(u64, usize)>);
    impl spelunk_core::Observer for Sizes {
        fn wants_archive(&self) -> bool {
            true
        }
        fn archive_updated(&mut self, u: &ArchiveUpdate) -> spelunk_core::ObserverResult {
            if let ArchiveUpdate::Outcomes { generation, points } = u {
                assert!(points.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
                self.0.push((*generation, points.len()));
            }
            Ok(())
        }
    }

    #[test]
    fn runs_are_deterministic_at_any_thread_count() {
        let task = tasks::Curling::default();
        let cfg = |threads| NoveltyConfig {
            evaluations: 400,
            report_every: 100,
            threads,
            seed: 3,
            ..NoveltyConfig::default()
        };
        for method in [Method::NoveltyGroundTruth, Method::Stax] {
            let a = run(&task, method, &cfg(1)).expect("run");
            let b = run(&task, method, &cfg(3)).expect("run");
            assert_eq!(a, b, "{method:?}");
            assert_eq!(a.last().evaluations, 400);
            assert_eq!(a.curve.len(), 4);
        }
        // An observer that asks sees the outcome space grow generation by generation, and
        // watching changes nothing.
        let mut sizes = Sizes::default();
        let watched =
            run_observed(&task, Method::NoveltyGroundTruth, &cfg(1), &mut sizes).expect("run");
        assert_eq!(watched, run(&task, Method::NoveltyGroundTruth, &cfg(1)).expect("run"));
        assert!(sizes.0.len() >= 5, "{:?}", sizes.0);
        assert!(sizes.0.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{:?}", sizes.0);
        assert_eq!(sizes.0.last().map(|s| s.1), Some(400));
    }

    #[test]
    fn novelty_search_covers_the_maze_far_better_than_random_search() {
        let task = tasks::DeceptiveMaze::default();
        let cfg =
            NoveltyConfig { evaluations: 3000, report_every: 3000, ..NoveltyConfig::default() };
        let random = run(&task, Method::Random, &cfg).expect("random");
        let ns = run(&task, Method::NoveltyGroundTruth, &cfg).expect("ns");
        // Measured: random ≈ 0.14, NS-GT ≈ 0.45 at this budget.
        assert!(
            ns.last().coverage > 2.0 * random.last().coverage,
            "ns {} random {}",
            ns.last().coverage,
            random.last().coverage
        );
        assert!(ns.last().uniformity > random.last().uniformity);
        assert_eq!(ns.archive, 5 * (3000 - 50) / 50);
    }

    #[test]
    fn stax_starts_emitters_on_reward_and_they_only_improve_it() {
        let task = tasks::DeceptiveMaze::default();
        let cfg = NoveltyConfig {
            evaluations: 3000,
            report_every: 250,
            seed: 1,
            ..NoveltyConfig::default()
        };
        let r = run(&task, Method::Stax, &cfg).expect("stax");
        assert!(r.emitters > 0 && r.emitter_evaluations > 0, "{r:?}");
        // The best reward of each area never falls along the curve.
        for w in r.curve.windows(2) {
            assert!(w[0].best_reward.iter().zip(&w[1].best_reward).all(|(a, b)| b >= a));
        }
        // Without reward there is nothing to exploit: TAXONS alone spends nothing on emitters.
        let t = run(&task, Method::Taxons, &cfg).expect("taxons");
        assert_eq!(t.emitter_evaluations, 0);
    }

    #[test]
    fn the_autoencoder_learns_to_reconstruct_frames() {
        let task = tasks::DeceptiveMaze::default();
        let mut rng = Rng::seed_from_u64(0);
        let len = task.controller().genome_len();
        let outcomes: Vec<Outcome> = (0..200)
            .map(|_| {
                let g: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
                task.evaluate(&g)
            })
            .collect();
        let frames: Vec<&[f32]> = outcomes.iter().map(|o| o.frame.as_slice()).collect();
        let mut ae = AutoEncoder::new(tasks::FRAME * tasks::FRAME, 10, 1e-3, 0).expect("ae");
        let before: f32 = ae.encode(&frames).expect("encode").iter().map(|c| c.1).sum();
        ae.train(&frames, 20, 64, &mut rng).expect("train");
        let coded = ae.encode(&frames).expect("encode");
        let after: f32 = coded.iter().map(|c| c.1).sum();
        assert!(after < 0.2 * before, "surprise {before} → {after}");
        assert!(coded.iter().all(|(c, _)| c.len() == 10 && c.iter().all(|v| v.abs() <= 1.0)));
    }

    #[test]
    fn bad_settings_are_errors() {
        let task = tasks::RedundantArm::default();
        let cfg = NoveltyConfig { population: 0, ..NoveltyConfig::default() };
        let e = run(&task, Method::NoveltyGroundTruth, &cfg).unwrap_err().to_string();
        assert!(e.contains("population"), "{e}");
    }
}

"""Spelunk's GRPO/PPO core on Ray: rollout workers are Ray actors, each a `spelunk.Trainer`
that rolls out its share of an iteration's groups with the weights the learner broadcast; the
driver's `spelunk.Trainer` is the learner — the Rust update on the workers' batches — and
broadcasts the new weights every iteration.

    python python/examples/ray_grpo.py --workers 2 --iterations 30             # a local cluster
    python python/examples/ray_grpo.py --address auto ...                      # a running one
    python python/examples/ray_grpo.py --local ...                             # no Ray at all
    python python/examples/ray_grpo.py --set algorithm=ppo --set 'adam.lr=1e-3' ...

An iteration's `groups_per_step` groups (each `group_size` episodes from one seed) are split
into contiguous ranges, one per worker. A worker's batch is a pure function of the weights,
the iteration and its range (`Trainer.collect`), so when a worker dies mid-iteration Ray
restarts it (`max_restarts=-1`) and runs the task again (`max_task_retries=-1`) with the same
inputs: the learner gets every group exactly once, and the run equals the same run with
`--local` (tests: python/tests/test_ray.py). On several machines, start Ray on each
(`ray start --head` on one, `ray start --address HEAD:6379` on the others) with the package
installed on all, and pass `--address auto`.

`--scaling FILE` measures env-steps/s of the rollouts and learner updates/s with 1, 2 and 4
workers (the same iterations, so the same work split more ways; the first iteration, while the
workers' processes start, is not timed) into a JSON file.
"""

import argparse
import json
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env-id", default="MiniGrid-Empty-5x5-v0")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--iterations", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a training setting, as `spelunk train --set` takes it (repeatable)")
    p.add_argument("--local", action="store_true", help="the workers in this process, no Ray")
    p.add_argument("--address", help="a running Ray cluster (default: start a local one)")
    p.add_argument("--scaling", help="measure 1, 2 and 4 workers into this JSON file")
    return p.parse_args(argv)


def settings(args):
    """The run's settings: the same on the learner and every worker."""
    return {"env": args.env_id, "seed": args.seed, "iterations": args.iterations,
            "threads": 1, "sets": list(args.set)}


class RolloutWorker:
    """A trainer whose only job is `collect`: load the weights, roll out its groups."""

    def __init__(self, config):
        import spelunk
        self.trainer = spelunk.Trainer(**config)
        self.pid = os.getpid()

    def collect(self, weights, iteration, first_group, groups):
        self.trainer.load_policy_weights(weights)
        return self.trainer.collect(iteration, first_group, groups), self.pid


def split(groups, workers):
    """Contiguous (first, count) ranges of `groups`, one per worker, sizes within one."""
    if workers > groups:
        raise ValueError(f"{workers} workers for {groups} groups per iteration: each worker "
                         "needs at least one group (raise groups_per_step)")
    per, extra = divmod(groups, workers)
    out, first = [], 0
    for w in range(workers):
        n = per + (w < extra)
        out.append((first, n))
        first += n
    return out


def make_workers(config, n, local):
    if local:
        return [RolloutWorker(config) for _ in range(n)]
    import ray
    remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(RolloutWorker)
    return [remote.remote(config) for _ in range(n)]


def run(args, on_submit=None, log=print, timed=None):
    """Train; returns (learner, per-iteration metrics, per-iteration worker pids, seconds in
    rollouts and in updates). `on_submit(iteration, workers)` is called once the iteration's
    rollouts are submitted (the tests kill a worker there). `timed`, a dict, gets the seconds
    and env steps of every iteration but the first (the workers' processes start then)."""
    import spelunk
    config = settings(args)
    learner = spelunk.Trainer(**config)
    ranges = split(learner.config["groups_per_step"], args.workers)
    workers = make_workers(config, args.workers, args.local)
    history, pids, roll_s, upd_s = [], [], 0.0, 0.0
    while learner.iteration < args.iterations:
        it, steps_before = learner.iteration, learner.env_steps
        t0 = time.perf_counter()
        weights = learner.policy_weights()
        if args.local:
            outs = [w.collect(weights, it, f, n) for w, (f, n) in zip(workers, ranges)]
        else:
            import ray
            ref = ray.put(weights)
            refs = [w.collect.remote(ref, it, f, n) for w, (f, n) in zip(workers, ranges)]
            if on_submit:
                on_submit(it, workers)
            outs = ray.get(refs)
        t1 = time.perf_counter()
        metrics = learner.learn([batch for batch, _ in outs])
        t2 = time.perf_counter()
        roll_s, upd_s = roll_s + t1 - t0, upd_s + t2 - t1
        if timed is not None and it > 0:
            for k, v in (("rollout_seconds", t1 - t0), ("update_seconds", t2 - t1),
                         ("env_steps", learner.env_steps - steps_before), ("iterations", 1)):
                timed[k] = timed.get(k, 0) + v
        history.append(metrics)
        pids.append([pid for _, pid in outs])
        if (it + 1) % 10 == 0:
            log(f"iteration {it + 1}/{args.iterations}: success "
                f"{metrics['charts/success_rate']:.2f}, {learner.env_steps} env steps")
    if not args.local:
        import ray
        for w in workers:  # their CPUs go back to the cluster
            ray.kill(w)
    return learner, history, pids, roll_s, upd_s


def scaling(args):
    """The same iterations with 1, 2 and 4 workers: env-steps/s while the batches are
    collected (weights broadcast included) and learner updates/s."""
    import ray

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ppo import provenance

    rows = []
    for workers in (1, 2, 4):
        a = parse_args(["--workers", str(workers), "--iterations", str(args.iterations),
                        "--env-id", args.env_id, "--seed", str(args.seed)]
                       + [x for s in args.set for x in ("--set", s)])
        t = {}
        run(a, log=lambda *_: None, timed=t)
        rate, ups = t["env_steps"] / t["rollout_seconds"], t["iterations"] / t["update_seconds"]
        rows.append({"workers": workers, "env_steps_per_s": rate, "updates_per_s": ups, **t})
        print(f"workers {workers}: {rate:,.0f} env-steps/s in rollouts, {ups:.2f} updates/s")
    prov = provenance()
    report = {"command": "python python/examples/ray_grpo.py " + " ".join(sys.argv[1:]),
              "cores": os.cpu_count(), "commit": prov["commit"], "machine": prov["machine"],
              "ray": ray.__version__, "env": args.env_id, "iterations_per_point": args.iterations,
              "timed": "every iteration but the first (the workers' processes start then)",
              "settings": settings(args), "rows": rows}
    with open(args.scaling, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {args.scaling}")


def main():
    args = parse_args()
    if not args.local:
        import ray
        # Each worker asks Ray for one CPU; the scaling run goes to 4 workers, so a local
        # cluster started for it offers at least 4 (on a smaller machine they share cores).
        cpus = max(4, os.cpu_count() or 1) if args.scaling and not args.address else None
        ray.init(address=args.address, num_cpus=cpus, include_dashboard=False,
                 log_to_driver=False)
    if args.scaling:
        scaling(args)
        return 0
    learner, history, _, roll_s, upd_s = run(args)
    ret, success = learner.evaluate(episodes=200)
    print(f"{learner.iteration} iterations, {learner.env_steps} env steps; {roll_s:.1f} s in "
          f"rollouts, {upd_s:.1f} s in updates; 200 unseen seeds: success {success:.1%}, "
          f"mean return {ret:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""PPO with rollout workers as Ray actors: each holds a Spelunk vector env and a copy of the
policy; the driver is the learner (ppo.py's update) and broadcasts the weights every iteration.

    python python/examples/ray_ppo.py --workers 2 --iterations 50             # a local cluster
    python python/examples/ray_ppo.py --address auto ...                      # a running one
    python python/examples/ray_ppo.py --local ...                             # no Ray at all

A rollout is a pure function of its inputs: the weights, the envs' states (snapshots the
previous rollout handed back, so episodes run on across iterations; at first a reset with
`seed(0, worker)`) and a seed for its action generator. The learner keeps the states, not the
workers. So a worker that dies mid-iteration is restarted by Ray and its task run again with
the same inputs — the iteration's batch has each worker's trajectories exactly once — and a run
on Ray equals the same run with `--local` (tests: python/tests/test_ray.py). On several machines,
start Ray on each (`ray start --head` on one, `ray start --address HEAD:6379` on the others)
with the package installed on all, and pass `--address auto`.

`--scaling` measures env-steps/s of the rollouts and learner updates/s with 1, 2 and 4 workers
into a JSON file.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from gymnasium.vector import AutoresetMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppo  # noqa: E402  (the same networks, losses and update)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env-id", default="MiniGrid-DoorKey-5x5-v0")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=8)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    ppo.add_ppo_arguments(p)
    p.add_argument("--local", action="store_true", help="the workers in this process, no Ray")
    p.add_argument("--address", help="a running Ray cluster (default: start a local one)")
    p.add_argument("--scaling", help="measure 1, 2 and 4 workers into this JSON file")
    return p.parse_args(argv)


def rollout_seed(args, iteration, worker):
    return args.seed * 1_000_003 + (iteration * args.workers + worker) * args.envs_per_worker


class RolloutWorker:
    """A Spelunk vector env and a policy copy; `rollout` is a pure function of its inputs."""

    def __init__(self, env_id, num_envs):
        import spelunk
        self.envs = spelunk.make_vec(env_id, num_envs=num_envs, threads=1,
                                     autoreset_mode=AutoresetMode.SAME_STEP)
        self.pid = os.getpid()

    def rollout(self, weights, seed, num_steps, states=None):
        actor, critic = weights
        rng = np.random.default_rng(seed)
        if states is None:
            obs, _ = self.envs.reset(seed=seed)
        else:
            obs, _ = self.envs.restore(states)
        x = ppo.features(obs)
        n = len(x)
        out = {k: np.zeros((num_steps, n)) for k in ("logp", "r", "done", "v")}
        out["x"] = np.zeros((num_steps, n, x.shape[1]))
        out["a"] = np.zeros((num_steps, n), dtype=np.int64)
        done = np.zeros(n)
        successes = []
        for t in range(num_steps):
            out["x"][t], out["done"][t] = x, done
            logp_all = ppo.log_softmax(actor.forward(x)[0])
            p = np.exp(logp_all)
            a = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
            out["a"][t], out["logp"][t] = a, logp_all[np.arange(n), a]
            out["v"][t] = critic.forward(x)[0][:, 0]
            obs, r, term, trunc, _ = self.envs.step(a)
            out["r"][t] = r
            done = np.logical_or(term, trunc).astype(np.float64)
            successes += [float(term[i] and r[i] > 0) for i in np.flatnonzero(done)]
            x = ppo.features(obs)
        out["next_v"], out["next_done"] = critic.forward(x)[0][:, 0], done
        out["successes"], out["pid"] = np.array(successes), self.pid
        out["states"] = self.envs.snapshot()
        return out


class Learner:
    def __init__(self, args, n_features, n_actions):
        rng = np.random.default_rng(args.seed)
        self.actor = ppo.MLP(rng, n_features, n_actions, 0.01)
        self.critic = ppo.MLP(rng, n_features, 1, 1.0)
        self.opt = ppo.Adam(self.actor.params + self.critic.params)
        self.rng = np.random.default_rng(args.seed + 1)
        self.args = args
        self.worker_pids = []  # per iteration, the process each worker's rollout ran in

    def update(self, rollouts, iteration):
        """One PPO update on the workers' rollouts, in worker order."""
        a = self.args
        parts = {k: [] for k in ("x", "a", "logp", "adv", "ret")}
        for o in rollouts:
            adv = ppo.gae(o["r"], o["v"], o["done"], o["next_v"], o["next_done"], a)
            parts["x"].append(o["x"].reshape(-1, o["x"].shape[-1]))
            parts["a"].append(o["a"].reshape(-1))
            parts["logp"].append(o["logp"].reshape(-1))
            parts["adv"].append(adv.reshape(-1))
            parts["ret"].append((adv + o["v"]).reshape(-1))
        b = {k: np.concatenate(v) for k, v in parts.items()}
        lr = a.learning_rate * (1.0 - iteration / a.iterations)
        ppo.ppo_update(self.actor, self.critic, self.opt, b["x"], b["a"], b["logp"], b["adv"],
                       b["ret"], a, self.rng, lr)

    def weights(self):
        return (self.actor, self.critic)


def make_workers(args):
    if args.local:
        return [RolloutWorker(args.env_id, args.envs_per_worker) for _ in range(args.workers)]
    import ray
    remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(RolloutWorker)
    return [remote.remote(args.env_id, args.envs_per_worker) for _ in range(args.workers)]


def run(args, on_submit=None, log=print):
    """Train; returns (learner, per-iteration success rates, seconds in rollouts and updates).

    `on_submit(iteration, workers)` is called once the iteration's rollouts are submitted (the
    tests kill a worker there)."""
    import spelunk
    probe = spelunk.make_vec(args.env_id, num_envs=1)
    n_actions = int(probe.single_action_space.n)
    n_features = ppo.features(probe.reset(seed=0)[0]).shape[1]
    learner = Learner(args, n_features, n_actions)
    workers = make_workers(args)
    rates, roll_s, upd_s = [], 0.0, 0.0
    states = [None] * args.workers
    for it in range(args.iterations):
        t0 = time.perf_counter()
        seeds = [rollout_seed(args, it, w) for w in range(args.workers)]
        if args.local:
            outs = [w.rollout(learner.weights(), s, args.num_steps, st)
                    for w, s, st in zip(workers, seeds, states)]
        else:
            import ray
            weights = ray.put(learner.weights())
            refs = [w.rollout.remote(weights, s, args.num_steps, st)
                    for w, s, st in zip(workers, seeds, states)]
            if on_submit:
                on_submit(it, workers)
            outs = ray.get(refs)
        states = [o["states"] for o in outs]
        learner.worker_pids.append([o["pid"] for o in outs])
        t1 = time.perf_counter()
        learner.update(outs, it)
        t2 = time.perf_counter()
        roll_s, upd_s = roll_s + t1 - t0, upd_s + t2 - t1
        done = np.concatenate([o["successes"] for o in outs])
        rates.append(float(done.mean()) if len(done) else 0.0)
        if (it + 1) % 10 == 0:
            log(f"iteration {it + 1}/{args.iterations}: success {rates[-1]:.2f} over "
                f"{len(done)} episodes")
    if not args.local:
        import ray
        for w in workers:  # their CPUs go back to the cluster
            ray.kill(w)
    return learner, rates, roll_s, upd_s


def scaling(args):
    import ray
    rows = []
    for workers in (1, 2, 4):
        a = parse_args(["--workers", str(workers), "--iterations", "5", "--env-id", args.env_id,
                        "--envs-per-worker", str(args.envs_per_worker),
                        "--num-steps", str(args.num_steps)])
        _, _, roll_s, upd_s = run(a, log=lambda *_: None)
        steps = a.iterations * workers * a.envs_per_worker * a.num_steps
        rows.append({"workers": workers, "env_steps_per_s": steps / roll_s,
                     "updates_per_s": a.iterations / upd_s,
                     "samples_per_update": workers * a.envs_per_worker * a.num_steps})
        print(f"{workers} workers: {steps / roll_s:,.0f} env-steps/s in rollouts, "
              f"{a.iterations / upd_s:.2f} updates/s")
    report = {"command": "python python/examples/ray_ppo.py " + " ".join(sys.argv[1:]),
              "cores": os.cpu_count(),
              "commit": ppo.provenance()["commit"], "machine": ppo.provenance()["machine"],
              "ray": ray.__version__, "env": args.env_id, "iterations_per_point": 5,
              "envs_per_worker": args.envs_per_worker, "num_steps": args.num_steps,
              "rows": rows}
    with open(args.scaling, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {args.scaling}")


def init_ray(address=None, num_cpus=None):
    """Connect to (or start) Ray with this folder importable in the workers (`ppo`)."""
    import ray
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})


def main():
    args = parse_args()
    if not args.local:
        # Each worker asks Ray for one CPU; the scaling run goes to 4 workers, so a local
        # cluster started for it offers at least 4 (on a smaller machine they share cores).
        cpus = max(4, os.cpu_count() or 1) if args.scaling and not args.address else None
        init_ray(args.address, cpus)
    if args.scaling:
        scaling(args)
        return
    _, rates, roll_s, upd_s = run(args)
    print(f"last iteration's success {rates[-1]:.2f}; {roll_s:.1f} s in rollouts, "
          f"{upd_s:.1f} s in updates")


if __name__ == "__main__":
    main()

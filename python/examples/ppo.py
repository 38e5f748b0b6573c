"""PPO in one file, CleanRL-style, on numpy alone: the same script on Spelunk's package or on
the Python `minigrid` package, so the two can be timed against each other.

    python python/examples/ppo.py --backend spelunk --env-id MiniGrid-DoorKey-5x5-v0
    python python/examples/ppo.py --backend minigrid --env-id MiniGrid-DoorKey-5x5-v0
    python python/examples/ppo.py ... --json docs/results/python_ppo_spelunk.json

CleanRL's `ppo.py` recipe: separate actor and critic MLPs (64-64, tanh), GAE, clipped surrogate,
entropy bonus, advantage normalisation per minibatch, global gradient-norm clipping, a linearly
annealed Adam learning rate. The observation is MiniGrid's 7×7×3 view (scaled by 1/10) and a
one-hot of the direction; the vector env autoresets in the same step (Gymnasium's SAME_STEP), as
CleanRL's loop assumes. Success is an episode that ends with a positive reward. It prints the
success rate over the last 100 training episodes as it goes, and at the end evaluates the policy
(sampled actions) on 200 unseen seeds. Gradients are written by hand (checked against finite
differences by `--check-gradients`).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


def add_ppo_arguments(p):
    """The update's settings, CleanRL's defaults (shared with ray_ppo.py)."""
    p.add_argument("--learning-rate", type=float, default=2.5e-4)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--update-epochs", type=int, default=4)
    p.add_argument("--clip-coef", type=float, default=0.2)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["spelunk", "minigrid"], default="spelunk")
    p.add_argument("--env-id", default="MiniGrid-DoorKey-5x5-v0")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--total-timesteps", type=int, default=1_000_000)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="Spelunk's stepping threads")
    add_ppo_arguments(p)
    p.add_argument("--target", type=float, default=0.9, help="success rate to time")
    p.add_argument("--stop-at-target", action="store_true",
                   help="stop training once the last 100 episodes reach --target")
    p.add_argument("--eval-episodes", type=int, default=200)
    p.add_argument("--json", help="write the run's figures here")
    p.add_argument("--check-gradients", action="store_true")
    return p.parse_args()


# ---- environments -----------------------------------------------------------------------------

def make_envs(args):
    if args.backend == "spelunk":
        import spelunk
        return spelunk.make_vec(args.env_id, num_envs=args.num_envs, threads=args.threads,
                                autoreset_mode=AutoresetMode.SAME_STEP)
    import minigrid  # noqa: F401  (registers the ids)
    return gym.vector.SyncVectorEnv([lambda: gym.make(args.env_id)] * args.num_envs,
                                    autoreset_mode=AutoresetMode.SAME_STEP)


def make_env(args):
    if args.backend == "spelunk":
        import spelunk
        return spelunk.make(args.env_id)
    import minigrid  # noqa: F401
    return gym.make(args.env_id)


def features(obs):
    """[n, 151] floats: the 7×7×3 view / 10 and a one-hot direction (batched or one obs)."""
    img = np.asarray(obs["image"], dtype=np.float32)
    direction = np.asarray(obs["direction"]).astype(np.int64)
    if img.ndim == 3:
        img, direction = img[None], direction.reshape(1)
    onehot = np.eye(4, dtype=np.float32)[direction]
    return np.concatenate([img.reshape(len(img), -1) / 10.0, onehot], axis=1)


# ---- networks ---------------------------------------------------------------------------------

class MLP:
    """x → tanh(64) → tanh(64) → out, orthogonal init as CleanRL's `layer_init`."""

    def __init__(self, rng, n_in, n_out, out_std):
        def ortho(rows, cols, std):
            a = rng.standard_normal((max(rows, cols), min(rows, cols)))
            q, r = np.linalg.qr(a)
            q = q * np.sign(np.diag(r))
            q = q if rows >= cols else q.T
            return (std * q[:rows, :cols]).astype(np.float64)
        s = np.sqrt(2.0)
        self.params = [ortho(n_in, 64, s), np.zeros(64), ortho(64, 64, s), np.zeros(64),
                       ortho(64, n_out, out_std), np.zeros(n_out)]

    def forward(self, x):
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        return h2 @ w3 + b3, (x, h1, h2)

    def backward(self, cache, dout):
        x, h1, h2 = cache
        w1, _, w2, _, w3, _ = self.params
        g3, gb3 = h2.T @ dout, dout.sum(0)
        d2 = (dout @ w3.T) * (1 - h2 ** 2)
        g2, gb2 = h1.T @ d2, d2.sum(0)
        d1 = (d2 @ w2.T) * (1 - h1 ** 2)
        g1, gb1 = x.T @ d1, d1.sum(0)
        return [g1, gb1, g2, gb2, g3, gb3]


class Adam:
    def __init__(self, params, eps=1e-5):
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t, self.eps = 0, eps

    def step(self, params, grads, lr, b1=0.9, b2=0.999):
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            mhat = m / (1 - b1 ** self.t)
            vhat = v / (1 - b2 ** self.t)
            p -= lr * mhat / (np.sqrt(vhat) + self.eps)


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def ppo_loss_and_grads(actor, critic, x, actions, old_logp, adv, returns, args):
    """The clipped PPO loss on a minibatch and every parameter's gradient (actor, critic)."""
    n = len(x)
    logits, ca = actor.forward(x)
    values, cc = critic.forward(x)
    values = values[:, 0]
    logp_all = log_softmax(logits)
    p = np.exp(logp_all)
    logp = logp_all[np.arange(n), actions]
    ratio = np.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = np.clip(ratio, 1 - args.clip_coef, 1 + args.clip_coef) * adv
    pg_loss = -np.minimum(unclipped, clipped).mean()
    entropy = -(p * logp_all).sum(axis=1)
    v_loss = 0.5 * ((values - returns) ** 2).mean()
    loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
    # d loss / d logp(a): through the unclipped branch only where it is the minimum.
    active = (unclipped <= clipped).astype(np.float64)
    dlogp = -adv * ratio * active / n
    onehot = np.zeros_like(p)
    onehot[np.arange(n), actions] = 1.0
    dlogits = dlogp[:, None] * (onehot - p)
    # d(-c·H)/d logits_j = c · p_j (log p_j + H)
    dlogits += args.ent_coef * p * (logp_all + entropy[:, None]) / n
    dvalues = (args.vf_coef * (values - returns) / n)[:, None]
    return loss, actor.backward(ca, dlogits), critic.backward(cc, dvalues), entropy.mean()


def check_gradients(args):
    rng = np.random.default_rng(0)
    actor, critic = MLP(rng, 10, 7, 0.5), MLP(rng, 10, 1, 1.0)
    x = rng.standard_normal((6, 10))
    actions = rng.integers(0, 7, 6)
    old_logp = log_softmax(actor.forward(x)[0])[np.arange(6), actions] + rng.normal(0, 0.1, 6)
    adv, returns = rng.standard_normal(6), rng.standard_normal(6)
    _, ga, gc, _ = ppo_loss_and_grads(actor, critic, x, actions, old_logp, adv, returns, args)
    worst = 0.0
    for net, grads in ((actor, ga), (critic, gc)):
        for p, g in zip(net.params, grads):
            for idx in list(np.ndindex(p.shape))[:40]:
                keep = p[idx]
                p[idx] = keep + 1e-6
                up = ppo_loss_and_grads(actor, critic, x, actions, old_logp, adv, returns, args)[0]
                p[idx] = keep - 1e-6
                down = ppo_loss_and_grads(actor, critic, x, actions, old_logp, adv, returns, args)[0]
                p[idx] = keep
                worst = max(worst, abs((up - down) / 2e-6 - g[idx]))
    print(f"largest difference from finite differences: {worst:.2e}")
    return worst < 1e-6


# ---- training ---------------------------------------------------------------------------------

def gae(rewards, values, dones, next_value, next_done, args):
    """Advantages `[steps, envs]`; `dones[t]`: the observation at t starts a new episode."""
    steps = len(rewards)
    adv = np.zeros_like(rewards)
    last = 0.0
    for t in reversed(range(steps)):
        nonterminal = 1.0 - (next_done if t == steps - 1 else dones[t + 1])
        nv = next_value if t == steps - 1 else values[t + 1]
        delta = rewards[t] + args.gamma * nv * nonterminal - values[t]
        last = delta + args.gamma * args.gae_lambda * nonterminal * last
        adv[t] = last
    return adv


def ppo_update(actor, critic, opt, bx, ba, blogp, badv, bret, args, rng, lr):
    """`update_epochs` passes of minibatches over one batch of samples."""
    batch = len(bx)
    minibatch = batch // args.num_minibatches
    params = actor.params + critic.params
    for _ in range(args.update_epochs):
        order = rng.permutation(batch)
        for s in range(0, batch, minibatch):
            mb = order[s : s + minibatch]
            a_mb = badv[mb]
            a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8)
            _, ga, gc, _ = ppo_loss_and_grads(actor, critic, bx[mb], ba[mb], blogp[mb], a_mb,
                                              bret[mb], args)
            grads = ga + gc
            norm = np.sqrt(sum(float((g * g).sum()) for g in grads))
            if norm > args.max_grad_norm:
                grads = [g * (args.max_grad_norm / (norm + 1e-6)) for g in grads]
            opt.step(params, grads, lr)


def evaluate(args, actor, rng):
    env = make_env(args)
    wins = 0
    for k in range(args.eval_episodes):
        obs, _ = env.reset(seed=1_000_000 + k)
        while True:
            logits, _ = actor.forward(features(obs))
            p = np.exp(log_softmax(logits))[0]
            obs, r, term, trunc, _ = env.step(int(rng.choice(len(p), p=p)))
            if term or trunc:
                wins += int(term and r > 0)
                break
    return wins / args.eval_episodes


def main():
    args = parse_args()
    if args.check_gradients:
        sys.exit(0 if check_gradients(args) else 1)
    rng = np.random.default_rng(args.seed)
    envs = make_envs(args)
    n_actions = int(envs.single_action_space.n)
    obs, _ = envs.reset(seed=args.seed)
    x = features(obs)
    actor, critic = MLP(rng, x.shape[1], n_actions, 0.01), MLP(rng, x.shape[1], 1, 1.0)
    params = actor.params + critic.params
    opt = Adam(params)
    batch = args.num_envs * args.num_steps
    iterations = args.total_timesteps // batch
    buf_x = np.zeros((args.num_steps, args.num_envs, x.shape[1]))
    buf_a = np.zeros((args.num_steps, args.num_envs), dtype=np.int64)
    buf_logp, buf_r, buf_done, buf_v = (np.zeros((args.num_steps, args.num_envs)) for _ in range(4))
    done = np.zeros(args.num_envs)
    recent, curve = [], []
    steps, start = 0, time.perf_counter()
    reached = None
    for it in range(1, iterations + 1):
        lr = args.learning_rate * (1.0 - (it - 1.0) / iterations)
        for t in range(args.num_steps):
            buf_x[t], buf_done[t] = x, done
            logits, _ = actor.forward(x)
            logp_all = log_softmax(logits)
            p = np.exp(logp_all)
            a = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
            buf_a[t], buf_logp[t] = a, logp_all[np.arange(len(a)), a]
            buf_v[t] = critic.forward(x)[0][:, 0]
            obs, r, term, trunc, _ = envs.step(a)
            buf_r[t] = r
            done = np.logical_or(term, trunc).astype(np.float64)
            for i in np.flatnonzero(done):
                recent.append(float(term[i] and r[i] > 0))
            recent = recent[-100:]
            x = features(obs)
            steps += args.num_envs
        # GAE, bootstrapped from the value of the observation after the last step.
        next_v = critic.forward(x)[0][:, 0]
        adv = gae(buf_r, buf_v, buf_done, next_v, done, args)
        ret = adv + buf_v
        ppo_update(actor, critic, opt, buf_x.reshape(batch, -1), buf_a.reshape(batch),
                   buf_logp.reshape(batch), adv.reshape(batch), ret.reshape(batch), args, rng, lr)
        secs = time.perf_counter() - start
        rate = float(np.mean(recent)) if recent else 0.0
        curve.append({"steps": steps, "seconds": round(secs, 3), "success_last_100": rate})
        if it % 10 == 0 or it == iterations:
            print(f"iteration {it}/{iterations}: {steps} steps, {secs:.1f} s, success over the "
                  f"last 100 episodes {rate:.2f}", flush=True)
        if reached is None and len(recent) == 100 and rate >= args.target:
            reached = {"steps": steps, "seconds": secs}
            print(f"reached {args.target:.0%} at {steps} steps, {secs:.1f} s", flush=True)
            if args.stop_at_target:
                break
    train_seconds = time.perf_counter() - start
    success = evaluate(args, actor, np.random.default_rng(args.seed + 1))
    print(f"{args.eval_episodes} unseen seeds, sampled actions: success {success:.1%}")
    if args.json:
        report = {
            "provenance": provenance(),
            "backend": args.backend,
            "versions": versions(args.backend),
            "env": args.env_id,
            "settings": {k: v for k, v in vars(args).items() if k not in ("json", "check_gradients")},
            "target": args.target,
            "reached_target": reached,
            "train_steps": steps,
            "train_seconds": train_seconds,
            "eval_episodes": args.eval_episodes,
            "eval_success": success,
            "curve": curve,
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"wrote {args.json}")


def provenance():
    def git(*a):
        try:
            return subprocess.run(["git", *a], capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    commit = git("rev-parse", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         model)
    except OSError:
        pass
    command = "python python/examples/ppo.py " + " ".join(sys.argv[1:])
    return {"command": command, "commit": commit, "machine": f"{os.cpu_count()} cores, {model}"}


def versions(backend):
    out = {"numpy": np.__version__, "gymnasium": gym.__version__}
    if backend == "spelunk":
        import spelunk
        out["spelunk"] = spelunk.__version__
    else:
        import minigrid
        out["minigrid"] = minigrid.__version__
    return out


if __name__ == "__main__":
    main()

"""Spelunk's GRPO/PPO trainer from Python: the Rust core — its rollouts on its own vector envs,
group-relative (GRPO, Dr. GRPO, RLOO) or GAE (PPO) advantages, the clipped loss and Adam —
driven an iteration at a time, with `spelunk train`'s settings, checkpoints and run folders.

    t = spelunk.Trainer(env="MiniGrid-DoorKey-5x5-v0", algorithm="ppo", iterations=200,
                        adam={"lr": 2.5e-4}, loss={"entropy_coef": 0.01})
    for _ in range(50):
        m = t.iterate()                     # {"charts/success_rate": ..., "losses/...": ...}
    ret, success = t.evaluate(episodes=200)
    t.save("ckpt/"); t.resume("ckpt/")
    t = spelunk.Trainer.load_run("runs/doorkey")   # a folder `spelunk train --out` wrote
"""

import json
import math

from . import _spelunk


def _toml_value(v, key):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"spelunk: setting {key} = {v} is not a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, key) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x, key)}" for k, x in v.items()) + "}"
    raise TypeError(f"spelunk: setting {key} = {v!r}: expected a number, string, bool, list "
                    "or dict")


def settings_to_sets(settings, prefix=""):
    """Keyword settings as `spelunk train --set` lines; nested dicts become dotted keys."""
    sets = []
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            sets.extend(settings_to_sets(v, key + "."))
        else:
            sets.append(f"{key}={_toml_value(v, key)}")
    return sets


class Trainer:
    """A training run. `config`: a TOML file as `spelunk train --config` takes (or None: the
    defaults); keyword settings go over it, named as in the file (`env`, `algorithm`, `seed`,
    `iterations`, `group_size`, `policy={"head": "cnn"}`, `adam={"lr": 1e-3}`, ...). Unknown
    keys and invalid values are a ValueError naming them. `sets`: more settings as
    `spelunk train --set` lines (`"adam.lr=1e-3"`), applied after the keyword ones."""

    def __init__(self, config=None, sets=(), **settings):
        self._raw = _spelunk.RawTrainer(None if config is None else str(config),
                                        settings_to_sets(settings) + [str(s) for s in sets])

    @classmethod
    def load_run(cls, run):
        """The trainer of a run folder at its last commit (every file checked)."""
        t = cls.__new__(cls)
        t._raw = _spelunk.RawTrainer.load_run(str(run))
        return t

    def iterate(self):
        """One iteration (rollouts, advantages, update; the GIL released); its metrics."""
        return self._raw.iterate()

    def train(self, iterations, callback=None):
        """`iterations` more iterations; `callback(metrics)` after each may return True to
        stop. Returns the last metrics."""
        m = {}
        for _ in range(int(iterations)):
            m = self.iterate()
            if callback is not None and callback(m):
                break
        return m

    # ---- an iteration split between rollout workers and a learner (ray_grpo.py) ----------

    def policy_weights(self):
        """The policy's parameters as bytes, for `load_policy_weights` on a worker."""
        return self._raw.policy_weights()

    def load_policy_weights(self, weights):
        """Take the parameters another trainer of the same settings gave."""
        self._raw.load_policy_weights(bytes(weights))

    def collect(self, iteration, first_group, groups):
        """A rollout worker's share of `iteration`: groups `first_group` to
        `first_group + groups - 1` of the iteration's `groups_per_step` (the seeds `iterate`
        would use), each `group_size` episodes with the current weights, as bytes for `learn`.
        A pure function of the weights and these arguments, so a lost batch can be asked for
        again. Refused for settings that keep rollout state between iterations (privileged
        starts, tree rollouts, ProGRPO, intrinsic streams, obs_norm)."""
        return self._raw.collect(int(iteration), int(first_group), int(groups))

    def learn(self, batches):
        """The learner's share of an iteration: the workers' batches in group order, their
        advantages and the update; the iteration's metrics."""
        return self._raw.learn([bytes(b) for b in batches])

    def evaluate(self, episodes=100, greedy=False):
        """`(mean return, success rate)` on unseen seeds; the run is not changed by it."""
        return self._raw.evaluate(int(episodes), bool(greedy))

    @property
    def iteration(self):
        return self._raw.iteration()

    @property
    def env_steps(self):
        return self._raw.env_steps()

    @property
    def config(self):
        """Every setting of the run (defaults filled in), as a dict."""
        return json.loads(self._raw.config())

    def save(self, directory):
        """A checkpoint (policy, value head, optimiser moments, generator) in `directory`."""
        self._raw.save(str(directory))

    def resume(self, directory):
        """Continue exactly from a checkpoint `save` wrote for the same settings."""
        self._raw.resume(str(directory))

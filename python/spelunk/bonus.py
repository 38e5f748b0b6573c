"""Exploration bonuses from Python: Spelunk's count, RND, RDD, ICM, BYOL-Explore and Curiosity
in Hindsight modules, fed numpy batches of transitions.

    bonus = spelunk.Bonus("rnd", obs_dim=151, actions=7, seed=0)
    bonus.on_step(obs, next_obs, actions)             # every env step (counts count here)
    r_int = bonus.compute(obs, next_obs, actions)     # [batch] float32
    losses = bonus.update(obs, next_obs, actions)     # {"loss": ...}
    state = bonus.state()                             # and Bonus(...).load_state(state)
"""

import numpy as np

from . import _spelunk

KINDS = ("counts", "rnd", "rdd", "icm", "byol_explore", "hindsight")


class Bonus:
    """One bonus module. `actions` is the number of discrete actions, or a Gymnasium `Box`
    action space for continuous ones (the dynamics bonuses read the actions; the others ignore
    them)."""

    def __init__(self, kind, obs_dim, actions, seed=0):
        if kind not in KINDS:
            raise ValueError(f"spelunk: bonus {kind!r}: expected one of {KINDS}")
        if hasattr(actions, "shape") and not isinstance(actions, (int, np.integer)):
            self._dims = int(np.prod(actions.shape))
            code = -self._dims
        else:
            self._dims = 0
            code = int(actions)
        self.kind, self.obs_dim = kind, int(obs_dim)
        self._code, self._seed = code, int(seed)
        self._raw = _spelunk.RawBonus(kind, self.obs_dim, code, self._seed)

    def _args(self, obs, next_obs, actions):
        o = np.ascontiguousarray(obs, dtype=np.float32)
        no = np.ascontiguousarray(next_obs, dtype=np.float32)
        if o.ndim != 2 or o.shape[1] != self.obs_dim or o.shape != no.shape:
            raise ValueError(
                f"spelunk: obs and next_obs must both be [batch, {self.obs_dim}], got "
                f"{o.shape} and {no.shape}"
            )
        a = np.asarray(actions)
        if self._dims:
            if a.shape != (len(o), self._dims):
                raise ValueError(f"spelunk: actions must be [{len(o)}, {self._dims}], got {a.shape}")
            kw = {"continuous": np.ascontiguousarray(a, dtype=np.float32).ravel(), "dims": self._dims}
        else:
            if a.shape != (len(o),) or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"spelunk: actions must be {len(o)} integers, got {a.dtype} of shape {a.shape}"
                )
            kw = {"discrete": np.ascontiguousarray(a, dtype=np.int64)}
        return o.ravel(), no.ravel(), kw

    def on_step(self, obs, next_obs, actions):
        """The per-step hook, with the newest transition of each env: the count bonus counts
        `next_obs` here (call it once per vector step, before `compute`); the learned modules
        only check the shapes."""
        o, no, kw = self._args(obs, next_obs, actions)
        self._raw.on_step(o, no, **kw)

    def state(self):
        """The module's whole state — networks, optimiser moments, counts — as
        `(module, version, bytes)`, for `load_state` (also what `pickle` saves)."""
        return self._raw.state()

    def load_state(self, state):
        """Put back a `state()` of a module of the same kind and size; anything else is a
        ValueError saying what differs."""
        module, version, data = state
        self._raw.load_state(str(module), int(version), bytes(data))

    def __getstate__(self):
        return {"kind": self.kind, "obs_dim": self.obs_dim, "dims": self._dims,
                "code": self._code, "seed": self._seed, "state": self.state()}

    def __setstate__(self, d):
        self.kind, self.obs_dim, self._dims = d["kind"], d["obs_dim"], d["dims"]
        self._code, self._seed = d["code"], d["seed"]
        self._raw = _spelunk.RawBonus(self.kind, self.obs_dim, self._code, self._seed)
        self.load_state(d["state"])

    def compute(self, obs, next_obs, actions):
        """The bonus of each transition, `[batch]` float32."""
        o, no, kw = self._args(obs, next_obs, actions)
        return self._raw.compute(o, no, **kw)

    def update(self, obs, next_obs, actions):
        """Train the module on the transitions; returns its losses by name."""
        o, no, kw = self._args(obs, next_obs, actions)
        return dict(self._raw.update(o, no, **kw))

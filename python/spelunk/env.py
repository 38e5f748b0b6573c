"""One Spelunk environment as a `gymnasium.Env`."""

import json

import gymnasium
import numpy as np

from . import _spelunk
from .spaces import Layout, to_gymnasium


def _config_json(config):
    try:
        return json.dumps(config)
    except TypeError as e:
        raise TypeError(f"spelunk: the env config must be JSON-like values: {e}") from None


def check_action(space, action, where="action"):
    """The action as the kind and value the Rust env takes, or a ValueError naming the space."""
    if isinstance(space, gymnasium.spaces.Discrete):
        a = np.asarray(action)
        if a.shape != () or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"spelunk: {where} must be one integer of {space}, got {action!r}")
        return "discrete", int(a)
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        a = np.asarray(action)
        if a.shape != space.shape or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"spelunk: {where} must be integers of shape {space.shape} for {space}, got "
                f"{a.dtype} of shape {a.shape}"
            )
        return "multi", np.ascontiguousarray(a, dtype=np.int64).ravel()
    if isinstance(space, gymnasium.spaces.Box):
        a = np.asarray(action)
        if a.shape != space.shape or not (
            np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
        ):
            raise ValueError(
                f"spelunk: {where} must be numbers of shape {space.shape} for {space}, got "
                f"{a.dtype} of shape {a.shape}"
            )
        return "continuous", np.ascontiguousarray(a, dtype=np.float32).ravel()
    raise ValueError(f"spelunk: action space {space} is not supported")


class SpelunkEnv(gymnasium.Env):
    """A registered Spelunk environment: `SpelunkEnv("MiniGrid-DoorKey-8x8-v0", **config)`.

    `config` holds the env's own settings (those `spelunk_envs` documents for the id, e.g.
    `max_steps`), as `gymnasium.make("spelunk/<id>", **config)` passes them. Observations are
    copies; `snapshot()`/`restore()` save and restore the whole state exactly."""

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 10}

    def __init__(self, env_id, render_mode=None, **config):
        self._raw = _spelunk.RawEnv(env_id, _config_json(config))
        # What this env draws: a frame (`rgb_array`), text (`ansi`) or both.
        self._raw.reset(0, None)
        modes = [m for m, f in (("rgb_array", self._raw.render_rgb),
                                ("ansi", self._raw.render_text)) if f() is not None]
        self.metadata = {**SpelunkEnv.metadata, "render_modes": modes}
        if render_mode is not None and render_mode not in modes:
            raise ValueError(
                f"spelunk: render_mode {render_mode!r}: {env_id} offers {modes} (or None)"
            )
        self.env_id = env_id
        self.render_mode = render_mode
        self._layout = Layout(self._raw.observation_space(), self._raw.obs_dtype())
        self.observation_space = self._layout.space
        self.action_space = to_gymnasium(self._raw.action_space())

    def reset(self, *, seed=None, options=None):
        # Gymnasium's `np_random` is seeded alongside (used by `action_space.sample` callers
        # that share it); the env's own dynamics draw from its Rust generator.
        super().reset(seed=seed)
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"spelunk: seed must be a non-negative integer, got {seed!r}")
        opts = None if options is None else _config_json(options)
        flat, info = self._raw.reset(None if seed is None else int(seed), opts)
        return self._layout.read(flat), info

    def step(self, action):
        kind, value = check_action(self.action_space, action)
        if kind == "discrete":
            out = self._raw.step_discrete(value)
        elif kind == "multi":
            out = self._raw.step_multi(value)
        else:
            out = self._raw.step_continuous(value)
        flat, reward, terminated, truncated, info = out
        return self._layout.read(flat), float(reward), bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode == "rgb_array":
            return self._raw.render_rgb()
        if self.render_mode == "ansi":
            return self._raw.render_text()
        return None

    def snapshot(self):
        """The full state, to `restore` later (on this env or another of the same id)."""
        return self._raw.snapshot()

    def restore(self, snapshot):
        """Go back to a `snapshot()`; returns the observation there."""
        kind, data = snapshot
        self._raw.restore(kind, data)
        return self._layout.read(self._raw.observe())

    @property
    def mission(self):
        """The current instruction, for envs that have one."""
        return self._raw.mission()


def make(env_id, **config):
    """`SpelunkEnv(env_id, **config)` without going through Gymnasium's registry."""
    return SpelunkEnv(env_id, **config)

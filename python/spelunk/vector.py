"""Many Spelunk environments as one `gymnasium.vector.VectorEnv`, stepped in Rust threads."""

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import _spelunk
from .env import _config_json, check_action
from .spaces import Layout, to_gymnasium

_MODES = {
    AutoresetMode.NEXT_STEP: "next_step",
    AutoresetMode.SAME_STEP: "same_step",
    AutoresetMode.DISABLED: "disabled",
}


class SpelunkVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` copies of one environment, stepped by `threads` threads (the caller's
    included) with the GIL released.

    The observation, reward, termination and truncation arrays a step returns are read-only
    numpy views of the vector env's own buffers (no copy): the next step rewrites them, so
    copy what you keep. Env i is seeded `seed + i` on a seeded reset. `autoreset_mode` is one of
    Gymnasium's `AutoresetMode`s (default `NEXT_STEP`, as Gymnasium's own vector envs)."""

    def __init__(
        self,
        env_id,
        num_envs=1,
        threads=1,
        autoreset_mode=AutoresetMode.NEXT_STEP,
        render_mode=None,
        **config,
    ):
        mode = AutoresetMode(autoreset_mode)
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"spelunk: num_envs must be a positive integer, got {num_envs!r}")
        if not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"spelunk: threads must be a positive integer, got {threads!r}")
        self._raw = _spelunk.RawVecEnv(
            env_id, _config_json(config), int(num_envs), int(threads), _MODES[mode]
        )
        self.env_id = env_id
        self.num_envs = int(num_envs)
        self.threads = int(threads)
        self.render_mode = render_mode
        self.metadata = {"autoreset_mode": mode, "render_modes": ["rgb_array"]}
        self._layout = Layout(self._raw.observation_space(), self._raw.obs_dtype(), views=True)
        self.single_observation_space = self._layout.space
        self.single_action_space = to_gymnasium(self._raw.action_space())
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        flat = self._raw.obs_view()
        rewards, terminated, truncated = self._raw.step_views()
        for a in (flat, rewards, terminated, truncated):
            a.flags.writeable = False
        self._flat, self._rewards = flat, rewards
        self._terminated, self._truncated = terminated, truncated
        # Views into the flat buffer, made once: every step only rewrites what they show.
        self._obs = self._layout.read(self._flat, batched=True, copy=False)
        self._needs_copy = _reads_by_copy(self._layout.spec, self._layout.dtype, self._layout.views)
        space = self.single_action_space
        if isinstance(space, gymnasium.spaces.Discrete):
            self._kind, self._dims = "discrete", 1
        elif isinstance(space, gymnasium.spaces.MultiDiscrete):
            self._kind, self._dims = "multi", int(np.prod(space.shape))
        elif isinstance(space, gymnasium.spaces.Box):
            self._kind, self._dims = "continuous", int(np.prod(space.shape))
        else:
            raise ValueError(f"spelunk: action space {space} is not supported")

    def _observation(self):
        if self._needs_copy:  # members whose type differs from the buffer's
            return self._layout.read(self._flat, batched=True, copy=False)
        return self._obs

    def reset(self, *, seed=None, options=None):
        if options is not None:
            raise ValueError("spelunk: vector reset takes no options; give them to make_vec")
        if seed is None or isinstance(seed, (int, np.integer)):
            if seed is not None and seed < 0:
                raise ValueError(f"spelunk: seed must be non-negative, got {seed}")
            self._raw.reset(None if seed is None else int(seed))
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"spelunk: {len(seeds)} seeds for {self.num_envs} envs; give one per env"
                )
            for i, s in enumerate(seeds):
                self._raw.reset_env(i, None if s is None else int(s))
        if seed is not None:
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(
                seed if isinstance(seed, (int, np.integer)) else None
            )
        return self._observation(), self._raw.info_arrays()

    def step(self, actions):
        a = np.asarray(actions)
        n = self.num_envs
        if self._kind == "discrete":
            if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"spelunk: actions must be {n} integers for {self.action_space}, got "
                    f"{a.dtype} of shape {a.shape}"
                )
            self._raw.step_discrete(np.ascontiguousarray(a, dtype=np.int64))
        else:
            want = self.action_space.shape
            ok = np.issubdtype(a.dtype, np.integer) or (
                self._kind == "continuous" and np.issubdtype(a.dtype, np.floating)
            )
            if a.shape != want or not ok:
                raise ValueError(
                    f"spelunk: actions must have shape {want} for {self.action_space}, got "
                    f"{a.dtype} of shape {a.shape}"
                )
            if self._kind == "multi":
                flat = np.ascontiguousarray(a, dtype=np.int64).ravel()
                self._raw.step_multi(flat, self._dims)
            else:
                flat = np.ascontiguousarray(a, dtype=np.float32).ravel()
                self._raw.step_continuous(flat, self._dims)
        infos = self._raw.info_arrays()
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            self._add_final(infos)
        return self._observation(), self._rewards, self._terminated, self._truncated, infos

    def _add_final(self, infos):
        ended = np.logical_or(self._terminated, self._truncated)
        if not ended.any():
            return
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_info = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(ended):
            got = self._raw.final_step(int(i))
            if got is not None:
                flat, info = got
                final_obs[i] = self._layout.read(flat)
                final_info[i] = info
        infos["final_obs"], infos["_final_obs"] = final_obs, ended.copy()
        infos["final_info"], infos["_final_info"] = final_info, ended.copy()

    def snapshot(self):
        """Every env's full state, to `restore` later (here or in another vector env of the
        same id and config)."""
        return [self._raw.snapshot_env(i) for i in range(self.num_envs)]

    def restore(self, snapshots):
        """Put every env back in a `snapshot()` state; returns the observations and infos, as
        `reset` does (the episodes go on from there)."""
        if len(snapshots) != self.num_envs:
            raise ValueError(
                f"spelunk: {len(snapshots)} snapshots for {self.num_envs} envs; give one per env"
            )
        for i, (kind, data) in enumerate(snapshots):
            self._raw.restore_env(i, kind, data)
        return self._observation(), self._raw.info_arrays()

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return tuple(self._raw.render_rgb(i) for i in range(self.num_envs))

    def close_extras(self, **kwargs):
        # The Rust vector env (and its threads) goes when the last view of its buffers does.
        self._raw = None


def _reads_by_copy(spec, dtype, views):
    kind, body = next(iter(spec.items()))
    if kind == "Dict":
        return any(_reads_by_copy(s, dtype, views) for _, s in body)
    if kind == "Box":
        return {"U8": np.uint8, "F32": np.float32}[body["dtype"]] != dtype
    if kind in ("Discrete", "MultiDiscrete"):
        return not views
    return kind in ("MultiBinary", "Text")


def make_vec(env_id, num_envs=1, threads=1, autoreset_mode=AutoresetMode.NEXT_STEP, **config):
    """`SpelunkVectorEnv(env_id, num_envs, threads, autoreset_mode, **config)`."""
    return SpelunkVectorEnv(
        env_id, num_envs=num_envs, threads=threads, autoreset_mode=autoreset_mode, **config
    )

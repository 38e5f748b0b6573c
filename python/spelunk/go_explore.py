"""Go-Explore from Python: Spelunk's explorer (phase 1 — select a cell, return to it by
restoring its snapshot, explore, admit new or better cells) on any env id, level file or
config, with its archive open to reading.

    ge = spelunk.GoExplore("Montezuma-Lite-v0", cells="domain", seed=0)
    ge.run(until_solved=True, max_frames=5_000_000)
    ge.cells()                  # one dict per cell: position, score, visits, trajectory length
    ge.trajectory(i)            # the actions that reach cell i from reset(seed=ge.reset_seed)
    env.unwrapped.restore(ge.snapshot(i))   # cell i's state, exactly
    ge.save_demo("demo.json")   # the solving episode, for `spelunk train` and `spelunk replay`
    ge.save("run.ckpt"); ge.load("run.ckpt")
"""

from . import _spelunk
from .env import _config_json


class GoExplore:
    """A Go-Explore run on `env_id` (with the env's own settings as keyword arguments, e.g.
    `level="my_level.txt"`).

    `cells`: `"domain"` (level, room, position in `cell_size`-tile squares and items, read from
    the env's info) or `"pixels"` (downscaled grey frames; `downscale="11x8x8"` fixes the
    size, otherwise it is chosen and re-fitted as the run goes). `batch` cells are explored
    from per iteration, each for up to `explore_steps` steps repeating the previous action with
    probability `repeat_prob`, on `threads` threads (0: every core) — the results do not depend
    on the thread count."""

    def __init__(self, env_id, cells="domain", cell_size=1, downscale=None, seed=0, threads=0,
                 batch=16, explore_steps=100, repeat_prob=0.95, **config):
        self.env_id = env_id
        self._raw = _spelunk.RawGoExplore(env_id, _config_json(config), cells, int(cell_size),
                                          downscale, int(seed), int(threads), int(batch),
                                          int(explore_steps), float(repeat_prob))

    def iterate(self):
        """One iteration; returns `stats()` after it."""
        return self._raw.iterate()

    def run(self, iterations=None, max_frames=None, until_solved=False, callback=None):
        """Iterate until `iterations` more iterations, `max_frames` frames in all, or (with
        `until_solved`) a successful episode; `callback(stats)` after each iteration may return
        True to stop. Returns the last stats."""
        if iterations is None and max_frames is None and not until_solved:
            raise ValueError("spelunk: GoExplore.run needs iterations, max_frames or until_solved")
        stats, done = self.stats(), 0
        while True:
            if iterations is not None and done >= iterations:
                break
            if max_frames is not None and stats["frames"] >= max_frames:
                break
            if until_solved and stats["solved"]:
                break
            stats = self.iterate()
            done += 1
            if callback is not None and callback(stats):
                break
        return stats

    def stats(self):
        """iteration, frames, cells, rooms, max_score, solved."""
        return self._raw.stats()

    @property
    def cell_representation(self):
        """The cell function's name, e.g. `domain/1` or `pixels/11x8x8`."""
        return self._raw.cell_fn()

    @property
    def reset_seed(self):
        """The seed of the start state every trajectory begins from."""
        return self._raw.reset_seed()

    def cells(self):
        """The archive: per cell (in the order cells were found) its `level`, `position`
        (room, x, y in cells, or None), `items`, `key` (pixel cells' bytes), `score`,
        `trajectory_len`, `times_chosen`, `times_chosen_since_new`, `times_seen`, `done`,
        `room` and `found_at` (the iteration)."""
        return self._raw.cells()

    def trajectory(self, i):
        """The actions (a list of ints) that reach cell `i` from `reset(seed=reset_seed)`."""
        return list(self._raw.trajectory(int(i)))

    def snapshot(self, i):
        """Cell `i`'s state, for `SpelunkEnv.restore` on an env of the same id and config."""
        return self._raw.snapshot(int(i))

    def solved(self):
        """The best successful episode so far as `{"score", "actions", "frames"}`, or None."""
        s = self._raw.solved()
        return None if s is None else {"score": s[0], "actions": list(s[1]), "frames": s[2]}

    def save_demo(self, path):
        """Write the solving episode as a demo file; False when nothing is solved yet."""
        return self._raw.save_demo(str(path))

    def save(self, path):
        """A checkpoint of the whole run (archive, snapshots, generator state)."""
        self._raw.save(str(path))

    def load(self, path):
        """Continue from a checkpoint `save` wrote with the same env, cells and seed."""
        self._raw.load(str(path))

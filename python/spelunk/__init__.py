"""Spelunk's environments behind Gymnasium's API.

    import gymnasium as gym
    import spelunk

    env = gym.make("spelunk/MiniGrid-DoorKey-8x8-v0")            # any id of spelunk.env_ids()
    envs = spelunk.make_vec("MiniGrid-DoorKey-8x8-v0", num_envs=256, threads=2)

The environments run in Rust (the `spelunk._spelunk` extension module); this package turns
their spaces into Gymnasium spaces and their flat observation buffers into numpy arrays.
"""

from importlib.metadata import PackageNotFoundError, version as _dist_version

from . import _spelunk
from .bonus import Bonus
from .env import SpelunkEnv, make
from .go_explore import GoExplore
from .spaces import to_gymnasium
from .trainer import Trainer
from .vector import SpelunkVectorEnv, make_vec

__all__ = ["Bonus", "GoExplore", "SpelunkEnv", "SpelunkVectorEnv", "Trainer", "env_ids", "make",
           "make_vec", "to_gymnasium"]

__version__ = _spelunk.__version__


def _check_versions():
    # The Python files and the compiled module come from one build; a wheel of another version
    # half-installed over them would call functions that are not there.
    try:
        installed = _dist_version("spelunk")
    except PackageNotFoundError:  # run from a source tree
        return
    if installed != _spelunk.__version__:
        raise ImportError(
            f"spelunk: the package is version {installed} but its compiled module is "
            f"{_spelunk.__version__}; reinstall the wheel (pip install --force-reinstall)"
        )


_check_versions()


def env_ids():
    """Every registered environment id, sorted."""
    return list(_spelunk.env_ids())


def _register():
    import gymnasium

    for env_id in _spelunk.env_ids():
        name = f"spelunk/{env_id}"
        if name not in gymnasium.registry:
            gymnasium.register(
                id=name,
                entry_point="spelunk.env:SpelunkEnv",
                kwargs={"env_id": env_id},
                vector_entry_point="spelunk.vector:SpelunkVectorEnv",
                disable_env_checker=True,
                order_enforce=False,
            )


_register()

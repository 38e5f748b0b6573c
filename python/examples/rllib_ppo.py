"""RLlib's PPO on a Spelunk environment: register the env with Ray Tune's registry, build RLlib's
PPO (its new API stack, torch) and train.

    pip install "ray[rllib]==2.60.*" torch target/wheels/spelunk-*.whl
    python python/examples/rllib_ppo.py --env-id MiniGrid-DoorKey-5x5-v0 --iterations 20
    python python/examples/rllib_ppo.py ... --address auto    # an existing Ray cluster

The creator runs inside each of RLlib's env-runner processes, so it imports `spelunk` there
(the package must be installed on every node). MiniGrid's dict observation (the 7×7×3 view and
the direction) is flattened to one float32 vector with Gymnasium's `FlattenObservation` and
`DtypeObservation`, which RLlib's default MLP module takes. Prints, per iteration, the env steps so far and the mean return of
recent episodes (RLlib's `episode_return_mean`); `--json` writes them.
"""

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np


def make_spelunk_env(config):
    """RLlib's env creator: `config` is RLlib's `EnvContext` (a dict with the worker's index);
    `env_id` picks the env, the other keys are the env's own settings."""
    import spelunk  # noqa: F401  (registers spelunk/<id> in this process)

    settings = {k: v for k, v in dict(config).items() if k != "env_id"}
    env = gym.make(f"spelunk/{config['env_id']}", **settings)
    if isinstance(env.observation_space, gym.spaces.Dict):
        env = gym.wrappers.FlattenObservation(env)
    # RLlib's torch modules take float32 (the flattened view is integers).
    return gym.wrappers.DtypeObservation(env, np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env-id", default="MiniGrid-DoorKey-5x5-v0")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--env-runners", type=int, default=1)
    p.add_argument("--envs-per-runner", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    p.add_argument("--json", help="write the learning curve here")
    args = p.parse_args()

    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env

    ray.init(address=args.address, include_dashboard=False)
    register_env("spelunk", make_spelunk_env)
    config = (
        PPOConfig()
        .environment("spelunk", env_config={"env_id": args.env_id})
        .env_runners(num_env_runners=args.env_runners,
                     num_envs_per_env_runner=args.envs_per_runner,
                     rollout_fragment_length=128)
        .training(train_batch_size_per_learner=max(1, args.env_runners) * args.envs_per_runner * 128,
                  minibatch_size=256, num_epochs=4, lr=2.5e-4, entropy_coeff=0.01,
                  gamma=0.99, lambda_=0.95, clip_param=0.2, grad_clip=0.5)
        .rl_module(model_config={"fcnet_hiddens": [64, 64], "fcnet_activation": "tanh"})
        .debugging(seed=args.seed)
    )
    algo = config.build_algo()
    curve, start = [], time.perf_counter()
    for i in range(args.iterations):
        result = algo.train()
        runners = result.get("env_runners", {})
        steps = result.get("num_env_steps_sampled_lifetime",
                           runners.get("num_env_steps_sampled_lifetime", 0))
        ret = runners.get("episode_return_mean", float("nan"))
        row = {"iteration": i + 1, "env_steps": int(steps), "seconds": time.perf_counter() - start,
               "episode_return_mean": None if ret is None or np.isnan(ret) else float(ret)}
        curve.append(row)
        print(f"iteration {i + 1}: {row['env_steps']} env steps, mean return {ret:.3f}, "
              f"{row['seconds']:.1f} s", flush=True)
    algo.stop()
    ray.shutdown()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": args.env_id, "curve": curve, "argv": sys.argv[1:]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

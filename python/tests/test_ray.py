"""Rollout workers on Ray (python/examples/ray_ppo.py, numpy PPO; ray_grpo.py, the Rust
GRPO/PPO core) against the same runs in one process.

    python python/tests/test_ray.py        # needs `pip install ray`; starts a local cluster

A run on a local Ray cluster with 2 workers equals, parameter for parameter, the run with the
workers in this process; and so does a run in which a worker is killed while its rollout is in
flight (Ray restarts it and runs the task again: no trajectory lost or counted twice).
"""

import os
import sys

import numpy as np
import ray

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import ray_grpo  # noqa: E402
import ray_ppo  # noqa: E402


def params(learner):
    return learner.actor.params + learner.critic.params


def killer(at, killed):
    """An `on_submit` that kills worker 0 while iteration `at`'s rollouts are in flight."""
    def kill(iteration, workers):
        if iteration == at:
            ray.kill(workers[0], no_restart=False)
            killed.append(iteration)
    return kill


def test_ray_equals_one_process_and_survives_a_killed_worker():
    flags = ["--iterations", "4", "--workers", "2", "--envs-per-worker", "4", "--num-steps", "200"]
    local, local_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags + ["--local"]), log=lambda *_: None)
    ray_ppo.init_ray()
    try:
        remote, remote_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags), log=lambda *_: None)
        assert remote_rates == local_rates
        assert all(np.array_equal(a, b) for a, b in zip(params(local), params(remote)))

        killed = []
        again, again_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags),
                                             on_submit=killer(2, killed), log=lambda *_: None)
        assert killed == [2]
        pids = [p[0] for p in again.worker_pids]
        # Iteration 2's rollout of worker 0 ran again in the restarted process (had the kill
        # come after it finished, its result would name the old one).
        assert pids[0] == pids[1] != pids[2] == pids[3], pids
        assert again_rates == local_rates
        assert all(np.array_equal(a, b) for a, b in zip(params(local), params(again)))
    finally:
        ray.shutdown()


def test_rust_core_on_ray_equals_one_process_and_survives_a_killed_worker():
    # 3 workers over the 16 groups of an iteration (ranges of 6, 5 and 5 groups), GRPO and PPO.
    for algorithm in ("grpo", "ppo"):
        flags = ["--iterations", "4", "--workers", "3", "--set", f'algorithm="{algorithm}"']
        local, local_m, *_ = ray_grpo.run(ray_grpo.parse_args(flags + ["--local"]),
                                          log=lambda *_: None)
        ray_ppo.init_ray(num_cpus=4)  # 3 one-CPU actors (sharing this machine's cores)
        try:
            remote, remote_m, *_ = ray_grpo.run(ray_grpo.parse_args(flags), log=lambda *_: None)
            assert remote_m == local_m, algorithm
            assert remote.policy_weights() == local.policy_weights(), algorithm
            killed = []
            again, again_m, pids, *_ = ray_grpo.run(ray_grpo.parse_args(flags),
                                                    on_submit=killer(2, killed),
                                                    log=lambda *_: None)
            assert killed == [2]
            first = [p[0] for p in pids]
            assert first[0] == first[1] != first[2] == first[3], first
            assert again_m == local_m, algorithm
            assert again.policy_weights() == local.policy_weights(), algorithm
            assert again.env_steps == local.env_steps
        finally:
            ray.shutdown()
    # Learning: the split run solves Empty-5x5 as `iterate` does.
    _, history, *_ = ray_grpo.run(ray_grpo.parse_args(["--iterations", "12", "--local"]),
                                  log=lambda *_: None)
    assert history[-1]["charts/success_rate"] >= history[0]["charts/success_rate"] + 0.3, history


if __name__ == "__main__":
    from runner import main

    main(globals())

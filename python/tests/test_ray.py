"""Rollout workers on Ray (python/examples/ray_ppo.py) against the same run in one process.

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
import ray_ppo  # noqa: E402


def params(learner):
    return learner.actor.params + learner.critic.params


def test_ray_equals_one_process_and_survives_a_killed_worker():
    flags = ["--iterations", "4", "--workers", "2", "--envs-per-worker", "4", "--num-steps", "200"]
    local, local_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags + ["--local"]), log=lambda *_: None)
    ray_ppo.init_ray()
    try:
        remote, remote_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags), log=lambda *_: None)
        assert remote_rates == local_rates
        assert all(np.array_equal(a, b) for a, b in zip(params(local), params(remote)))

        killed = []

        def kill(iteration, workers):
            if iteration == 2:
                ray.kill(workers[0], no_restart=False)  # mid-iteration: its rollout in flight
                killed.append(iteration)

        again, again_rates, *_ = ray_ppo.run(ray_ppo.parse_args(flags), on_submit=kill,
                                             log=lambda *_: None)
        assert killed == [2]
        pids = [p[0] for p in again.worker_pids]
        # Iteration 2's rollout of worker 0 ran again in the restarted process (had the kill
        # come after it finished, its result would name the old one).
        assert pids[0] == pids[1] != pids[2] == pids[3], pids
        assert again_rates == local_rates
        assert all(np.array_equal(a, b) for a, b in zip(params(local), params(again)))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    test_ray_equals_one_process_and_survives_a_killed_worker()
    print("ok   test_ray_equals_one_process_and_survives_a_killed_worker")

"""Go-Explore and the GRPO/PPO trainer from Python, against the Rust library's own guarantees.

    python python/tests/test_library.py        # (or pytest) after installing the wheel

Go-Explore solves Montezuma-Lite and every archived cell's actions replay to its snapshot; its
archive does not depend on the thread count and a checkpoint resumes the same run. The trainer
is the same at any thread count, resumes exactly from a checkpoint and learns; bad settings are
exceptions naming them.
"""

import tempfile

import numpy as np

import spelunk


def same_obs(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_obs(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_go_explore_solves_montezuma_lite_and_its_cells_replay():
    ge = spelunk.GoExplore("Montezuma-Lite-v0", seed=0, threads=2)
    stats = ge.run(until_solved=True, max_frames=8_000_000)
    assert stats["solved"] and stats["rooms"] > 1, stats
    solved = ge.solved()
    env = spelunk.make("Montezuma-Lite-v0")
    env.reset(seed=ge.reset_seed)
    total, terminated, info = 0.0, False, {}
    for a in solved["actions"]:
        _, r, terminated, _, info = env.step(a)
        total += r
    assert terminated and info["is_success"] and total == solved["score"], (total, solved)
    # Each cell's trajectory reaches the state its snapshot holds (sampled cells).
    cells = ge.cells()
    assert len(cells) == stats["cells"]
    for i in np.random.default_rng(0).choice(len(cells), size=20, replace=False):
        obs, _ = env.reset(seed=ge.reset_seed)
        for a in ge.trajectory(i):
            obs, *_ = env.step(a)
        other = spelunk.make("Montezuma-Lite-v0")
        other.reset(seed=1)
        assert same_obs(obs, other.unwrapped.restore(ge.snapshot(i))), i
        assert len(ge.trajectory(i)) == cells[i]["trajectory_len"]
    with tempfile.TemporaryDirectory() as d:
        assert ge.save_demo(f"{d}/demo.json")


def test_go_explore_is_the_same_at_any_thread_count_and_resumes():
    one = spelunk.GoExplore("Montezuma-Lite-v0", seed=4, threads=1, batch=8)
    two = spelunk.GoExplore("Montezuma-Lite-v0", seed=4, threads=2, batch=8)
    one.run(iterations=150)
    two.run(iterations=150)
    assert one.cells() == two.cells() and one.stats() == two.stats()
    with tempfile.TemporaryDirectory() as d:
        one.save(f"{d}/run.ckpt")
        again = spelunk.GoExplore("Montezuma-Lite-v0", seed=4, threads=2, batch=8)
        again.load(f"{d}/run.ckpt")
        assert again.stats() == one.stats()
        assert again.run(iterations=20) == one.run(iterations=20)
        assert again.cells() == one.cells()
        open(f"{d}/bad.ckpt", "wb").write(b"not an archive")
        try:
            again.load(f"{d}/bad.ckpt")
        except ValueError as e:
            assert "bad.ckpt" in str(e), e
        else:
            raise AssertionError("a corrupt checkpoint loaded")
    for bad in (lambda: spelunk.GoExplore("MiniGrid-Bandit-v0"),
                lambda: spelunk.GoExplore("Montezuma-Lite-v0", cells="voxels"),
                lambda: spelunk.GoExplore("Montezuma-Lite-v0", repeat_prob=2.0),
                lambda: one.trajectory(10**6)):
        try:
            bad()
        except ValueError:
            pass
        else:
            raise AssertionError("no error")


def test_trainer_is_thread_count_independent_resumes_and_learns():
    a = spelunk.Trainer(env="MiniGrid-Empty-5x5-v0", seed=3, threads=1)
    b = spelunk.Trainer(env="MiniGrid-Empty-5x5-v0", seed=3, threads=2)
    _, untrained = a.evaluate(100)
    assert [a.iterate() for _ in range(4)] == [b.iterate() for _ in range(4)]
    with tempfile.TemporaryDirectory() as d:
        a.save(d)
        c = spelunk.Trainer(env="MiniGrid-Empty-5x5-v0", seed=3)
        c.resume(d)
        assert c.iteration == a.iteration and a.iterate() == c.iterate()
    a.train(6)
    _, trained = a.evaluate(100)
    assert trained >= untrained + 0.3, (untrained, trained)
    ppo = spelunk.Trainer(env="MiniGrid-Empty-5x5-v0", algorithm="ppo", adam={"lr": 1e-3},
                          policy={"hidden": [32, 32]})
    assert ppo.config["algorithm"] == "ppo" and ppo.config["policy"]["hidden"] == [32, 32]
    assert ppo.iterate()["iteration"] == 1 and ppo.env_steps > 0
    for bad, word in ((lambda: spelunk.Trainer(nope=1), "nope"),
                      (lambda: spelunk.Trainer(env="MiniGrid-Nope-v0"), "MiniGrid-Nope-v0"),
                      (lambda: spelunk.Trainer(adam={"lr": float("nan")}), "adam.lr"),
                      (lambda: a.resume("/nonexistent/ckpt"), "/nonexistent/ckpt")):
        try:
            bad()
        except ValueError as e:
            assert word in str(e), (word, e)
        else:
            raise AssertionError(f"no error for {word}")


if __name__ == "__main__":
    from runner import main

    main(globals())

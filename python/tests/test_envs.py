"""The Python package against Gymnasium's contract and against itself.

    python python/tests/test_envs.py        # (or pytest) after installing the wheel

Every registered id passes Gymnasium's `check_env`; the vector env steps exactly as single envs
with seeds `seed + i` do, in every autoreset mode, and hands back views (no copy); snapshots
restore exactly; bad input is a Python exception that names what was expected.
"""

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import spelunk


def flat(obs):
    if isinstance(obs, dict):
        return [x for k in sorted(obs) for x in flat(obs[k])]
    if isinstance(obs, str):
        return [obs]
    return [np.asarray(obs).copy()]


def same(a, b):
    fa, fb = flat(a), flat(b)
    return len(fa) == len(fb) and all(
        (x == y) if isinstance(x, str) else np.array_equal(x, y) for x, y in zip(fa, fb)
    )


def test_every_id_passes_check_env():
    ids = spelunk.env_ids()
    assert len(ids) >= 40, ids
    for env_id in ids:
        modes = spelunk.make(env_id).metadata["render_modes"]
        env = gym.make(f"spelunk/{env_id}", render_mode=modes[0] if modes else None)
        try:
            check_env(env.unwrapped, skip_render_check=False)
        except Exception as e:
            raise AssertionError(f"{env_id}: {e}") from e
        env.close()


def test_episodes_are_deterministic_and_in_their_spaces():
    for env_id in spelunk.env_ids():
        runs = []
        for _ in range(2):
            env = spelunk.make(env_id)
            env.action_space.seed(7)
            obs, _ = env.reset(seed=11)
            trace = [obs]
            for _ in range(60):
                obs, r, term, trunc, info = env.step(env.action_space.sample())
                assert env.observation_space.contains(obs), (env_id, obs, env.observation_space)
                trace.append((obs, r, term, trunc))
                if term or trunc:
                    obs, _ = env.reset()
            runs.append(trace)
        for x, y in zip(*runs):
            if isinstance(x, tuple):
                assert same(x[0], y[0]) and x[1:] == y[1:], env_id
            else:
                assert same(x, y), env_id


def step_singles(env_id, n, seed, actions, mode):
    """What the vector env must give: n single envs seeded seed + i, autoreset by hand."""
    envs = [spelunk.make(env_id) for _ in range(n)]
    obs = [e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]
    done = [False] * n
    out = []
    for a in actions:
        row = []
        for i, e in enumerate(envs):
            if mode == AutoresetMode.NEXT_STEP and done[i]:
                o, _ = e.reset()
                row.append((o, 0.0, False, False))
                done[i] = False
                continue
            o, r, t, u, _ = e.step(a[i])
            if mode == AutoresetMode.SAME_STEP and (t or u):
                o, _ = e.reset()
            done[i] = t or u
            row.append((o, r, t, u))
        out.append(row)
    return out


def test_vector_env_equals_single_envs_at_any_thread_count():
    for env_id in ["MiniGrid-DoorKey-5x5-v0", "Montezuma-Lite-v0", "Arm-Reach-v0",
                   "Bandit-Bernoulli-10-v0", "NoisyTV-Maze-Brownian-v0"]:
        for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            n = 5
            probe = spelunk.make(env_id)
            probe.action_space.seed(3)
            steps = 40 if env_id.startswith("Arm") else 300
            actions = [[probe.action_space.sample() for _ in range(n)] for _ in range(steps)]
            want = step_singles(env_id, n, 100, actions, mode)
            for threads in (1, 2, 3):
                v = spelunk.make_vec(env_id, num_envs=n, threads=threads, autoreset_mode=mode)
                v.reset(seed=100)
                for t, a in enumerate(actions):
                    obs, r, term, trunc, _ = v.step(np.array(a))
                    for i in range(n):
                        o = {k: x[i] for k, x in obs.items()} if isinstance(obs, dict) else obs[i]
                        wo, wr, wt, wu = want[t][i]
                        assert same(o, wo), (env_id, mode, threads, t, i)
                        assert (np.float32(r[i]), bool(term[i]), bool(trunc[i])) == (
                            np.float32(wr), wt, wu
                        ), (env_id, mode, threads, t, i)
                v.close()


def test_vector_arrays_are_views_that_steps_rewrite():
    v = spelunk.make_vec("MiniGrid-DoorKey-8x8-v0", num_envs=8, threads=2)
    obs, _ = v.reset(seed=0)
    img, direction = obs["image"], obs["direction"]
    assert not img.flags.writeable and not img.flags.owndata
    assert np.shares_memory(img, v.unwrapped._flat) and np.shares_memory(direction, v._flat), (
        "both are views of the one flat buffer"
    )
    before = direction.copy()
    obs2, rewards, *_ = v.step(np.zeros(8, dtype=np.int64))  # turn left: every direction moves
    assert obs2["image"] is img and obs2["direction"] is direction, "the same views every step"
    assert np.array_equal(direction, (before + 3) % 4), "the step rewrote the view in place"
    # A view keeps the Rust buffers alive after the env object is gone.
    del v, obs2, rewards
    assert img.shape == (8, 7, 7, 3) and int(img.sum()) >= 0


def test_snapshot_restores_exactly():
    for env_id in ["MiniGrid-KeyCorridorS3R3-v0", "Montezuma-Lite-v0", "Arm-Push-v0"]:
        env = spelunk.make(env_id)
        env.action_space.seed(1)
        env.reset(seed=5)
        for _ in range(10):
            env.step(env.action_space.sample())
        snap = env.snapshot()
        acts = [env.action_space.sample() for _ in range(20)]
        first = [env.step(a)[:2] for a in acts]
        env.restore(snap)
        again = [env.step(a)[:2] for a in acts]
        assert all(same(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again)), env_id


def test_bad_input_is_a_clear_exception():
    def raises(f, *words):
        try:
            f()
        except (ValueError, TypeError) as e:
            msg = str(e)
            assert all(w in msg for w in words), msg
            return
        raise AssertionError(f"no exception; expected one naming {words}")

    env = spelunk.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    raises(lambda: env.step(1.5), "Discrete(7)")
    raises(lambda: env.step(np.array([1, 2])), "Discrete(7)")
    raises(lambda: env.step(99), "action")
    arm = spelunk.make("Arm-Reach-v0")
    arm.reset(seed=0)
    raises(lambda: arm.step(np.zeros(3)), "shape (4,)")
    raises(lambda: spelunk.make("MiniGrid-DoorKey-5x5-v9"), "MiniGrid-DoorKey-5x5-v0")
    raises(lambda: spelunk.make("MiniGrid-DoorKey-5x5-v0", no_such_setting=1), "no_such_setting")
    raises(lambda: spelunk.make("MiniGrid-DoorKey-5x5-v0", render_mode="human"), "render_mode")
    v = spelunk.make_vec("MiniGrid-DoorKey-5x5-v0", num_envs=4, threads=2)
    v.reset(seed=0)
    raises(lambda: v.step(np.zeros(3, dtype=np.int64)), "4 integers")
    raises(lambda: v.step(np.zeros(4, dtype=np.float32)), "4 integers")
    raises(lambda: v.reset(seed=[1, 2]), "one per env")
    raises(lambda: spelunk.make_vec("MiniGrid-DoorKey-5x5-v0", num_envs=0), "num_envs")


def test_gymnasium_make_passes_config_and_make_vec_uses_the_vector_entry_point():
    env = gym.make("spelunk/MiniGrid-DoorKey-5x5-v0", max_steps=7)
    env.reset(seed=0)
    for _ in range(7):
        *_, trunc, _ = env.step(0)
    assert trunc, "max_steps reached the env"
    v = gym.make_vec("spelunk/MiniGrid-DoorKey-5x5-v0", num_envs=3,
                     vectorization_mode="vector_entry_point")
    assert isinstance(v.unwrapped, spelunk.SpelunkVectorEnv) and v.num_envs == 3


def test_bonus_modules_learn_what_is_familiar():
    # Transitions from DoorKey-5x5's first steps (the same seed every time) become familiar;
    # other seeds' layouts stay novel. Every learned bonus must pay more for the novel ones.
    def batch(seed, n=64):
        env = spelunk.make("MiniGrid-DoorKey-5x5-v0")
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        xs, nxs, acts = [], [], []
        for _ in range(n):
            a = env.action_space.sample()
            nxt, _, term, trunc, _ = env.step(a)
            xs.append(np.concatenate([obs["image"].ravel() / 10.0, np.eye(4)[obs["direction"]]]))
            nxs.append(np.concatenate([nxt["image"].ravel() / 10.0, np.eye(4)[nxt["direction"]]]))
            acts.append(a)
            obs = env.reset(seed=seed)[0] if term or trunc else nxt
        return np.array(xs, np.float32), np.array(nxs, np.float32), np.array(acts, np.int64)

    familiar = batch(0)
    novel = [np.concatenate(parts) for parts in zip(*(batch(s, 16) for s in range(100, 104)))]
    for kind in ("rnd", "rdd", "icm", "byol_explore"):
        bonus = spelunk.Bonus(kind, obs_dim=151, actions=7, seed=3)
        for _ in range(150):
            bonus.update(*familiar)
        f = float(bonus.compute(*familiar).mean())
        n = float(bonus.compute(*novel).mean())
        assert np.isfinite(f) and n > f, (kind, f, n)
    bonus = spelunk.Bonus("rnd", obs_dim=151, actions=7)
    for bad in (lambda: bonus.compute(familiar[0][:, :10], familiar[1], familiar[2]),
                lambda: bonus.compute(familiar[0], familiar[1], familiar[2][:3]),
                lambda: spelunk.Bonus("count", 4, 2),
                lambda: spelunk.Bonus("counts", 151, 7).load_state(bonus.state())):
        try:
            bad()
        except ValueError as e:
            assert "spelunk:" in str(e) or "bonus" in str(e) or "saved by" in str(e), e
        else:
            raise AssertionError("no error")



def test_count_bonus_is_one_over_root_visits_and_states_round_trip():
    # Counts: observation o seen n times on `on_step` pays 1/sqrt(n); unseen pays 1.
    rows = np.array([[0, 0], [1, 0], [0, 0], [0, 0], [1, 0]], np.float32)
    counts = spelunk.Bonus("counts", obs_dim=2, actions=2)
    acts = np.zeros(len(rows), np.int64)
    for r in rows:
        counts.on_step(r[None], r[None], acts[:1])
    probe = np.array([[0, 0], [1, 0], [5, 5]], np.float32)
    got = counts.compute(probe, probe, acts[:3])
    assert np.allclose(got, [1 / np.sqrt(3), 1 / np.sqrt(2), 1.0]), got
    # A pickled module is the same module: equal bonuses now, and after equal updates.
    import pickle
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    a = rng.integers(0, 3, size=32)
    for kind in ("counts", "rnd", "icm"):
        m = spelunk.Bonus(kind, obs_dim=6, actions=3, seed=1)
        m.on_step(x, x, a)
        m.update(x, x[::-1].copy(), a)
        twin = pickle.loads(pickle.dumps(m))
        assert np.array_equal(m.compute(x, x, a), twin.compute(x, x, a)), kind
        m.update(x[::-1].copy(), x, a)
        twin.update(x[::-1].copy(), x, a)
        assert np.array_equal(m.compute(x, x, a), twin.compute(x, x, a)), kind


if __name__ == "__main__":
    from runner import main

    main(globals())

"""Read the recordings scripts/check-rrd.sh made back with Rerun's dataframe API and compare
them with what the envs reported (the `--steps` JSON lines written beside them).

    python scripts/rrd/check_rrd.py FOLDER

Every check prints one line; any failure exits 1 with what differed and where.
"""

import json
import sys
from pathlib import Path

import rerun as rr

FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


def table(path, index, contents):
    store = rr.experimental.RrdReader(str(path)).stream().collect()
    return store.reader(index=index, contents=contents).to_arrow_table().to_pylist()


def steps(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def column(rows, entity, component):
    key = f"{entity}:{component}"
    return [(r, r.get(key)) for r in rows if r.get(key) is not None]


def by_episode_step(rows, entity, component):
    return {(r["episode"], r["step"]): v for r, v in column(rows, entity, component)}


def no_wall_clock(path):
    store = rr.experimental.RrdReader(str(path)).stream().collect()
    names = {f.name for f in store.schema()} if hasattr(store.schema(), "__iter__") else set()
    text = str(store.schema())
    check("log_time" not in text and "log_tick" not in text, f"{path.name}: no wall-clock timeline")


def grid(folder):
    rrd, lines = folder / "doorkey.rrd", steps(folder / "doorkey.jsonl")
    rows = table(rrd, "env_step", ["/env/**"])
    agent = by_episode_step(rows, "/env/frame/agent", "Points2D:positions")
    reward = by_episode_step(rows, "/env/reward", "Scalars:scalars")
    bonus = {m: by_episode_step(rows, f"/env/bonus/{m}", "Scalars:scalars") for m in ("counts", "rnd")}
    frames = by_episode_step(rows, "/env/frame", "Image:buffer")
    bad = []
    for s in lines:
        k = (s["episode"], s["step"])
        want = [(s["x"] + 0.5) * 8, (s["y"] + 0.5) * 8]
        if k not in agent or [round(v, 4) for v in agent[k][0]] != want:
            bad.append(f"agent at {k}: logged {agent.get(k)}, info x, y = {s['x']}, {s['y']}")
        if k not in reward or abs(reward[k][0] - s["reward"]) > 1e-9:
            bad.append(f"reward at {k}")
        for m, logged in bonus.items():
            if k not in logged or abs(logged[k][0] - s["bonuses"][m]) > 1e-6 * max(1.0, abs(s["bonuses"][m])):
                bad.append(f"{m} bonus at {k}: logged {logged.get(k)}, computed {s['bonuses'][m]}")
        if k not in frames:
            bad.append(f"no frame at {k}")
    check(not bad, f"doorkey: the agent's path is info's x, y at all {len(lines)} steps, as are reward, "
          f"both bonuses and a frame per step" + (f" — {bad[:3]}" if bad else ""))
    resets = [k for k in agent if k[1] == 0]
    check(len(resets) == len({s["episode"] for s in lines}), "doorkey: each episode's reset is logged")
    visits = column(table(rrd, "env_step", ["/env/maps/**"]), "/env/maps/visits", "Image:buffer")
    check(len(visits) == 2, f"doorkey: a visit map at each episode's end ({len(visits)})")
    no_wall_clock(rrd)


def montezuma(folder):
    rrd, lines = folder / "montezuma.rrd", steps(folder / "montezuma.jsonl")
    rows = table(rrd, "env_step", ["/env/frame/agent", "/env/info/**"])
    agent = by_episode_step(rows, "/env/frame/agent", "Points2D:positions")
    room = by_episode_step(rows, "/env/info/room", "Scalars:scalars")
    bad = [k for s in lines for k in [(s["episode"], s["step"])]
           if k not in agent or agent[k][0] != [s["agent_tile"][0] + s["agent_tile"][2] / 2,
                                                 s["agent_tile"][1] + s["agent_tile"][2] / 2]
           or room[k][0] != s["room"]]
    check(not bad, f"montezuma: the agent is drawn on its tile and in its room at all {len(lines)} steps"
          + (f" — first bad step {bad[0]}" if bad else ""))
    check(lines[-1]["is_success"] is True, "montezuma: the scripted episode completes the level")


def arm(folder, name, cameras):
    rrd, lines = folder / f"{name}.rrd", steps(folder / f"{name}.jsonl")
    rows = table(rrd, "env_step", ["/world/**"])
    cube = by_episode_step(rows, "/world/bodies/object", "Transform3D:translation")
    bad = []
    for s in lines:
        k = (s["episode"], s["step"])
        got, want = (cube.get(k) or [None])[0], s["obs_head"][:3]
        if got is None or max(abs(a - b) for a, b in zip(got, want)) > 1e-5:
            bad.append(f"{k}: logged {got}, observation {want}")
    check(not bad, f"{name}: the cube's logged position is the observation's at all {len(lines)} steps"
          + (f" — {bad[:2]}" if bad else ""))
    statics = table(rrd, None, ["/world/**"])
    shapes = {c for r in statics for c, v in r.items() if v is not None and c.startswith("/world/bodies/")
              and (":Boxes3D:" in c or ":Ellipsoids3D:" in c or ":Cylinders3D:" in c)}
    bodies = {c.split(":")[0] for c in shapes}
    check(len(bodies) >= 4, f"{name}: every body has a shape ({len(bodies)} bodies)")
    moving = {c.split(":")[0] for r in rows for c, v in r.items()
              if v is not None and c.startswith("/world/bodies/") and c.endswith("Transform3D:translation")}
    check(len(moving) >= 3, f"{name}: moving bodies have a pose per step ({len(moving)})")
    ee = by_episode_step(rows, "/world/end_effector_path", "LineStrips3D:strips")
    check(len(ee) == len(lines) + len({s['episode'] for s in lines}), f"{name}: the end effector's path at every step")
    if cameras:
        for image in ("rgb:Image:buffer", "depth:DepthImage:buffer", "segmentation:SegmentationImage:buffer"):
            got = by_episode_step(rows, f"/world/cameras/front/{image.split(':')[0]}", image.split(":", 1)[1])
            check(len(got) == len(ee), f"{name}: the front camera's {image.split(':')[0]} at every step ({len(got)})")
        ctx = [v for r in statics for c, v in r.items() if c.startswith("/world:AnnotationContext") and v]
        check(bool(ctx), f"{name}: class colours as an annotation context")


def training(folder):
    rrd = folder / "train.rrd"
    rows = table(rrd, "iteration", ["/metrics/**", "/episodes/**"])
    its = sorted({r["iteration"] for r, _ in column(rows, "/metrics/charts/success_rate", "Scalars:scalars")})
    metrics = json.loads("[" + ",".join((folder / "run" / "metrics.jsonl").read_text().split("\n")[:-1]) + "]")
    check(its == [1, 2, 3], f"train: metrics on the iteration timeline ({its})")
    logged = {r["iteration"]: v[0] for r, v in column(rows, "/metrics/charts/success_rate", "Scalars:scalars")}
    check(all(abs(logged[i + 1] - m["charts/success_rate"]) < 1e-12 for i, m in enumerate(metrics)),
          "train: each iteration's success rate equals metrics.jsonl's")
    ep = table(rrd, "env_step", ["/env/frame/agent"])
    evals = {r["episode"] for r, _ in column(ep, "/env/frame/agent", "Points2D:positions")}
    # One evaluation episode of each evaluation (iterations 2 and 3) step by step.
    check(len(evals) == 2, f"train: an evaluation episode of each evaluation step by step ({len(evals)})")


def go_explore(folder):
    rrd = folder / "goexplore.rrd"
    rows = table(rrd, "iteration", ["/archive/**"])
    cells = column(rows, "/archive/cells", "Points2D:positions")
    counts = column(rows, "/archive/count", "Scalars:scalars")
    check(len(cells) >= 2, f"go-explore: the archive as it grows ({len(cells)} updates)")
    last_cells, last_count = cells[-1][1], counts[-1][1][0]
    check(len(last_cells) == last_count, f"go-explore: every cell placed on the level ({len(last_cells)} of {last_count:.0f})")
    rooms = column(rows, "/archive/rooms", "Scalars:scalars")
    check(rooms[-1][1][0] >= 2, f"go-explore: rooms found ({rooms[-1][1][0]:.0f})")
    demo = table(rrd, "env_step", ["/env/frame/agent"])
    check(len(column(demo, "/env/frame/agent", "Points2D:positions")) > 10, "go-explore: the solving episode replayed")


def stax(folder):
    rows = table(folder / "stax.rrd", "generation", ["/outcomes/**"])
    entities = {c.split(":")[0] for r in rows for c, v in r.items() if v is not None and c.endswith("Points2D:positions")}
    check(len(entities) == 4, f"stax: each search's outcome space per generation ({sorted(entities)})")


def main():
    folder = Path(sys.argv[1])
    grid(folder)
    montezuma(folder)
    arm(folder, "arm", cameras=True)
    arm(folder, "fetch7", cameras=False)
    training(folder)
    go_explore(folder)
    stax(folder)
    if FAILURES:
        print(f"check-rrd: {len(FAILURES)} check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

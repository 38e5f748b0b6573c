"""A dataset written by `spelunk record --lerobot` read the way LeRobot reads one, and checked
against the steps the env reported (`spelunk record --steps`).

    python check_dataset.py DATASET STEPS.jsonl KEY,KEY,...

KEYs: the observation's features in the env's member order (the steps' `obs_head` holds the
first values of the flat observation).

LeRobot loads frames with Hugging Face `datasets`, its features built from meta/info.json
(`image` → Image, shape [1] → Value, [n] → a fixed-length sequence), tasks with pandas
(`task` as the index), episodes from meta/episodes. The same is done here, then every step's
action, reward and end flag, and the first observation values of every frame after the first,
are compared with what the env reported.
"""
import json
import pathlib
import sys

import datasets
import numpy as np
import pandas as pd

root = pathlib.Path(sys.argv[1])
steps = [json.loads(line) for line in open(sys.argv[2])]
keys = sys.argv[3].split(",")
info = json.loads((root / "meta/info.json").read_text())
assert info["codebase_version"] == "v3.0", info["codebase_version"]
features = {}
for k, f in info["features"].items():
    if f["dtype"] == "image":
        features[k] = datasets.Image()
    elif f["shape"] == [1]:
        features[k] = datasets.Value(f["dtype"])
    else:
        features[k] = datasets.Sequence(length=f["shape"][0], feature=datasets.Value(f["dtype"]))
paths = sorted(str(p) for p in (root / "data").glob("*/*.parquet"))
frames = datasets.Dataset.from_parquet(paths, features=datasets.Features(features))
assert len(frames) == info["total_frames"], (len(frames), info["total_frames"])
episodes = datasets.Dataset.from_parquet(sorted(str(p) for p in (root / "meta/episodes").glob("*/*.parquet")))
assert len(episodes) == info["total_episodes"]
tasks = pd.read_parquet(root / "meta/tasks.parquet")
assert tasks.index.name == "task", tasks
for e in episodes:
    for t in e["tasks"]:
        assert int(tasks.loc[t].task_index) >= 0
stats = json.loads((root / "meta/stats.json").read_text())
for k in keys:
    assert k in stats, f"no statistics for {k}"


def flat(row):
    out = []
    for k in keys:
        v = row[k]
        if info["features"][k]["dtype"] == "image":
            a = np.asarray(v.convert("RGB"))
            assert list(a.shape) == info["features"][k]["shape"], (a.shape, k)
            out.extend(a.reshape(-1).tolist())
        elif isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


checked = 0
for line in steps:
    ep = episodes[line["episode"]]
    f = ep["dataset_from_index"] + line["step"] - 1
    row = frames[f]
    assert row["episode_index"] == line["episode"] and row["frame_index"] == line["step"] - 1
    action = row["action"] if isinstance(row["action"], list) else [row["action"]]
    assert np.allclose(action, line["action"], atol=1e-6), (f, action, line["action"])
    assert abs(row["next.reward"] - line["reward"]) < 1e-5, (f, row["next.reward"], line["reward"])
    assert row["next.done"] == (line["terminated"] or line["truncated"]), f
    if line["step"] < ep["length"]:
        head = flat(frames[f + 1])[: len(line["obs_head"])]
        assert np.allclose(head, line["obs_head"], atol=1e-5), (f + 1, head, line["obs_head"])
    checked += 1
assert checked == len(frames), (checked, len(frames))
print(
    f"{root.name}: {len(frames)} frames of {len(episodes)} episodes read as LeRobot reads them; "
    f"every action, reward, end and observation matches the env's steps"
)

#!/usr/bin/env python3
"""README.md's results, written from the artifacts, and the docs' figures checked against them.

    python3 scripts/results.py render   # rewrite README's generated blocks from docs/results/
    python3 scripts/results.py check    # CI: the blocks are what the data give, every number
                                        # in README's prose and every measured figure in
                                        # docs/*.md is in an artifact

The sentences that state a result in README.md live between `<!-- results:NAME -->` and
`<!-- /results:NAME -->`; `render` writes them from the JSON artifacts under docs/results/
(each written by an entry of `scripts/reproduce.sh --list`), so a claim moves when its data
move and cannot say more than they do. `check` fails when a block differs from what the data
give (a typed edit, or data regenerated without `render`), or when any number in README's prose
— inside the blocks or outside, code aside — matches no value of any artifact and no figure the
blocks derive from them (a ratio of medians, a range over seeds), or when a measured figure in
docs/*.md (a decimal, a percentage, a k/M rate, a count with thousands separators) does not.
The artifacts are the JSON files under docs/results/ and the reports the same commands write
beside them (docs/results/**/*.md but its index). Standard library only.
"""
import glob
import json
import os
import re
import statistics
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RESULTS = os.path.join(ROOT, "docs", "results")
README = os.path.join(ROOT, "README.md")


class Missing(Exception):
    pass


def load(name):
    path = os.path.join(RESULTS, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise Missing(f"docs/results/{name} is missing; `bash scripts/reproduce.sh --list` "
                      "names the command that writes it")


class Figures:
    """Every figure a block prints, so `check` knows which derived numbers are data."""

    def __init__(self):
        self.values = []

    def __call__(self, value, spec):
        self.values.append(float(value))
        return format(value, spec)

    def rate(self, v):
        """A rate as README prints it: 7.06M, 9.7k, 809."""
        self.values.append(float(v))
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e4:
            return f"{v / 1e3:.1f}k"
        if v >= 1e3:
            return f"{v / 1e3:.2f}k"
        return f"{v:.0f}"

    def frames(self, v):
        self.values.append(float(v))
        return f"{v / 1e6:.1f}M"

    def pct(self, fraction, digits=1):
        self.values.append(100.0 * fraction)
        return f"{100.0 * fraction:.{digits}f}%"


# ---------------------------------------------------------------------------------------------
# Blocks


def block_bench(fig):
    b = load("bench_ci.json")
    rows = ["| environment | 1 env, 1 thread | "
            f"{b['envs'][0]['num_envs']} envs, 1 thread | "
            f"{b['envs'][0]['num_envs']} envs, {b['envs'][0]['threads']} threads | speed-up |",
            "|---|---:|---:|---:|---:|"]
    for e in b["envs"]:
        rows.append(f"| `{e['id']}` | {fig.rate(e['single_steps_per_sec'])} "
                    f"| {fig.rate(e['vec_1t_steps_per_sec'])} | {fig.rate(e['vec_nt_steps_per_sec'])} "
                    f"| {fig(e['vec_speedup'], '.2f')}× |")
    speedups = [e["vec_speedup"] for e in b["envs"]]
    prov = b.get("provenance", {})
    protocol = (f"each figure the median of {b['windows']} timed windows after a warm-up one"
                if "windows" in b else "each figure the best of three rounds")
    machine = prov.get("machine", f"{b['available_cores']} cores")
    commit = prov.get("commit", "")
    text = [f"`spelunk bench` on this project's CI machine ({machine}"
            + (f", commit `{commit[:7]}`" if commit else "")
            + f"; `docs/results/bench_ci.json`, written by `bash scripts/reproduce.sh bench`), "
            f"{protocol}:", "", *rows, "",
            f"Speed-ups on {b['envs'][0]['threads']} threads in this run: "
            f"{fig(min(speedups), '.2f')}× to {fig(max(speedups), '.2f')}×. The windows behind "
            "every figure are in the JSON; this machine is shared and noisy, so rerun on yours."]
    return "\n".join(text)


def peer_row(name, headline=True):
    rep = load(f"peers/{name}.json")
    rows = [r for r in rep["rows"] if r.get("headline")] if headline else rep["rows"]
    return rep, rows


def block_peers(fig):
    mg, (m,) = peer_row("minigrid_doorkey")
    fp = load("peers/fetch_push.json")
    arm, dynamic, gripper, raw = fp["rows"]
    w = mg["protocol"]["windows"]
    return (
        f"Against the Python `minigrid` package on the same env, observation and random actions, "
        f"both pinned to one core in one script, one protocol on both sides (a warm-up window, "
        f"then the median of {w} timed windows): **{fig(m['ratio'], '.0f')}×** "
        f"({fig.rate(m['spelunk']['median'])} vs {fig.rate(m['peer']['median'])} steps/s; "
        f"`bash scripts/peers/minigrid_doorkey.sh`, `docs/results/peers/minigrid_doorkey.md`). "
        f"Against Gymnasium-Robotics' FetchPush-v4 on MuJoCo, same semantics and control rate, "
        f"a whole arm against FetchPush-v4's whole robot — our 7-joint arm driven kinematically "
        f"(`robot.urdf = \"fetch7\"`, `robot.drive = \"kinematic\"`, "
        f"[docs/sims.md](docs/sims.md#robot-arms-from-urdf)): **{fig(arm['ratio'], '.2f')}×** "
        f"({fig.rate(arm['spelunk']['median'])} vs {fig.rate(arm['peer']['median'])} steps/s); "
        f"the same arm as a dynamic multibody {fig(dynamic['ratio'], '.2f')}× "
        f"({fig.rate(dynamic['spelunk']['median'])}); `Arm-Push-v0`'s default free-floating "
        f"gripper {fig(gripper['ratio'], '.2f')}× ({fig.rate(gripper['spelunk']['median'])}); raw "
        f"`mj_step` on Fetch's model without the Python env runs "
        f"{fig.rate(raw['peer']['median'])} control steps/s "
        f"(`bash scripts/peers/fetch_push.sh`, `docs/results/peers/fetch_push.md`). "
        + python_sentence(fig)
        + "Machines differ and are noisy; rerun both on yours.")


def block_arm_speed(fig):
    """docs/sims.md: the arms against FetchPush-v4, every row of the peer report."""
    fp = load("peers/fetch_push.json")
    rows = ["| comparison | unit | Spelunk | peer | ratio |", "|---|---|---:|---:|---:|"]
    for r in fp["rows"]:
        rows.append(f"| {r['label']} | {r['unit']} | {peer_cells(fig, r)} |")
    p = fp["protocol"]
    return "\n".join(rows + ["", f"`{fp['command']}` on {fp['machine']}, commit "
                              f"`{fp['commit'][:12]}`, {fp['date']}: {p['windows']} windows of "
                              f"{p['window']} after {p['warmup_windows']} warm-up, pinned to core "
                              f"{p['core']}; the median window, the slowest and fastest in "
                              "brackets. The machine is shared and noisy; rerun on yours."])


def block_scripted(fig):
    """docs/sims.md: the scripted controller's success per arm and task."""
    rep = load("scripted.json")
    tasks = list(dict.fromkeys(r["task"] for r in rep["rows"]))
    eps = {r["episodes"] for r in rep["rows"]}
    out = [f"| {'/'.join(str(e) for e in sorted(eps))} seeds | " + " | ".join(tasks) + " |",
           "|---|" + "---:|" * len(tasks)]
    for arm in dict.fromkeys(r["arm"] for r in rep["rows"]):
        cells = {r["task"]: fig(r["solved"], "d") for r in rep["rows"] if r["arm"] == arm}
        out.append(f"| {arm} | " + " | ".join(cells.get(t, "—") for t in tasks) + " |")
    return "\n".join(out + ["", f"`{rep['command']}` (`docs/results/scripted.{{json,md}}`, commit "
                              f"`{rep['commit'][:12]}`): episodes solved of seeds {rep['seeds']}, "
                              "within 5 cm at the last step; deterministic, so they reproduce "
                              "on any machine."])


def python_sentence(fig):
    rep = load("peers/python_vec.json")
    two, one, mg = rep["rows"][:3]
    envpool = ""
    if len(rep["rows"]) >= 5:
        ep1, ep2 = rep["rows"][3:5]
        envpool = (f"; against EnvPool's C++ MiniGrid ({ep1['peer_name']}) from Python it runs "
                   f"{fig(ep1['ratio'], '.1f')}× on one thread and {fig(ep2['ratio'], '.1f')}× "
                   f"on two")
    return (
        f"From Python (the Gymnasium package, [docs/python.md](docs/python.md)), 256 DoorKey-8x8 "
        f"envs in one vector env keep {fig(two['ratio'], '.2f')}× of the same vector env's rate "
        f"stepped from Rust on 2 threads ({fig.rate(two['spelunk']['median'])} vs "
        f"{fig.rate(two['peer']['median'])} env-steps/s) and {fig(one['ratio'], '.2f')}× on one, "
        f"and run {fig(mg['ratio'], '.0f')}× the `minigrid` package's envs in Gymnasium's "
        f"`SyncVectorEnv` on one core{envpool} (`bash scripts/peers/python_vec.sh`, "
        f"`docs/results/peers/python_vec.md`). ")


def mean(v):
    return sum(v) / len(v)


def block_exploration(fig):
    tv = load("noisy_tv.json")
    cov = load("coverage.json")
    ge = load("go_explore.json")
    gp = load("go_explore_pixels.json")
    rb = load("robustify.json")
    stax = load("stax.json")
    labels = {"random": "random actions", "counts": "counts", "rnd": "RND", "rdd": "RDD",
              "icm": "ICM", "byol-explore": "BYOL-Explore", "hindsight": "Curiosity in Hindsight"}

    # Noisy TV: mean trackers over seeds per (method, setting).
    found, watch = {}, {}
    for r in tv["runs"]:
        found.setdefault((r["method"], r["setting"]), []).append(r["trackers_found"])
        watch.setdefault((r["method"], r["setting"]), []).append(r["watching_fraction"])
    settings = sorted({s for _, s in found})
    noisy = [s for s in settings if s != "none"]
    bonuses = [m for m in labels if m != "random" and any(k[0] == m for k in found)]
    full = [m for m in bonuses if all(mean(found[(m, s)]) >= 4.0 - 1e-9 for s in settings)]
    short = [m for m in bonuses if m not in full]
    counts_watch = [mean(watch[("counts", s)]) for s in noisy]
    tv_text = (f"on the noisy-TV maze ({len(tv['runs']) // len(settings) // (len(bonuses) + 1)} "
               f"seeds, `noisy_tv.json`) {join([labels[m] for m in full])} find all four trackers "
               f"in every noise setting, while counts watch the noisy TV for "
               f"{fig.pct(min(counts_watch), 0)}–{fig.pct(max(counts_watch), 0)} of their steps"
               + (f" and {join([labels[m] for m in short])} find fewer in some setting "
                  f"(down to {fig(min(mean(found[(m, s)]) for m in short for s in settings), '.2f')} of 4)"
                  if short else ""))

    # Coverage of MultiRoom-N6: cells of each bonus against random actions'.
    cells = {}
    for r in cov["runs"]:
        if r["setting"] == "multiroom":
            cells.setdefault(r["method"], []).append(r["cells"])
    base = mean(cells["random"])
    mult = {m: mean(v) / base for m, v in cells.items() if m != "random"}
    lo = min(mult, key=mult.get)
    hi = max(mult, key=mult.get)
    doubling = [m for m in mult if mult[m] > 2.0]
    cov_text = (f"on MultiRoom-N6 the bonuses visit {fig(mult[lo], '.2f')}× ({labels[lo]}) to "
                f"{fig(mult[hi], '.2f')}× ({labels[hi]}) the cells random actions do "
                f"({len(doubling)} of {len(mult)} more than double it; `coverage.json`)")
    rooms = [r["max_rooms"] for r in cov["runs"] if r["setting"] != "multiroom"
             and r["method"] != "random"]

    dom = [r for r in ge["runs"] if r["cells"] == "domain" and r["solved_at"] is not None]
    pix = [r for r in gp["runs"] if r["solved_at"] is not None]
    seed0 = next(r for r in dom if r["seed"] == 0)
    ds = gp["downscale"]
    rates = [s["robust"]["eval_success"] for s in rb["seeds"]]
    sticky = rb["env_config"].get("sticky_action_prob")
    ge_text = (
        f"Go-Explore (archive of cells, return by restoring a snapshot, explore with repeated "
        f"random actions) reaches `Montezuma-Lite-v0`'s treasure, six rooms deep behind two keys, "
        f"in {fig.frames(min(r['solved_at'] for r in dom))}–{fig.frames(max(r['solved_at'] for r in dom))} "
        f"frames ({len(dom)} of {len([r for r in ge['runs'] if r['cells'] == 'domain'])} seeds, "
        f"`go_explore.json`), where the bonus agents, at the {fig(cov['steps_per_run'] / 1e3, '.0f')}k "
        f"steps their planner allows, visit at most {fig(max(rooms), 'd')} of its 11 rooms — from "
        f"downscaled pixels too, at a fixed {fig(ds[0], 'd')} × {fig(ds[1], 'd')} × {fig(ds[2], 'd')} "
        f"downscale, in {fig.frames(min(r['solved_at'] for r in pix))}–"
        f"{fig.frames(max(r['solved_at'] for r in pix))} frames ({len(pix)} of {len(gp['runs'])} "
        f"seeds, `go_explore_pixels.json`) — and writes the trajectory, shortened by a search in "
        f"the simulator ({fig(seed0['demo_length'], 'd')} → {fig(seed0['short_length'], 'd')} "
        f"actions on seed 0), as a demonstration for the training core's privileged starts. PPO "
        f"from those starts, imitating the demo where its value head expects less than the demo's "
        f"return, turns it into a policy that reaches the treasure from the real start under "
        f"sticky actions (p = {fig(sticky, 'g')}): with the same {fig(rb['iterations'], 'd')} "
        f"iterations for each of the {len(rates)} seeds' demos, "
        f"{fig.pct(min(rates))}–{fig.pct(max(rates))} of {fig(rb['eval_episodes'], 'd')} episodes "
        f"(median {fig.pct(statistics.median(rates))}; `robustify.md`, no run chosen or extended; "
        f"longer runs per seed in [docs/goexplore.md](docs/goexplore.md))")

    # STAX against novelty search on the true outcome: reward areas found, mean over seeds.
    areas = {}
    for r in stax["runs"]:
        areas.setdefault((r["task"], r["method"]), []).append(r["curve"][-1]["areas_found"])
    def cmp(task, where):
        s, n = mean(areas[(task, "stax")]), mean(areas[(task, "ns-gt")])
        word = "as many" if abs(s - n) < 1e-9 else ("more" if s > n else "fewer")
        return f"{word} {where} ({fig(s, '.1f')} against {fig(n, '.1f')})"
    stax_text = (f"Novelty search, TAXONS and STAX search the weights of small neural controllers "
                 f"on a deceptive maze, a 20-joint arm and a curling table. Against novelty search "
                 f"on the true outcome, STAX, learning its behaviour space from final frames, "
                 f"finds {cmp('arm', 'reward areas on the arm')}, "
                 f"{cmp('curling', 'on the curling table')} and {cmp('maze', 'in the maze')} "
                 f"(mean of {stax['seeds']} seeds, `stax.json`; [docs/novelty.md](docs/novelty.md)).")
    return (f"`spelunk explore` compares them on one agent: {tv_text}; {cov_text}. {ge_text}. "
            f"{stax_text}")


def join(items):
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def vla_report(name):
    """A vla-bc report and its mean over seeds of the better of sampled and greedy success
    (`best("bc_success", "bc_success_greedy")`); (None, None) where the file is absent."""
    try:
        rep = load(name)
    except Missing:
        return None, None
    return rep, lambda a, b: mean([max(r[a], r[b]) for r in rep["runs"]])


def vla_sentence(fig):
    """README: the VLA head after cloning and RL, from vla_bc.json (nothing where it is absent)."""
    rep, best = vla_report("vla_bc.json")
    if rep is None:
        return ""
    cfg = rep["env_config"] or {}
    return (f"The VLA head, which sees the arm through a {cfg['camera']['width']}×"
            f"{cfg['camera']['height']} camera and reads the instruction, cloned on "
            f"{fig(rep['demo_episodes'], 'd')} scripted demonstrations and fine-tuned with "
            f"{rep['algorithm'].upper()}, reaches the instructed one of "
            f"{cfg.get('targets', 1)} targets in {fig.pct(best('final_success', 'final_success_greedy'))} "
            f"of {fig(rep['eval_episodes'], 'd')} unseen seeds (the better of sampled and greedy "
            f"actions; cloning alone "
            f"{fig.pct(best('bc_success', 'bc_success_greedy'))}; `vla_bc.json`, "
            f"[docs/grpo.md](docs/grpo.md#behaviour-cloning-then-rl---experiment-vla-bc)). "
            + push_sentence(fig))


def push_sentence(fig):
    """README: the same recipe on instruction Push, from vla_bc_push.json (nothing if absent)."""
    rep, best = vla_report("vla_bc_push.json")
    if rep is None:
        return ""
    state = best("state_success", "state_success_greedy")
    return (f"On instruction Push, the same recipe with a head that finds the target better "
            f"(keypoints, a goal query while cloning and an MLP action head: "
            f"`examples/vla_bc_push.toml`; {fig(rep['demo_episodes'], 'd')} "
            f"demonstrations) puts the puck on the named target in "
            f"{fig.pct(best('final_success', 'final_success_greedy'))} of "
            f"{fig(rep['eval_episodes'], 'd')} unseen seeds (cloning alone "
            f"{fig.pct(best('bc_success', 'bc_success_greedy'))}; an MLP told the goal, cloned "
            f"on the same data, {fig.pct(state)}; `vla_bc_push.json`). "
            + fetch7_sentence(fig))


def fetch7_sentence(fig):
    """README: instruction Reach on the 7-joint arm in joint-space control, from
    vla_bc_fetch7_joint_deltas.json (nothing if absent)."""
    rep, best = vla_report("vla_bc_fetch7_joint_deltas.json")
    if rep is None:
        return ""
    out = (f"On the 7-joint `fetch7` arm, each action a step per joint "
           f"(`examples/vla_bc_fetch7.toml`), it reaches the instructed target in "
           f"{fig.pct(best('final_success', 'final_success_greedy'))} of "
           f"{fig(rep['eval_episodes'], 'd')} unseen seeds (cloning alone "
           f"{fig.pct(best('bc_success', 'bc_success_greedy'))}; "
           f"`vla_bc_fetch7_joint_deltas.json`)")
    push, pbest = vla_report("vla_bc_push_fetch7_joint_deltas.json")
    if push is None:
        return out + ". "
    return (out + f" and, the arm driven kinematically, pushes the puck to it in "
            f"{fig.pct(pbest('final_success', 'final_success_greedy'))} (cloning alone "
            f"{fig.pct(pbest('bc_success', 'bc_success_greedy'))}; "
            f"`vla_bc_push_fetch7_joint_deltas.json`). ")


def block_policies(fig):
    ppo = load("ppo_doorkey8x8.json")["eval"]
    sparse = load("grpo_sparse.json")
    grpo = [r for r in sparse if r["env"] == "MiniGrid-DoorKey-8x8-v0" and r["method"] == "GRPO"]
    tb = load("text_bandit.json")
    def vs(a, b):
        return "lower" if a < b else "higher"
    text = (
        f"With the MLP head on `MiniGrid-DoorKey-8x8-v0`, PPO reaches "
        f"{fig.pct(ppo['success'], 1)} success on {fig(ppo['episodes'], 'd')} unseen seeds after "
        f"{fig(ppo['iterations'], 'd')} iterations, {fig.frames(ppo['env_steps'])} env steps "
        f"(`ppo_doorkey8x8.json`, `bash scripts/reproduce.sh ppo-doorkey8x8`); GRPO "
        f"{fig.pct(mean([r['final_eval_success'] for r in grpo]), 1)} in "
        f"{fig.frames(mean([r['curve'][-1][0] for r in grpo]))} (mean of {len(grpo)} seeds, "
        f"`grpo_sparse.json`). {vla_sentence(fig)}A language model acting through text learns the text bandit's "
        f"best arm from scratch: over its last 30 iterations its mean return is "
        f"{fig(tb['last_30_mean_return'], '.3f')}, against {fig(tb['best_arm_mean'], '.3f')} for "
        f"the best arm and {fig(tb['uniform_pick_mean'], '.3f')} for a uniform pick "
        f"(`text_bandit.json`).")
    # The meta-bandit sentence stands only where its artifact does (a 300-iteration run).
    try:
        mb = load("meta_bandit.json")
    except Missing:
        return text
    reg = {r["agent"]: r for r in mb["regret"]}
    pol, ts = reg["transformer (GRPO)"], reg["Thompson sampling"]
    return text + (
        f" A transformer reading its pull history, trained with GRPO, has "
        f"{vs(pol['at_train_horizon'], ts['at_train_horizon'])} regret than Thompson sampling at its "
        f"{fig(mb['train_horizon'], 'd')}-pull training horizon "
        f"({fig(pol['at_train_horizon'], '.2f')} vs {fig(ts['at_train_horizon'], '.2f')}) and "
        f"{vs(pol['at_long_horizon'], ts['at_long_horizon'])} at {fig(mb['long_horizon'], 'd')} pulls "
        f"({fig(pol['at_long_horizon'], '.2f')} vs {fig(ts['at_long_horizon'], '.2f')}; "
        f"{fig(mb['tasks'], 'd')} unseen tasks, `meta_bandit.json`, "
        f"[docs/grpo.md](docs/grpo.md#meta-bandits)).")


def block_bridge(fig):
    b = load("bridge_loop.json")
    top = max(b["rows"], key=lambda r: r["hz"])
    lo, hi = top["tick_p99_range_us"][0], top["tick_p99_range_us"][-1]
    return (f"Over that pty the control loop runs at {fig(top['hz'] / 1e3, 'g')} kHz with "
            f"{fig(b['servos'], 'd')} servos, its median window's tick p99 "
            f"{fig(top['median']['tick_us']['p99'], 'd')} µs ({fig(lo, 'd')}–{fig(hi, 'd')} µs over "
            f"{fig(b['config']['windows'], 'd')} windows; `docs/results/bridge_loop.json`, from "
            f"`bash scripts/bridge-bench.sh`).")


PEERS = ("minigrid_doorkey", "python_vec", "fetch_push", "rlexplore_rnd", "trl_grpo")


def peer_cells(fig, r):
    """A peer row's Spelunk, peer and ratio cells: medians with the windows' range."""
    s, q = r["spelunk"], r["peer"]
    return (f"{fig.rate(s['median'])} ({fig.rate(s['min'])}–{fig.rate(s['max'])}) | "
            f"{r['peer_name']}: {fig.rate(q['median'])} ({fig.rate(q['min'])}–"
            f"{fig.rate(q['max'])}) | {fig(r['ratio'], '.2f')}×")


def block_peer_table(fig):
    rows = ["| comparison | command | unit | Spelunk | peer | ratio |", "|---|---|---|---:|---:|---:|"]
    for name in PEERS:
        rep = load(f"peers/{name}.json")
        for r in rep["rows"]:
            label = r["label"] + (" (headline)" if r.get("headline") else "")
            rows.append(f"| [{rep['title']}](peers/{name}.md): {label} | `{rep['command']}` | "
                        f"{r['unit']} | {peer_cells(fig, r)} |")
    dates = sorted({load(f"peers/{n}.json")["date"] for n in PEERS})
    return "\n".join(rows + ["", f"Measured {', '.join(dates)}; medians of the timed windows, the "
                              "slowest and fastest window in brackets; each report names its "
                              "commit and machine."])


def block_time_to_solve(fig):
    """docs/python.md: time to 90% success for ppo.py on both backends and the Rust PPO."""
    out = []
    for slug, size in (("doorkey8x8", "8x8"), ("doorkey5x5", "5x5")):
        rep = load(f"python_ppo_{slug}.json")
        out += [f"`{rep['env']}` (`{rep['command']}`, `docs/results/python_ppo_{slug}.{{json,md}}`, "
                f"commit `{rep['commit'][:12]}`):", "",
                "| run | env steps to 90% | seconds | × `minigrid` | success on 200 unseen seeds |",
                "|---|---:|---:|---:|---:|"]
        for r in rep["rows"]:
            rt, sp = r["reached_target"], r["speedup_vs_minigrid"]
            steps = f"{int(rt['steps']):,}" if rt else "not reached"
            if rt:
                fig.values.append(float(rt["steps"]))
            secs = fig(rt["seconds"], ".1f") if rt else "—"
            speed = f"{fig(sp, '.1f')}×" if sp else "—"
            out.append(f"| {r['label']} | {steps} | {secs} | {speed} | {fig.pct(r['eval_success'])} |")
        a, b, c = rep["rows"]
        if c["speedup_vs_minigrid"]:
            goal = "meets" if c["speedup_vs_minigrid"] >= 10 else "falls short of"
            out += ["", f"On {size}, Spelunk's PPO in Rust reaches 90% "
                    f"{fig(c['speedup_vs_minigrid'], '.1f')}× sooner than ppo.py on `minigrid` "
                    f"(and ppo.py itself {fig(b['speedup_vs_minigrid'], '.1f')}× sooner on Spelunk's "
                    f"package), which {goal} the 10× goal. Its command, the run folder aside: "
                    f"`{re.sub(r'--out [^ ]+ ', '', c['command'])}`."]
        out.append("")
    return "\n".join(out).rstrip()


def block_vla_bc(fig, name="vla_bc", target=0.9):
    """docs/grpo.md: the VLA head behaviour-cloned on scripted demonstrations, then RL
    (`name`.json: instruction Reach, whose goal is `target` = 90%; Push's is 60%)."""
    rep = load(f"{name}.json")
    runs = rep["runs"]
    push = rep["env"] != "Arm-Reach-v0"

    def minutes(wall, cpu):
        return f"{fig(wall / 60, '.1f')} / " + (fig(cpu / 60, '.1f') if cpu is not None else "—")

    cfg = rep["env_config"] or {}
    out = [f"`{rep['command']}` (`docs/results/{name}.{{json,md}}`, commit "
           f"`{rep['commit'][:12]}`): {fig(rep['demo_episodes'], 'd')} scripted episodes of "
           f"`{rep['env']}` with {cfg.get('targets', 1)} target(s) "
           + (f"on the `{cfg['robot'].get('urdf', 'fetch7')}` arm in "
              f"`{cfg['robot'].get('control', 'end_effector')}` control "
              if cfg.get('robot') else "") +
           f"({fig(rep['demo_frames'], ',d')} frames; the controller, its motion noised by "
           f"DART's σ = {fig(rep['demo_noise'], '.1f')}, succeeded in "
           f"{fig.pct(rep['demo_success'])}) written as a LeRobot dataset and read back, "
           f"{rep['bc']['epochs']} epochs of behaviour cloning"
           + (f" (learning rate {rep['bc']['lr']:g})" if rep['bc'].get('lr') else "")
           + f", then {rep['iterations']} iterations of {rep['algorithm'].upper()}"
           + (f" (learning rate {rep['rl_lr']:g})" if rep.get('rl_lr') else "")
           + (f" with a KL term to the cloned head (β = {rep['rl_kl_coef']:g})"
              if rep.get('rl_kl_coef') else "")
           + (f"{' and' if rep.get('rl_kl_coef') else ' with'} the demonstrations' token loss "
              f"kept in the loss (weight {rep['bc']['rl_coef']:g}, {rep['bc']['rl_batch']} frames "
              f"a step)" if rep['bc'].get('rl_coef') else "")
           + f"; success ({'the puck' if push else 'the gripper'} within 5 cm of the instructed "
           f"target at the last step) on {rep['eval_episodes']} unseen seeds.", "",
           "| seed | VLA cloned: sampled | greedy | VLA + RL: sampled | greedy | held-out tokens | cloning min: wall / CPU | RL min: wall / CPU | MLP on the state, cloned: sampled | greedy |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        acc = r["bc"][-1]["holdout_accuracy"] if r["bc"] else float("nan")
        out.append(f"| {r['seed']} | {fig.pct(r['bc_success'])} | {fig.pct(r['bc_success_greedy'])} | "
                   f"{fig.pct(r['final_success'])} | {fig.pct(r['final_success_greedy'])} | "
                   f"{fig.pct(acc)} | {minutes(r['bc_seconds'], r.get('bc_cpu_seconds'))} | "
                   f"{minutes(r['rl_seconds'], r.get('rl_cpu_seconds'))} | "
                   f"{fig.pct(r['state_success'])} | {fig.pct(r['state_success_greedy'])} |")
    best_bc = max(max(r["bc_success"], r["bc_success_greedy"]) for r in runs)
    best_rl = max(max(r["final_success"], r["final_success_greedy"]) for r in runs)
    mean_rl = sum(max(r["final_success"], r["final_success_greedy"]) for r in runs) / len(runs)
    mean_bc = sum(max(r["bc_success"], r["bc_success_greedy"]) for r in runs) / len(runs)
    goal = "meets" if mean_rl >= target else "falls short of"
    bar = fig.pct(target)
    state = sum(max(r["state_success"], r["state_success_greedy"]) for r in runs) / len(runs)
    out += ["", f"Behaviour cloning alone reaches {fig.pct(best_bc)} and cloning with RL "
            f"{fig.pct(best_rl)} at best (the better of sampled and greedy), a mean over seeds of "
            f"{fig.pct(mean_rl)} after RL, which {goal} the {bar} goal. The same demonstrations "
            f"cloned into an MLP head that reads the target's position from the state give "
            f"{fig.pct(state)} (mean of the better of sampled and greedy)"
            + (f". The goal is met by cloning alone and lost in fine-tuning: RL took the head from "
               f"{fig.pct(mean_bc)} to {fig.pct(mean_rl)} (means over seeds of the better of "
               f"sampled and greedy)."
               if mean_bc >= target and mean_rl < target else
               ", so the cloning recipe and its data are not what holds the VLA head back: seeing "
               "where the instructed target is in the image is."
               if state >= target and mean_rl < target else
               f", so the head that finds the target in the image alone comes within "
               f"{fig((state - mean_rl) * 100, '.1f')} points of the one told where it is."
               if mean_rl >= target and state >= mean_rl else
               f", so the head that finds the target in the image does "
               f"{fig((mean_rl - state) * 100, '.1f')} points better than the one told where it is."
               if mean_rl >= target else
               f", so cloning falls short even with the goal given, and the head that must find the "
               f"target in the image does {fig((state - mean_rl) * 100, '.1f')} points worse "
               f"still: the recipe and seeing the target are both limits, seeing the larger."
               if state < target and state - mean_rl >= 0.1 else
               ", so cloning falls short even with the goal given: the demonstrations and the "
               "cloning recipe are a limit before the image is."
               if state < target else
               ", so the comparison does not single out the image as the limit.")]
    if rep.get("record_seconds") is not None:
        cpu = rep.get("record_cpu_seconds")
        out[-1] += (f" Recording the demonstrations took {fig(rep['record_seconds'], '.1f')} s"
                    + (f" ({fig(cpu, '.1f')} s of CPU)" if cpu is not None else "") + "; "
                    "the minutes are wall-clock and the process's CPU time (all its threads) on "
                    "the machine named in the JSON.")
    return "\n".join(out)


def block_scaling(fig):
    """docs/sims.md: VecEnv's 2-thread speed-up beside two independent processes' (scaling.json)."""
    rep = load("scaling.json")
    out = ["| env | VecEnv: 2 threads / 1 | two processes at once / one alone (the ceiling) | share of the ceiling |",
           "|---|---:|---:|---:|"]
    for r in rep["rows"]:
        out.append(f"| {r['label']} `{r['env']}` | {fig(r['speedup'], '.2f')}× | "
                   f"{fig(r['ceiling'], '.2f')}× | {fig.pct(r['share'], 0)} |")
    arm = [r for r in rep["rows"] if r["env"].startswith("Arm-")]
    arm_low = min((r["speedup"] for r in arm), default=0)
    arm_high = max((r["speedup"] for r in arm), default=0)
    share_low = min((r["share"] for r in arm), default=0)
    share_high = max((r["share"] for r in arm), default=0)
    low = min(r["ceiling"] for r in rep["rows"])
    high = max(r["ceiling"] for r in rep["rows"])
    out += ["", f"`{rep['command']}` on {rep['machine']}, commit `{rep['commit'][:12]}`: "
            f"{rep['num_envs']} envs, {fig(rep['seconds_per_measurement'], 'g')} s per measurement in "
            f"{rep['windows']} windows (the median window), the median of "
            f"{len(rep['rows'][0]['repeats'])} repeats. Two processes that share nothing gain "
            f"{fig(low, '.2f')}–{fig(high, '.2f')}× here, so a 2-thread speed-up above that "
            "cannot be measured on this machine. "
            + (f"The arm envs' VecEnv speed-ups, {fig(arm_low, '.2f')}–{fig(arm_high, '.2f')}×, "
               f"are {fig.pct(share_low, 0)}–{fig.pct(share_high, 0)} of what the machine "
               "allowed in the same run. " if arm else "")
            + "The machine is shared and noisy; rerun on yours."]
    return "\n".join(out)


BLOCKS = {"bench": block_bench, "peers": block_peers, "exploration": block_exploration,
          "policies": block_policies, "bridge": block_bridge, "peer_table": block_peer_table,
          "time_to_solve": block_time_to_solve, "vla_bc": block_vla_bc,
          "vla_bc_push": lambda fig: block_vla_bc(fig, "vla_bc_push", 0.6),
          "vla_bc_fetch7_joint_deltas":
              lambda fig: block_vla_bc(fig, "vla_bc_fetch7_joint_deltas", 0.9),
          "vla_bc_push_fetch7_joint_deltas":
              lambda fig: block_vla_bc(fig, "vla_bc_push_fetch7_joint_deltas", 0.6),
          "arm_speed": block_arm_speed, "scripted": block_scripted, "scaling": block_scaling}
# Where the blocks live; the numbers check reads README.md's prose.
FILES = [README, os.path.join(RESULTS, "README.md"), os.path.join(ROOT, "docs", "python.md"),
         os.path.join(ROOT, "docs", "grpo.md"), os.path.join(ROOT, "docs", "sims.md")]
BLOCK_RE = re.compile(r"<!-- results:(\w+) -->\n(?:.*?\n)?<!-- /results:\1 -->", re.S)


def render_all(skip_missing=False):
    fig = Figures()
    out = {}
    for name, f in BLOCKS.items():
        try:
            out[name] = f(fig)
        except Missing as e:
            if not skip_missing:
                raise
            print(f"results render: block `{name}` left as it is: {e}", file=sys.stderr)
    return out, fig.values


def rewrite(text, blocks):
    def sub(m):
        name = m.group(1)
        if name not in BLOCKS:
            raise SystemExit(f"unknown results block `{name}`")
        if name not in blocks:
            return m.group(0)
        return f"<!-- results:{name} -->\n{blocks[name]}\n<!-- /results:{name} -->"
    return BLOCK_RE.sub(sub, text)


# ---------------------------------------------------------------------------------------------
# The numbers check

NUMBER = re.compile(r"(?<![\w.\-/])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s?([kM]))?(\s?%)?(?![\w/])")


def artifact_values():
    vals = []
    def walk(o):
        if isinstance(o, bool):
            return
        if isinstance(o, (int, float)):
            vals.append(float(o))
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list) and len(o) <= 32:
            # Long lists are curves: tens of thousands of points would match almost any
            # number by chance. Figures drawn from a curve are derived by the blocks.
            for v in o:
                walk(v)
    for dirpath, _, files in os.walk(RESULTS):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if f.endswith(".json"):
                with open(path) as fh:
                    walk(json.load(fh))
            elif f.endswith(".md") and path != os.path.join(RESULTS, "README.md"):
                # The reports the experiment commands write beside their JSON (tables of means
                # and spreads over seeds); docs/results/README.md is an index, not a report.
                with open(path) as fh:
                    # A negative value's magnitude is what prose matches ("−6.41").
                    text = re.sub(r"(?<![\w.])-(?=\d)", " ", prose(fh.read()))
                    for m in NUMBER.finditer(text):
                        token, mult, _ = m.groups()
                        scale = {"k": 1e3, "M": 1e6}.get(mult or "", 1.0)
                        vals.append(float(token.replace(",", "")) * scale)
                        if m.group(3):
                            vals.append(float(token.replace(",", "")) / 100.0)
    return vals


def prose(text):
    """README without fenced code, code spans, link targets, image lines and HTML comments."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text


def matches(token, mult, pct, values):
    digits = token.replace(",", "")
    n = float(digits)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    scale = {"k": 1e3, "M": 1e6}.get(mult or "", 1.0)
    half = 0.5 * 10 ** -decimals * scale
    targets = [n * scale]
    if pct:
        targets.append(n / 100.0)
    for t in targets:
        tol = half if t == n * scale else half / 100.0
        # A whole number may be an exact count; allow the rounding either way.
        if any(abs(v - t) <= tol + 1e-9 * max(1.0, abs(t)) for v in values):
            return True
    return False


def check():
    problems = []
    try:
        blocks, derived = render_all()
    except Missing as e:
        print(f"results check: {e}", file=sys.stderr)
        return 1
    found = set()
    for path in FILES:
        with open(path) as f:
            text = f.read()
        found |= {m.group(1) for m in BLOCK_RE.finditer(text)}
        if rewrite(text, blocks) != text:
            problems.append(f"{os.path.relpath(path, ROOT)}: results blocks differ from what the "
                            "data give; run `python3 scripts/results.py render` (and regenerate "
                            "the data with scripts/reproduce.sh if a figure should move)")
    for name in BLOCKS:
        if name not in found:
            problems.append(f"no file has a `<!-- results:{name} -->` block")
    with open(README) as f:
        text = f.read()
    values = artifact_values() + derived
    for lineno, line in enumerate(prose(text).splitlines(), 1):
        for m in NUMBER.finditer(line):
            token, mult, pct = m.group(1), m.group(2), m.group(3)
            if not matches(token, mult, pct, values):
                problems.append(f"README.md: `{m.group(0).strip()}` in “{line.strip()[:90]}” "
                                "matches no artifact under docs/results/")
    # docs/*.md: the numbers that state a measurement — a decimal, a percentage, a k/M rate or
    # a count written with thousands separators — must be in an artifact too. Whole numbers
    # there are mostly settings and sizes; settings written as values go in code spans.
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(path) as f:
            text = f.read()
        for line in prose(text).splitlines():
            for m in NUMBER.finditer(line):
                token, mult, pct = m.group(1), m.group(2), m.group(3)
                if not (mult or pct or "." in token or "," in token):
                    continue
                if not matches(token, mult, pct, values):
                    problems.append(f"{os.path.relpath(path, ROOT)}: `{m.group(0).strip()}` in "
                                    f"“{line.strip()[:90]}” matches no artifact under "
                                    "docs/results/")
    for p in problems:
        print(f"results check: {p}", file=sys.stderr)
    if not problems:
        print(f"results check: the {len(found)} results blocks match the data, every number "
              "in README.md's prose and every measured figure in docs/*.md is in an artifact")
    return 1 if problems else 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "render":
        blocks, _ = render_all(skip_missing=True)
        for path in FILES:
            with open(path) as f:
                text = f.read()
            new = rewrite(text, blocks)
            with open(path, "w") as f:
                f.write(new)
            print(f"{os.path.relpath(path, ROOT)}: results blocks "
                  + ("rewritten" if new != text else "unchanged"))
        return 0
    if cmd == "check":
        return check()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

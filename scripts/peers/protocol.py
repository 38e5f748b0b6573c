"""The measurement protocol every peer comparison in scripts/peers/ follows, and its report.

Both sides of a comparison are measured the same way, in one script, pinned to the same core:
one warm-up window that is thrown away, then N timed windows of equal length (or of equal
work, for steps too long to cut into seconds); the figure is the median window, shown with the
slowest and fastest. `write` keeps both sides' windows, the ratio of the medians, the command,
the commit and the machine in docs/results/peers/<name>.json, and renders <name>.md from it.

Used by the peer scripts' Python halves (standard library only):
    python3 scripts/peers/protocol.py write < report.json   # fill in, write, print
    python3 scripts/peers/protocol.py render                # every <name>.md from its JSON
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "docs", "results", "peers")


def summary(values):
    """Median, min and max of per-window rates, with the windows themselves."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no windows measured")
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


def timed_windows(step, seconds, windows, units_per_step=1):
    """Rates (units/s) of `windows` windows of seconds/windows each, after one warm-up window.

    `step()` does one unit of work (returns nothing); the clock is read after every step, as
    the Rust side reads it after every chunk of steps.
    """
    window = seconds / windows
    rates = []
    for w in range(windows + 1):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < window:
            step()
            n += 1
        if w > 0:
            rates.append(n * units_per_step / (time.perf_counter() - start))
    return rates


def machine():
    cores = os.cpu_count() or 0
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cores} cores, {model}"


def commit():
    def git(*args):
        r = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    head = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + ("-dirty" if dirty else "")


def fmt_rate(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:,.0f}"


def render(report):
    """The Markdown of a report: every row, its windows' spread and the ratio of medians."""
    p = report["protocol"]
    c = report["commit"]
    short = c[:12] + ("-dirty" if c.endswith("-dirty") else "")
    lines = [f"# {report['title']}", "",
             f"`{report['command']}` — commit `{short}`, {report['machine']}, "
             f"{report['date']}. Protocol, both sides: {p.get('warmup', '1 warm-up window')}, then "
             f"{p['windows']} timed windows ({p['window']}), pinned to core {p['core']}; the "
             "median window, with the slowest and fastest in brackets.", ""]
    if report.get("versions"):
        lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".", ""]
    lines += ["| comparison | unit | Spelunk | peer | ratio |", "|---|---|---:|---:|---:|"]
    for r in report["rows"]:
        s, q = r["spelunk"], r["peer"]
        lines.append(
            f"| {r['label']} | {r['unit']} | {fmt_rate(s['median'])} ({fmt_rate(s['min'])}–"
            f"{fmt_rate(s['max'])}) | {r['peer_name']}: {fmt_rate(q['median'])} "
            f"({fmt_rate(q['min'])}–{fmt_rate(q['max'])}) | {r['ratio']:.2f}× |")
    for note in report.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write(report):
    """Fill in provenance and ratios, write <name>.json and <name>.md, print the table."""
    report.setdefault("commit", commit())
    report.setdefault("machine", machine())
    report.setdefault("date", datetime.date.today().isoformat())
    for r in report["rows"]:
        r["spelunk"] = summary(r["spelunk"]) if isinstance(r["spelunk"], list) else r["spelunk"]
        r["peer"] = summary(r["peer"]) if isinstance(r["peer"], list) else r["peer"]
        r["ratio"] = r["spelunk"]["median"] / r["peer"]["median"]
    os.makedirs(OUT, exist_ok=True)
    base = os.path.join(OUT, report["name"])
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    text = render(report)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {os.path.relpath(base, ROOT)}.{{json,md}}")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "write":
        write(json.load(sys.stdin))
    elif len(sys.argv) == 2 and sys.argv[1] == "render":
        # Rewrite every report's Markdown from its JSON (after a change of this file's layout).
        for f in sorted(os.listdir(OUT)):
            if f.endswith(".json"):
                with open(os.path.join(OUT, f)) as fh:
                    text = render(json.load(fh))
                with open(os.path.join(OUT, f[:-5] + ".md"), "w") as fh:
                    fh.write(text)
    else:
        sys.exit(__doc__)

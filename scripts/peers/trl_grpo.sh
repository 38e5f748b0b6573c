#!/usr/bin/env bash
# Spelunk's text-policy GRPO vs TRL's GRPOTrainer on the same tiny Llama
# (tests/fixtures/tiny-llama: 2 layers, width 32, 4 heads on 2 key/value heads, a character
# tokenizer), the same prompt (the text bandit's first observation), one group of 8
# completions of 3 tokens per step, sampling at temperature 1, one optimiser step per
# generation round, CPU, one thread each, both pinned to core 0, in this one run with one
# protocol (scripts/peers/protocol.py): one warm-up step, then 5 timed windows of equal work
# (`steps` steps each); the median window. TRL's clock is read by a callback at the end of
# each training step, so its trainer set-up and first step are outside every window, as
# Spelunk's are. Tokens/s counts prompt + completion tokens of every completion over whole
# steps (generation and update); peak memory is each process's peak resident set.
#
# Not equal work by design, and labelled: Spelunk runs the group's shared prompt through the
# model once and samples the 8 completions from its key/value cache; TRL's generation runs
# the prompt for each completion.
#
#   bash scripts/peers/trl_grpo.sh [steps-per-window]
#
# Writes docs/results/peers/trl_grpo.{json,md} and prints the table. Needs python3 with venv
# and PyPI for the first run: it makes .venv-trl/ at the repo root (git ignores it) with
# torch, transformers and trl.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps="${1:-4}"
windows=5
venv="${TRL_VENV:-.venv-trl}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import trl' 2>/dev/null; then
  "$venv/bin/pip" install -q torch transformers trl datasets
fi
cargo build -q --release -p spelunk-grpo --example text_grpo_throughput
ours=$(RAYON_NUM_THREADS=1 taskset -c 0 "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/text_grpo_throughput" "$steps" cpu \
  tests/fixtures/tiny-llama "$windows")
theirs=$(OMP_NUM_THREADS=1 taskset -c 0 "$venv/bin/python" - "$steps" "$windows" <<'PY' 2>/dev/null
import json, os, resource, sys, time
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

torch.set_num_threads(1)
steps, windows = int(sys.argv[1]), int(sys.argv[2])
total = 1 + steps * windows
d = "tests/fixtures/tiny-llama"
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), unk_token="<unk>",
                              pad_token="<unk>", eos_token="<unk>", bos_token="<unk>")
prompt = ("You face a bandit with 5 arms, numbered 0 to 4. You have not pulled yet. "
          "Total reward so far 0.000. Each episode has 1 pulls. Answer with an arm number.")
def reward(completions, **kw):
    return [1.0 if any(c.isdigit() for c in s) else -1.0 for s in completions]

class Clock(TrainerCallback):
    def __init__(self):
        self.ends = []
    def on_step_end(self, args, state, control, **kw):
        self.ends.append(time.perf_counter())

model = AutoModelForCausalLM.from_pretrained(d)
for k in ("pad_token_id", "eos_token_id", "bos_token_id"):
    setattr(model.generation_config, k, 0)
    setattr(model.config, k, 0)
cfg = GRPOConfig(output_dir="/tmp/spelunk-trl", per_device_train_batch_size=8,
                 num_generations=8, max_completion_length=3, max_steps=total, learning_rate=3e-3,
                 temperature=1.0, logging_steps=1000, report_to=[], use_cpu=True,
                 save_strategy="no", bf16=False, disable_tqdm=True)
ds = Dataset.from_dict({"prompt": [prompt] * (8 * total)})
clock = Clock()
tr = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=ds,
                 processing_class=tok, callbacks=[clock])
tr.train()
assert len(clock.ends) == total, f"{len(clock.ends)} steps ended, expected {total}"
per = len(tok(prompt)["input_ids"]) + 3
# Step 1 (the first end) warms up; window w spans the ends of steps 1 + (w-1)*steps .. 1 + w*steps.
rates = [steps * 8 * per / (clock.ends[w * steps] - clock.ends[(w - 1) * steps])
         for w in range(1, windows + 1)]
print(f"tokens_per_sec_windows {json.dumps(rates)}")
print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}")
PY
)
versions=$("$venv/bin/python" -c 'import torch, transformers, trl; print(torch.__version__, transformers.__version__, trl.__version__)' 2>/dev/null)
python3 - "$ours" "$theirs" "$versions" "$steps" "$windows" <<'PY' | python3 scripts/peers/protocol.py write
import json, sys
def parse(s):
    out = {}
    for line in s.strip().splitlines():
        key, _, value = line.partition(" ")
        if key == "tokens_per_sec_windows":
            out[key] = json.loads(value)
        elif key == "peak_rss_mb":
            out[key] = float(value)
    return out
ours, theirs = parse(sys.argv[1]), parse(sys.argv[2])
torch, tf, trl = sys.argv[3].split()
steps, windows = sys.argv[4], int(sys.argv[5])
print(json.dumps({
    "name": "trl_grpo",
    "title": "Text-policy GRPO on a tiny Llama: Spelunk vs TRL's GRPOTrainer",
    "command": "bash scripts/peers/trl_grpo.sh " + steps,
    "protocol": {"warmup_windows": 1, "warmup": "one warm-up step", "windows": windows,
                 "window": f"{steps} steps each", "core": 0},
    "versions": {"torch": torch, "transformers": tf, "trl": trl},
    "rows": [{"label": "1 group of 8 × 3 tokens per step, one thread; Spelunk shares the "
                       "group's prompt pass (one prompt forward, completions from its "
                       "key/value cache), TRL runs it per completion",
              "unit": "tokens/s", "spelunk": ours["tokens_per_sec_windows"],
              "peer_name": f"TRL {trl}", "peer": theirs["tokens_per_sec_windows"],
              "headline": True}],
    "peak_rss_mb": {"spelunk": ours["peak_rss_mb"], "peer": theirs["peak_rss_mb"]},
    "notes": [f"Peak resident memory: Spelunk {ours['peak_rss_mb']:.0f} MB, TRL "
              f"{theirs['peak_rss_mb']:.0f} MB ({theirs['peak_rss_mb'] / ours['peak_rss_mb']:.1f}× less)."],
}))
PY

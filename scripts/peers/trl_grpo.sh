#!/usr/bin/env bash
# Spelunk's text-policy GRPO vs TRL's GRPOTrainer on the same tiny Llama
# (tests/fixtures/tiny-llama: 2 layers, width 32, 4 heads on 2 key/value heads, a character
# tokenizer), the same prompt (the text bandit's first observation), one group of 8
# completions of 3 tokens per step, sampling at temperature 1, one optimiser step per
# generation round, CPU, one thread each, both in this one run. Tokens/s counts prompt +
# completion tokens of every completion over whole steps (generation and update); peak memory
# is each process's peak resident set.
#
#   bash scripts/peers/trl_grpo.sh [steps]
#
# Needs python3 with venv and PyPI for the first run: it makes .venv-trl/ at the repo root
# (git ignores it) with torch, transformers and trl.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps="${1:-20}"
venv="${TRL_VENV:-.venv-trl}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import trl' 2>/dev/null; then
  "$venv/bin/pip" install -q torch transformers trl datasets
fi
cargo build -q --release -p spelunk-grpo --example text_grpo_throughput
ours=$(RAYON_NUM_THREADS=1 taskset -c 0 ./target/release/examples/text_grpo_throughput "$steps")
theirs=$(OMP_NUM_THREADS=1 taskset -c 0 "$venv/bin/python" - "$steps" <<'PY' 2>/dev/null
import os, resource, sys, time
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer

torch.set_num_threads(1)
steps = int(sys.argv[1])
d = "tests/fixtures/tiny-llama"
tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), unk_token="<unk>",
                              pad_token="<unk>", eos_token="<unk>", bos_token="<unk>")
prompt = ("You face a bandit with 5 arms, numbered 0 to 4. You have not pulled yet. "
          "Total reward so far 0.000. Each episode has 1 pulls. Answer with an arm number.")
def reward(completions, **kw):
    return [1.0 if any(c.isdigit() for c in s) else -1.0 for s in completions]
def run(n):
    model = AutoModelForCausalLM.from_pretrained(d)
    for k in ("pad_token_id", "eos_token_id", "bos_token_id"):
        setattr(model.generation_config, k, 0)
        setattr(model.config, k, 0)
    cfg = GRPOConfig(output_dir="/tmp/spelunk-trl", per_device_train_batch_size=8,
                     num_generations=8, max_completion_length=3, max_steps=n, learning_rate=3e-3,
                     temperature=1.0, logging_steps=1000, report_to=[], use_cpu=True,
                     save_strategy="no", bf16=False, disable_tqdm=True)
    ds = Dataset.from_dict({"prompt": [prompt] * (8 * n)})
    tr = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=ds,
                     processing_class=tok)
    t = time.perf_counter()
    tr.train()
    return time.perf_counter() - t
run(2)  # warm-up
secs = run(steps)
per = len(tok(prompt)["input_ids"]) + 3
print(f"tokens_per_sec {steps * 8 * per / secs}")
print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}")
PY
)
versions=$("$venv/bin/python" -c 'import torch, transformers, trl; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}")' 2>/dev/null)
"$venv/bin/python" - "$ours" "$theirs" "$versions" <<'PY'
import sys
def parse(s):
    keys = ("tokens_per_sec", "peak_rss_mb")
    rows = (line.split() for line in s.strip().splitlines())
    return {r[0]: float(r[1]) for r in rows if len(r) == 2 and r[0] in keys}
ours, theirs = parse(sys.argv[1]), parse(sys.argv[2])
print(f"text GRPO, tiny Llama, 1 group of 8 x 3 tokens per step, one core ({sys.argv[3]})")
print(f"  spelunk   {ours['tokens_per_sec']:>10,.0f} tokens/s   peak {ours['peak_rss_mb']:>7.0f} MB")
print(f"  trl       {theirs['tokens_per_sec']:>10,.0f} tokens/s   peak {theirs['peak_rss_mb']:>7.0f} MB")
print(f"  ratio     {ours['tokens_per_sec'] / theirs['tokens_per_sec']:>10.2f}x tokens/s, "
      f"{theirs['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x less memory")
PY

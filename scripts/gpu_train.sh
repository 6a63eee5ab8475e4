#!/usr/bin/env bash
# Train the MP-20 models longer on one GPU in under 10 minutes: the autoencoder, then the latent flow on its
# latents (the AutoPeri generator), then the structure-prediction crystal flow. Each stage is capped by
# `timeout`; a stage stopped by its cap is exported from its last checkpoint.
#
#   bash scripts/gpu_train.sh [OUT [COPY_TO]]    # OUT defaults to runs/gpu; COPY_TO gets flat copies of the models
#
# It installs nothing: it needs a Python whose torch sees the GPU and that imports the package's dependencies
# ($PYTHON, else .venv/bin/python, else python3 with src/ on PYTHONPATH; scripts/env.sh pins the CPU build of
# torch, so it is not used here). The data come from $AUTOPERI_DATA_ROOT (default ../shared/data).
# Steps and batch sizes assume an H100 at about 20x the 2-core CPU's throughput (4 steps/s of 64 crystals);
# the time caps, not the step counts, bound the run. Override with AE_STEPS, LF_STEPS, CSP_STEPS,
# AE_BATCH, LF_BATCH, CSP_BATCH, AE_SECONDS, LF_SECONDS, CSP_SECONDS, CKPT_EVERY, DATASET; ACCELERATOR=cpu
# with a few steps checks the script without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-runs/gpu}"
copy_to="${2:-}"
dataset="${DATASET:-mp_20}"
accelerator="${ACCELERATOR:-gpu}"
ae_steps="${AE_STEPS:-2000}" ae_batch="${AE_BATCH:-256}" ae_seconds="${AE_SECONDS:-210}"
lf_steps="${LF_STEPS:-2000}" lf_batch="${LF_BATCH:-512}" lf_seconds="${LF_SECONDS:-150}"
csp_steps="${CSP_STEPS:-2000}" csp_batch="${CSP_BATCH:-256}" csp_seconds="${CSP_SECONDS:-120}"
ckpt_every="${CKPT_EVERY:-100}"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

ready_check="
import sys, torch, pymatgen, autoperi.training.train
from autoperi.data import available_splits, data_root
assert sys.argv[1] == 'cpu' or torch.cuda.is_available(), 'torch sees no GPU'
assert 'val' in available_splits(sys.argv[2]), f'no {sys.argv[2]} data under {data_root()}'
"
py=""
for candidate in "${PYTHON:-}" .venv/bin/python python3; do
    if [ -n "$candidate" ] && "$candidate" -c "$ready_check" "$accelerator" "$dataset" 2>/dev/null; then
        py="$candidate"
        break
    fi
done
if [ -z "$py" ]; then
    echo "no usable Python: need torch with a GPU, the package's dependencies and the $dataset data" >&2
    "${PYTHON:-python3}" -c "$ready_check" "$accelerator" "$dataset" || true
    exit 1
fi
"$py" -c "import torch; print('python', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

# Config copies: this run's checkpoint interval, and the latent flow pointed at this run's autoencoder.
mkdir -p "$out/configs"
"$py" - "$dataset" "$out" "$ckpt_every" <<'EOF'
import sys

from autoperi.training.config import load_config, save_config

dataset, out, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
for model in ("autoencoder", "latent_flow", "crystal_flow_csp"):
    config = load_config(f"configs/{dataset}-{model}.yaml")
    config.checkpoint_every_steps = every
    if model == "latent_flow":
        config.model.autoencoder = f"{out}/{dataset}-autoencoder/model.pt"
    save_config(config, f"{out}/configs/{dataset}-{model}.yaml")
EOF

train() {  # model steps batch seconds
    local name="$dataset-$1" steps="$2" batch="$3" seconds="$4"
    local dir="$out/$name" status=0 started=$SECONDS
    if [ -f "$dir/model.pt" ]; then
        echo "== $name: $dir/model.pt exists, skipped"
        return
    fi
    echo "== $name: up to $steps steps, batches of $batch, at most $seconds s"
    timeout --kill-after=20 "$seconds" "$py" -m autoperi.cli.main train --config "$out/configs/$name.yaml" \
        --out "$dir" --max-steps "$steps" --batch-size "$batch" --accelerator "$accelerator" --devices 1 \
        --resume || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        export_checkpoint "$name" "$batch"
    elif [ "$status" -ne 0 ]; then
        echo "$name failed (exit $status)" >&2
        exit "$status"
    fi
    echo "== $name: $((SECONDS - started)) s"
}

export_checkpoint() {  # name batch: model.pt from the last checkpoint of a run stopped by its time cap
    local name="$1" batch="$2" dir="$out/$1" step
    if [ ! -f "$dir/checkpoints/last.ckpt" ]; then
        echo "$name: stopped by its time cap before its first checkpoint" >&2
        exit 1
    fi
    step=$("$py" -c "import sys, torch; print(torch.load(sys.argv[1], map_location='cpu', weights_only=False)['global_step'])" \
        "$dir/checkpoints/last.ckpt")
    echo "== $name: time cap reached; exporting its checkpoint at step $step"
    # Resuming with max_steps at the checkpoint's step trains nothing and writes model.pt.
    "$py" -m autoperi.cli.main train --config "$out/configs/$name.yaml" --out "$dir" --max-steps "$step" \
        --batch-size "$batch" --accelerator "$accelerator" --devices 1 --resume
}

train autoencoder "$ae_steps" "$ae_batch" "$ae_seconds"
train latent_flow "$lf_steps" "$lf_batch" "$lf_seconds"
train crystal_flow_csp "$csp_steps" "$csp_batch" "$csp_seconds"

echo "== trained models"
for model in autoencoder latent_flow crystal_flow_csp; do
    path="$out/$dataset-$model/model.pt"
    "$py" -c "import sys, torch; m = torch.load(sys.argv[1], weights_only=True)['metadata']; \
print(sys.argv[1] + ':', m['steps'], 'steps on', m['train_crystals'], 'crystals')" "$path"
    if [ -n "$copy_to" ]; then
        mkdir -p "$copy_to"
        cp "$path" "$copy_to/$dataset-$model.pt"
    fi
done
echo "next, on a CPU, tune sampling on val: python benchmarks/tune_anneal.py --dataset $dataset --write --model M"
echo "for M in $out/$dataset-autoencoder $out/$dataset-latent_flow $out/$dataset-crystal_flow_csp"

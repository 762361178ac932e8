#!/usr/bin/env bash
# Rebuild src/roberta_prelayernorm/models/default: the small RoBERTa-PreLayerNorm bundled with the package
# (it ships inside the wheel; the pipelines and `rpln` use it when no model is given).
#
# 1. downloads Debian's `wordnet-base` package (WordNet 3.0, permissive license) and extracts it
#    into a temporary folder (no root install);
# 2. turns its glosses and example sentences into a corpus, one synset per line;
# 3. runs `rpln pretrain` (a new byte-level BPE tokenizer, then masked-LM pretraining);
# 4. copies the model, tokenizer, metrics and loss curve into src/roberta_prelayernorm/models/default and writes the model card.
#
# Usage: bash scripts/make_bundled_model.sh [WORK_DIR]      (about 35 minutes on 2 CPU cores)
# Needs apt-get (Debian/Ubuntu) and the package installed with the `train` extra (matplotlib).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d)}"
OUT="$ROOT/src/roberta_prelayernorm/models/default"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f corpus.txt ]; then
    apt-get download wordnet-base
    dpkg -x wordnet-base_*.deb wordnet
    "$PYTHON" "$ROOT/scripts/wordnet_corpus.py" wordnet/usr/share/wordnet > corpus.txt
fi
sha256sum corpus.txt > corpus.sha256

# The exact training commands (written into the model card). Two phases, as BERT's: blocks of 32 tokens
# first, where a model this small starts using its context within a few hundred updates (with blocks of
# 128 it stays at the unigram loss for well over 1,000), then blocks of 128 from that model.
COMMON=(--train corpus.txt --documents line --eval-fraction 0.01 --mask-rate 0.4 --mask-split 100/0/0
    --warmup-ratio 0.06 --precision bf16 --seed 0 --log-every 10 --keep-checkpoints 1 --no-progress)
PHASE1=("$PYTHON" -m roberta_prelayernorm pretrain "${COMMON[@]}"
    --vocab-size 4096 --block-size 32 --max-positions 128
    --hidden-size 256 --layers 4 --heads 4 --intermediate-size 1024 --dropout 0.0 --init-std 0.05
    --batch-size 128 --max-steps 1500 --lr 1e-3 --eval-every 500 --save-every 250 --output phase1)
PHASE2=("$PYTHON" -m roberta_prelayernorm pretrain "${COMMON[@]}"
    --model phase1 --block-size 128
    --batch-size 64 --max-steps 800 --lr 5e-4 --eval-every 200 --save-every 200 --save-dtype float16 --output phase2)
{ printf '%q ' "${PHASE1[@]}"; echo; printf '%q ' "${PHASE2[@]}"; echo; } \
    | sed "s|$PYTHON -m roberta_prelayernorm|rpln|" > command.txt

run_phase() {  # resume a phase that was cut off, skip one that finished
    local out="${!#}" cmd=("$@")
    if [ -f "$out/eval_results.json" ]; then return; fi
    if [ -d "$out/checkpoints" ]; then "${cmd[@]}" --resume; else "${cmd[@]}" --overwrite; fi
}
run_phase "${PHASE1[@]}"
run_phase "${PHASE2[@]}"

rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
for f in config.json model.safetensors tokenizer.json vocab.json merges.txt tokenizer_config.json \
         special_tokens_map.json eval_results.json training_config.json; do
    cp "phase2/$f" "$OUT.tmp/"
done
"$PYTHON" "$ROOT/scripts/write_model_card.py" "$OUT.tmp" --phase1 phase1 --phase2 phase2 --command "$(cat command.txt)" \
    --corpus-sha256 "$(cut -d' ' -f1 corpus.sha256)" --corpus-lines "$(wc -l < corpus.txt)"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
echo "wrote $OUT"

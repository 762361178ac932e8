"""Write README.md (the model card), metrics.jsonl and loss_curve.png of the bundled model from its two
pretraining phases (see scripts/make_bundled_model.sh).

    python scripts/write_model_card.py MODEL_DIR --phase1 RUN1 --phase2 RUN2 --command "rpln pretrain ..."
        [--corpus-sha256 HEX] [--corpus-lines N]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def anonymised(config: dict) -> dict:
    """A run's settings without the paths of the machine that trained it."""
    out = dict(config)
    for key in ("output_dir", "model", "resume"):
        if isinstance(out.get(key), str) and os.path.isabs(out[key]):
            out[key] = os.path.basename(out[key])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--phase1", type=Path, required=True)
    parser.add_argument("--phase2", type=Path, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--corpus-sha256", default="")
    parser.add_argument("--corpus-lines", default="")
    args = parser.parse_args()
    folder: Path = args.folder
    phases = [args.phase1, args.phase2]
    configs = [json.loads((p / "training_config.json").read_text()) for p in phases]
    results = [json.loads((p / "eval_results.json").read_text()) for p in phases]
    config = json.loads((folder / "config.json").read_text())

    # one metrics file over both phases: phase-2 steps continue the count of phase 1
    records, offset, minutes = [], 0, 0.0
    for n, phase in enumerate(phases, 1):
        phase_records = read_jsonl(phase / "metrics.jsonl")
        records += [{**r, "phase": n, "step": r["step"] + offset, "phase_step": r["step"]} for r in phase_records]
        offset += configs[n - 1]["max_steps"]
        minutes += max((r["elapsed_s"] for r in phase_records if "elapsed_s" in r), default=0.0) / 60
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "training_config.json").write_text(
        json.dumps({"phase1": anonymised(configs[0]), "phase2": anonymised(configs[1])}, indent=2, sort_keys=True) + "\n"
    )
    (folder / "eval_results.json").write_text(
        json.dumps({"phase1": results[0], "phase2": results[1]}, indent=2, sort_keys=True) + "\n"
    )

    from roberta_prelayernorm import RobertaPreLayerNormForMaskedLM
    from roberta_prelayernorm.training.monitor import plot_loss_curve

    if not plot_loss_curve(str(folder / "metrics.jsonl"), str(folder / "loss_curve.png"),
                           title=f"MLM loss (phase 1: blocks of {configs[0]['block_size']}; "
                                 f"phase 2 from update {configs[0]['max_steps']}: blocks of {configs[1]['block_size']})"):
        raise SystemExit("the loss curve needs matplotlib: pip install -e '.[train]'")

    params = RobertaPreLayerNormForMaskedLM.from_pretrained(folder).num_parameters()
    size_mb = os.path.getsize(folder / "model.safetensors") / 1e6
    tokens = [r["step"] * c["global_batch"] * c["block_size"] for r, c in zip(results, configs)]
    first = configs[0]
    phase_rows = "\n".join(
        f"| {n} | blocks of {c['block_size']} tokens | {r['step']} × {c['global_batch']} blocks = "
        f"{t / 1e6:.1f}M tokens | {c['lr']:g} |"
        for n, (c, r, t) in enumerate(zip(configs, results, tokens), 1)
    )
    eval_rows = "\n".join(
        f"| after phase {n} (blocks of {c['block_size']}) | **{r['eval_accuracy']:.1%}** | {r['eval_loss']:.3f} "
        f"| {r['unigram_accuracy']:.1%} | {r['unigram_loss']:.3f} | {r['eval_targets']:,} |"
        for n, (c, r) in enumerate(zip(configs, results), 1)
    )
    card = f"""---
license: other
license_name: wordnet-3.0
language: en
library_name: roberta_prelayernorm
tags: [roberta-prelayernorm, fill-mask, tiny]
---

# roberta-prelayernorm tiny (WordNet)

A small RoBERTa-PreLayerNorm (pre-LN RoBERTa) masked language model, bundled with this package so that
the pipelines, the CLI and `make demo` work with no network. It was pretrained from scratch with
`rpln pretrain` on one 2-core CPU machine: it knows some English and the style of dictionary
definitions, and it is **a demo and test model, not a useful language model**. Use a published
checkpoint (e.g. `andreasmadsen/efficient_mlm_m0.40`) for real work.

| | |
| --- | --- |
| parameters | {params:,} ({size_mb:.1f} MB as float16 safetensors; loads as float32) |
| shape | {config['num_hidden_layers']} layers, hidden {config['hidden_size']}, {config['num_attention_heads']} heads, FFN {config['intermediate_size']}, vocabulary {config['vocab_size']} (byte-level BPE trained on the corpus), inputs of up to {config['max_position_embeddings'] - config['pad_token_id'] - 1} tokens |
| objective | masked LM, {first['mask_rate']:.0%} of the tokens of each block chosen, all replaced by `<mask>` (the efficient-MLM recipe), loss only at the chosen positions |
| optimiser | AdamW β=(0.9, 0.98), ε=1e-6, weight decay 0.01 (not on biases and LayerNorms), {first['warmup_ratio']:.0%} linear warmup then linear decay in each phase, no clipping, bf16 autocast, no dropout |
| compute | {minutes:.0f} minutes on 2 CPU cores |

Training ran in two phases, as BERT's (short blocks first): with blocks of 128 tokens, each packing
about five unrelated dictionary entries, a model this small stayed at the unigram loss for well over
1,000 updates in our trials; with blocks of 32 it starts using its context after a few hundred.

| phase | data | updates | peak lr |
| --- | --- | --- | --- |
{phase_rows}

## Held-out evaluation

Masked positions of held-out synsets (1% of the corpus, set aside before training, the same in both
phases), masked as in training. The unigram baseline always predicts the most frequent training
token (its loss uses the add-one-smoothed unigram probabilities): a model at the baseline has learnt
nothing from context.

| | MLM accuracy | MLM loss (nats) | unigram accuracy | unigram loss | masked positions |
| --- | --- | --- | --- | --- | --- |
{eval_rows}

![training and held-out loss](loss_curve.png)

`metrics.jsonl` holds the loss, accuracy, learning rate and throughput logged during both phases
(`step` counts across them, `phase_step` within one); `training_config.json` every setting of each run;
`eval_results.json` the held-out results above.

## Corpus and license

The glosses and example sentences of **WordNet 3.0** ({args.corpus_lines.strip()} synsets, one per line:
`lemma, lemma: gloss; "example"`), from Debian's `wordnet-base` package (`/usr/share/wordnet/data.*`),
converted by `scripts/wordnet_corpus.py` (corpus sha256 `{args.corpus_sha256}`).

WordNet 3.0 license: permission to use, copy, modify and distribute WordNet for any purpose and without
fee or royalty is granted, provided the copyright notice and statements below appear on all copies.

> WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
> THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
> WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO
> REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
> OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS,
> COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS. The name of Princeton University or Princeton may not be used
> in advertising or publicity pertaining to distribution of the software and/or database. Title to
> copyright in this software, database and any associated documentation shall at all times remain with
> Princeton University and LICENSEE agrees to preserve same.

The model weights and these files are distributed under the same terms.

## How it was made

`bash scripts/make_bundled_model.sh` (in a source checkout) downloads the corpus, trains the tokenizer
and both phases, and rewrites this folder. The training commands (from the corpus folder):

```
{args.command.strip()}
```

## Use

```python
from roberta_prelayernorm import RobertaPreLayerNormForMaskedLM
from roberta_prelayernorm.pipelines import default_model_path, pipeline

model = RobertaPreLayerNormForMaskedLM.from_pretrained(default_model_path())   # this folder
fill = pipeline("fill-mask")                                                     # uses it by default
```

It also loads in `transformers` (`RobertaPreLayerNormForMaskedLM`, `AutoTokenizer`).
"""
    (folder / "README.md").write_text(card)
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main()

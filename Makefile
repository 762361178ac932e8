# Set-up and everyday commands. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned: here torch==2.13.0 is a local CPU wheel; any other spec downloads several GB.
TORCH ?= torch==2.13.0

GOLDEN_VENV := .venv-golden
GOLDEN_FLAX_VENV := .venv-golden-flax
GOLDEN_TF_VENV := .venv-golden-tf

.PHONY: install demo test test-fast golden bench bundled-model clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)" -e ".[test,train,tf,flax]"
	touch $@

install: $(VENV)/.installed

# The README's main command: the bundled model (src/roberta_prelayernorm/models/default) through the CLI.
demo: $(VENV)/.installed
	@echo "== rpln info: the bundled model"
	@$(VENV)/bin/rpln info
	@echo
	@echo "== rpln fill-mask: the most likely tokens at <mask>"
	@$(VENV)/bin/rpln fill-mask --top-k 3 \
		"the capital and largest city of <mask>" \
		"the <mask> of the United States" \
		"a sweet food made from <mask>"
	@echo
	@echo "== rpln embed --similarity: cosine similarity of mean-pooled sentence embeddings"
	@$(VENV)/bin/rpln embed --similarity \
		"a small domesticated carnivorous mammal" \
		"a young dog kept as a pet" \
		"a financial institution that accepts deposits" \
		"an organization that lends money to businesses"

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

# Golden tensors from transformers==4.37.2 in its own pinned environment (see tests/golden/README.md).
$(GOLDEN_VENV)/.installed: tests/reference/requirements-golden.txt
	$(PYTHON) -m venv $(GOLDEN_VENV)
	$(GOLDEN_VENV)/bin/pip install -q -r tests/reference/requirements-golden.txt
	touch $@

# The TF golden files: transformers 4.37.2's TF classes need TensorFlow < 2.16, so their own environment.
$(GOLDEN_TF_VENV)/.installed: tests/reference/requirements-golden-tf.txt
	$(PYTHON) -m venv $(GOLDEN_TF_VENV)
	$(GOLDEN_TF_VENV)/bin/pip install -q -r tests/reference/requirements-golden-tf.txt
	touch $@

# The Flax golden files: transformers 4.37.2's Flax classes need jax 0.4.13 and flax 0.7.0.
$(GOLDEN_FLAX_VENV)/.installed: tests/reference/requirements-golden-flax.txt
	$(PYTHON) -m venv $(GOLDEN_FLAX_VENV)
	$(GOLDEN_FLAX_VENV)/bin/pip install -q -r tests/reference/requirements-golden-flax.txt
	touch $@

golden: $(GOLDEN_VENV)/.installed $(GOLDEN_TF_VENV)/.installed $(GOLDEN_FLAX_VENV)/.installed $(VENV)/.installed
	$(GOLDEN_VENV)/bin/python tests/reference/make_golden.py --out tests/golden
	$(GOLDEN_VENV)/bin/python tests/reference/make_tokenizer_golden.py
	$(GOLDEN_VENV)/bin/python tests/reference/make_pipeline_golden.py --out tests/golden
	$(GOLDEN_VENV)/bin/python tests/reference/make_dropin_golden.py --out tests/golden
	GOLDEN_ORACLE=transformers $(GOLDEN_VENV)/bin/python -m pytest -q --noconftest -p no:cacheprovider tests/test_golden.py
	$(GOLDEN_TF_VENV)/bin/python tests/reference/make_tf_golden.py --out tests/golden/tf
	rm -rf build/tf-ours
	$(PY) tests/reference/make_tf_golden.py --out tests/golden/tf --save-ours build/tf-ours
	$(GOLDEN_TF_VENV)/bin/python tests/reference/make_tf_golden.py --out tests/golden/tf --check-ours build/tf-ours
	$(GOLDEN_FLAX_VENV)/bin/python tests/reference/make_flax_golden.py --out tests/golden/flax --ours-python $(PY)

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_inference.py

# Retrain the bundled model from WordNet (about 25 minutes on 2 cores; needs apt-get and matplotlib).
bundled-model: $(VENV)/.installed
	bash scripts/make_bundled_model.sh

clean:
	rm -rf $(VENV) .venv-golden .venv-golden-tf .venv-golden-flax build/tf-ours .pytest_cache build dist src/*.egg-info

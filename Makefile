# Set-up and everyday commands. `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned: here torch==2.13.0 is a local CPU wheel; any other spec downloads several GB.
TORCH ?= torch==2.13.0

GOLDEN_VENV := .venv-golden

.PHONY: install demo test test-fast golden bench bundled-model clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)" -e ".[test,train]"
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

golden: $(GOLDEN_VENV)/.installed
	$(GOLDEN_VENV)/bin/python tests/reference/make_golden.py --out tests/golden
	$(GOLDEN_VENV)/bin/python tests/reference/make_tokenizer_golden.py
	$(GOLDEN_VENV)/bin/python tests/reference/make_pipeline_golden.py --out tests/golden
	$(GOLDEN_VENV)/bin/python tests/reference/make_dropin_golden.py --out tests/golden
	GOLDEN_ORACLE=transformers $(GOLDEN_VENV)/bin/python -m pytest -q --noconftest -p no:cacheprovider tests/test_golden.py

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_inference.py

# Retrain the bundled model from WordNet (about 25 minutes on 2 cores; needs apt-get and matplotlib).
bundled-model: $(VENV)/.installed
	bash scripts/make_bundled_model.sh

clean:
	rm -rf $(VENV) .venv-golden .pytest_cache build dist src/*.egg-info

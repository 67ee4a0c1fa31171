# One entry point for people and CI. `make test` is what .ci/run calls.
SHELL := /bin/bash
VENV  ?= .venv
BIN   := $(abspath $(VENV))/bin
PY    := $(BIN)/python
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
SANITY_TREE := build/ansible_collections/multiarch/buildhost
# What the lab was built from (issue 25): written after `make lab`, compared with the last passing run's,
# and kept as this machine's last passing one when `make test` passes. A failure's first line names the drift.
MANIFEST := build/lab-manifest.txt
DRIFT := { [ ! -f $(MANIFEST) ] || $(PY) tests/lab/manifest.py diff $(MANIFEST); }
DRIFT_LINE := { [ ! -f $(MANIFEST) ] || $(PY) tests/lab/manifest.py summary $(MANIFEST); }
# Scenario directories hold a molecule.yml; molecule/shared holds task files they include.
SCENARIOS ?= $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))

.PHONY: test venv lab lab-manifest lab-down units integration sanity lint molecule $(addprefix molecule-,$(SCENARIOS)) demo demo-clean bench-smoke clean collection-link

PARTS := lab units integration sanity lint $(addprefix molecule-,$(SCENARIOS)) bench-smoke

test: venv  ## everything CI runs, one part after another, with the wall time of each
	@set -e; rm -f build/times.txt $(MANIFEST); total=$$(date +%s); for part in $(PARTS); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$part || { $(DRIFT_LINE); echo "make test: $$part failed"; exit 1; }; \
	  echo "[time] $$part: $$(( $$(date +%s) - start )) s" | tee -a build/times.txt; \
	  if [ $$part = lab ]; then $(PY) tests/lab/manifest.py write $(MANIFEST); $(DRIFT); fi; \
	done; $(PY) tests/lab/manifest.py passed $(MANIFEST); echo "[time] make test: $$(( $$(date +%s) - total )) s"

venv: $(VENV)/.installed collection-link
	@mkdir -p build
$(VENV)/.installed: requirements.txt requirements-test.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@

collection-link:  ## expose the checkout as ansible_collections/multiarch/buildhost
	@mkdir -p .collection/ansible_collections/multiarch
	@ln -sfn ../../.. .collection/ansible_collections/multiarch/buildhost

lab: venv  ## Docker engine, test-host images, local registry, ansible-test offline bootstrap
	tests/lab/engine.sh up
	tests/lab/images.sh 12 13
	tests/lab/rootfs.sh
	tests/lab/registry.sh up
	tests/lab/buildkit.sh
	tests/lab/cosign.sh
	tests/lab/ansible-test-offline.sh $(PY)

lab-manifest: venv  ## what the lab was built from, and its drift since the last passing make test
	$(PY) tests/lab/manifest.py write $(MANIFEST)
	$(DRIFT)

lab-down:
	tests/lab/registry.sh down
	tests/lab/engine.sh down

units: venv  ## hermetic: no root, no engine, no binfmt_misc (seconds)
	$(BIN)/pytest -q tests/unit

integration: venv  ## modules as root against the lab's engine, binfmt_misc, real users and files (make lab first)
	$(BIN)/pytest -q tests/integration

sanity: venv  ## ansible-test needs the collection under ansible_collections/<ns>/<name>, as a git tree
	rm -rf build/ansible_collections && mkdir -p $(SANITY_TREE)
	git ls-files -co --exclude-standard -z | grep -zvE '^(tests/lab|bench)/' \
	  | grep -zv '^.collection/' | while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done | xargs -0 cp --parents -t $(SANITY_TREE)
	cd $(SANITY_TREE) && git init -q && git add -A && \
	  $(BIN)/ansible-test sanity --local --python 3.11 --color no

lint: venv  ## ansible-lint (production profile) and the changelog fragments (antsibull-changelog)
	$(BIN)/ansible-lint --offline --profile production
	$(BIN)/antsibull-changelog lint

molecule: $(addprefix molecule-,$(SCENARIOS))
# Every scenario runs at -vvv with diffs on, into build/logs/, which tests/leaks/scan_log.py then searches for
# every secret the scenarios use (issue 9). The console gets the log without the -vvv detail, and its tail on failure.
$(addprefix molecule-,$(SCENARIOS)): molecule-%: venv
	@mkdir -p build/logs
	@COLUMNS=400 NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_VERBOSITY=3 ANSIBLE_DIFF_ALWAYS=1 \
	  $(BIN)/molecule test -s $* > build/logs/molecule-$*.log 2>&1 \
	  || { $(DRIFT_LINE); tail -n 150 build/logs/molecule-$*.log; echo "molecule $* failed: build/logs/molecule-$*.log"; exit 1; }
	@sed -E 's/\x1b\[[0-9;]*m//g' build/logs/molecule-$*.log \
	  | grep -E '(PLAY \[|TASK \[|RUNNING HANDLER|fatal:|changed:|failed:|: ok=[0-9]|INFO|WARNING|ERROR)' | cut -c1-200
	$(PY) tests/leaks/scan_log.py $* build/logs/molecule-$*.log

bench-smoke: venv
	$(PY) bench/bench.py --smoke

demo: lab  ## a throwaway Debian 13 build host, prepared and building the example app for 3 platforms
	$(BIN)/ansible-playbook -i examples/demo/inventory.yml examples/demo/demo.yml

demo-clean:  ## remove what the demo created
	docker rm -f mbh-demo 2>/dev/null || true
	docker volume rm mbh-demo-docker mbh-demo-containerd 2>/dev/null || true

clean:
	rm -rf build

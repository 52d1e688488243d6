# Ignity's build targets. `make package` writes into dist/:
#   ignity-VERSION-py3-none-any.whl   for images with pip
#   ignity-VERSION.tar.gz             the sdist
#   ignity-VERSION-seed.tar.gz        for images with python3 and no pip: extract at /
#                                     (ADD it in a Dockerfile), then `python3 -m ignity install`
# The seed archive holds only usr/lib/python3/dist-packages/ignity/ (no entries
# for its parent directories, so extracting it never changes /usr's own modes),
# owned by root, dated the last commit: the same commit gives the same bytes.
#
# Building needs python3 and make, never scripts/setup (no engines, no rootfs): the
# wheel and the sdist come from Python's `build`, PYTHON's when it has it (a
# developer's .venv), else a throwaway venv, build/venv, with build from PyPI.

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/ignity/__init__.py)
# The Python sources and the templates of the programs Ignity writes (src/ignity/sh/).
SOURCES := $(shell find src/ignity \( -name '*.py' -o -path 'src/ignity/sh/*' \) -type f -not -path '*/__pycache__/*' | LC_ALL=C sort)
PYTHON  ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
BUILD_VENV := build/venv
# Debian and Ubuntu's python3 search this directory, whatever their minor version.
SEED_PY := usr/lib/python3/dist-packages
SEED    := dist/ignity-$(VERSION)-seed.tar.gz
WHEEL   := dist/ignity-$(VERSION)-py3-none-any.whl
SDIST   := dist/ignity-$(VERSION).tar.gz
EPOCH   := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: package seed wheel sdist test test-fast e2e footprint clean
.DELETE_ON_ERROR:

package: $(WHEEL) $(SDIST) $(SEED)
	@ls -l $^

seed: $(SEED)

wheel: $(WHEEL)

sdist: $(SDIST)

$(SEED): $(SOURCES) Makefile
	@mkdir -p dist
	rm -rf build/seed
	cd src && for f in $(SOURCES:src/%=%); do install -D -m 0644 "$$f" "../build/seed/$(SEED_PY)/$$f"; done
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(EPOCH) --mode=u=rwX,go=rX \
	    -C build/seed -cf - $(SEED_PY)/ignity | gzip -9n >$@

# python -m build makes the sdist, then the wheel from it (what an installer would see).
$(WHEEL) $(SDIST) &: $(SOURCES) pyproject.toml README.md
	@mkdir -p build dist
	@py=$(PYTHON); $(HAS_BUILD) || { py=$(BUILD_VENV)/bin/python; $(HAS_BUILD) || $(MAKE_VENV); } || exit 1; \
	echo "$$py -m build --outdir dist ."; \
	$$py -m build --outdir dist . >build/python-build.log 2>&1 || { tail -30 build/python-build.log; exit 1; }

# `import build` alone would find the build/ directory (a namespace package).
HAS_BUILD = $$py -c 'from build import ProjectBuilder' 2>/dev/null
# The throwaway venv: python3 -m venv, then its pip installs build. Debian's python3 has
# no ensurepip without python3-venv: its own pip (python3-pip) then fills the venv,
# with pip too (python -m build makes its isolated environment with that pip).
MAKE_VENV = { \
	rm -rf $(BUILD_VENV); \
	if $(PYTHON) -m venv $(BUILD_VENV) >build/venv.log 2>&1; then \
	  echo "$$py -m pip install build"; \
	  $$py -m pip install -q --disable-pip-version-check build; \
	elif rm -rf $(BUILD_VENV) && $(PYTHON) -m venv --without-pip $(BUILD_VENV) && $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  echo "$(PYTHON) -m pip --python $$py install pip build"; \
	  $(PYTHON) -m pip --python $$py install -q --disable-pip-version-check pip build; \
	else \
	  rm -rf $(BUILD_VENV); \
	  echo "make: $(PYTHON) can make no venv with pip ($$(tail -1 build/venv.log)): install python3-venv or python3-pip, or pip install build, or name a python that has it: make PYTHON=..." >&2; \
	  false; \
	fi; }

test:
	scripts/test

# The same with the e2e matrix cut to one cell per test (Podman, Debian 12): for development.
test-fast:
	scripts/test --fast

e2e:
	scripts/setup && .venv/bin/pytest tests/e2e

# bench/footprint.py: what Ignity adds to a Debian slim image, against s6-overlay and tini.
footprint:
	scripts/setup --no-engines && .venv/bin/python bench/footprint.py

clean:
	rm -rf build dist

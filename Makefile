# Two commands do everything on a fresh machine:  make book  |  make test
# Both create .venv (Python 3.10+) and install requirements.txt into it on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -path '*/_build/*' | sort)

.PHONY: install book test unit lab student check-stripped check-student reproduce grade clean

# One torch thread per notebook kernel, for make test AND make book: a thread count changes the order
# of floating-point sums, so the HTML would otherwise show numbers that the tests never checked.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

install: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## make book: execute every notebook afresh and build the HTML book (fails on any warning),
## then write its student edition without solutions to _build/html-student.
## The notebooks run one kernel per core (tools/execute_book.py, longest first) into an emptied
## execution cache, from which jupyter-book renders them (execute_notebooks: cache in _config.yml).
book: install
	rm -rf _build/.jupyter_cache
	$(ONE_THREAD) $(BIN)/python tools/execute_book.py
	$(ONE_THREAD) $(BIN)/jupyter-book build . --all -W -n --keep-going
	$(BIN)/python tools/student_html.py _build/html _build/html-student
	$(BIN)/python tools/student_html.py --verify _build/html-student book
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"
	@echo "The student edition (no solutions) is at file://$(CURDIR)/_build/html-student/index.html"

## make test: unit tests + every notebook under nbval, then the stripped-output and student-copy checks
# One torch thread per kernel: two xdist workers share the two cores without fighting.
test: install check-stripped
	$(ONE_THREAD) $(BIN)/python -m pytest tests book \
	    --nbval-lax -n 2 --dist loadfile --durations=15 -p no:cacheprovider
	$(MAKE) --no-print-directory check-student

## make unit: only the fast unit tests of src/unigen
unit: install
	$(BIN)/python -m pytest tests -q

## make lab: JupyterLab on the book, with the project's kernel
lab: install
	$(BIN)/jupyter lab book

check-stripped: install
	$(BIN)/nbstripout --verify $(NOTEBOOKS)
	@echo "All $(words $(NOTEBOOKS)) notebooks are stripped of outputs."

## make student: copies of every notebook with the solutions removed, in student/
student: install
	$(BIN)/python tools/make_student.py book student

check-student: student
	$(BIN)/python tools/make_student.py --verify student book

## make reproduce CHAPTER=book/03_diffusion/ddpm.ipynb [REF=teacher.json]: re-run one chapter and list
## every recorded number that differs from the reference (default: results/<stem>.json before the run)
reproduce: install
	@test -n "$(CHAPTER)" || { echo "usage: make reproduce CHAPTER=book/<part>/<chapter>.ipynb [REF=file.json]"; exit 2; }
	$(ONE_THREAD) $(BIN)/python tools/reproduce.py $(CHAPTER) $(if $(REF),--reference $(REF))

## make grade SUBMISSIONS=<folder> [OUT=grades]: grade students' notebooks with the book's checks
## (layout and output: python -m unigen.grade --help, or the README's coursework section)
grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder> [OUT=grades]"; exit 2; }
	$(ONE_THREAD) $(BIN)/python -m unigen.grade $(SUBMISSIONS) --out $(or $(OUT),grades)

clean:
	rm -rf _build student results .cache grades

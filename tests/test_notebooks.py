"""Conventions of the committed notebooks (STYLE.md, issue 2 item 9), and that nbval skips stderr.

``notebook_problems`` lists what is wrong with one notebook; it runs on every notebook in
notebooks/ and, so that the checks themselves are tested, on a synthetic good notebook and
on broken copies of it.
"""
import copy
import importlib.util
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

NAME = re.compile(r"[0-9]{2}_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb")
BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                   r"\(https://colab\.research\.google\.com/github/[^)\s]+/blob/[^)\s]+/(notebooks/[^)\s]+)\)")
# An absolute path of a machine: /work/..., /home/..., /root/..., /Users/..., C:\Users\...
ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|root|Users)(?:/|\b)|[A-Za-z]:\\\\?Users")
# TensorFlow's C++/absl log lines, which TF_CPP_MIN_LOG_LEVEL and utils' quiet import keep out of outputs
TF_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|oneDNN custom operations|"
                    r"Could not find cuda drivers|cpu_feature_guard", re.M)
TF_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:keras|tensorflow)\b", re.M)
ASSERT = re.compile(r"^\s*assert\b", re.M)
TRAINING = re.compile(r"\b(?:fit|fit_model|train_on_batch)\s*\(")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")
HEADINGS = ("## Setup", "## Summary", "## Exercises")


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _output_texts(output):
    """The text of an output (streams, text data, tracebacks); images are left out (base64 is no text)."""
    texts = []
    if "text" in output:
        texts.append(_source({"source": output["text"]}))
    for mime in TEXT_MIMES:
        if mime in output.get("data", {}):
            value = output["data"][mime]
            texts.append(value if isinstance(value, str) else json.dumps(value) if mime == "application/json"
                         else "".join(value))
    texts.extend(output.get("traceback", []))
    if "evalue" in output:
        texts.append(output["evalue"])
    return texts


def notebook_problems(notebook, name):
    """Everything about ``notebook`` (a parsed .ipynb) that breaks the series' conventions."""
    problems = []
    cells = notebook.get("cells", [])
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    markdown = [_source(cell) for cell in cells if cell["cell_type"] == "markdown"]

    if not NAME.fullmatch(name):
        problems.append(f"name {name!r} is not NN_snake_case.ipynb")

    # outputs committed, from one fresh top-to-bottom run
    executed = [cell for cell in code if _source(cell).strip()]
    counts = [cell.get("execution_count") for cell in executed]
    if counts != list(range(1, len(executed) + 1)):
        problems.append(f"execution counts are {counts}, not 1..{len(executed)} (run it with `make run`)")
    if not any(cell.get("outputs") for cell in code):
        problems.append("no outputs are committed")
    for number, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"code cell {number} has an error output ({output.get('ename')})")
            elif any("Traceback (most recent call last)" in text for text in _output_texts(output)):
                problems.append(f"code cell {number} prints a traceback")
            if any(TF_LOG.search(text) for text in _output_texts(output)):
                problems.append(f"code cell {number} shows TensorFlow log lines (TF logs not silenced)")

    # no machine-specific absolute paths, in sources or outputs
    for number, cell in enumerate(cells, start=1):
        texts = [_source(cell)] + [t for output in cell.get("outputs", []) for t in _output_texts(output)]
        for text in texts:
            match = ABSOLUTE_PATH.search(text)
            if match:
                context = text[max(0, match.start() - 30):match.end() + 30]
                problems.append(f"cell {number} holds an absolute path: ...{context!r}...")
                break

    # the setup cell: TF logs silenced before keras/tensorflow is imported
    all_code = "\n".join(_source(cell) for cell in code)
    first_import = TF_IMPORT.search(all_code)
    silenced = all_code.find("TF_CPP_MIN_LOG_LEVEL")
    if not code or "TF_CPP_MIN_LOG_LEVEL" not in _source(code[0]):
        problems.append("the first code cell (setup) does not set TF_CPP_MIN_LOG_LEVEL")
    elif first_import and silenced > first_import.start():
        problems.append("TF_CPP_MIN_LOG_LEVEL is set after keras/tensorflow is imported")

    # claims are checked by assert cells (beyond the setup cell's version check)
    if not any(ASSERT.search(_source(cell)) for cell in code[1:]):
        problems.append("no assert cell after the setup cell")

    # output-checked cells are deterministic: no training in them
    for number, cell in enumerate(code, start=1):
        source = _source(cell)
        if "# NBVAL_CHECK_OUTPUT" in source and TRAINING.search(source):
            problems.append(f"code cell {number} is marked # NBVAL_CHECK_OUTPUT but trains a model")

    # anatomy: title cell with the badge for this notebook, then Setup, Summary, Exercises
    first = cells[0] if cells else {"cell_type": None}
    title = _source(first)
    badge = BADGE.search(title)
    if first["cell_type"] != "markdown" or not title.startswith("# "):
        problems.append("the first cell is not a markdown '# Title' cell")
    if not badge or badge.group(1) != f"notebooks/{name}":
        problems.append(f"the title cell lacks the Colab badge for notebooks/{name}")
    lines = [line.rstrip() for text in markdown for line in text.splitlines()]
    positions = []
    for heading in HEADINGS:
        if heading not in lines:
            problems.append(f"no '{heading}' heading")
        else:
            positions.append(lines.index(heading))
    if len(positions) == len(HEADINGS) and positions != sorted(positions):
        problems.append(f"headings {HEADINGS} are out of order")
    return problems


def _notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks in notebooks/ yet"))]
    return [pytest.param(path, id=path.name) for path in NOTEBOOKS]


@pytest.mark.parametrize("path", _notebook_params())
def test_notebook_follows_the_conventions(path):
    notebook = json.loads(path.read_text())
    assert notebook_problems(notebook, path.name) == []


# --------------------------------------------------------------------------- the checks catch defects
def _markdown(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text, count, outputs=()):
    return {"cell_type": "code", "metadata": {}, "execution_count": count, "outputs": list(outputs),
            "source": text}


def _stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


GOOD_NAME = "01_the_example.ipynb"
GOOD = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    _markdown("# 01 · Example\n*Scope.*\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
              "(https://colab.research.google.com/github/OWNER/REPO/blob/main/notebooks/01_the_example.ipynb)\n"),
    _markdown("## Setup"),
    _code('import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")\nimport keras\nassert keras.__version__',
          1),
    _markdown("Some data."),
    _code("# NBVAL_CHECK_OUTPUT\nprint(1 + 1)", 2, [_stdout("2\n")]),
    _code("", None),  # an empty cell is never executed
    _code("history, seconds = models.fit_model(model, train, epochs=2)", 3,
          [{"output_type": "stream", "name": "stderr", "text": "a warning\n"}]),
    _code("assert 1 + 1 == 2", 4),
    _markdown("## Summary\n- one"),
    _markdown("## Exercises\n1. two"),
]}


def _break(edit):
    def broken():
        notebook = copy.deepcopy(GOOD)
        edit(notebook["cells"])
        return notebook
    return broken


DEFECTS = [
    ("not executed", _break(lambda c: [cell.update(execution_count=None) for cell in c if cell["cell_type"] == "code"]),
     "execution counts"),
    ("counts out of order", _break(lambda c: c[4].update(execution_count=7)), "execution counts"),
    ("no outputs", _break(lambda c: [cell.update(outputs=[]) for cell in c if cell["cell_type"] == "code"]),
     "no outputs"),
    ("error output", _break(lambda c: c[7]["outputs"].append(
        {"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []})), "error output"),
    ("printed traceback", _break(lambda c: c[4]["outputs"].append(
        _stdout("Traceback (most recent call last):\n  boom\n"))), "traceback"),
    ("/work path in an output", _break(lambda c: c[4]["outputs"].append(_stdout("saved /work/main/models/x\n"))),
     "absolute path"),
    ("/home path in a source", _break(lambda c: c[4].update(source="open('/home/me/data.npz')")), "absolute path"),
    ("/root path in stderr", _break(lambda c: c[6]["outputs"].append(
        {"output_type": "stream", "name": "stderr", "text": "/root/.venv/lib/keras/x.py:3: UserWarning\n"})),
     "absolute path"),
    ("/Users path in markdown", _break(lambda c: c[3].update(source="see /Users/me/notes")), "absolute path"),
    ("TF log lines in stderr", _break(lambda c: c[6]["outputs"].append(
        {"output_type": "stream", "name": "stderr", "text": "I0000 00:00:1795262200.047229    3803 port.cc:153] "
         "oneDNN custom operations are on.\n"})), "TensorFlow log lines"),
    ("TF logs not silenced", _break(lambda c: c[2].update(source="import keras\nassert keras.__version__")),
     "TF_CPP_MIN_LOG_LEVEL"),
    ("silenced after the import", _break(lambda c: c[2].update(
        source='import tensorflow\nimport os\nos.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"')), "after keras/tensorflow"),
    ("no assert cell", _break(lambda c: c[7].update(source="print(2)")), "no assert cell"),
    ("training in a checked cell", _break(lambda c: c[6].update(source="# NBVAL_CHECK_OUTPUT\nmodel.fit(x, y)")),
     "NBVAL_CHECK_OUTPUT"),
    ("no title", _break(lambda c: c[0].update(source="Intro without a heading")), "'# Title'"),
    ("no badge", _break(lambda c: c[0].update(source="# 01 · Example\n")), "Colab badge"),
    ("badge of another notebook", _break(lambda c: c[0].update(source=_source(c[0]).replace("01_the", "02_the"))),
     "Colab badge"),
    ("no Setup heading", _break(lambda c: c[1].update(source="## Set-up")), "'## Setup'"),
    ("no Summary heading", _break(lambda c: c[8].update(source="## Recap")), "'## Summary'"),
    ("no Exercises heading", _break(lambda c: c[9].update(source="### Exercises")), "'## Exercises'"),
    ("headings out of order", _break(lambda c: c.insert(1, c.pop(8))), "out of order"),
]


def test_the_good_example_has_no_problems():
    assert notebook_problems(GOOD, GOOD_NAME) == []


@pytest.mark.parametrize("name", ["1_intro.ipynb", "01-intro.ipynb", "01_Intro.ipynb", "01 intro.ipynb",
                                  "intro.ipynb", "01_.ipynb"])
def test_bad_names_are_caught(name):
    assert any("NN_snake_case" in p for p in notebook_problems(GOOD, name))


@pytest.mark.parametrize("label, make, expected", DEFECTS, ids=[d[0] for d in DEFECTS])
def test_a_defect_is_caught(label, make, expected):
    problems = notebook_problems(make(), GOOD_NAME)
    assert any(expected in problem for problem in problems), problems


def test_images_are_not_scanned_for_paths():
    notebook = copy.deepcopy(GOOD)
    notebook["cells"][4]["outputs"].append(
        {"output_type": "display_data", "metadata": {},
         "data": {"image/png": "iVBOR/home/w==", "text/plain": "<Figure>"}})
    assert notebook_problems(notebook, GOOD_NAME) == []


# --------------------------------------------------------------------------- nbval skips stderr
def test_root_conftest_adds_stderr_to_nbvals_skip_compare():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)

    class Collector:  # the attributes of nbval's IPyNbFile that the hook uses
        def __init__(self, name):
            import py
            self.fspath = py.path.local(ROOT / name)
            self.skip_compare = ("metadata", "traceback")

    notebook, module = Collector("notebooks/01_x.ipynb"), Collector("tests/test_x.py")
    root_conftest.pytest_collectstart(notebook)
    root_conftest.pytest_collectstart(module)
    assert "stderr" in notebook.skip_compare and "metadata" in notebook.skip_compare
    assert "stderr" not in module.skip_compare


def test_nbval_ignores_stderr_with_the_root_conftest(tmp_path):
    """End to end: a checked cell whose stderr differs from the stored one passes only under our conftest.

    One nbval session over two copies of a notebook; only with_conftest/ holds the root conftest.py,
    so without_conftest/ is the control where nbval compares stderr (its default) and fails.
    """
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        '# NBVAL_CHECK_OUTPUT\nimport sys\nprint("same")\nprint("noise that changes", file=sys.stderr)',
        execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="same\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="other noise from an earlier run\n")]
    notebook.cells = [cell]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for folder in ("with_conftest", "without_conftest"):
        (tmp_path / folder).mkdir()
        nbformat.write(notebook, tmp_path / folder / "example.ipynb")
    shutil.copy(ROOT / "conftest.py", tmp_path / "with_conftest" / "conftest.py")

    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-v", "-p", "no:cacheprovider",
                             "with_conftest/example.ipynb", "without_conftest/example.ipynb"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=240)
    report = result.stdout[-4000:] + result.stderr[-2000:]
    outcome = {match.group(1): match.group(2) for match in
               re.finditer(r"^(with_conftest|without_conftest)/.*?\b(PASSED|FAILED)\b", result.stdout, re.M)}
    assert outcome == {"with_conftest": "PASSED", "without_conftest": "FAILED"}, report
    assert "stderr" in result.stdout, report  # it failed on the stderr stream

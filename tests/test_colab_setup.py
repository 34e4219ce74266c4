"""The Colab badge and setup block of every notebook (scripts/stamp_colab.py).

(a) every notebook carries the stamped block and its own badge, as the one setting says;
(b) the block, run outside a clone (as on Colab, with a fake ``google.colab``, or as a notebook downloaded
    alone) with a usable URL, clones the repository and makes ``import utils`` work from the clone; with the
    placeholder URL it stops with a message saying what to do; run inside the clone, it finds the root;
(c) stamp_colab takes the address from a GitHub ``origin`` (https or ssh), else from --url, else from
    scripts/repository.json, and saves it there.
"""
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load_stamp_colab():
    spec = importlib.util.spec_from_file_location("stamp_colab", ROOT / "scripts" / "stamp_colab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stamp_colab = _load_stamp_colab()


def _notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks in notebooks/ yet"))]
    return [pytest.param(path, id=path.name) for path in NOTEBOOKS]


def colab_problems(notebook, notebook_path, url, branch, slug):
    """What is wrong with a notebook's badge and setup block (an empty list when nothing)."""
    problems = []
    cells = notebook["cells"]
    sources = ["".join(cell["source"]) for cell in cells]
    badge = stamp_colab.badge(slug, branch, notebook_path)
    if not cells or cells[0]["cell_type"] != "markdown" or badge not in sources[0]:
        problems.append(f"the first cell lacks the badge {badge}")
    block = stamp_colab.setup_block(url, branch)
    with_block = [i for i, source in enumerate(sources) if stamp_colab.SETUP_BEGIN in source]
    if len(with_block) != 1:
        problems.append(f"{len(with_block)} cells hold the setup marker, not exactly one")
    else:
        index = with_block[0]
        code_cells = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"]
        if cells[index]["cell_type"] != "code" or index != code_cells[0]:
            problems.append("the setup block is not in the first code cell")
        if not sources[index].startswith(block):
            problems.append("the setup cell does not start with the block setup_block() stamps")
    return problems


@pytest.mark.parametrize("path", _notebook_params())
def test_notebook_has_the_stamped_badge_and_setup_block(path):
    url, branch, slug = stamp_colab.read_setting()
    notebook = json.loads(path.read_text())
    assert colab_problems(notebook, f"notebooks/{path.name}", url, branch, slug) == []


def test_stamp_check_passes():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "stamp_colab.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _good_notebook(url, branch, slug, name="01_example.ipynb"):
    title = f"# 01 · Example\n*Scope.*\n\n{stamp_colab.badge(slug, branch, 'notebooks/' + name)}\n"
    setup = stamp_colab.setup_block(url, branch) + "\nimport keras\n"
    return {"cells": [{"cell_type": "markdown", "source": title},
                      {"cell_type": "markdown", "source": "## Setup"},
                      {"cell_type": "code", "source": setup}]}


@pytest.mark.parametrize("defect", ["no block", "stale block", "no badge", "badge of another notebook",
                                    "block not first"])
def test_colab_problems_catches_a_defect(defect):
    url, branch, slug = stamp_colab.read_setting()
    notebook = _good_notebook(url, branch, slug)
    assert colab_problems(notebook, "notebooks/01_example.ipynb", url, branch, slug) == []
    cells = notebook["cells"]
    if defect == "no block":
        cells[2]["source"] = "import keras\n"
    elif defect == "stale block":
        cells[2]["source"] = cells[2]["source"].replace(f'"{branch}"', '"old-branch"')
    elif defect == "no badge":
        cells[0]["source"] = "# 01 · Example\n"
    elif defect == "badge of another notebook":
        cells[0]["source"] = cells[0]["source"].replace("01_example", "02_other")
    elif defect == "block not first":
        cells.insert(2, {"cell_type": "code", "source": "print(1)"})
    assert colab_problems(notebook, "notebooks/01_example.ipynb", url, branch, slug) != []


# --------------------------------------------------------------------------- running the block
def _git(*args, cwd=ROOT):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def local_origin(tmp_path):
    """(url, branch) of a local repository that a clone of this one can use: the repo root itself
    on its current branch; with a detached HEAD (some CI checkouts), a bare copy with a branch at HEAD."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    if branch != "HEAD":
        return str(ROOT), branch
    origin = tmp_path / "origin" / ROOT.name
    _git("clone", "--quiet", "--bare", str(ROOT), str(origin))
    _git("branch", "colab-test", _git("rev-parse", "HEAD"), cwd=origin)
    return str(origin), "colab-test"


def _run_block(tmp_path, url, branch, on_colab, cwd=None, after="import json, utils\n"
               "print(json.dumps({'utils': utils.__file__, 'root': str(REPO_ROOT), 'path0': sys.path[0]}))\n"):
    """Run the stamped block as a script in a fresh folder outside any clone; on Colab with a fake google.colab."""
    prelude = "import sys\n"
    if on_colab:
        fake = tmp_path / "fake_modules" / "google" / "colab"  # no google/__init__.py: google stays a
        fake.mkdir(parents=True)                                 # namespace package, protobuf still imports
        (fake / "__init__.py").write_text('"""A stand-in for Colab\'s google.colab."""\n')
        prelude += (f"sys.path.insert(0, {str(tmp_path / 'fake_modules')!r})\n"
                    "import google.colab  # noqa: F401  (Colab has it imported)\n")
    if cwd is None:
        cwd = tmp_path / ("content" if on_colab else "Downloads")
        cwd.mkdir()
    script = tmp_path / "scripts" / "run_setup.py"
    script.parent.mkdir()
    script.write_text(prelude + stamp_colab.setup_block(url, branch) + "\n" + after)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)
    return result, cwd


@pytest.mark.parametrize("on_colab", [True, False], ids=["on Colab", "downloaded alone"])
def test_setup_block_outside_a_clone_clones_the_repository_and_imports_utils(tmp_path, local_origin, on_colab):
    url, branch = local_origin
    result, cwd = _run_block(tmp_path, url, branch, on_colab)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    clone = cwd / pathlib.Path(url).name
    assert pathlib.Path(report["root"]) == clone
    assert (clone / ".git").is_dir() and (clone / "utils" / "__init__.py").is_file()
    assert _git("rev-parse", "--abbrev-ref", "HEAD", cwd=clone) == branch
    utils_file = pathlib.Path(report["utils"]).resolve()
    assert utils_file.is_relative_to(tmp_path.resolve())  # imported from the clone, not this checkout
    assert utils_file == (clone / "utils" / "__init__.py").resolve()
    assert report["path0"] == str(clone)


@pytest.mark.parametrize("on_colab", [True, False], ids=["on Colab", "downloaded alone"])
def test_setup_block_with_the_placeholder_outside_a_clone_says_what_to_do(tmp_path, on_colab):
    result, cwd = _run_block(tmp_path, "https://github.com/OWNER/REPO", "main", on_colab, after="")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: REPO_URL is the placeholder https://github.com/OWNER/REPO"), last
    assert "set REPO_URL to the series' GitHub address" in last and "open this notebook from a clone" in last
    assert str(cwd) in last
    assert not any(name in result.stderr for name in ("StopIteration", "CalledProcessError", "FileNotFoundError"))
    assert list(cwd.iterdir()) == []  # nothing cloned, nothing left behind


@pytest.mark.parametrize("url", ["https://github.com/OWNER/REPO", "https://github.com/ada/seq2seq"])
def test_setup_block_inside_a_clone_uses_it_even_on_colab(tmp_path, url):
    """Opened from a clone (also on Colab after a clone or %cd), the block imports that clone's utils."""
    result, _ = _run_block(tmp_path, url, "main", on_colab=True, cwd=ROOT / "notebooks")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert pathlib.Path(report["root"]) == ROOT and report["path0"] == str(ROOT)
    assert pathlib.Path(report["utils"]).resolve() == (ROOT / "utils" / "__init__.py").resolve()
    assert not (ROOT / "notebooks" / "REPO").exists() and not (ROOT / "notebooks" / "seq2seq").exists()


def test_setup_block_locally_finds_the_repository_root(monkeypatch):
    """Not on Colab: run from notebooks/, the block finds the repo root without cloning."""
    assert "google.colab" not in sys.modules
    monkeypatch.chdir(ROOT / "notebooks")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"):
        monkeypatch.setenv(name, os.environ.get(name, "3" if name.startswith("TF") else "tensorflow"))
    namespace = {}
    exec(stamp_colab.setup_block("https://github.com/OWNER/REPO", "main"), namespace)  # noqa: S102
    assert namespace["REPO_ROOT"] == ROOT
    assert sys.path[0] == str(ROOT)
    assert not (ROOT / "notebooks" / "REPO").exists()  # nothing cloned


@pytest.mark.parametrize("url, slug", [
    ("https://github.com/ada/seq2seq", "ada/seq2seq"),
    ("https://github.com/ada/seq2seq.git", "ada/seq2seq"),
    ("https://github.com/ada/seq2seq/", "ada/seq2seq"),
    ("https://token@github.com/ada/seq2seq.git", "ada/seq2seq"),
    ("git@github.com:ada/seq2seq.git", "ada/seq2seq"),
    ("git@github.com:ada/seq2seq", "ada/seq2seq"),
    ("ssh://git@github.com/ada/seq2seq.git", "ada/seq2seq"),
    ("ssh://git@github.com:22/ada/my.repo.git", "ada/my.repo"),
    ("https://gitlab.com/ada/seq2seq.git", None),
    ("git@gitlab.com:ada/seq2seq.git", None),
    ("https://github.com/ada", None),
    ("https://github.com/ada/seq2seq/tree/main", None),
    ("/work/local/clone", None),
    ("", None),
])
def test_github_slug_reads_https_and_ssh_addresses(url, slug):
    assert stamp_colab.github_slug(url) == slug


@pytest.fixture
def setting(tmp_path):
    path = tmp_path / "repository.json"
    path.write_text(json.dumps({"url": "https://github.com/OWNER/REPO", "branch": "main", "_comment": "kept"}))
    return path


@pytest.mark.parametrize("origin, expected, source", [
    ("git@github.com:ada/seq2seq.git", "https://github.com/ada/seq2seq", "git remote origin"),
    ("https://github.com/ada/seq2seq.git", "https://github.com/ada/seq2seq", "git remote origin"),
    ("https://gitlab.com/ada/seq2seq.git", "https://github.com/OWNER/REPO", "repository.json"),  # not GitHub
    (None, "https://github.com/OWNER/REPO", "repository.json"),                                  # no origin
])
def test_the_address_comes_from_a_github_origin_else_the_setting(tmp_path, setting, origin, expected, source):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone"
    clone.mkdir()
    _git("init", "--quiet", cwd=clone)
    if origin:
        _git("remote", "add", "origin", origin, cwd=clone)
    assert stamp_colab.origin_url(clone) == origin
    url, branch, slug, where = stamp_colab.resolve_address(clone, setting)
    assert (url, branch, slug, where) == (expected, "main", expected.removeprefix("https://github.com/"), source)


def test_an_explicit_url_wins_and_is_saved_to_the_setting(tmp_path, setting):
    url, _, slug, where = stamp_colab.resolve_address(tmp_path, setting, url="git@github.com:ada/seq2seq.git")
    assert (url, slug, where) == ("https://github.com/ada/seq2seq", "ada/seq2seq", "--url")
    with pytest.raises(ValueError, match="GitHub"):
        stamp_colab.resolve_address(tmp_path, setting, url="https://gitlab.com/ada/seq2seq")
    stamp_colab.save_setting(url, setting)
    saved = json.loads(setting.read_text())
    assert saved == {"url": "https://github.com/ada/seq2seq", "branch": "main", "_comment": "kept"}
    assert stamp_colab.read_setting(setting) == ("https://github.com/ada/seq2seq", "main", "ada/seq2seq")


def test_the_setting_is_a_github_address_used_everywhere():
    url, branch, slug = stamp_colab.read_setting()
    assert re.fullmatch(r"https://github\.com/[^/]+/[^/]+", url) and branch
    assert f'REPO_URL, REPO_BRANCH = "{url}", "{branch}"' in stamp_colab.setup_block(url, branch)
    assert f"github/{slug}/blob/{branch}/notebooks/01_x.ipynb" in stamp_colab.badge(slug, branch,
                                                                                    "notebooks/01_x.ipynb")

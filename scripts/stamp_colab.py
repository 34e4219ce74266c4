"""Write the repository's address (scripts/repository.json) into every notebook and the README.

Stamps two things, so the address lives in one place:
* the "Open in Colab" badge line of each notebook's first cell and of the README;
* the setup block at the top of each notebook's Setup cell, between SETUP_BEGIN and SETUP_END.

Usage: python scripts/stamp_colab.py [--check]   (--check: exit 1 if anything would change)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETTING = ROOT / "scripts" / "repository.json"
SETUP_BEGIN = "# --- setup: Colab or local (stamped by scripts/stamp_colab.py) ---"
SETUP_END = "# --- end of the stamped setup ---"
BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                   r"\(https://colab\.research\.google\.com/github/[^)]*/(notebooks/[0-9]{2}_[a-z0-9_]+\.ipynb)\)")


def read_setting(path=SETTING):
    setting = json.loads(pathlib.Path(path).read_text())
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", setting["url"])
    if not match:
        raise ValueError(f"url in {path} must look like https://github.com/OWNER/REPO, got {setting['url']!r}")
    return setting["url"], setting["branch"], match.group(1)


def badge(slug, branch, notebook_path):
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{slug}/blob/{branch}/{notebook_path})")


def setup_block(url, branch):
    """The code that makes ``import utils`` work, on Colab (clone) and locally (find the root)."""
    return f'''{SETUP_BEGIN}
import os, pathlib, subprocess, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet TensorFlow's C++ logs
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
REPO_URL, REPO_BRANCH = "{url}", "{branch}"
if "google.colab" in sys.modules:  # on Colab: clone the repository beside the notebook
    REPO_ROOT = pathlib.Path.cwd() / pathlib.Path(REPO_URL).stem
    if not REPO_ROOT.exists():
        subprocess.run(["git", "clone", "--quiet", "--branch", REPO_BRANCH, REPO_URL, str(REPO_ROOT)], check=True)
else:  # locally: the first folder up from here that holds utils/
    REPO_ROOT = next(p for p in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents] if (p / "utils").is_dir())
sys.path.insert(0, str(REPO_ROOT))
import utils  # loads TensorFlow quietly and registers the series' models with Keras
{SETUP_END}'''


def stamp_text(text, url, branch, slug):
    text = BADGE.sub(lambda m: badge(slug, branch, m.group(1)), text)
    pattern = re.compile(re.escape(SETUP_BEGIN) + r".*?" + re.escape(SETUP_END), re.S)
    return pattern.sub(lambda m: setup_block(url, branch), text)


def stamp_notebook(path, url, branch, slug):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        new = stamp_text(source, url, branch, slug)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    args = parser.parse_args(argv)
    url, branch, slug = read_setting()
    stale = []
    for path in [*sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ROOT / "README.md"]:
        if not path.exists():
            continue
        old = path.read_text()
        new = stamp_notebook(path, url, branch, slug) if path.suffix == ".ipynb" else stamp_text(old, url, branch, slug)
        if new != old:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(("out of date: " if args.check else "stamped: ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

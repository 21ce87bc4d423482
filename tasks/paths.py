"""Folders of the project checkout that the code reads at run time.

faircurate is installed in editable mode (the README's commands do so), so the SQL files stay
in the checkout beside the packages.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"

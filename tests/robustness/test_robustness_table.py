"""scripts/robustness_table.py: renders the fuzz counts, replaces only its block, refuses to guess."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "robustness_table.py"
spec = importlib.util.spec_from_file_location("robustness_table", SCRIPT)
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def _record(functions=table.FUNCTIONS) -> dict:
    """Counts as tests/robustness/test_fuzz.py writes them: 3 calls per function, one with X dtype broken."""
    counts = {}
    for function in functions:
        counts[f"{function}|all|all"] = {"ok": 2, "TypeError": 1}
        counts[f"{function}|broken|nothing broken"] = {"ok": 2}
        counts[f"{function}|broken|X dtype"] = {"TypeError": 1}
        counts[f"{function}|X dtype|complex128"] = {"TypeError": 1}
    return {"calls": 3 * len(functions), "calls_per_case": 1, "counts": counts,
            "versions": {"fastmlp": "0.0", "numpy": "1", "numba": "2", "hypothesis": "3"}}


def test_render_rows_and_totals():
    text = table.render(_record())
    assert text.startswith(f"{3 * len(table.FUNCTIONS)} fuzzed calls")
    assert "| `fit` | X dtype | 1 | 0 | 0 | 1 | 0 |" in text
    assert "| `load` | nothing broken | 2 | 2 | 0 | 0 | 0 |" in text
    n = len(table.FUNCTIONS)
    assert f"| all functions | | {3 * n} | {2 * n} | 0 | {n} | 0 |" in text
    assert f"| X dtype | complex128 | {n} | 0 | 0 | {n} | 0 |" in text


def test_refuses_counts_of_part_of_the_functions():
    with pytest.raises(ValueError, match="no fuzz counts for \\['load'\\]"):
        table.render(_record(table.FUNCTIONS[:-1]))


def test_writes_between_the_markers_only(tmp_path, capsys):
    counts = tmp_path / "fuzz.json"
    counts.write_text(json.dumps(_record()))
    page = tmp_path / "robustness.md"
    page.write_text(f"# Robustness\n\nbefore\n\n{table.BEGIN}\nold table\n{table.END}\n\nafter\n")
    assert table.main([str(counts), "--docs", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"# Robustness\n\nbefore\n\n{table.BEGIN}\n") and text.endswith(f"{table.END}\n\nafter\n")
    assert "old table" not in text and "| `fit` | X dtype |" in text
    assert table.main([str(counts), "--docs", str(page)]) == 0
    assert page.read_text() == text  # idempotent
    capsys.readouterr()
    assert table.main([str(counts), "--print"]) == 0
    assert capsys.readouterr().out == table.render(_record()) + "\n"


def test_missing_markers_fail_clearly(tmp_path, capsys):
    counts = tmp_path / "fuzz.json"
    counts.write_text(json.dumps(_record()))
    page = tmp_path / "robustness.md"
    page.write_text("# Robustness\n\nno markers here\n")
    assert table.main([str(counts), "--docs", str(page)]) == 1
    assert "add the two marker lines" in capsys.readouterr().err
    assert page.read_text() == "# Robustness\n\nno markers here\n"

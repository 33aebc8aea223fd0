"""fastmlp bench --profile: each thread's share of an epoch's cycles per phase of a step."""

from __future__ import annotations

import json

import numpy as np

from fastmlp.bench import main, profile

from markers import needs_compiled_kernels


@needs_compiled_kernels
def test_profile_shares_add_up_for_every_member(capsys, tmp_path):
    path = tmp_path / "profile.json"
    assert main(["--profile", "--quick", "--synthetic", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["phases"] == list(profile.PHASES) and result["threads"] == 2
    (batch,) = result["batches"]
    shares = np.array(batch["shares"])
    assert shares.shape == (2, len(profile.PHASES))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-9)
    assert (shares[:, profile.PHASES.index("forward")] > 0).all() and batch["samples_per_s"] > 0
    out = capsys.readouterr().out
    assert "| barrier wait |" in out and "batch 32 t1" in out

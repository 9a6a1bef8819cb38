"""`python -m bench --only <part>` refreshes its own figures in bench/results.json and keeps every other bench's."""

import json

import pytest


@pytest.fixture
def quiet_parts(monkeypatch):
    """The cost and throughput steps with fixed figures: what is under test is the merge, not the models."""
    from bench import cost, onboarding

    monkeypatch.setattr(cost, "run", lambda results: {"per_1000_entities_usd": 0.002})
    monkeypatch.setattr(cost, "report", lambda figures: None)
    monkeypatch.setattr(onboarding, "throughput", lambda results: {"projected_s": 746.7})
    monkeypatch.setattr(onboarding, "report_throughput", lambda label, tp: None)


def test_a_cost_run_keeps_the_throughput_figures_other_benches_wrote(tmp_path, quiet_parts):
    from bench.__main__ import main

    out = tmp_path / "results.json"
    kept = {"fairness": {"measured_s": 125.3}, "money": [{"run": "edited and voided"}],
            "onboarding_2000": {"projected_s": 143.3}, "steady_state": {"projected_s": 24.2}}
    out.write_text(json.dumps({"onboarding": {"status": "succeeded"}, "webhooks": {"p95_s": 16.4},
                               "throughput": {**kept, "onboarding": {"projected_s": 1.0}}}))

    assert main(["--only", "cost", "--out", str(out)]) == 0

    results = json.loads(out.read_text())
    assert results["throughput"] == {**kept, "onboarding": {"projected_s": 746.7}}
    assert results["cost"] == {"per_1000_entities_usd": 0.002} and results["webhooks"] == {"p95_s": 16.4}

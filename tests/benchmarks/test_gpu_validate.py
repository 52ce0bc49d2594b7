"""benchmarks/gpu_validate.py --dry-run on CPU: its measurement plumbing end to end, with the HF stand-in engine."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_validate", ROOT / "benchmarks" / "gpu_validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dry_run_measures_everything(tmp_path):
    report = _load().main(["--dry-run", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu_validate.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert report["engine"] == "hf-stand-in" and report["device"] == "cpu" and report["dry_run"]
    a, b = report["a_logp_gap"], report["b_sync"]
    assert a["tokens"] > 0 and a["mean_abs"] < 1e-5            # the stand-in is the policy: no gap
    assert b["policy_change"] > 1e-3                            # the step moved the policy ...
    assert b["engine_before_vs_new_policy"] > 0.5 * b["policy_change"]   # ... the engine only after the sync
    assert b["engine_after_vs_new_policy"] < 1e-5 and b["follows_new_weights"] is True
    c, d = report["c_tokens_per_s"], report["d_step_time_s"]
    assert c["hf-stand-in"] > 0 and c["hf_generate"] > 0
    assert d["hf/grpo"] > 0 and d["hf/ktr"] > 0 and "vllm/ktr" not in d
    md = (tmp_path / "gpu_validate.md").read_text()
    assert "vLLM did not run" in md and "(d) step time hf/ktr" in md

"""bench/reproducible.py: two runs compared file by file, with only timings, memory and addresses left out."""
import json
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import reproducible  # noqa: E402


def fake_run(root, pool_id: str, port: int, ms: float, response: str = "do(action=\"Click\", element=\"3\")"):
    (root / "episodes" / "phase1" / "eval").mkdir(parents=True)
    (root / "phase1").mkdir()
    step = {"task_id": 7, "step": 0, "url": f"http://127.0.0.1:{port}/admin/", "response": response, "ms": ms}
    (root / "episodes" / "phase1" / "eval" / f"task0-{pool_id}-17.jsonl").write_text(json.dumps(step) + "\n")
    (root / "phase1" / "update.json").write_text(json.dumps({"actor_loss": [0.5, 0.25], "update_s": ms, "peak_rss_gb": {"actor": ms}}))
    (root / "phase1" / "model.safetensors").write_bytes(b"weights")
    (root / "report.html").write_text(f"made in {ms} s")


def test_runs_that_differ_only_in_timings_and_ports_are_the_same(tmp_path):
    fake_run(tmp_path / "a", "95113de1", 35523, 141.5)
    fake_run(tmp_path / "b", "bb27266c", 39805, 99.0)
    c = reproducible.compare_runs(tmp_path / "a", tmp_path / "b")
    assert c["differ"] == [] and c["only_in_one"] == [] and c["files"] == 3
    assert c["checkpoints"] == 1 and c["episode_records"] == 1


def test_a_different_action_or_weight_is_found(tmp_path):
    fake_run(tmp_path / "a", "95113de1", 35523, 141.5)
    fake_run(tmp_path / "b", "bb27266c", 39805, 99.0, response="exit(message=\"1\")")
    (tmp_path / "b" / "phase1" / "model.safetensors").write_bytes(b"weightz")
    c = reproducible.compare_runs(tmp_path / "a", tmp_path / "b")
    assert c["differ"] == ["episodes/phase1/eval/task0-17.jsonl", "phase1/model.safetensors"]


def test_first_difference_of_two_plays():
    a = {"steps": [{"url": "<shopping>/", "prompt": "p", "response": "r", "error": None}], "score": 1.0, "end": "exit"}
    assert reproducible.first_difference(a, json.loads(json.dumps(a))) is None
    b = json.loads(json.dumps(a))
    b["steps"][0]["prompt"] = "Loading activity..."
    assert reproducible.first_difference(a, b) == "step 0 prompt: 'p' vs 'Loading activity...'"
    c = {**a, "score": 0.0}
    assert reproducible.first_difference(a, c) == "score 1.0 (exit) vs 0.0 (exit)"

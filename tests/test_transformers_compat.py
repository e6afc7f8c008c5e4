"""The transformers versions requirements.txt allows: the KV-cache and dtype keywords as each version takes them,
and the warnings gate of pytest.ini, which fails a test on a deprecation raised from the project's own calls."""
import subprocess
import sys

import torch
import transformers

import policy
from conftest import ROOT


def test_kv_cache_uses_the_keyword_the_forward_takes(monkeypatch):
    class Renamed(torch.nn.Module):          # transformers 5.x: forward(..., cache=None, ...)
        config = "the model's config"

        def forward(self, input_ids=None, cache=None, use_cache=None):
            return input_ids

    class Before(torch.nn.Module):           # transformers 4.46 to 4.x: forward(..., past_key_values=None, ...)
        def forward(self, input_ids=None, past_key_values=None, use_cache=None):
            return input_ids

    made = []   # how each cache was built (the real DynamicCache runs in test_policy.py's generation tests)
    monkeypatch.setattr(policy, "DynamicCache", lambda **kw: made.append(kw) or "a cache")
    assert policy.kv_cache(Renamed()) == {"cache": "a cache"} and made[-1] == {"config": "the model's config"}
    assert policy.kv_cache(Before()) == {"past_key_values": "a cache"} and made[-1] == {}   # 4.46: no config


def test_dtype_kwarg_follows_the_version():
    for version, key in (("4.46.3", "torch_dtype"), ("4.55.4", "torch_dtype"), ("4.56.0", "dtype"), ("5.25.0", "dtype"),
                         ("6.0.0.dev0", "dtype")):
        assert policy.dtype_kwarg(torch.bfloat16, version) == {key: torch.bfloat16}, version
    assert policy.dtype_kwarg(torch.float32) == policy.dtype_kwarg(torch.float32, transformers.__version__)


# Run under the project's pytest.ini, in a subprocess: each test warns the way a library's deprecation reaches the
# project. A warning is attributed to the module of the code that called warn() (exec runs the code as that module).
GATE_TESTS = '''
import torch
from transformers.utils.deprecation import deprecate_kwarg


def warn_as(module, category):
    exec(f"import warnings\\nwarnings.warn('an API that moves', {category.__name__})", {"__name__": module})


def test_future_warning_from_a_project_module():
    warn_as("policy", FutureWarning)


def test_deprecation_warning_from_a_project_module():
    warn_as("env", DeprecationWarning)


def test_future_warning_from_a_library_module():
    warn_as("somelib.sub", FutureWarning)


class Model(torch.nn.Module):
    @deprecate_kwarg("past_key_values", "99.0.0", new_name="cache")   # as transformers 5.x marks its forwards
    def forward(self, x, cache=None):
        return x


def test_deprecated_keyword_passed_to_a_model():
    Model()(torch.zeros(1), past_key_values=None)


def test_current_keyword_passed_to_a_model():
    Model()(torch.zeros(1), cache=None)
'''


def test_gate_fails_a_test_on_a_deprecation_from_the_project_and_not_from_a_library(tmp_path):
    (tmp_path / "test_gate.py").write_text(GATE_TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pytest.ini"),
                        "--rootdir", str(tmp_path), str(tmp_path / "test_gate.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    for name in ("test_future_warning_from_a_project_module", "test_deprecation_warning_from_a_project_module",
                 "test_deprecated_keyword_passed_to_a_model"):
        assert f"FAILED test_gate.py::{name}" in out, out
    assert "3 failed, 2 passed" in out, out
    assert "FutureWarning: `past_key_values` is deprecated" in out

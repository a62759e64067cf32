#!/usr/bin/env python3
"""One-call GPU check: every package's CUDA tests and benchmarks on a borrowed machine without network.

The GPU machines available to this project come for minutes at a time, with CUDA PyTorch,
Lightning, torchmetrics, scikit-learn, scipy and pytest already installed, and no network. This
script splits the work in two:

``prepare`` (here, with a network)::

    python tools/gpu_check.py prepare [--dest .gpucheck] [--limit-mib 56]

builds every workspace wheel (``uv build --all-packages --no-sources``) and downloads, for the
target interpreter (CPython 3.12, manylinux x86_64 by default), the wheel of every locked
third-party dependency the target machine does not have (``uv export`` of the whole workspace with
all extras and the ``test``/``bench`` groups, markers evaluated for the target, minus the names in
``CUDA_IMAGE_HAS`` or in ``--have FILE``, a ``pip list --format=freeze`` of the target). It writes
``manifest.json`` and refuses a folder over ``--limit-mib`` (the device tool carries 64 MiB with the
working tree).

``run`` (there, no network)::

    python3 tools/gpu_check.py run --from .gpucheck --out DIR [--budget 450] [--only a,b] [--jobs 4]

installs the folder's wheels with ``pip --no-index --no-deps --target`` into a private site
directory (nothing of the machine's own environment is replaced), then runs for every package
``pytest packages/<name>/tests --device cuda -m cuda`` (the ``tests(<name>, cuda)`` nox session's
arguments, with ``BALLROOM_REQUIRE_CUDA=1`` when a GPU is present) and afterwards its
``benchmarks/`` with pytest-benchmark, all inside one wall-clock budget. It writes
``DIR/summary.json`` (the machine, torch, the GPU, and per package the test counts, failures with
their first message line, skip reasons, durations and benchmark means), ``DIR/packages/<name>.json``,
``DIR/bench/<name>.json`` (pytest-benchmark's JSON) and ``DIR/gpu_check.tar.gz`` holding all of it
plus the JUnit XML files (one file to fetch where only a few come back). Without a CUDA device the
tests skip, the summary says so, and benchmarks are not run unless ``--bench-on-cpu`` is given.

The exit status is 0 when no test failed or errored and nothing ran out of time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Distributions already installed on the device tool's CUDA image (its package list, read there on
#: 2026-11-17; see the workplace's device notes). ``--have FILE`` replaces it with a real
#: ``pip list --format=freeze`` of the target.
CUDA_IMAGE_HAS = frozenset(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
    build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
    cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops
    equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio
    h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig
    interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
    lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
    markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
    multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
    nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
    nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
    nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime
    onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
    packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
    protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
    pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
    scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
    sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
    threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
    torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
    urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split()
)
#: Distributions never fetched: the GPU stack comes with the machine (a CUDA wheel is gigabytes), and
#: ``py-cpuinfo2`` is only an alternative spelling of the image's ``py-cpuinfo`` (pytest-benchmark).
NEVER_FETCH = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*|py-cpuinfo2)$")
PLATFORMS = (
    "manylinux_2_39_x86_64",
    "manylinux_2_35_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
BENCH_ARGS = ("--benchmark-max-time=0.5", "--benchmark-min-rounds=3", "--benchmark-warmup=on")


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages() -> dict[str, Path]:
    """``{"core": shared/, "<name>": packages/<name>/}`` as the noxfile discovers them."""
    found: dict[str, Path] = {}
    for pyproject in [ROOT / "shared" / "pyproject.toml", *sorted(ROOT.glob("packages/*/pyproject.toml"))]:
        dist = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[dist.removeprefix("ballroom-")] = pyproject.parent
    return found


# --------------------------------------------------------------------------------------------------
# prepare


def _marker_env(python: str) -> dict[str, str]:
    full = python if python.count(".") == 2 else python + ".0"
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(full.split(".")[:2]),
        "sys_platform": "linux",
        "extra": "",
    }


def _evaluate(marker: str, env: dict[str, str]) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pip vendors packaging
        from pip._vendor.packaging.markers import Marker  # type: ignore[no-redef]
    return bool(Marker(marker).evaluate(env))


def locked_requirements(python: str) -> dict[str, str]:
    """``{name: version}`` of every third-party distribution the workspace locks for ``python``."""
    text = subprocess.run(
        [
            "uv",
            "export",
            "--locked",
            "--all-packages",
            "--all-extras",
            "--group",
            "test",
            "--group",
            "bench",
            "--no-dev",
            "--no-hashes",
            "--no-emit-workspace",
            "--no-annotate",
            "--no-header",
            "--quiet",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse_requirements(text, python)


def parse_requirements(text: str, python: str) -> dict[str, str]:
    """Pinned ``name==version ; marker`` lines -> ``{name: version}`` for the target interpreter."""
    env = _marker_env(python)
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        spec, _, marker = line.partition(";")
        name, sep, version = spec.strip().partition("==")
        if not sep:
            raise ValueError(f"unpinned requirement in the export: {raw!r}")
        if marker.strip() and not _evaluate(marker.strip(), env):
            continue
        key = normalise(name)
        if key in pins and pins[key] != version.strip():
            raise ValueError(f"{key} pinned twice for Python {python}: {pins[key]} and {version}")
        pins[key] = version.strip()
    return pins


def read_have(path: Path | None) -> frozenset[str]:
    """Names installed on the target: ``pip list --format=freeze`` output, or the image's list."""
    if path is None:
        return CUDA_IMAGE_HAS
    names = {
        normalise(re.split(r"[=@ ]", line.strip(), maxsplit=1)[0]) for line in path.read_text().splitlines()
    }
    return frozenset(n for n in names if n)


def to_fetch(pins: dict[str, str], have: frozenset[str], skip: set[str]) -> dict[str, str]:
    """The pins the target lacks (never the GPU stack, never what ``--skip`` names)."""
    return {
        n: v for n, v in sorted(pins.items()) if n not in have and n not in skip and not NEVER_FETCH.match(n)
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare(args: argparse.Namespace) -> int:
    dest = Path(args.dest).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "deps").mkdir(parents=True)
    print(f"building every workspace wheel into {dest / 'wheels'}", flush=True)
    subprocess.run(
        ["uv", "build", "--all-packages", "--no-sources", "--wheel", "-o", str(dest / "wheels"), "--quiet"],
        cwd=ROOT,
        check=True,
    )
    for junk in (dest / "wheels").glob("*"):  # uv build writes a .gitignore beside the wheels
        if junk.suffix != ".whl":
            junk.unlink()
    pins = locked_requirements(args.python)
    fetch = to_fetch(
        pins, read_have(Path(args.have) if args.have else None), {normalise(s) for s in args.skip}
    )
    print(f"{len(pins)} locked third-party distributions; the target lacks {len(fetch)}: {', '.join(fetch)}")
    if fetch:
        platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                args.python,
                "--implementation",
                "cp",
                *platform_args,
                "-d",
                str(dest / "deps"),
                *[f"{n}=={v}" for n, v in fetch.items()],
            ],
            check=True,
        )
    files = sorted(dest.glob("*/*.whl"))
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": args.python,
        "fetched": fetch,
        "skipped": sorted(args.skip),
        "wheels": {
            str(f.relative_to(dest)): {"bytes": f.stat().st_size, "sha256": _sha256(f)} for f in files
        },
    }
    total = sum(f.stat().st_size for f in files)
    manifest["total_bytes"] = total
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    mib = total / 2**20
    print(f"{len(files)} wheels, {mib:.1f} MiB in {dest}")
    if mib > args.limit_mib:
        biggest = sorted(files, key=lambda f: f.stat().st_size, reverse=True)[:5]
        print(
            f"error: {mib:.1f} MiB is over --limit-mib {args.limit_mib}; the biggest: "
            + ", ".join(f"{f.name} ({f.stat().st_size / 2**20:.1f} MiB)" for f in biggest)
            + " (leave one out with --skip NAME: its tests skip there)",
            file=sys.stderr,
        )
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# run


def install(source: Path, site: Path) -> list[str]:
    """Install every wheel of a ``prepare`` folder into ``site`` (no index, no dependencies)."""
    manifest = json.loads((source / "manifest.json").read_text())
    wheels = [source / rel for rel in manifest["wheels"]]
    missing = [str(w) for w in wheels if not w.is_file()]
    if missing:
        raise FileNotFoundError(f"--from {source}: wheels listed in manifest.json are missing: {missing[:3]}")
    for wheel in wheels:
        if _sha256(wheel) != manifest["wheels"][str(wheel.relative_to(source))]["sha256"]:
            raise ValueError(f"--from {source}: {wheel.name} does not match its sha256 in manifest.json")
    if site.exists():
        shutil.rmtree(site)
    options = ["--no-index", "--no-deps", "--target", str(site), *map(str, wheels)]
    if importlib.util.find_spec("pip") is not None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--no-cache-dir",
            "--disable-pip-version-check",
        ]
    elif shutil.which("uv"):  # a uv-made environment has no pip
        cmd = ["uv", "pip", "install", "--quiet", "--python", sys.executable]
    else:
        raise RuntimeError("neither pip nor uv is available to install the prepared wheels")
    subprocess.run([*cmd, *options], check=True)
    return [w.name for w in wheels]


def _env(site: Path, require_cuda: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    env["PATH"] = os.pathsep.join([str(site / "bin"), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = "Agg"
    if require_cuda:
        env["BALLROOM_REQUIRE_CUDA"] = "1"
    return env


_PROBE = """
import json, platform, sys
import torch
info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda, "machine": platform.machine()}
if info["cuda"]:
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, gpu_memory_GiB=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}",
                gpu_count=torch.cuda.device_count())
import importlib.metadata as md
info["installed"] = {d: md.version(d) for d in ("pytorch-lightning", "torchmetrics", "jsonargparse", "numpy")
                     if any(x.metadata["Name"].lower() == d for x in md.distributions())}
print(json.dumps(info))
"""


def probe(env: dict[str, str]) -> dict[str, Any]:
    """The target's Python, torch and GPU, as the test processes will see them."""
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts, failures (test id and first message line) and skip reasons of a JUnit XML report."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures: list[dict[str, str]] = []
    reasons: dict[str, int] = {}
    if not path.is_file():
        return {**counts, "failures": failures, "skip_reasons": reasons, "report": False}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "errors"
                message = (child.get("message") or child.text or "").strip().splitlines()
                failures.append({"test": test_id, "kind": child.tag, "message": (message or [""])[0][:300]})
            elif child.tag == "skipped":
                outcome = "skipped"
                reason = (child.get("message") or "").strip()[:200]
                reasons[reason] = reasons.get(reason, 0) + 1
        counts[outcome] += 1
    return {**counts, "failures": failures, "skip_reasons": reasons, "report": True}


def _pytest(cmd: list[str], env: dict[str, str], timeout: float, log: Path) -> tuple[int | None, float]:
    """Run pytest in its own process group; ``(returncode or None on timeout, seconds)``."""
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code: int | None = proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            code = None
    return code, time.perf_counter() - start


def _bench_means(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {b["fullname"].split("::", 1)[-1]: b["stats"]["mean"] for b in data.get("benchmarks", [])}


class Budget:
    """A wall-clock deadline shared fairly: each job gets the time left over the jobs left."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def share(self, jobs_left: int, jobs: int) -> float:
        return self.left() * min(jobs, max(jobs_left, 1)) / max(jobs_left, 1)


def run(args: argparse.Namespace) -> int:
    source, out = Path(args.source).resolve(), Path(args.out).resolve()
    site = Path(args.site).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("packages", "bench", "junit", "logs"):
        (out / sub).mkdir(exist_ok=True)
    found = packages()
    names = [n for n in found if not args.only or n in args.only]
    unknown = sorted(set(args.only or ()) - set(found))
    if unknown:
        print(f"error: --only names unknown packages {unknown}; known: {sorted(found)}", file=sys.stderr)
        return 2
    budget = Budget(args.budget)
    t0 = time.perf_counter()
    installed = install(source, site)
    env0 = _env(site, require_cuda=False)
    machine = probe(env0)
    machine.update(host=platform.node(), cpus=os.cpu_count(), installed_wheels=len(installed))
    cuda = bool(machine["cuda"])
    env = _env(site, require_cuda=cuda)
    print(
        f"installed {len(installed)} wheels in {time.perf_counter() - t0:.0f} s; {json.dumps(machine)}",
        flush=True,
    )
    jobs = args.jobs or (4 if cuda else 1)
    run_bench = cuda or args.bench_on_cpu
    test_budget = Budget(budget.left() * (args.test_share if run_bench else 1.0))
    results: dict[str, dict[str, Any]] = {n: {"package": n} for n in names}

    def one_test(i: int, name: str) -> None:
        junit = out / "junit" / f"{name}.xml"
        cmd = [sys.executable, "-m", "pytest", str(found[name] / "tests"), "--device", "cuda", "-m", "cuda"]
        cmd += ["-p", "no:cacheprovider", "-q", "-rfEs", f"--junitxml={junit}", *args.pytest_args]
        code, seconds = _pytest(
            cmd, env, test_budget.share(len(names) - i, jobs), out / "logs" / f"{name}-tests.log"
        )
        summary = parse_junit(junit)
        summary.update(returncode=code, timed_out=code is None, seconds=round(seconds, 1))
        results[name]["tests"] = summary
        print(
            f"tests  {name:14s} {summary['passed']:4d} passed {summary['failed']:3d} failed {summary['errors']:3d} "
            f"errors {summary['skipped']:4d} skipped  {seconds:6.1f} s{'  TIMED OUT' if code is None else ''}",
            flush=True,
        )

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda item: one_test(*item), enumerate(names)))

    benches = [n for n in names if (found[n] / "benchmarks").is_dir()]
    for name in names:
        if name not in benches:
            results[name]["bench"] = {"run": False, "why": "no benchmarks/ folder"}
        elif not run_bench:
            results[name]["bench"] = {"run": False, "why": "no CUDA device (--bench-on-cpu runs them anyway)"}
    if run_bench:
        for i, name in enumerate(benches):  # one at a time: timings must not share the GPU
            left = budget.share(len(benches) - i, 1)
            if left < 5:
                results[name]["bench"] = {"run": False, "why": "the budget ran out"}
                continue
            bench_json = out / "bench" / f"{name}.json"
            device = "cuda" if cuda else "cpu"
            cmd = [sys.executable, "-m", "pytest", str(found[name] / "benchmarks"), "--device", device]
            cmd += ["-p", "no:cacheprovider", "-q", "-o", "python_files=bench_*.py", *BENCH_ARGS]
            cmd += [f"--benchmark-json={bench_json}", f"--junitxml={out / 'junit' / f'{name}-bench.xml'}"]
            code, seconds = _pytest(cmd, env, left, out / "logs" / f"{name}-bench.log")
            counts = parse_junit(out / "junit" / f"{name}-bench.xml")
            means = _bench_means(bench_json)
            results[name]["bench"] = {
                "run": True,
                "device": device,
                "returncode": code,
                "timed_out": code is None,
                "seconds": round(seconds, 1),
                "failed": counts["failed"] + counts["errors"],
                "failures": counts["failures"],
                "mean_s": means,
            }
            print(f"bench  {name:14s} {len(means):4d} timings  {seconds:6.1f} s", flush=True)

    for name, result in results.items():
        (out / "packages" / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    bad = [
        n
        for n, r in results.items()
        if r["tests"]["failed"]
        or r["tests"]["errors"]
        or r["tests"]["timed_out"]
        or not r["tests"]["report"]
        or r["bench"].get("failed")
        or r["bench"].get("timed_out")
    ]
    summary = {
        "machine": machine,
        "cuda": cuda,
        "note": None
        if cuda
        else "no CUDA device: every cuda test skipped"
        + ("; benchmarks ran on the CPU" if run_bench else " and benchmarks were not run"),
        "budget_s": args.budget,
        "wall_s": round(time.perf_counter() - t0, 1),
        "ok": not bad,
        "not_ok": bad,
        "packages": results,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with tarfile.open(out / "gpu_check.tar.gz", "w:gz") as tar:
        for sub in ("summary.json", "packages", "bench", "junit", "logs"):
            tar.add(out / sub, arcname=sub)
    print(
        f"{'ok' if not bad else 'NOT OK: ' + ', '.join(bad)}; {summary['wall_s']} s; summary in {out / 'summary.json'}"
    )
    return 0 if not bad else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="build our wheels and download what the GPU machine lacks")
    p.add_argument("--dest", default=str(ROOT / ".gpucheck"), help="output folder (default: .gpucheck)")
    p.add_argument("--python", default="3.12", help="the target's Python version (default: 3.12)")
    p.add_argument("--have", help="`pip list --format=freeze` of the target (default: the CUDA image's list)")
    p.add_argument("--skip", action="append", default=[], help="a distribution not to fetch (repeatable)")
    p.add_argument(
        "--limit-mib", type=float, default=56.0, help="refuse a folder over this size (default: 56)"
    )
    r = sub.add_parser(
        "run", help="install the prepared wheels and run every package's cuda tests and benchmarks"
    )
    r.add_argument("--from", dest="source", default=str(ROOT / ".gpucheck"), help="a `prepare` folder")
    r.add_argument("--out", required=True, help="where summary.json and the reports go")
    r.add_argument(
        "--site", default="/tmp/ballroom-gpu-site", help="private install target (default: %(default)s)"
    )
    r.add_argument(
        "--budget", type=float, default=450.0, help="wall-clock seconds for everything (default: 450)"
    )
    r.add_argument(
        "--test-share", type=float, default=0.55, help="fraction of the budget for tests (default: 0.55)"
    )
    r.add_argument(
        "--jobs", type=int, default=0, help="test processes at once (default: 4 with a GPU, else 1)"
    )
    r.add_argument(
        "--only", type=lambda s: [x for x in s.split(",") if x], help="comma-separated package names"
    )
    r.add_argument("--bench-on-cpu", action="store_true", help="run the benchmarks without a CUDA device too")
    r.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.command == "run" and not 0 < args.test_share <= 1:
        parser.error(f"--test-share must be in (0, 1], got {args.test_share}")
    return prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    raise SystemExit(main())

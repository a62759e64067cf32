"""Beyond one machine: Lightning DDP across two "nodes" launched by torchrun, on localhost with gloo.

Two ``torchrun --nnodes 2 --nproc-per-node 1 --node-rank {0,1}`` processes (two node ranks, one
process each, rendezvous on 127.0.0.1) fit the core tiny classifier with ``Trainer(num_nodes=2,
devices=1, strategy="ddp")``; the same fit on one node with ``--nproc-per-node 2`` (``devices=2``) is
the reference. Both have world size 2 and the same global ranks, so the distributed sampler gives each
rank the same shard and the gradients are averaged over the same pairs: the final weights must agree.
This is how a SLURM or cloud job spanning nodes runs (README: "Beyond one machine").
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_lightning")

SCRIPT = r"""
import os, sys
import pytorch_lightning as pl
import torch
from ballroom.core.data import DigitsDataModule
from ballroom.core.lit import ClassifierModule
from ballroom.core.training import make_trainer

torch.set_num_threads(1)
out, root = sys.argv[1], sys.argv[2]
nodes = int(os.environ["WORLD_SIZE"]) // int(os.environ["LOCAL_WORLD_SIZE"])
pl.seed_everything(0, workers=True)
model = ClassifierModule(model="core-tiny", lr=3e-3)
trainer = make_trainer(root, strategy="ddp", num_nodes=nodes, devices=int(os.environ["LOCAL_WORLD_SIZE"]),
                       max_epochs=2, deterministic=True)
trainer.fit(model, datamodule=DigitsDataModule(seed=0, batch_size=32))
assert trainer.world_size == 2 and trainer.num_nodes == nodes, (trainer.world_size, trainer.num_nodes)
if trainer.global_rank == 0:
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(*args: str) -> list[str]:
    exe = shutil.which("torchrun")
    return [exe, *args] if exe else [sys.executable, "-m", "torch.distributed.run", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PL_DISABLE_FORK="1")
    env.pop("BALLROOM_REQUIRE_CUDA", None)
    env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPU even where a GPU is present
    return env


@pytest.mark.slow
@pytest.mark.ddp
def test_torchrun_two_nodes_match_one_node_two_processes(tmp_path: Path) -> None:
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = _env()

    port = _free_port()
    one = subprocess.run(
        _torchrun(
            "--nnodes",
            "1",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(port),
            str(script),
            str(tmp_path / "one.pt"),
            str(tmp_path / "r1"),
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]

    port = _free_port()
    common = [
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
    ]
    nodes = [
        subprocess.Popen(
            _torchrun(
                *common,
                "--node-rank",
                str(rank),
                str(script),
                str(tmp_path / "two.pt"),
                str(tmp_path / f"n{rank}"),
            ),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    logs = [p.communicate(timeout=600)[0] for p in nodes]
    for rank, (proc, log) in enumerate(zip(nodes, logs)):
        assert proc.returncode == 0, f"node {rank}:\n{log[-3000:]}"

    a = torch.load(tmp_path / "one.pt", weights_only=True)
    b = torch.load(tmp_path / "two.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=lambda m, k=key: f"{k}: {m}")
    # and training happened: the weights are not the seeded initialisation
    import pytorch_lightning as pl

    from ballroom.core.lit import ClassifierModule

    pl.seed_everything(0, workers=True)
    init = ClassifierModule(model="core-tiny", lr=3e-3).state_dict()
    assert any(not torch.allclose(init[k].float(), a[k].float()) for k in a if a[k].is_floating_point())

"""torchrun with 2 CPU processes (gloo): DDP gives the single-process result on the combined batch."""

import os
import subprocess
import sys
from pathlib import Path

import torch

import lstmkit
from lstmkit.train.checkpoint import load_checkpoint

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import ddp_script  # noqa: E402


def test_torchrun_two_processes_match_one_process_on_the_combined_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "ddp_script.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, m0 = load_checkpoint(tmp_path / "rank0.safetensors")
    w1, m1 = load_checkpoint(tmp_path / "rank1.safetensors")
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)  # replicas stay identical
    assert m0["loss"] == m1["loss"]  # metrics are averaged over both processes

    # one process, batch 10 = the two ranks' batches of 5 together (DistributedSampler deals i, i+1)
    model = ddp_script.build()
    x, y = ddp_script.data()
    h = model.fit(x, y, epochs=2, batch_size=10, shuffle=False, verbose=0)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(w0[f"model.{k}"], v, rtol=1e-5, atol=1e-6)
    assert m0["loss"] == __import__("pytest").approx(h.history["loss"], rel=1e-5)

    # rank 0 alone wrote the log and the checkpoint, once per epoch
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 3
    lstmkit.load_model(tmp_path / "ckpt.safetensors")

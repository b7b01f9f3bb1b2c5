"""A user who installs ``lstmkit`` alone (torch, numpy, safetensors) gets the layers; the rest says which extra
to install. Checked in a fresh interpreter in which the optional packages cannot be imported."""

import subprocess
import sys
import textwrap

BLOCK = ("tqdm", "torchmetrics", "matplotlib", "sklearn", "statsmodels", "click", "tensorboard", "keras")

PRELUDE = textwrap.dedent(f"""
    import sys
    for _name in {BLOCK!r}:
        sys.modules[_name] = None  # as if not installed: import raises ModuleNotFoundError, find_spec is None
""")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


def test_layers_work_without_the_extras(tmp_path):
    res = _run(f"""
        import torch, lstmkit
        from lstmkit import Sequential, load_model
        from lstmkit.layers import LSTM, Dense
        lstm = lstmkit.LSTM(3, 5, peephole=True, layer_norm=True)
        out, _ = lstm(torch.randn(4, 2, 3))
        out.sum().backward()
        cell = lstmkit.LSTMCell.from_layer(lstm)
        m = Sequential([LSTM(4, input_shape=(6, 3)), Dense(1)])
        y = m.predict(torch.randn(2, 6, 3).numpy())
        m.save({str(tmp_path / 'm.safetensors')!r})
        assert load_model({str(tmp_path / 'm.safetensors')!r}).predict(torch.zeros(1, 6, 3).numpy()).shape == (1, 1)
        print("ok", out.shape)
    """)
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stderr[-3000:]
    assert not any(m in res.stderr for m in BLOCK), res.stderr[-3000:]


def test_fit_and_cli_name_the_extra():
    res = _run("""
        import torch
        from lstmkit import Sequential
        from lstmkit.layers import LSTM, Dense
        m = Sequential([LSTM(4, input_shape=(6, 3)), Dense(1)])
        m.compile("adam", "mse")
        try:
            m.fit(torch.randn(8, 6, 3), torch.randn(8, 1), epochs=1, verbose=0)
        except ImportError as err:
            print(err)
    """)
    assert "pip install 'lstmkit[train]'" in res.stdout, res.stdout + res.stderr[-2000:]
    res = _run("import runpy; runpy.run_module('lstmkit.cli', run_name='__main__')")
    assert res.returncode != 0 and "pip install 'lstmkit[recipes]'" in res.stderr

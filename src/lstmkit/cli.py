"""The ``lstmkit`` command line (click).

    lstmkit recipes                                   # what can be trained, with targets
    lstmkit train forecast --set data.series=co2     # a recipe on real data -> a run directory
    lstmkit evaluate RUN                              # the run's test metrics
    lstmkit predict RUN "a gripping, funny film"      # a recipe's own predictions
    lstmkit generate RUN --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 20
    lstmkit forecast my.csv --column y --horizon 24   # your own series, with quantiles
    lstmkit classify my.csv --text text --label label # your own labelled texts
    lstmkit bench --variant peephole                  # lstmkit against torch.nn.LSTM on this machine

Errors in the user's input end with a one-line message naming what is wrong and exit code 2.
Each command imports what it needs inside its function: ``lstmkit --help`` and ``lstmkit recipes`` should not
pay for loading the recipes, their data modules and plotting.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

try:
    import click
except ImportError:  # the console script exists without the extra; say what to install
    sys.exit("lstmkit: the command line needs its extra: pip install 'lstmkit[recipes]' (or 'lstmkit[all]')")

from ._version import __version__
from .kernels.variants import VARIANTS

log = logging.getLogger("lstmkit")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"lstmkit: error: {self.format_message()}", err=True)


def _names(csv: str) -> tuple[str, ...]:
    """``"a, b,"`` -> ``("a", "b")``: a comma-separated option's names."""
    return tuple(c.strip() for c in csv.split(",") if c.strip())


def _guard(fn, *args, **kwargs):
    """Run ``fn``; turn the errors a user's input causes into a one-line message and exit code 2."""
    from .data import DataUnavailableError
    from .train.checkpoint import CheckpointError

    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError, FileNotFoundError, CheckpointError, DataUnavailableError, ImportError,
            NotImplementedError) as err:
        raise UserError(str(err)) from err


def _summary(run, metrics: dict) -> None:
    skip = {"confusion_matrix", "classes", "sample", "origins", "recipe", "target", "description"}
    target = metrics.get("target", "")
    click.echo(f"{metrics['recipe']}" + (f" (the recipe's target: {target}; the numbers below say whether this run "
                                         "met it)" if target else ""))
    for k, v in metrics.items():
        if k in skip or isinstance(v, (list, dict)):
            continue
        click.echo(f"  {k:<28} {v:.4f}" if isinstance(v, float) else f"  {k:<28} {v}")
    files = sorted(p.name for p in run.path.iterdir() if p.is_file())
    click.echo(f"results in {run.path}/: {', '.join(files)}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_on_sigterm() -> None:
    """SIGTERM (``kill``, a scheduler's time limit) ends a run as Ctrl-C does: the half-written run directory is
    removed and temporary files are cleaned up, so a rerun with the same ``--out`` works."""
    import signal

    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        pass


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="lstmkit")
@click.option("-v", "--verbose", is_flag=True, help="Log progress (per-epoch lines).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """LSTM networks for PyTorch: train recipes on real data, evaluate, predict, generate and benchmark."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    from .runtime import keep_freed_memory

    keep_freed_memory()  # this process is ours: reuse freed tensor memory (LSTMKIT_MALLOC_TUNING=0: off)
    _stop_on_sigterm()
    # Keras' fit verbosity for the runs: -v one line per epoch; else a progress bar on a terminal and a
    # line per epoch in a log, so a long run is never silent
    ctx.obj = {"verbose": verbose, "fit_verbose": 2 if verbose else 1}


@main.command(context_settings=CONTEXT)
def recipes() -> None:
    """List the recipes, what they do, and the target of a full run."""
    from .recipes import RECIPES

    for name, r in RECIPES.items():
        click.echo(f"{name:<16} {r.summary}\n{'':<16} target: {r.target}")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set model.hidden_size=256 (repeatable).")
@click.option("--quick", is_flag=True, help="A small, fast configuration (for tests and smoke runs).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/NAME-TIMESTAMP, or under $LSTMKIT_RUNS).")
@click.option("--show-config", is_flag=True, help="Print the resolved configuration and exit.")
@click.pass_context
def train(ctx: click.Context, name: str, overrides: tuple[str, ...], quick: bool, out: Optional[str],
          show_config: bool) -> None:
    """Train recipe NAME on its real data set and write a run directory.

    \b
    Examples:
      lstmkit train japanese-vowels
      lstmkit train forecast --set data.series=electricity --set train.epochs=50
      lstmkit train shakespeare --set model.hidden_size=256 --quick
    """
    from .recipes import get_recipe, run_recipe
    from .recipes.base import resolve_config

    recipe = _guard(get_recipe, name)
    if show_config:
        cfg = _guard(resolve_config, recipe, overrides, quick)
        click.echo(json.dumps(cfg.to_dict(), indent=2))
        return
    run, metrics = _guard(run_recipe, recipe, overrides, quick=quick, out=Path(out) if out else None,
                          verbose=ctx.obj["fit_verbose"])
    _summary(run, metrics)


def _open_dir(path: str):
    from .recipes import Run

    p = Path(path)
    if not (p / "config.json").exists():
        raise UserError(f"{p} is not a run directory (no config.json); `lstmkit train` writes one")
    return Run(p)


def _run_kind(path: str) -> str:
    return _guard(_open_dir(path).read_json, "config.json").get("recipe", "?")


def _open_run(path: str):
    from .recipes import get_recipe

    run = _open_dir(path)
    kind = _guard(run.read_json, "config.json").get("recipe", "?")
    if kind == "forecast-file":
        raise UserError(f"{path} is a `lstmkit forecast` run: `lstmkit predict {path}` forecasts again, and its "
                        "scores are in metrics.json and backtest.csv")
    return run, _guard(get_recipe, kind)


@main.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
def evaluate(run: str) -> None:
    """Show the test metrics of a finished run (checking that its model file loads)."""
    import lstmkit

    r, recipe = _open_run(run)
    _guard(lstmkit.load_model, r.model_path)
    _summary(r, _guard(recipe.evaluate, r))


@main.command("quantize", context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write the files here instead of "
              "into the run directory.")
def quantize_cmd(run: str, out: Optional[str]) -> None:
    """int8 copies of a trained run's models (model-int8.safetensors, ...; about 4x smaller, load them with
    lstmkit.load_model), and for classifiers the test accuracy of the float and the int8 models.

    \b
    Example:
      lstmkit quantize runs/japanese-vowels-...
    """
    from .recipes.deploy import quantize_run

    res = _guard(quantize_run, _open_dir(run), out)
    for f in res["files"]:
        click.echo(f)
    click.echo(f"  weights: {res['float_bytes'] / 1024:.0f} KiB float32 -> {res['int8_bytes'] / 1024:.0f} KiB int8 "
               f"({res['float_bytes'] / res['int8_bytes']:.1f}x smaller)")
    if "test_accuracy_int8" in res:
        click.echo(f"  test accuracy: {res['test_accuracy_float32']:.4f} float32, {res['test_accuracy_int8']:.4f} int8")


@main.command("prune", context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--sparsity", type=click.FloatRange(0.0, 1.0, max_open=True), required=True,
              help="The share removed: of the LSTM weights (magnitude), or of each layer's units (--structured).")
@click.option("--structured", is_flag=True, help="Remove whole hidden units: a smaller LSTM that runs faster.")
@click.option("--epochs", default=3, show_default=True, type=click.IntRange(0), help="Fine-tuning epochs.")
@click.option("--out", type=click.Path(file_okay=False), default=None)
def prune_cmd(run: str, sparsity: float, structured: bool, epochs: int, out: Optional[str]) -> None:
    """Prune a trained classifier run's models and fine-tune them on its training data: model-pruned.safetensors
    (per member), with parameters, test accuracy and prediction time before and after.

    \b
    Example:
      lstmkit prune runs/japanese-vowels-... --sparsity 0.5 --structured
    """
    from .recipes.deploy import prune_run

    res = _guard(prune_run, _open_dir(run), sparsity, structured, epochs, out)
    for f in res["files"]:
        click.echo(f)
    click.echo(f"  parameters: {res['params_before']} -> {res['params_after']}; zeros in the LSTM weights: "
               f"{res['lstm_zeros_after']:.1%}")
    click.echo(f"  test accuracy: {res['test_accuracy_before']:.4f} -> {res['test_accuracy_after']:.4f}; "
               f"prediction CPU time {res['predict_cpu_seconds_before']:.2f} s -> "
               f"{res['predict_cpu_seconds_after']:.2f} s")


@main.command("export", context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write the files here instead of "
              "into the run directory.")
def export_cmd(run: str, fmt: str, out: Optional[str]) -> None:
    """Export a trained run's model (every ensemble member) to ONNX: model.onnx, model-1.onnx, ... with
    dynamic batch and sequence length, each checked by onnxruntime against PyTorch before it is written.

    \b
    Example:
      lstmkit export runs/sentiment-...
      python -c "import onnxruntime as ort; print(ort.InferenceSession('runs/sentiment-.../model.onnx').get_inputs())"
    """
    from .recipes.deploy import export_run

    for path in _guard(export_run, _open_dir(run), fmt, out):
        click.echo(str(path))


@main.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=False)
@click.option("--csv", "csv_path", type=click.Path(), help="Read the inputs (a forecast run: the newer history) "
              "from this CSV file ...")
@click.option("--text", "text_col", default="text", show_default=True, help="... from this column.")
def predict(run: str, inputs: tuple[str, ...], csv_path: Optional[str], text_col: str) -> None:
    """Predict with a trained run: texts for sentiment/classify runs, image files for mnist-rows, the next
    horizon for `lstmkit forecast` runs (from the fitted series, or a newer file with --csv). Prints one JSON
    object per input (per series and step for forecasts)."""
    from .data.files import read_text_csv

    if _run_kind(run) == "forecast-file":
        from .recipes.forecast_file import predict_again

        for row in _guard(predict_again, _open_dir(run), csv_path):
            click.echo(json.dumps(row))
        return
    r, recipe = _open_run(run)
    items = list(inputs)
    if csv_path:
        items += _guard(read_text_csv, csv_path, text_col)
    if not items:
        raise UserError("nothing to predict: give inputs or --csv FILE")
    for row in _guard(recipe.predict, r, items):
        click.echo(json.dumps(row, ensure_ascii=False))


@main.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", default="ROMEO:", show_default=True)
@click.option("--length", default=500, show_default=True, type=click.IntRange(1, 100000))
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(min=1e-3))
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(0), help="0 = sample from all.")
@click.option("--seed", default=None, type=int)
def generate(run: str, prompt: str, length: int, temperature: float, top_k: int, seed: Optional[int]) -> None:
    """Sample text from a shakespeare run."""
    import lstmkit
    from .data import Vocabulary
    from .recipes.text import generate as sample

    r, recipe = _open_run(run)
    if recipe.name != "shakespeare":
        raise UserError(f"{run} is a {recipe.name} run; generate needs a shakespeare run")
    model = _guard(lstmkit.load_model, r.model_path)
    vocab = _guard(Vocabulary.load, r.path / "vocab.json")
    click.echo(_guard(sample, model, vocab, prompt, length=length, temperature=temperature, top_k=top_k,
                      seed=seed))


@main.command(context_settings=CONTEXT)
@click.argument("csv_file", type=click.Path())
@click.option("--column", required=True, help="The numeric column to forecast.")
@click.option("--horizon", default=12, show_default=True, type=click.IntRange(1), help="Steps ahead.")
@click.option("--period", default=1, show_default=True, type=click.IntRange(1),
              help="Seasonal period in steps (12 for monthly data with a yearly cycle).")
@click.option("--time-column", default="", help="Timestamps (dates, months, quarters or numbers); predictions "
              "carry the future ones. Without it, rows are in time order.")
@click.option("--id-column", default="", help="Several series in long format (one row per series and time), "
              "fitted as one global model; needs --time-column.")
@click.option("--quantiles", default="0.1,0.5,0.9", show_default=True, help="Quantiles to forecast (the "
              "median is always among them).")
@click.option("--backtest", default=0, show_default=True, type=click.IntRange(0), help="Rolling origins to "
              "refit and score lstmkit against seasonal naive, ETS, Theta and AR (0 = none).")
@click.option("--calendar", is_flag=True, help="Feed the network calendar covariates of the timestamps (month, "
              "weekday, hour: where the step resolves them).")
@click.option("--covariates", default="", metavar="COL1,COL2", help="Columns known in advance (prices, "
              "holidays) fed to the network; rows after a series' last value, with the value blank, give them for "
              "the forecast steps.")
@click.option("--past-covariates", default="", metavar="COL1,COL2", help="Columns observed along with the "
              "value (a measured temperature, related sales), read up to the last value only: no future rows "
              "needed.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="An LSTMForecaster option: steps, ensemble, hidden_size, input_size, combine, cell...")
@click.option("--quick", is_flag=True, help="A smoke test (one small network), not a forecast to use.")
@click.option("--out", type=click.Path(file_okay=False), default=None)
def forecast(csv_file: str, column: str, horizon: int, period: int, time_column: str, id_column: str,
             quantiles: str, backtest: int, calendar: bool, covariates: str, past_covariates: str,
             overrides: tuple[str, ...], quick: bool, out: Optional[str]) -> None:
    """Forecast your own series (one, or many in long format) with quantiles, and write predictions.csv,
    the fitted forecaster and, with --backtest, rolling-origin scores against the statistical baselines.

    \b
    Examples:
      lstmkit forecast sales.csv --column units --horizon 12 --period 12 --time-column month
      lstmkit forecast stores.csv --column y --time-column ds --id-column unique_id --backtest 3
      lstmkit forecast shop.csv --column units --time-column day --covariates price,promo --horizon 7
      lstmkit forecast power.csv --column load --time-column hour --past-covariates temperature --horizon 24
      lstmkit predict runs/forecast-... --csv newer.csv      # forecast again from newer data
    """
    from .recipes.forecast_file import run_forecast_file

    try:
        qs = tuple(float(q) for q in quantiles.split(",") if q.strip())
    except ValueError:
        raise UserError(f"--quantiles {quantiles!r}: expected numbers separated by commas") from None
    run, metrics = _guard(run_forecast_file, csv_file, column, horizon, period, time_column=time_column,
                          id_column=id_column, quantiles=qs, backtest=backtest, calendar=calendar,
                          covariates=_names(covariates), past_covariates=_names(past_covariates),
                          overrides=overrides, quick=quick, out=out)
    click.echo(f"lstmkit forecast: {metrics['series']} series, {horizon} steps; model: {metrics['components']}")
    for k, v in metrics.items():
        if k.startswith("backtest_") or k.startswith("validation_"):
            click.echo(f"  {k:<34} {v:.4f}" if isinstance(v, float) else f"  {k:<34} {v}")
    files = sorted(p.name for p in run.path.iterdir() if p.is_file())
    click.echo(f"results in {run.path}/: {', '.join(files)}")


@main.command(context_settings=CONTEXT)
@click.argument("csv_file", type=click.Path())
@click.option("--text", "text_col", default="text", show_default=True)
@click.option("--label", "label_col", default="label", show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE")
@click.option("--quick", is_flag=True)
@click.option("--out", type=click.Path(file_okay=False), default=None)
@click.pass_context
def classify(ctx: click.Context, csv_file: str, text_col: str, label_col: str, overrides: tuple[str, ...],
             quick: bool, out: Optional[str]) -> None:
    """Train a text classifier (the sentiment recipe's model) on your own labelled CSV file.

    \b
    Example:
      lstmkit classify tickets.csv --text body --label team
      lstmkit predict runs/sentiment-... "the printer is on fire"
    """
    from .recipes import get_recipe, run_recipe

    sets = (f"data.csv={csv_file}", f"data.text={text_col}", f"data.label={label_col}", *overrides)
    run, metrics = _guard(run_recipe, get_recipe("sentiment"), sets, quick=quick,
                          out=Path(out) if out else None, verbose=ctx.obj["fit_verbose"])
    _summary(run, metrics)


@main.command(context_settings=CONTEXT)
@click.option("--batch", default=32, show_default=True, type=click.IntRange(1))
@click.option("--steps", default=100, show_default=True, type=click.IntRange(1))
@click.option("--input-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--hidden", default=128, show_default=True, type=click.IntRange(1))
@click.option("--layers", default=1, show_default=True, type=click.IntRange(1))
@click.option("--variant", default="vanilla", show_default=True, type=click.Choice(list(VARIANTS)),
              help="an entry of lstmkit.kernels.variants.VARIANTS")
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(1))
@click.option("--threads", default=0, type=click.IntRange(0), help="0 = torch's default.")
def bench(batch: int, steps: int, input_size: int, hidden: int, layers: int, variant: str, repeats: int,
          threads: int) -> None:
    """Time forward+backward of an lstmkit LSTM variant against torch.nn.LSTM on this machine (medians).
    The full benchmark is benchmarks/speed.py."""
    from .bench import compare

    res = _guard(compare, batch=batch, steps=steps, input_size=input_size, hidden=hidden, layers=layers,
                 variant=variant, repeats=repeats, threads=threads)
    click.echo(f"B={batch} T={steps} I={input_size} H={hidden} layers={layers}, {res['threads']} threads")
    click.echo(f"  lstmkit {variant:<18} {res['lstmkit_ms']:8.2f} ms  ({res['backend']})")
    click.echo(f"  torch.nn.LSTM vanilla      {res['torch_ms']:8.2f} ms")
    click.echo(f"  ratio                      {res['ratio']:8.2f}x")


@main.command(context_settings=CONTEXT)
@click.option("--epochs", default=300, show_default=True, type=click.IntRange(1))
@click.option("--activation", default="tanh", show_default=True)
@click.option("--peephole", is_flag=True)
@click.option("--layer-norm", is_flag=True)
@click.option("--cifg", is_flag=True)
def demo(epochs: int, activation: str, peephole: bool, layer_norm: bool, cifg: bool) -> None:
    """A 10-second check: forecast next year's sunspots from the previous 20 years."""
    from .recipes.demo import DemoConfig, run

    cfg = _guard(DemoConfig, epochs=epochs, activation=activation, peephole=peephole, layer_norm=layer_norm,
                 cifg=cifg)
    res = _guard(run, cfg)
    click.echo(f"lstmkit demo: yearly sunspots, next year from {cfg.window} years ({res['backend']})")
    click.echo(f"  test years {res['test_years']}: LSTM RMSE {res['lstm_rmse']:.2f}, "
               f"last-value baseline {res['naive_rmse']:.2f}, {res['train_seconds']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())

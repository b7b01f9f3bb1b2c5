"""The ``lstmkit`` command line."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    from .recipes.demo import DemoConfig, run

    cfg = DemoConfig(epochs=args.epochs, hidden_size=args.hidden_size, window=args.window, seed=args.seed,
                     activation=args.activation, peephole=args.peephole, layer_norm=args.layer_norm,
                     cifg=args.cifg)
    res = run(cfg)
    print(f"lstmkit demo: yearly sunspots, predict next year from {cfg.window} years ({res['backend']})")
    print(f"  test years {res['test_years']}")
    print(f"  LSTM RMSE            {res['lstm_rmse']:8.2f}")
    print(f"  last-value baseline  {res['naive_rmse']:8.2f}")
    print(f"  training time        {res['train_seconds']:8.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstmkit", description="LSTM networks for PyTorch.")
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train an LSTM on the bundled yearly sunspot series",
                          description="Example: lstmkit demo --peephole --activation relu")
    demo.add_argument("--epochs", type=int, default=300)
    demo.add_argument("--hidden-size", type=int, default=32)
    demo.add_argument("--window", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--activation", default="tanh")
    demo.add_argument("--peephole", action="store_true")
    demo.add_argument("--layer-norm", action="store_true")
    demo.add_argument("--cifg", action="store_true")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

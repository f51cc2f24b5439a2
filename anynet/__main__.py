"""The ``anynet`` command (also ``python -m anynet``)."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="anynet", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="train the tutorial's XOR network, then anynet's")
    demo.add_argument("--backend", default="numpy",
                      help="numpy, cupy, torch, jax, array_api_strict or auto (default numpy)")
    demo.add_argument("--verbose", action="store_true", help="print the loss every 100 epochs")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        from .demo import run
        try:
            run(backend=getattr(args, "backend", "numpy"), verbose=getattr(args, "verbose", False))
        except (ValueError, TypeError, ImportError, RuntimeError) as exc:
            print(f"anynet: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

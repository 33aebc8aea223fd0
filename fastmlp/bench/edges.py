"""The bench modes beside the speed suite: ``--time-to-accuracy``, and ``--plot`` drawn ``--from-json``."""

from __future__ import annotations

import json
import sys

from . import write_json


def run_edges(args) -> int:
    """Run the mode ``args`` asks for (see fastmlp.bench.add_arguments); returns the exit status."""
    if args.from_json and not args.time_to_accuracy:
        if not args.plot:
            print("fastmlp bench: --from-json needs --plot", file=sys.stderr)
            return 2
        from .speed_plot import plot_speed

        try:
            with open(args.from_json) as saved:
                result = json.load(saved)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{args.from_json}: not a JSON file ({error})") from None
        if not isinstance(result, dict):
            raise ValueError(f"{args.from_json}: not the --json of a speed run (a JSON {type(result).__name__})")
        try:
            print(f"wrote {plot_speed(result, args.plot)}")
        except ValueError as error:
            print(f"fastmlp bench: {error}", file=sys.stderr)
            return 2
        except (KeyError, TypeError, AttributeError) as error:  # rows of another kind of result
            raise ValueError(f"{args.from_json}: not the --json of a speed run ({type(error).__name__} "
                             f"{error} in its training rows)") from None
        return 0
    from . import report
    from . import time_to_accuracy as tta

    target = tta.TARGET if args.target_accuracy is None else args.target_accuracy
    if (args.epochs is not None and args.epochs < 1) or (args.repeat is not None and args.repeat < 1) \
            or not 0 < target <= 1:
        print("fastmlp bench: --epochs and --repeat must be >= 1 and --target-accuracy in (0, 1]", file=sys.stderr)
        return 2
    if args.plot:
        print("fastmlp bench: --plot draws the speed suite's measurements, not --time-to-accuracy", file=sys.stderr)
        return 2
    result = tta.run(peers=args.peers, learning_rate=args.learning_rate, epochs=args.epochs,
                     target=target, races=args.repeat, quick=args.quick, synthetic=args.synthetic)
    result["machine"] = report.machine()
    print(tta.text_report(result))
    if args.json:
        write_json(result, args.json)
        print(f"\nwrote {args.json}")
    return 0

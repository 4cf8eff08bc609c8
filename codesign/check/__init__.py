"""``codesign check``: recompute stored estimates and fail when one drifted (the CI regression check).

``check_baselines(directory)`` recomputes every case of ``directory/baselines.toml`` through the
backend interface and compares it key by key with the stored estimate
(``codesign.estimate.compare``); ``update=True`` rewrites the stored estimates on purpose.
Modules: ``baselines`` (the directory on disk), ``runner`` (the check), ``render`` (the terminal
output). Exit status: 0 all hold (or updated), 1 drift, 2 bad input.
"""

from __future__ import annotations

import json

from codesign.check.baselines import (
    BASELINES_FILE,
    DEFAULT_TOLERANCES,
    ESTIMATES_DIR,
    TOLERANCES_FILE,
    Case,
    estimate_file,
    format_options,
    load_cases,
    load_tolerances,
    options_hash,
)
from codesign.check.render import drift_table, print_result
from codesign.check.runner import CaseResult, CheckResult, check_baselines


def add_arguments(parser) -> None:
    parser.add_argument("directory", metavar="BASELINE_DIR",
                        help="directory with baselines.toml, tolerances.toml (optional) and estimates/")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the stored estimates from the current code and cards (on purpose), exit 0")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args) -> int:
    result = check_baselines(args.directory, update=args.update)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print_result(result)
    return 0 if args.update else result.exit_code


__all__ = ["BASELINES_FILE", "DEFAULT_TOLERANCES", "ESTIMATES_DIR", "TOLERANCES_FILE", "Case", "CaseResult",
           "CheckResult", "add_arguments", "check_baselines", "drift_table", "estimate_file", "format_options",
           "load_cases", "load_tolerances", "options_hash", "print_result", "run"]

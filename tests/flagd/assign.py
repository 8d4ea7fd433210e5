"""Which variant the official flagd evaluator gives each of N random targeting keys.

usage: assign.py DOCUMENT KEYS SEED
prints JSON: {"keys": [...], "flags": {flag_key: [variant for each key]}}
"""

import json
import pathlib
import random
import sys

from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.tools.flagd.core import FlagdCore


def main() -> None:
    document = json.loads(pathlib.Path(sys.argv[1]).read_text())
    count = int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]))
    keys = ["%032x" % rng.getrandbits(128) for _ in range(count)]
    core = FlagdCore()
    core.set_flags(document)
    flags = {}
    for flag_key in document["flags"]:
        flags[flag_key] = [
            core.resolve_string_value(flag_key, "<none>", EvaluationContext(targeting_key=k)).value
            for k in keys
        ]
    print(json.dumps({"keys": keys, "flags": flags}))


if __name__ == "__main__":
    main()

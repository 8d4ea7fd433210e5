"""Validate a beacon-console flag document and evaluate it with the official
flagd evaluator (PyPI openfeature-flagd-core).

usage: evaluate.py SCHEMA_DIR DOCUMENT KEYS_PER_FLAG SEED
prints JSON: {"flags": {flag_key: {variant: count}}, "flag_set_version": "..."}
exit 1 with a message on stderr when the document is invalid.
"""

import json
import pathlib
import random
import sys

import jsonschema
from referencing import Registry, Resource
from openfeature.evaluation_context import EvaluationContext
from openfeature.contrib.tools.flagd.core import FlagdCore


def validate(schema_dir: pathlib.Path, document: dict) -> None:
    resources = []
    for name in ("flags.json", "targeting.json", "flagd.json"):
        schema = json.loads((schema_dir / name).read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    # flags.json's root is a bare $ref, so validate through its $id (see the schema README).
    validator = jsonschema.Draft7Validator(
        {"$ref": "https://flagd.dev/schema/v0/flags.json"}, registry=registry
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        for e in errors[:10]:
            print(f"schema: {list(e.path)}: {e.message}", file=sys.stderr)
        sys.exit(1)
    # What the schema does not check: variants referenced must exist.
    for key, flag in document["flags"].items():
        variants = flag["variants"]
        if flag.get("defaultVariant") not in variants:
            sys.exit(f"{key}: defaultVariant not in variants")
        for bucket in flag.get("targeting", {}).get("fractional", []):
            if bucket[0] not in variants:
                sys.exit(f"{key}: fractional variant {bucket[0]} not in variants")


def main() -> None:
    schema_dir = pathlib.Path(sys.argv[1])
    document = json.loads(pathlib.Path(sys.argv[2]).read_text())
    keys_per_flag = int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]))
    validate(schema_dir, document)

    core = FlagdCore()
    core.set_flags(document)
    counts = {}
    for flag_key in document["flags"]:
        seen = {}
        for _ in range(keys_per_flag):
            targeting_key = "%032x" % rng.getrandbits(128)
            ctx = EvaluationContext(targeting_key=targeting_key)
            result = core.resolve_string_value(flag_key, "<none>", ctx)
            seen[result.value] = seen.get(result.value, 0) + 1
        counts[flag_key] = seen
    print(json.dumps({"flags": counts, "flag_set_version": core.get_flag_set_metadata().get("version")}))


if __name__ == "__main__":
    main()

"""`python -m bench` (what bench/run calls): run the spec, write the results."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

from bench.against import against
from bench.commits import commit_cost
from bench.durability import sync_cost
from bench.inference import inference_alone
from bench.inputs import make_inputs
from bench.memory import hostile_mix
from bench.peers import peers
from bench.profile import profile
from bench.reading import reading_cost
from bench.recording import recording_cost
from bench.report import Report, write
from bench.spec import RunSpec
from bench.systems import Variant, baselines, cassandra_node, cold_start, float_model_variant, ours
from tests.utils import ROOT


def main(argv: list[str] | None = None) -> int:
    spec = RunSpec.parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report = Report()
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        work = Path(tmp)
        inputs = make_inputs(work)
        parts = spec.parts
        if "inference" in parts:
            inference_alone(report)
        if "reading" in parts:
            reading_cost(report, spec)
        if "cold" in parts:
            cold_start(report, work, spec.cold_starts)
        if "hostile" in parts:
            hostile_mix(report, spec, work)
        if "ours" in parts:
            ours(report, spec, inputs, work, Variant(scenarios=("png28", "jpeg640")) if spec.smoke else Variant())
            float_variant = float_model_variant()
            if float_variant is not None and not spec.smoke:
                ours(report, spec, inputs, work, float_variant)
        if "cassandra" in parts:
            node = cassandra_node(work)
            try:
                ours(report, spec, inputs, work, Variant(store="cassandra", node=node))
            finally:
                node.stop()
        if "peers" in parts:
            peers(report, spec, inputs, work)
        if "recording" in parts:
            recording_cost(report, spec, inputs, work)
        if "commits" in parts:
            commit_cost(report, spec, work)
        if "sync" in parts:
            sync_cost(report, spec, work, inputs)
        if "baselines" in parts:
            baselines(report, spec, inputs, work)
        if "against" in parts:
            against(report, spec, inputs, work)
        if "profile" in parts:
            profile(report, spec, inputs, work)
        # The container's start to ready, as the container tests last measured it: beside the
        # process's own (the cold part), not in the results of other parts.
        container = ROOT / "artifacts" / "test" / "container-start.json"
        if "cold" in parts and container.exists() and not spec.smoke:
            report.facts["runtime_image_start_to_ready_s"] = json.loads(container.read_text())["start_to_ready_s"]
        write(report, spec.out, smoke=spec.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())

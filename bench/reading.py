"""Reading a whole number in-process, stage by stage: segmentation (finding the pieces, cutting
and framing every option's parts), the digit model on every frame, the group model on every
group. One thread, the service's own functions, numbers generated from MNIST test digits."""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

from bench.report import Report
from bench.spec import RunSpec
from service.core import decode, reading
from service.core.card import ModelCard
from service.core.groups import GroupModel
from service.core.model import OnnxModel
from tests.utils import ROOT
from train import mnist, numbers

log = logging.getLogger("bench")

LENGTHS = (2, 4, 8)
SEED = 5  # not the figures' seed: only the time is measured here


def reading_cost(report: Report, spec: RunSpec) -> None:
    """Median milliseconds per number by length and stage, over `spec.rounds` passes (the first
    pass, unmeasured, warms the sessions)."""
    model = OnnxModel(ModelCard.load(ROOT / "models" / "mnist-cnn-int8.card.json"))
    whole = GroupModel(OnnxModel(ModelCard.load(ROOT / "models" / "mnist-groups.card.json")))
    test = mnist.load_split(mnist.default_data_dir() or Path("../shared/data/mnist"), "t10k")
    per_length = 4 if spec.smoke else 12
    picked = [n for n in numbers.generate(test, per_length, SEED) if len(n.text) in LENGTHS]
    times: dict[tuple[int, str], list[float]] = {}
    for round_ in range(spec.rounds + 1):
        for n in picked:
            t0 = time.perf_counter()
            segmented = reading.segment(decode.decode(n.data, work_side=reading.READ_SIDE))
            t1 = time.perf_counter()
            probs = model.predict(segmented.frames())
            t2 = time.perf_counter()
            group_probs = whole.predict(segmented.whole_frames())
            segmented.choose(probs, group_probs, whole.classes)
            t3 = time.perf_counter()
            if round_ == 0:
                continue
            for stage, value in (
                ("segment", t1 - t0),
                ("digits", t2 - t1),
                ("groups", t3 - t2),
                ("all", t3 - t0),
            ):
                times.setdefault((len(n.text), stage), []).append(value * 1000.0)
            times.setdefault((len(n.text), "frames"), []).append(float(len(probs)))
    figures = {
        f"{length} digits": {
            ("digit_frames" if stage == "frames" else f"{stage}_ms"): round(
                statistics.median(times[(length, stage)]), 1
            )
            for stage in ("segment", "digits", "groups", "all", "frames")
        }
        for length in LENGTHS
    }
    report.facts["reading_ms_per_number"] = {
        "method": f"in-process, one thread, {per_length} numbers per length and kind (seed {SEED}), "
        f"{spec.rounds} measured passes after one warm-up pass; medians",
        **figures,
    }
    log.info("reading: %s", figures)

"""Run a scenario in this process and SIGKILL it at a chosen point (for the resume tests).

Usage: python -m tests.env.killer POINT STEP SCENARIO [key=value ...]

POINT is where, during step STEP, the process kills itself:

* ``after_step``: once the step's files are written (between steps);
* ``in_step``: inside the step, after the users decided and before the recommender learns;
* ``checkpoint_write``: half-way through writing the checkpoint of step STEP;
* ``event_flush``: half-way through writing the first event part holding step STEP's events.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    point, at, scenario, overrides = argv[0], int(argv[1]), argv[2], argv[3:]
    from simrec.config import load_scenario
    from simrec.env import checkpoint as model_checkpoint
    from simrec.env import runner
    from simrec.env.model import SimModel
    from simrec.io import checkpoints, events
    from simrec.io.manifest import atomic_path
    from simrec.io.run_folder import RunFolder

    if point == "after_step":
        write_step = RunFolder.write_step

        def after(self: RunFolder, model: object, done: int, rows: int) -> None:
            write_step(self, model, done, rows)
            if done == at:
                _die()

        RunFolder.write_step = after  # type: ignore[method-assign]
    elif point == "in_step":
        learn = SimModel.learn

        def learning(self: SimModel, *args: object) -> object:
            if self.steps == at:
                _die()
            return learn(self, *args)

        SimModel.learn = learning  # type: ignore[method-assign]
    elif point == "checkpoint_write":
        write = checkpoints.write_checkpoint

        def half_written(run_dir: Path, step: int, payload: bytes, keep: int = 2) -> object:
            if step != at:
                return write(run_dir, step, payload, keep)
            with atomic_path(checkpoints.checkpoint_dir(run_dir) / f"step-{step:06d}.ckpt") as tmp, open(tmp, "wb") as fh:
                fh.write(payload[: len(payload) // 2])
                fh.flush()
                _die()
            return None

        model_checkpoint.write_checkpoint = half_written  # type: ignore[assignment]
    elif point == "event_flush":
        write_part = events.EventSink._write_part

        def half_part(self: events.EventSink, batch: events.EventBatch) -> None:
            if len(batch) and int(batch.step.max()) >= at:
                table = self.to_table(batch)
                with atomic_path(self.directory / f"part-{self._next_part:05d}.parquet") as tmp:
                    import pyarrow.parquet as pq

                    pq.write_table(table, tmp)
                    data = tmp.read_bytes()
                    tmp.write_bytes(data[: len(data) // 2])
                    _die()
            write_part(self, batch)

        events.EventSink._write_part = half_part  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {point!r}")
    runner.run_scenario(load_scenario(scenario, overrides))
    raise SystemExit("the run finished without reaching its kill point")


if __name__ == "__main__":
    main(sys.argv[1:])

"""What calibration fitted: choice-model parameters and a report of the fit (plain data).

:func:`simrec.fidelity.calibrate.calibrate_world` fits it on a built world and
stores it in :attr:`World.calibration <simrec.world.build.World.calibration>`;
:meth:`ChoicePolicy.from_world <simrec.agents.policies.choice.ChoicePolicy.from_world>`
applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from simrec.config.schema import ChoiceParams


@dataclass
class Calibration:
    """Parameters fitted to real behaviour and how well they fit.

    Attributes:
        params: ``ChoiceParams`` fields to override.
        report: Figures of the fit (validation lists, log-likelihood, errors).
    """

    params: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def apply(self, choice: ChoiceParams) -> ChoiceParams:
        """``choice`` with the fitted fields replaced."""
        return choice.model_copy(update=self.params)

    def to_json(self) -> dict[str, Any]:
        """Parameters and report as JSON-ready values."""
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [plain(x) for x in v]
            return v.item() if isinstance(v, np.generic) else v

        return {"params": plain(self.params), "report": plain(self.report)}

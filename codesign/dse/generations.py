"""Deterministic NSGA-II rounds over a shared study: the same trials whatever runs them.

Optuna's NSGA-II, run by several workers at once, picks each new trial from whatever has
finished at that moment: two runs of one sweep differ, and a worker lost mid-run changes every
later trial. Here every trial is a *slot* with a fixed index. The design points of a round are
computed from the finished rounds only, by replaying them in order into an in-memory NSGA-II
study seeded with the sweep's seed, and are queued in the shared study (``enqueue_trial``) for
any worker to take. A round holds the missing members of the open generation (or of the trial
budget), so a sweep run by 1 or 64 workers, on one machine or several, interrupted, resumed or
extended asks for exactly the trials one process would, and gets the same results.

A slot is settled when one of its copies completed, or when its training diverged (NaN weights,
a property of the design point: NSGA-II then asks for a replacement in the next round). A
slot whose copies all failed otherwise (worker killed, stale heartbeat, an error) is queued
again; after ``MAX_ERRORS`` errors the sweep stops with the last one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from codesign.dse.config import SweepConfig
from codesign.dse.storage import SweepError

SLOT = "slot"  # user attribute: the trial's slot index (its number in the canonical order)
ROUND = "round"
DIVERGED = "diverged"
MAX_ERRORS = 3


@dataclass
class Slot:
    """All copies (Optuna trials) of one slot, lowest trial number first."""

    index: int
    copies: list = field(default_factory=list)

    def _state(self, name: str) -> list:
        return [t for t in self.copies if t.state.name == name]

    @property
    def complete(self):
        """The copy whose results count: the lowest-numbered complete one."""
        done = self._state("COMPLETE")
        return done[0] if done else None

    @property
    def diverged(self) -> bool:
        return any(t.user_attrs.get(DIVERGED) for t in self._state("FAIL"))

    @property
    def settled(self) -> bool:
        return self.complete is not None or self.diverged

    @property
    def live(self) -> bool:
        return bool(self._state("WAITING") or self._state("RUNNING"))

    @property
    def errors(self) -> list[str]:
        return [t.user_attrs["error"] for t in self._state("FAIL") if "error" in t.user_attrs]


def read_slots(study) -> dict[int, Slot]:
    slots: dict[int, Slot] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        index = trial.user_attrs.get(SLOT)
        if index is not None:
            slots.setdefault(index, Slot(index)).copies.append(trial)
    return slots


def complete_slots(study) -> int:
    from optuna.trial import TrialState

    return len({t.user_attrs.get(SLOT) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
               - {None})


@dataclass
class _Round:
    number: int
    offset: int
    asked: list  # shadow trials, not told yet
    params: list[dict[str, Any]]


class Planner:
    """Keeps the shared study supplied with the slots of the open round (call ``step`` often)."""

    def __init__(self, config: SweepConfig, study, *, trials: int | None = None):
        import optuna

        self.config, self.study = config, study
        self.trials = config.trials if trials is None else trials
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.NSGAIISampler(seed=config.seed, population_size=config.population_size)
        self.shadow = optuna.create_study(directions=config.directions(), sampler=sampler)
        self.open: _Round | None = None
        self.rounds = 0
        self.offset = 0  # first slot index of the next round
        self.complete = 0  # settled-complete slots of the told rounds
        self.generation_complete = 0  # complete members of the open NSGA-II generation
        self.diverged = 0
        self.queued = 0  # trials queued by this planner (workers are told when it grows)
        self.unsettled = 0  # slots of the open round not settled at the last step
        self.done = False

    def step(self) -> int:
        """Tell finished rounds to the shadow, ask the next, queue what is missing; returns the
        number of complete slots."""
        slots = read_slots(self.study)
        while True:
            if self.open is None and not self._ask():
                self.done = True
                return self.complete
            if not all(self._slot(slots, i).settled for i in self._indices()):
                break
            self._tell(slots)
        for i, params in zip(self._indices(), self.open.params):
            slot = self._slot(slots, i)
            if slot.settled or slot.live:
                continue
            errors = slot.errors
            if len(errors) >= MAX_ERRORS:
                raise SweepError(f"trial {i} failed {len(errors)} times, the last with: {errors[-1]}",
                                 hint="fix the config or the environment; finished trials are kept and a "
                                 "re-run resumes")
            self.study.enqueue_trial(params, user_attrs={SLOT: i, ROUND: self.open.number})
            self.queued += 1
        self.unsettled = sum(1 for i in self._indices() if not self._slot(slots, i).settled)
        return self.complete + sum(1 for i in self._indices() if self._slot(slots, i).complete is not None)

    # -- the shadow study -------------------------------------------------------------------------------
    def _indices(self) -> range:
        return range(self.open.offset, self.open.offset + len(self.open.params))

    @staticmethod
    def _slot(slots: dict[int, Slot], index: int) -> Slot:
        return slots.get(index) or Slot(index)

    def _ask(self) -> bool:
        from codesign.dse.evaluate import suggest

        size = min(self.config.population_size - self.generation_complete, self.trials - self.complete)
        if size <= 0:
            return False
        asked = [self.shadow.ask() for _ in range(size)]
        self.open = _Round(self.rounds, self.offset, asked, [suggest(t, self.config) for t in asked])
        return True

    def _tell(self, slots: dict[int, Slot]) -> None:
        from optuna.trial import TrialState

        for index, trial, params in zip(self._indices(), self.open.asked, self.open.params):
            slot = slots[index]
            done = slot.complete
            if done is None:
                self.shadow.tell(trial, state=TrialState.FAIL)
                self.diverged += 1
                continue
            if done.params != params:
                raise SweepError(f"trial {index} of study {self.config.study_name!r} has other parameters than "
                                 "this version plans", hint="resume with the version that started it, or use "
                                 "another --out, --storage or study_name")
            self.shadow.tell(trial, list(done.values))
            self.complete += 1
            self.generation_complete += 1
        if self.generation_complete >= self.config.population_size:
            self.generation_complete = 0
        if self.diverged > max(self.trials, 10):
            raise SweepError(f"{self.diverged} trials diverged (NaN weights in training)",
                             hint="lower training.learning_rate or change the space")
        self.offset += len(self.open.params)
        self.rounds += 1
        self.open = None

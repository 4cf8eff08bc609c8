"""One progress bar with an ETA for a run spread over many workers.

Workers never draw; the driving process counts finished work where it is recorded (the
study, or the finished Ray tasks) and moves one bar, so the ETA covers the whole run.
"""

from __future__ import annotations


class Progress:
    def __init__(self, total: int, *, initial: int = 0, desc: str, unit: str, enabled: bool):
        from tqdm.auto import tqdm

        # the rate (and so the ETA) only counts work done in this run, not what a resume found
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
                        dynamic_ncols=True, smoothing=0.1)

    def set(self, done: int) -> None:
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Quantisation-aware training of Brevitas MLPs: deterministic for a seed, with a progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codesign.data import Dataset
from codesign.errors import ParameterError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 0.02
    weight_decay: float = 0.0
    seed: int = 0
    noise: object = None  # a NoiseModel: fault- / variability-aware training; None: plain QAT
    chip: tuple[int, int] | None = None  # (seed, instance): fine-tune for one known chip's faults
    regularization: float = 0.0  # weight of the fault-sensitivity penalty (needs ``noise``)
    # torch intra-op threads while training (0: torch's default). The MLPs trained here are small:
    # one thread is faster than several, and far faster on a loaded machine (measured 35x on a
    # 21-8-3 Cardio model with the load average at 11 on 2 cores).
    threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ParameterError(f"epochs ({self.epochs}) and batch size ({self.batch_size}) must be >= 1",
                                 hint="use positive values")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning rate {self.learning_rate} must be > 0", hint="e.g. 0.01")
        if self.threads < 0:
            raise ParameterError(f"threads = {self.threads} must be >= 0", hint="0 keeps torch's default")
        if self.regularization < 0:
            raise ParameterError(f"regularization {self.regularization} must be >= 0", hint="e.g. 0.1")
        if self.regularization and self.noise is None:
            raise ParameterError("regularization needs a noise model", hint="set noise=NoiseModel(...)")

        if self.chip is not None and self.noise is None:
            raise ParameterError("chip-specific fine-tuning needs a noise model", hint="set noise=NoiseModel(...)")

    @property
    def mode(self) -> str:
        if self.noise is None:
            return "plain"
        return "fault_aware" if self.chip is None else "chip_fine_tuning"


@dataclass
class TrainResult:
    model: object  # torch.nn.Module
    train_accuracy: float
    test_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(x, dtype=torch.float32))
        logits = logits.value if hasattr(logits, "value") else logits
    return float((logits.argmax(dim=1).numpy() == y).mean())


def train(model, data: Dataset, config: TrainConfig = TrainConfig(), *, progress: bool = True,
          loss_hook=None) -> TrainResult:
    """Adam + cosine schedule on cross-entropy; with ``config.noise`` every step sees a freshly
    sampled faulty chip. ``loss_hook(model) -> tensor`` adds any extra regulariser."""
    import torch

    before = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(model, data, config, progress, loss_hook)
    finally:
        torch.set_num_threads(before)


def _train(model, data: Dataset, config: TrainConfig, progress: bool, loss_hook) -> TrainResult:
    import torch
    from tqdm.auto import tqdm

    from codesign.quant.noisy import set_chip, set_training_noise
    from codesign.quant.regularize import robustness_penalty

    seed_everything(config.seed)
    if config.chip is None:
        set_training_noise(model, config.noise, config.seed)
    else:
        set_chip(model, config.noise, *config.chip)
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train, dtype=torch.long)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    history = []
    bar = tqdm(range(config.epochs), desc=f"{config.mode} training on {data.name}", unit="epoch", disable=not progress,
               leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]
            if len(batch) < 2:
                continue  # batch norm needs two samples
            optimizer.zero_grad()
            out = model(x[batch])
            out = out.value if hasattr(out, "value") else out
            loss = loss_fn(out, y[batch])
            if config.regularization:
                loss = loss + config.regularization * robustness_penalty(model, config.noise)
            if loss_hook is not None:
                loss = loss + loss_hook(model)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        history.append({"epoch": epoch + 1, "loss": total / len(x)})
        bar.set_postfix(loss=f"{total / len(x):.4f}")
    bar.close()
    result = TrainResult(model, accuracy(model, data.x_train, data.y_train),
                         accuracy(model, data.x_test, data.y_test), history)
    set_training_noise(model, None)  # eval and export see the plain quantised model
    return result

"""Task sampling for multi-task pretraining, sharded across processes like DistributedSampler.

Every draw is a pure function of ``(seed, counters)``, so the sampler's whole state is a few
integers: a resumed run draws exactly what the uninterrupted run would have drawn.

- The task of micro-step ``m`` is drawn from ``p`` with ``numpy.random.default_rng([seed, 1, m])``;
  all processes draw the same task (so every process runs the same head).
- Within task ``t``, windows are read in epochs; epoch ``e`` is the permutation
  ``default_rng([seed, 2, t, e]).permutation(n_t)``. The ``c``-th batch of task ``t`` takes the
  global positions ``c*B*W .. (c+1)*B*W - 1`` and process ``r`` gets the ``r``-th block of ``B`` of
  them (``B`` batch size, ``W`` world size): processes never share a window within a global batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["task_probabilities", "MultiTaskSampler", "Draw"]


def task_probabilities(sizes: Sequence[int], strategy: str = "proportional", temperature: float = 1.0) -> np.ndarray:
    """Sampling probability of each task.

    ``proportional``: ``p_i = n_i / sum n``; ``uniform``: ``1/K``; ``temperature``:
    ``p_i ∝ n_i^(1/T)`` (T=1 is proportional, T→∞ approaches uniform).
    """
    n = np.asarray(sizes, dtype=np.float64)
    if n.ndim != 1 or len(n) == 0 or np.any(n <= 0):
        raise ConfigError(f"task sizes must be positive, got {list(sizes)}; does every task have training windows?")
    if strategy == "proportional":
        w = n
    elif strategy == "uniform":
        w = np.ones_like(n)
    elif strategy == "temperature":
        if temperature <= 0:
            raise ConfigError(f"sampling temperature must be > 0, got {temperature}")
        w = np.exp(np.log(n) / temperature)  # n^(1/T), in log space to avoid overflow for big n
    else:
        raise ConfigError(f"unknown sampling strategy {strategy!r}; use proportional, uniform or temperature")
    return w / w.sum()


@dataclass(frozen=True)
class Draw:
    """One micro-batch for one process: task index, positions into that task's train index list, kinds."""

    task: int
    positions: np.ndarray
    kinds: np.ndarray


class MultiTaskSampler:
    """Draws ``(task, positions, kinds)`` per micro-step for process ``rank`` of ``world_size``.

    Args:
        sizes: training windows per task.
        probs: task probabilities (see :func:`task_probabilities`).
        batch_size: windows per process per micro-step.
        n_kinds: number of representation kinds per task (kinds are drawn per window).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        probs: Sequence[float],
        batch_size: int,
        n_kinds: Sequence[int] | None = None,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.sizes = [int(s) for s in sizes]
        self.probs = np.asarray(probs, dtype=np.float64)
        if len(self.probs) != len(self.sizes) or abs(self.probs.sum() - 1.0) > 1e-9:
            raise ConfigError("sampler: one probability per task, summing to 1, is needed")
        self.batch_size = int(batch_size)
        self.n_kinds = list(n_kinds) if n_kinds is not None else [1] * len(self.sizes)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"rank {rank} is outside world size {world_size}")
        self.micro_step = 0
        self.consumed = [0] * len(self.sizes)
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    # ------------------------------------------------------------------ drawing
    def task_of(self, micro_step: int) -> int:
        """The task drawn at ``micro_step`` (the same on every process)."""
        return int(np.random.default_rng([self.seed, 1, micro_step]).choice(len(self.sizes), p=self.probs))

    def _perm(self, task: int, epoch: int) -> np.ndarray:
        key = (task, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 4 * len(self.sizes):
                self._perm_cache.clear()
            self._perm_cache[key] = np.random.default_rng([self.seed, 2, task, epoch]).permutation(self.sizes[task])
        return self._perm_cache[key]

    def positions(self, task: int, batch_number: int) -> np.ndarray:
        """This process's positions for the ``batch_number``-th global batch of ``task``."""
        b, n = self.batch_size, self.sizes[task]
        glob = batch_number * b * self.world_size + self.rank * b + np.arange(b, dtype=np.int64)
        epochs, offs = glob // n, glob % n
        return np.array([self._perm(task, int(e))[o] for e, o in zip(epochs, offs)], dtype=np.int64)

    def next(self) -> Draw:
        """Draw the next micro-batch and advance the counters."""
        t = self.task_of(self.micro_step)
        pos = self.positions(t, self.consumed[t])
        kinds = np.random.default_rng([self.seed, 3, self.micro_step, self.rank]).integers(
            self.n_kinds[t], size=self.batch_size
        )
        self.consumed[t] += 1
        self.micro_step += 1
        return Draw(t, pos, kinds)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Counters only (plain ints: safe for ``torch.load(weights_only=True)``)."""
        return {"micro_step": self.micro_step, "consumed": list(self.consumed), "sizes": list(self.sizes), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`state_dict` (sizes and seed must match)."""
        if list(state["sizes"]) != self.sizes or int(state["seed"]) != self.seed:
            raise ConfigError(
                f"the checkpoint's sampler was built for task sizes {state['sizes']} and seed {state['seed']}, "
                f"this run has {self.sizes} and seed {self.seed}; resume with the same shards and seed"
            )
        self.micro_step = int(state["micro_step"])
        self.consumed = [int(c) for c in state["consumed"]]

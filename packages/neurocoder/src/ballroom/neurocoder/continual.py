"""Continual learning, independent of the layer: task streams, agents, the accuracy matrix.

A stream is a list of :class:`Task`; :func:`run_stream` trains one model task after task (one
optimiser shared across tasks) with an :class:`Agent` (plain, L2, EWC, online EWC, SI) and fills
``acc[i][j]`` = test accuracy on task ``j`` after training task ``i``. The same code runs the plain
MLP and the Neurocoder MLP; ``regularizer`` adds e.g. :func:`neurocoder_regularizer` to every loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from ballroom.core.validate import check_choice, check_int, check_positive, check_same_size, check_tensor

__all__ = [
    "AGENTS",
    "Agent",
    "EWCAgent",
    "L2Agent",
    "OnlineEWCAgent",
    "SIAgent",
    "Task",
    "average_final_accuracy",
    "evaluate",
    "fisher_diagonal",
    "make_agent",
    "permuted_tasks",
    "remap_labels",
    "run_stream",
    "split_tasks",
]

Regularizer = Callable[[nn.Module], Tensor]


@dataclass
class Task:
    """One task: its train and test sets (``(x, y)`` tensors) and the original classes it holds.

    Args:
        name: a label for reports (``"0-1"`` for a split task, ``"perm2"`` for a permuted one).
        train: the training set, ``TensorDataset(x, y)``.
        test: the test set, ``TensorDataset(x, y)``.
        classes: the original class ids of the task's examples.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    classes: tuple[int, ...]


def remap_labels(y: Tensor, classes: Sequence[int]) -> Tensor:
    """Labels ``y (N,)`` drawn from ``classes`` -> their index in ``classes`` (domain-incremental head)."""
    check_tensor(y, "y", ndim=1, dtype="integer")
    cls = torch.as_tensor(list(classes), dtype=torch.int64)
    match = y.unsqueeze(1) == cls.unsqueeze(0)  # (N, C)
    if not bool(match.any(1).all()):
        raise ValueError(f"y: labels outside classes {list(classes)}")
    return match.to(torch.int64).argmax(1)


def _check_xy(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor) -> None:
    check_tensor(x_train, "x_train", min_ndim=2)
    check_tensor(x_test, "x_test", min_ndim=2)
    check_tensor(y_train, "y_train", ndim=1, dtype="integer")
    check_tensor(y_test, "y_test", ndim=1, dtype="integer")
    check_same_size(("x_train", x_train, 0), ("y_train", y_train, 0))
    check_same_size(("x_test", x_test, 0), ("y_test", y_test, 0))


def split_tasks(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    classes_per_task: int = 2,
    remap: bool = True,
) -> list[Task]:
    """Split a labelled set into tasks of ``classes_per_task`` consecutive classes ({0,1}, {2,3}, ...).

    ``remap=True`` maps each task's labels to ``0..classes_per_task-1`` (incremental domain, one
    shared head); ``False`` keeps the original labels (incremental class).

    Args:
        x_train: ``(N, ...)`` training inputs.
        y_train: ``(N,)`` integer training labels.
        x_test: ``(M, ...)`` test inputs.
        y_test: ``(M,)`` integer test labels.
        classes_per_task: classes per task; must divide the number of training classes.
        remap: remap the labels (above).

    Returns:
        One :class:`Task` per group, in class order.

    Raises:
        ValueError: bad tensors, or a class count that ``classes_per_task`` does not divide.
    """
    _check_xy(x_train, y_train, x_test, y_test)
    cpt = check_int(classes_per_task, "classes_per_task", min=1)
    classes = sorted(int(c) for c in torch.unique(y_train))
    if len(classes) % cpt:
        raise ValueError(f"classes_per_task: {len(classes)} classes do not split into groups of {cpt}")
    tasks = []
    for t in range(len(classes) // cpt):
        group = tuple(classes[t * cpt : (t + 1) * cpt])
        tr = torch.isin(y_train, torch.as_tensor(group))
        te = torch.isin(y_test, torch.as_tensor(group))
        ytr, yte = y_train[tr], y_test[te]
        if remap:
            ytr, yte = remap_labels(ytr, group), remap_labels(yte, group)
        name = "-".join(str(c) for c in group)
        tasks.append(Task(name, TensorDataset(x_train[tr], ytr), TensorDataset(x_test[te], yte), group))
    return tasks


def permuted_tasks(
    x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, num_tasks: int = 5, seed: int = 0
) -> list[Task]:
    """``num_tasks`` tasks with all classes, each with its own seeded pixel permutation (task 0: identity).

    Args:
        x_train: ``(N, ...)`` training inputs.
        y_train: ``(N,)`` integer training labels.
        x_test: ``(M, ...)`` test inputs.
        y_test: ``(M,)`` integer test labels.
        num_tasks: the number of tasks (>= 1).
        seed: the seed of the permutations.

    Returns:
        ``num_tasks`` :class:`Task` objects named ``perm0``, ``perm1``, ...

    Raises:
        ValueError: bad tensors or ``num_tasks < 1``.
    """
    _check_xy(x_train, y_train, x_test, y_test)
    num_tasks = check_int(num_tasks, "num_tasks", min=1)
    shape = x_train.shape[1:]
    d = int(torch.tensor(shape).prod())
    gen = torch.Generator().manual_seed(seed)
    classes = tuple(sorted(int(c) for c in torch.unique(y_train)))
    tasks = []
    for t in range(num_tasks):
        perm = torch.arange(d) if t == 0 else torch.randperm(d, generator=gen)
        xtr = x_train.reshape(len(x_train), d)[:, perm].reshape(-1, *shape)
        xte = x_test.reshape(len(x_test), d)[:, perm].reshape(-1, *shape)
        tasks.append(Task(f"perm{t}", TensorDataset(xtr, y_train), TensorDataset(xte, y_test), classes))
    return tasks


def _params(model: nn.Module) -> dict[str, Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


class Agent:
    """The plain agent (no penalty); subclasses add ``coef * sum_i importance_i (theta_i - anchor_i)^2``."""

    needs_task_grads = False

    def penalty(self, model: nn.Module) -> Tensor | None:
        """The agent's term for the current loss (``None``: nothing to add)."""
        return None

    def after_step(self, model: nn.Module, before: dict[str, Tensor], task_grads: dict[str, Tensor]) -> None:
        """Called after every optimiser step (SI accumulates its path integral here)."""

    def end_task(self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None) -> None:
        """Called after training each task."""


class L2Agent(Agent):
    """Quadratic anchoring to the last task's parameters with unit importance (``coef`` = lambda)."""

    online = True

    def __init__(self, coef: float = 0.5) -> None:
        self.coef = check_positive(coef, "coef", strict=False)
        self.terms: list[tuple[dict[str, Tensor], dict[str, Tensor]]] = []  # (importance, anchor)

    def importance(
        self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None
    ) -> dict[str, Tensor]:
        return {n: torch.ones_like(p) for n, p in _params(model).items()}

    def end_task(self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None) -> None:
        imp = self.importance(model, loader, regularizer)
        anchor = {n: p.detach().clone() for n, p in _params(model).items()}
        if self.online:
            self.terms = [(imp, anchor)]
        else:
            self.terms.append((imp, anchor))

    def penalty(self, model: nn.Module) -> Tensor | None:
        if not self.terms:
            return None
        params = _params(model)
        total = sum(
            ((imp[n] * (p - anchor[n]) ** 2).sum() for imp, anchor in self.terms for n, p in params.items()),
            torch.zeros((), device=next(iter(params.values())).device),
        )
        return self.coef * total


def fisher_diagonal(
    model: nn.Module, loader: DataLoader, regularizer: Regularizer | None = None
) -> dict[str, Tensor]:
    """Diagonal Fisher estimate: squared gradients of CE at the predicted labels (plus ``regularizer``),
    per mini-batch, weighted ``len(batch) / num_batches``; covers every trainable parameter.

    Args:
        model: the network (run in eval mode; its mode is restored).
        loader: batches ``(x, ...)``; the labels are not used.
        regularizer: ``model -> scalar`` added to each batch's loss, or ``None``.

    Returns:
        ``{parameter name: (same shape) Fisher estimate}``.
    """
    params = _params(model)
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    was_training = model.training
    model.eval()
    nb = len(loader)
    for x, *_ in loader:
        logits = model(x)
        loss = F.cross_entropy(logits, logits.argmax(1))
        if regularizer is not None:
            loss = loss + regularizer(model)
        model.zero_grad()
        loss.backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach() ** 2 * len(x) / nb
    model.zero_grad()
    model.train(was_training)
    return fisher


class EWCAgent(L2Agent):
    """EWC: one Fisher-weighted anchor per finished task."""

    online = False

    def importance(
        self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None
    ) -> dict[str, Tensor]:
        return fisher_diagonal(model, loader, regularizer)


class OnlineEWCAgent(EWCAgent):
    """Online EWC: one anchor (the last task's parameters), Fisher summed over tasks."""

    online = True

    def importance(
        self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None
    ) -> dict[str, Tensor]:
        fisher = fisher_diagonal(model, loader, regularizer)
        if self.terms:
            fisher = {n: f + self.terms[0][0][n] for n, f in fisher.items()}
        return fisher


class SIAgent(L2Agent):
    """Synaptic intelligence: ``omega += w / (delta^2 + damping)``, ``w -= g_task * step`` along training.

    Only :func:`run_stream` drives it (it sets the start point and passes the per-step task gradients).

    Args:
        coef: the penalty weight lambda (>= 0).
        damping: ``xi`` in the denominator (> 0).
    """

    needs_task_grads = True

    def __init__(self, coef: float = 1.0, damping: float = 0.1) -> None:
        super().__init__(coef)
        self.damping = check_positive(damping, "damping")
        self.w: dict[str, Tensor] = {}
        self.start: dict[str, Tensor] = {}

    def after_step(self, model: nn.Module, before: dict[str, Tensor], task_grads: dict[str, Tensor]) -> None:
        for n, p in _params(model).items():
            if n in task_grads:
                self.w.setdefault(n, torch.zeros_like(p))
                self.w[n] -= task_grads[n] * (p.detach() - before[n])

    def importance(
        self, model: nn.Module, loader: DataLoader, regularizer: Regularizer | None
    ) -> dict[str, Tensor]:
        params = _params(model)
        if not self.terms and not self.start:
            raise RuntimeError(
                "SIAgent.importance: the parameters at the start of the stream are unknown; set "
                "agent.start = {name: p.detach().clone()} before training (run_stream does this)"
            )
        prev = self.terms[0][1] if self.terms else self.start
        omega = {
            n: self.terms[0][0][n].clone() if self.terms else torch.zeros_like(p) for n, p in params.items()
        }
        for n, p in params.items():
            omega[n] += self.w.get(n, torch.zeros_like(p)) / ((p.detach() - prev[n]) ** 2 + self.damping)
        self.w = {}
        return omega


AGENTS: dict[str, type[Agent]] = {
    "plain": Agent,
    "l2": L2Agent,
    "ewc": EWCAgent,
    "online_ewc": OnlineEWCAgent,
    "si": SIAgent,
}


def make_agent(name: str, coef: float | None = None) -> Agent:
    """An agent by name (:data:`AGENTS`); ``coef`` is its lambda (ignored for ``"plain"``)."""
    check_choice(name, "name", tuple(AGENTS))
    if name == "plain":
        return Agent()
    cls = cast("type[L2Agent]", AGENTS[name])  # every agent but "plain" takes its lambda
    return cls() if coef is None else cls(coef)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: TensorDataset, batch_size: int = 512) -> float:
    """Accuracy of ``model`` on ``dataset``.

    Args:
        model: the network (run in eval mode; its mode is restored).
        dataset: ``TensorDataset(x, y)``.
        batch_size: examples per forward pass.

    Returns:
        The fraction of correct argmax predictions (0 for an empty dataset).
    """
    was_training = model.training
    model.eval()
    correct = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum())
    model.train(was_training)
    return correct / max(len(dataset), 1)


def average_final_accuracy(acc: Tensor) -> float:
    """The mean of the last row of ``acc (T, T)``: accuracy over all tasks after the last task."""
    check_tensor(acc, "acc", ndim=2, finite=False)
    return float(acc[-1].mean())


def run_stream(
    model: nn.Module,
    tasks: Sequence[Task],
    agent: Agent | None = None,
    epochs: int = 4,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    regularizer: Regularizer | None = None,
    optimizer: str = "adam",
) -> Tensor:
    """Train ``model`` on ``tasks`` in order; returns ``acc (T, T)``, ``acc[i, j]`` = test accuracy on
    task ``j`` after training task ``i``. One optimiser (``adam``, ``adagrad`` or ``sgd``) over all tasks;
    loss = CE + ``regularizer(model)`` + the agent's penalty. Seeded shuffling (``seed``).

    Args:
        model: the network, trained in place.
        tasks: the stream, in training order.
        agent: the continual-learning agent (``None``: the plain :class:`Agent`).
        epochs: epochs per task (>= 1).
        lr: the learning rate (> 0).
        batch_size: training batch size.
        seed: the seed of the shuffling generator, shared by all tasks.
        regularizer: ``model -> scalar`` added to the loss (e.g. the orthogonality terms), or ``None``.
        optimizer: ``"adam"``, ``"adagrad"`` or ``"sgd"`` (without momentum).

    Raises:
        ValueError: ``epochs < 1``, ``lr <= 0`` or an unknown ``optimizer``.
    """
    check_int(epochs, "epochs", min=1)
    check_positive(lr, "lr")
    check_choice(optimizer, "optimizer", ("adam", "adagrad", "sgd"))
    agent = agent if agent is not None else Agent()
    opt_cls = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}[optimizer]
    opt = opt_cls(model.parameters(), lr=lr)
    if isinstance(agent, SIAgent):
        agent.start = {n: p.detach().clone() for n, p in _params(model).items()}
    gen = torch.Generator().manual_seed(seed)
    T = len(tasks)
    acc = torch.full((T, T), float("nan"))
    model.train()
    for i, task in enumerate(tasks):
        loader = DataLoader(task.train, batch_size=batch_size, shuffle=True, generator=gen)
        for _ in range(epochs):
            for x, y in loader:
                task_loss = F.cross_entropy(model(x), y)
                if regularizer is not None:
                    task_loss = task_loss + regularizer(model)
                pen = agent.penalty(model)
                before = task_grads = {}
                if agent.needs_task_grads:
                    params = _params(model)
                    grads = torch.autograd.grad(
                        task_loss, list(params.values()), retain_graph=True, allow_unused=True
                    )
                    task_grads = {n: g for n, g in zip(params, grads) if g is not None}
                    before = {n: p.detach().clone() for n, p in params.items()}
                loss = task_loss if pen is None else task_loss + pen
                opt.zero_grad()
                loss.backward()
                opt.step()
                if agent.needs_task_grads:
                    agent.after_step(model, before, task_grads)
        agent.end_task(model, DataLoader(task.train, batch_size=batch_size), regularizer)
        for j, other in enumerate(tasks):
            acc[i, j] = evaluate(model, other.test)
    return acc

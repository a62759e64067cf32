"""Callbacks shared by every package (this module imports Lightning; import it only when needed)."""

from __future__ import annotations

import pytorch_lightning as pl

__all__ = ["CheckpointOnExit"]


class CheckpointOnExit(pl.Callback):
    """``fit`` always leaves a ``last.ckpt`` and says where it is (the console scripts' default).

    Lightning's ``ModelCheckpoint`` saves only after a validation run or at an epoch end that has no
    validation, so ``fit --trainer.max_steps 5`` of a model validating every 500 steps wrote nothing.
    This callback turns ``save_last`` on for the Trainer's checkpoint callbacks (``ModelCheckpoint``
    then saves ``last.ckpt`` when training ends) and prints the last and best checkpoint paths on the
    global-zero process. It does nothing when checkpointing is disabled or under ``fast_dev_run``.

    Args:
        save_last: turn ``save_last`` on for every ``ModelCheckpoint`` whose ``save_last`` is unset.
        report: print the checkpoint paths when ``fit`` ends.
    """

    def __init__(self, save_last: bool = True, report: bool = True) -> None:
        super().__init__()
        self.save_last = save_last
        self.report = report

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and self.save_last:
            for callback in trainer.checkpoint_callbacks:
                if not getattr(callback, "save_last", True):
                    callback.save_last = True  # type: ignore[attr-defined]

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        callback = trainer.checkpoint_callback
        if not (self.report and trainer.is_global_zero and callback is not None):
            return
        last = getattr(callback, "last_model_path", "")
        best = getattr(callback, "best_model_path", "")
        if last:
            print(f"checkpoint (last): {last}")
        if best and best != last:
            print(f"checkpoint (best): {best}")

r"""Training: ``train(cfg, run_dir)`` with checkpoints, exact resume and a NaN guard.

Data: the source's training groups (:func:`dynmri.data.sources.test_split`; the test groups
are never seen), of which the last ``val_fraction`` are held out for validation. Training
windows get a fresh seeded mask at every access; validation windows keep fixed masks.

Validation needs no ground truth: a fixed random ``holdout`` share of each validation
window's sampled lines (per frame) is hidden from the network, which sees the rest, and the score is

.. math::

    \mathrm{NMSE}_{\text{held out}} = \frac{\|M_h (A x_{net} - y)\|^2}{\|M_h y\|^2},

used to select ``best.pt``. PSNR/SSIM against the ground truth are logged only when the
data has it (all simulated sources do), as a diagnostic.

A run folder holds ``config.json``, ``metrics.csv``, ``curves.png``, ``checkpoint.pt`` (every
epoch, written atomically: model, optimiser, scheduler, every random generator) and
``best.pt``. ``resume=True`` continues from ``checkpoint.pt`` and gives the same weights as
an uninterrupted run. A NaN or Inf loss stops training with a clear error and leaves the last
good checkpoint in place.

Safety (docs/reliability.md): the configuration, data, network, loss and checkpoint are
checked before anything is written; a folder without ``checkpoint.pt`` holds no run (one that
failed in its first epoch), so training into it starts afresh. The run folder is locked while
training (a second writer is refused). Checkpoints are loaded without executing code
(:func:`dynmri.safeload.load_checkpoint`).

Resume with more epochs: only ``epochs`` may differ from the checkpoint's configuration (any
other difference is refused, naming the keys), and it may only grow. A cosine schedule is then
the cosine of the new total: epochs ``k+1 ..`` use the learning rates a run planned for the new
total from the start would have used (the epochs already done keep theirs), so an extended run
is deterministic but is not the fresh run of the new total. Step and constant schedules do not
depend on the total.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynmri.config import TrainConfig
from dynmri.errors import DataError, DynMRIError, ParameterError
from dynmri.models.weights import config_from_checkpoint, save_checkpoint


class TrainingError(DynMRIError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


def _generators(obj) -> list[torch.Generator]:
    """Every torch.Generator reachable from the loss (transforms, split masks), in a fixed order."""
    found, seen = [], set()

    def visit(o, depth=0):
        if id(o) in seen or depth > 6:
            return
        seen.add(id(o))
        if isinstance(o, torch.Generator):
            found.append(o)
            return
        if isinstance(o, (list, tuple)):
            for v in o:
                visit(v, depth + 1)
            return
        if hasattr(o, "__dict__"):
            for k in sorted(vars(o)):
                visit(vars(o)[k], depth + 1)
        if isinstance(o, torch.nn.Module):
            for _, m in sorted(o._modules.items()):
                visit(m, depth + 1)

    visit(obj)
    return found


def _scheduler(cfg: TrainConfig, opt):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr_min)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def holdout_scores(model, val_ds, holdout) -> dict:
    """Held-out k-space NMSE (no ground truth needed) and, as a diagnostic, PSNR/SSIM.

    ``holdout``: the hidden part of each validation item (:func:`dynmri.learn.data.holdout_masks`)."""
    from dynmri._complex import channels_to_np
    from dynmri.eval.metrics import evaluate
    from dynmri.learn.data import batch_physics, split_item

    model.eval()
    nmse, recs, refs = [], [], []
    with torch.no_grad():
        for i in range(len(val_ds)):
            x, y, *sampling = (t[None] for t in val_ds[i])
            y_keep, phys_keep, y_hold, phys_hold = split_item(val_ds, y, sampling, holdout[i])
            resid = phys_hold.A(model(y_keep, phys_keep)) - y_hold
            nmse.append(float(resid.pow(2).sum() / y_hold.pow(2).sum().clamp_min(1e-30)))
            recs.append(channels_to_np(model(y, batch_physics(val_ds, *sampling)))[0])
            refs.append(channels_to_np(x)[0])
    model.train()
    m = evaluate(np.stack(recs), np.stack(refs))
    return {"val_holdout_nmse": float(np.mean(nmse)), "val_psnr": m["psnr"], "val_ssim": m["ssim"]}


@dataclass
class _Run:
    """Everything one training run holds in memory (built before anything is written)."""

    cfg: TrainConfig
    run_dir: Path
    train_ds: Any
    val_ds: Any
    model: torch.nn.Module
    loss: Any
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    order_gen: torch.Generator
    gens: list
    history: list = field(default_factory=list)
    start: int = 0
    best: float = math.inf

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"


def train(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True, fail_at_step: int | None = None) -> dict:
    """Train ``cfg.model`` with ``cfg.loss``; returns the metrics history. See the module doc.

    The configuration, the data, the model, the loss and (with ``resume``) the checkpoint are
    all checked before anything is written; the run folder is locked while training
    (:func:`dynmri.fileio.exclusive_lock`: a second writer gets a DataError).
    ``fail_at_step`` (tests only) turns the loss at that global step into NaN.
    """
    from dynmri.fileio import exclusive_lock

    cfg = cfg.validate()
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DataError(f"{run_dir}: exists and is not a folder; choose a new run folder")
    with exclusive_lock(run_dir):
        saved = _saved_state(cfg, run_dir, resume)
        with torch.random.fork_rng():  # dropout etc. use the global RNG: keep the caller's untouched
            torch.manual_seed(cfg.seed)
            run = _build(cfg, run_dir)
            _create_run_folder(run_dir)
            if saved is not None:
                _restore(run, saved)
            _train_epochs(run, progress, fail_at_step)
    return {"history": run.history, "best": run.best}


_STATE_KEYS = ("model", "optimizer", "scheduler", "epoch", "order_gen", "loss_gens", "torch_rng", "draws", "history", "best", "config")


def _saved_state(cfg: TrainConfig, run_dir: Path, resume: bool) -> dict | None:
    """The checkpoint to resume from, None for a fresh run; refuses what cannot be continued.

    A folder without ``checkpoint.pt`` holds no run (a run that failed before its first epoch
    ended): training into it starts afresh."""
    from dynmri.safeload import load_checkpoint

    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        return None
    if not resume:
        raise ParameterError(f"{run_dir} already holds a run; pass resume=True (--resume) or choose a new folder")
    state = load_checkpoint(ckpt, keys=_STATE_KEYS)
    if not isinstance(state["epoch"], int) or not isinstance(state["history"], list):
        raise DataError(f"{ckpt}: not a dynmri checkpoint ('epoch' or 'history' has the wrong type)")
    new, old = asdict(cfg), asdict(config_from_checkpoint(ckpt, state["config"]))
    differ = [k for k in new if k != "epochs" and new[k] != old[k]]
    if differ:
        changes = ", ".join(f"{k} ({old[k]!r} -> {new[k]!r})" for k in sorted(differ))
        raise ParameterError(f"{ckpt}: resume needs the configuration the run was trained with, except epochs; these keys differ: {changes}")
    if cfg.epochs < state["epoch"]:
        raise ParameterError(f"{ckpt}: the run has trained {state['epoch']} epochs; resume needs epochs >= {state['epoch']}, got {cfg.epochs}")
    return state


def _build(cfg: TrainConfig, run_dir: Path) -> _Run:
    """Data, network, loss, optimiser, schedule and generators of a fresh run (writes nothing)."""
    from dynmri.learn.data import training_datasets
    from dynmri.learn.losses import get_loss
    from dynmri.models import get_model

    train_ds, val_ds = training_datasets(cfg)
    model = get_model(cfg.model, **cfg.model_cfg)
    loss = get_loss(cfg.loss, seed=cfg.seed, **cfg.loss_cfg)
    net = loss.adapt_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = _scheduler(cfg, opt)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    return _Run(cfg, run_dir, train_ds, val_ds, model, loss, net, opt, sched, order_gen, _generators(loss))


def _create_run_folder(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from exc


def _restore(run: _Run, state: dict) -> None:
    """Continue from ``state``: weights, optimiser, schedule, every generator, the log."""
    try:
        run.model.load_state_dict(state["model"])
        run.opt.load_state_dict(state["optimizer"])
        _restore_schedule(run, state)
        run.order_gen.set_state(state["order_gen"])
        for g, s in zip(run.gens, state["loss_gens"], strict=True):
            g.set_state(s)
        torch.set_rng_state(state["torch_rng"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{run.ckpt_path}: does not fit this run ({type(exc).__name__}: {exc})") from exc
    run.train_ds._draws = state["draws"]
    run.history, run.start, run.best = list(state["history"]), state["epoch"], state["best"]


def _restore_schedule(run: _Run, state: dict) -> None:
    """The saved schedule; a cosine schedule resumed with more epochs is the cosine of the new
    total at the epoch reached (the learning rate of the epochs already done is kept)."""
    cfg = run.cfg
    if cfg.schedule != "cosine" or state["config"].get("epochs") == cfg.epochs:
        run.sched.load_state_dict(state["scheduler"])
        return
    for group in run.opt.param_groups:
        group["lr"] = group["initial_lr"]
    run.sched = _scheduler(cfg, run.opt)
    with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(state["epoch"]):
            run.sched.step()


def _train_epochs(run: _Run, progress: bool, fail_at_step: int | None) -> None:
    """Epochs ``run.start + 1 .. cfg.epochs``, a checkpoint and the logs after each."""
    from dynmri.fileio import write_text_atomic
    from dynmri.models import count_parameters

    cfg = run.cfg
    write_text_atomic(run.run_dir / "config.json", json.dumps(asdict(cfg) | {"parameters": count_parameters(run.model)}, indent=1))
    from dynmri.learn.data import holdout_masks

    holdout = holdout_masks(run.val_ds, cfg.holdout, cfg.seed + 20_000) if run.val_ds is not None else None
    step = run.start * (cfg.steps_per_epoch or math.ceil(len(run.train_ds) / cfg.batch_size))
    for epoch in range(run.start, cfg.epochs):
        row, step = _train_epoch(run, epoch, step, progress, fail_at_step)
        if run.val_ds is not None:
            row |= holdout_scores(run.net, run.val_ds, holdout)
        run.history.append(row)
        _save_epoch(run, epoch, row)


def _train_epoch(run: _Run, epoch: int, step: int, progress: bool, fail_at_step: int | None) -> tuple[dict, int]:
    """One pass over a fresh permutation of the training windows; returns the log row and the step."""
    from tqdm.auto import tqdm

    from dynmri.learn.data import batch_physics

    cfg, train_ds, loss = run.cfg, run.train_ds, run.loss
    perm = torch.randperm(len(train_ds), generator=run.order_gen).tolist()
    batches = [perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]
    if cfg.steps_per_epoch:
        batches = batches[: cfg.steps_per_epoch]
    t0, total, frames = time.perf_counter(), 0.0, 0
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
    for idx in bar:
        items = [train_ds[i] for i in idx]
        x, y, *sampling = (torch.stack(t) for t in zip(*items, strict=True))
        physics = batch_physics(train_ds, *sampling)
        x_net = run.net(y, physics, **loss.train_kwargs)
        value = loss(x_net, x, y, physics, run.net)
        if fail_at_step is not None and step == fail_at_step:
            value = value * float("nan")
        if not torch.isfinite(value):
            raise TrainingError(f"loss became {float(value.detach())} at epoch {epoch + 1}, step {step}; {_last_good(run)} (lower the learning rate or clip gradients)")
        run.opt.zero_grad()
        value.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.opt.step()
        total += float(value.detach())
        frames += x.shape[0] * x.shape[2]
        step += 1
        bar.set_postfix(loss=f"{float(value.detach()):.4g}", fps=f"{frames / (time.perf_counter() - t0):.1f}")
    run.sched.step()
    secs = time.perf_counter() - t0
    row = {"epoch": epoch + 1, "train_loss": total / max(len(batches), 1), "lr": run.opt.param_groups[0]["lr"], "seconds": secs, "frames_per_second": frames / secs}
    return row, step


def _last_good(run: _Run) -> str:
    if run.ckpt_path.exists():
        return f"the last good checkpoint is {run.ckpt_path}"
    return f"no epoch finished, so {run.run_dir} holds no checkpoint (training into it again starts afresh)"


def _save_epoch(run: _Run, epoch: int, row: dict) -> None:
    """``best.pt`` when the score improved, then ``checkpoint.pt`` (in that order: a crash in
    between redoes the epoch on resume), then the logs."""
    cfg, model = run.cfg, run.model
    score = row.get("val_holdout_nmse", row["train_loss"])
    state = {"model": model.state_dict(), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(), "epoch": epoch + 1,
             "order_gen": run.order_gen.get_state(), "loss_gens": [g.get_state() for g in run.gens], "torch_rng": torch.get_rng_state(),
             "draws": run.train_ds._draws, "history": run.history, "best": min(run.best, score), "config": asdict(cfg)}
    if score < run.best:
        run.best = score
        save_checkpoint(run.run_dir / "best.pt", {"model": model.state_dict(), "config": asdict(cfg), "epoch": epoch + 1, "metrics": row})
    save_checkpoint(run.ckpt_path, state)
    _write_logs(run.run_dir, run.history)


def _write_logs(run_dir: Path, history: list[dict]):
    from dynmri.fileio import write_text_atomic

    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(history)
    write_text_atomic(run_dir / "metrics.csv", buf.getvalue())
    from dynmri.eval.figures import save_frame_curves

    curves = {k: [row.get(k, float("nan")) for row in history] for k in ("train_loss", "val_holdout_nmse") if any(k in r for r in history)}
    save_frame_curves(run_dir / "curves.png", curves, ylabel="loss")

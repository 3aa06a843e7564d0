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

A run folder holds ``config.json``, ``metrics.csv`` (per epoch: losses, validation, learning rate, seconds,
frames/s and the peak memory so far, :func:`dynmri.devices.peak_memory_mb`), ``curves.png``, ``checkpoint.pt`` (every
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

Devices and batches: ``cfg.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) holds the model,
the loss, the physics and every batch; the loss's random generators stay on the CPU (a CPU run
draws exactly what it drew before devices existed; the transforms move what they draw to the
data). ``cfg.precision="bf16"`` runs the network under :func:`dynmri.devices.autocast` and hands
float32 images to the physics and the loss. Batches come from a ``DataLoader`` (``cfg.workers``
processes, pinned memory on CUDA) over the run's seeded permutation; a training set with
``set_epoch(epoch)`` is told each epoch (its masks are seeded by seed, epoch and index, so a
resume restores the epoch and nothing else). Device, precision and workers are not part of a
run's identity: a resume may change them (checkpoints hold CPU tensors).

Many processes (:mod:`dynmri.learn.parallel`): under ``torchrun`` every rank trains
``batch_size`` windows of each global batch of ``batch_size x world_size`` and the gradients
are averaged, which gives the single-process step on the global batch; rank 0 alone holds the
lock, reads and writes the run folder and validates (its scores are broadcast); an error on any
rank stops every rank. A resume may change the world size, not the global batch.
"""

from __future__ import annotations

import contextlib
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
from dynmri.learn import parallel
from dynmri.learn.parallel import Context
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


def holdout_scores(model, val_ds, holdout, device=None, precision: str = "fp32") -> dict:
    """Held-out k-space NMSE (no ground truth needed) and, as a diagnostic, PSNR/SSIM.

    ``holdout``: the hidden part of each validation item (:func:`dynmri.learn.data.holdout_masks`).
    Items are moved to ``device`` (default: the CPU); ``precision="bf16"`` runs the network under
    :func:`dynmri.devices.autocast` (the physics stays in float32)."""
    from dynmri._complex import channels_to_np
    from dynmri.eval.metrics import frame_metrics
    from dynmri.learn.data import batch_physics, split_item

    device = torch.device("cpu") if device is None else torch.device(device)
    net = _with_precision(model, precision, device)
    model.eval()
    nmse, psnr, ssim = [], [], []  # item by item: memory does not grow with the validation set
    with torch.no_grad():
        for i in range(len(val_ds)):
            x, y, *sampling = (t[None].to(device) for t in val_ds[i])
            y_keep, phys_keep, y_hold, phys_hold = split_item(val_ds, y, sampling, holdout[i])
            resid = phys_hold.A(net(y_keep, phys_keep)) - y_hold
            nmse.append(float(resid.pow(2).sum() / y_hold.pow(2).sum().clamp_min(1e-30)))
            m = frame_metrics(channels_to_np(net(y, batch_physics(val_ds, *sampling))), channels_to_np(x))
            psnr.append(m["psnr"].mean()), ssim.append(m["ssim"].mean())
    model.train()
    # items have equal frame counts and per-item peaks: the mean of item means is the mean over frames
    return {"val_holdout_nmse": float(np.mean(nmse)), "val_psnr": float(np.mean(psnr)), "val_ssim": float(np.mean(ssim))}


class _Autocast(torch.nn.Module):
    """A network run under bf16 autocast (:func:`dynmri.devices.autocast`) that hands float32
    images to the physics and the loss."""

    def __init__(self, model: torch.nn.Module, device):
        super().__init__()
        self.model, self.device = model, torch.device(device)

    def forward(self, y, physics, **kwargs):
        from dynmri.devices import autocast

        with autocast("bf16", self.device):
            out = self.model(y, physics, **kwargs)
        return out.float()


def _with_precision(model: torch.nn.Module, precision: str, device) -> torch.nn.Module:
    """``model`` itself in fp32; wrapped in :class:`_Autocast` in bf16."""
    return model if precision == "fp32" else _Autocast(model, device)


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
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    ctx: Context = field(default_factory=Context)
    loader_gen: torch.Generator = field(default_factory=torch.Generator)
    history: list = field(default_factory=list)
    start: int = 0
    best: float = math.inf

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def together(self, fn, *, main_only: bool = False):
        """``fn()`` on every rank (or rank 0 alone), an error anywhere raised everywhere."""
        return parallel.together(self.ctx, fn, self.device, main_only=main_only)


def train(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True, fail_at_step: int | None = None) -> dict:
    """Train ``cfg.model`` with ``cfg.loss``; returns the metrics history. See the module doc.

    The configuration, the device, the data, the model, the loss and (with ``resume``) the
    checkpoint are all checked before anything is written; the run folder is locked while
    training (:func:`dynmri.fileio.exclusive_lock`, by rank 0 under torchrun: a second writer
    gets a DataError). ``fail_at_step`` (tests only) turns the loss at that global step into NaN.
    """
    cfg = cfg.validate()
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DataError(f"{run_dir}: exists and is not a folder; choose a new run folder")
    device = parallel.training_device(cfg.device)
    with parallel.session(device) as ctx, contextlib.ExitStack() as stack:
        run = _start(cfg, run_dir, resume, device, ctx, stack)
        if device.type == "cuda":  # this run's peak (peak_cuda_mb), not an earlier one's in the same process
            torch.cuda.reset_peak_memory_stats(device)
        _train_epochs(run, progress, fail_at_step)
    return {"history": run.history, "best": run.best}


def _start(cfg: TrainConfig, run_dir: Path, resume: bool, device, ctx: Context, stack: contextlib.ExitStack) -> _Run:
    """Lock (rank 0), read the checkpoint (rank 0, shared), build every rank's run, create the
    folder (rank 0) and restore; any rank's error stops every rank."""
    from dynmri.fileio import exclusive_lock

    def lock_and_read():
        stack.enter_context(exclusive_lock(run_dir))
        return _saved_state(cfg, run_dir, resume, ctx.world)

    saved = parallel.share(ctx, parallel.together(ctx, lock_and_read, device, main_only=True), device)
    # dropout etc. use the global RNG: keep the caller's untouched
    stack.enter_context(torch.random.fork_rng(devices=[device] if device.type == "cuda" else []))
    torch.manual_seed(cfg.seed)
    run = parallel.together(ctx, lambda: _build(cfg, run_dir, device, ctx), device)
    run.together(lambda: _create_run_folder(run_dir), main_only=True)
    if saved is not None:
        run.together(lambda: _restore(run, saved))
    run.together(lambda: parallel.broadcast_parameters(ctx, run.model, device))
    return run


_STATE_KEYS = ("model", "optimizer", "scheduler", "epoch", "order_gen", "loss_gens", "torch_rng", "history", "best", "config")
_NOT_IDENTITY = ("epochs", "batch_size", "device", "precision", "workers")
"""Configuration keys a resume may change: epochs (to grow), batch_size (with the world size,
keeping the global batch), and where and how the run computes."""


def _saved_state(cfg: TrainConfig, run_dir: Path, resume: bool, world: int = 1) -> dict | None:
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
    if not isinstance(state["epoch"], int) or not isinstance(state["history"], list) or not isinstance(state.get("world_size", 1), int):
        raise DataError(f"{ckpt}: not a dynmri checkpoint ('epoch', 'history' or 'world_size' has the wrong type)")
    new, old = asdict(cfg), asdict(config_from_checkpoint(ckpt, state["config"]))
    old_world = state.get("world_size", 1)
    if old["batch_size"] * old_world != cfg.batch_size * world:
        raise ParameterError(f"{ckpt}: resume needs the global batch the run was trained with, batch_size x processes = {old['batch_size']} x {old_world} "
                             f"= {old['batch_size'] * old_world}; got {cfg.batch_size} x {world} = {cfg.batch_size * world}")
    differ = [k for k in new if k not in _NOT_IDENTITY and new[k] != old[k]]
    if differ:
        changes = ", ".join(f"{k} ({old[k]!r} -> {new[k]!r})" for k in sorted(differ))
        raise ParameterError(f"{ckpt}: resume needs the configuration the run was trained with, except epochs; these keys differ: {changes}")
    if cfg.epochs < state["epoch"]:
        raise ParameterError(f"{ckpt}: the run has trained {state['epoch']} epochs; resume needs epochs >= {state['epoch']}, got {cfg.epochs}")
    return state


def _build(cfg: TrainConfig, run_dir: Path, device=None, ctx: Context | None = None) -> _Run:
    """Data, network, loss, optimiser, schedule and generators of a fresh run on ``device``
    (writes nothing). The loss's generators stay on the CPU (draws as on a CPU-only run; the
    transforms move what they draw to the data's device)."""
    from dynmri.learn.data import training_datasets
    from dynmri.learn.losses import get_loss
    from dynmri.models import get_model

    device, ctx = torch.device("cpu") if device is None else device, ctx or Context()
    train_ds, val_ds = training_datasets(cfg)
    _check_loading(cfg, train_ds, ctx)
    model = get_model(cfg.model, **cfg.model_cfg).to(device)
    loss = get_loss(cfg.loss, seed=cfg.seed, **cfg.loss_cfg)
    for term in loss.terms:
        term.to(device)
    net = loss.adapt_model(_with_precision(model, cfg.precision, device)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = _scheduler(cfg, opt)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    loader_gen = torch.Generator().manual_seed(cfg.seed + 30_000)  # DataLoader's worker base seed, not the global RNG
    return _Run(cfg, run_dir, train_ds, val_ds, model, loss, net, opt, sched, order_gen, _generators(loss), device, ctx, loader_gen)


def _check_loading(cfg: TrainConfig, train_ds, ctx: Context) -> None:
    """Refuse a global batch larger than the training windows."""
    if ctx.distributed and len(train_ds) < cfg.batch_size * ctx.world:
        raise ParameterError(f"the training data has {len(train_ds)} windows, fewer than the global batch batch_size x processes = {cfg.batch_size} x {ctx.world}")


def _create_run_folder(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{run_dir}: cannot create the run folder ({exc.strerror or exc})") from exc


def _restore(run: _Run, state: dict) -> None:
    """Continue from ``state`` (CPU tensors, from any device): weights, optimiser, schedule,
    every generator, the log."""
    try:
        run.model.load_state_dict(state["model"])
        run.opt.load_state_dict(state["optimizer"])
        _restore_schedule(run, state)
        run.order_gen.set_state(state["order_gen"])
        for g, s in zip(run.gens, state["loss_gens"], strict=True):
            g.set_state(s)
        torch.set_rng_state(state["torch_rng"])
        if run.device.type == "cuda" and isinstance(state.get("cuda_rng"), torch.Tensor):
            torch.cuda.set_rng_state(state["cuda_rng"], run.device)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{run.ckpt_path}: does not fit this run ({type(exc).__name__}: {exc})") from exc
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
    """Epochs ``run.start + 1 .. cfg.epochs``, a checkpoint and the logs after each (rank 0);
    validation on rank 0, its scores shared with every rank."""
    from dynmri.fileio import write_text_atomic
    from dynmri.learn.data import holdout_masks
    from dynmri.models import count_parameters

    cfg, ctx = run.cfg, run.ctx
    info = asdict(cfg) | {"parameters": count_parameters(run.model), "world_size": ctx.world}
    run.together(lambda: write_text_atomic(run.run_dir / "config.json", json.dumps(info, indent=1)), main_only=True)
    holdout = None
    if run.val_ds is not None and ctx.main:
        holdout = [h.to(run.device) for h in holdout_masks(run.val_ds, cfg.holdout, cfg.seed + 20_000)]
    step = run.start * len(parallel.shard_batches(list(range(len(run.train_ds))), cfg.batch_size, ctx, cfg.steps_per_epoch))
    for epoch in range(run.start, cfg.epochs):
        row, step = _train_epoch(run, epoch, step, progress, fail_at_step)
        if run.val_ds is not None:
            scores = run.together(lambda: holdout_scores(run.net, run.val_ds, holdout, run.device), main_only=True)  # run.net carries the precision
            row |= parallel.share(ctx, scores, run.device)
        run.history.append(row)
        _save_epoch(run, epoch, row)


def _epoch_batches(run: _Run, epoch: int) -> list[list[int]]:
    """This rank's batches of ``epoch``: a fresh permutation from the run's order generator (the
    same on every rank), cut by :func:`dynmri.learn.parallel.shard_batches`; the training set is
    told the epoch (``set_epoch``: its masks are seeded by seed, epoch and index)."""
    ds = run.train_ds
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)
    perm = torch.randperm(len(ds), generator=run.order_gen).tolist()
    return parallel.shard_batches(perm, run.cfg.batch_size, run.ctx, run.cfg.steps_per_epoch)


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers draw masks and simulate k-space; the trainer owns the cores


def _loader(run: _Run, batches: list[list[int]]):
    """A DataLoader over ``batches`` (``cfg.workers`` processes, started per epoch so that they
    see the epoch; pinned memory on CUDA; collated by ``default_collate``)."""
    workers = run.cfg.workers
    return torch.utils.data.DataLoader(run.train_ds, batch_sampler=batches, num_workers=workers, pin_memory=run.device.type == "cuda",
                                       generator=run.loader_gen, worker_init_fn=_worker_init if workers else None)


def _train_epoch(run: _Run, epoch: int, step: int, progress: bool, fail_at_step: int | None) -> tuple[dict, int]:
    """One pass over a fresh permutation of the training windows; returns the log row and the step."""
    from tqdm.auto import tqdm

    from dynmri.devices import peak_memory_mb

    cfg = run.cfg
    batches = _epoch_batches(run, epoch)
    loader = _loader(run, batches)
    t0, total, frames = time.perf_counter(), 0.0, 0
    bar = tqdm(total=len(batches), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress or not run.ctx.main, leave=False)
    items = run.together(lambda: iter(loader))
    for _ in batches:
        value, n = _train_step(run, items, epoch, step, fail_at_step)
        total += value
        frames += n
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4g}", fps=f"{frames / (time.perf_counter() - t0):.1f}")
    bar.close()
    run.sched.step()
    secs = time.perf_counter() - t0
    row = {"epoch": epoch + 1, "train_loss": total / max(len(batches), 1), "lr": run.opt.param_groups[0]["lr"], "seconds": secs, "frames_per_second": frames / secs,
           **peak_memory_mb(run.device)}
    return row, step


def _next_batch(run: _Run, items):
    """The next batch; a data-loading worker process that died (killed for memory, crashed) is a
    :class:`TrainingError` naming what is left, not a traceback."""
    try:
        return next(items)
    except RuntimeError as exc:
        if "DataLoader worker" not in str(exc):
            raise
        raise TrainingError(f"a data-loading worker died ({str(exc).splitlines()[0]}); {_last_good(run)} "
                            "(continue with --resume; fewer --workers if memory is short)") from None


def _train_step(run: _Run, items, epoch: int, step: int, fail_at_step: int | None) -> tuple[float, int]:
    """One optimiser step on the next batch; returns the loss (mean over the ranks) and the
    frames the step saw (all ranks). Under torchrun the forward and backward pass of every rank
    are checked together (:func:`dynmri.learn.parallel.step_status`) before the gradients are
    averaged."""
    from dynmri.learn.data import batch_physics

    ctx, loss, value, frames, error = run.ctx, run.loss, None, 0, None
    try:
        x, y, *sampling = (t.to(run.device, non_blocking=True) for t in _next_batch(run, items))
        physics = batch_physics(run.train_ds, *sampling)
        value = loss(run.net(y, physics, **loss.train_kwargs), x, y, physics, run.net)
        if fail_at_step is not None and step == fail_at_step:
            value = value * float("nan")
        frames = x.shape[0] * x.shape[2] * ctx.world
        if ctx.distributed:
            run.opt.zero_grad()
            value.backward()
    except Exception as exc:  # noqa: BLE001  reaches the other ranks through step_status
        if not ctx.distributed:
            raise
        error = exc
    mean = parallel.step_status(ctx, 0.0 if value is None else float(value.detach()), error, run.device)
    if not math.isfinite(mean):
        raise TrainingError(f"loss became {mean} at epoch {epoch + 1}, step {step}; {_last_good(run)} (lower the learning rate or clip gradients)")
    if not ctx.distributed:
        run.opt.zero_grad()
        value.backward()
    parallel.average_gradients(ctx, list(run.model.parameters()), run.device)
    if run.cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.opt.step()
    return mean, frames


def _last_good(run: _Run) -> str:
    if run.ckpt_path.exists():
        return f"the last good checkpoint is {run.ckpt_path}"
    return f"no epoch finished, so {run.run_dir} holds no checkpoint (training into it again starts afresh)"


def _save_epoch(run: _Run, epoch: int, row: dict) -> None:
    """On rank 0: ``best.pt`` when the score improved, then ``checkpoint.pt`` (in that order: a
    crash in between redoes the epoch on resume), then the logs. Every rank keeps the best score."""
    cfg, model = run.cfg, run.model
    score = row.get("val_holdout_nmse", row["train_loss"])
    improved, run.best = score < run.best, min(run.best, score)

    def write():
        state = {"model": model.state_dict(), "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(), "epoch": epoch + 1,
                 "order_gen": run.order_gen.get_state(), "loss_gens": [g.get_state() for g in run.gens], "torch_rng": torch.get_rng_state(),
                 "history": run.history, "best": run.best, "config": asdict(cfg), "world_size": run.ctx.world}
        if run.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(run.device)
        if improved:
            save_checkpoint(run.run_dir / "best.pt", {"model": model.state_dict(), "config": asdict(cfg), "epoch": epoch + 1, "metrics": row})
        save_checkpoint(run.ckpt_path, state)
        _write_logs(run.run_dir, run.history)

    run.together(write, main_only=True)


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

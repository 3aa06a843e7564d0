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
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from dynmri.config import TrainConfig
from dynmri.errors import DynMRIError, ParameterError
from dynmri.models.weights import save_checkpoint


class TrainingError(DynMRIError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


def _split(cfg: TrainConfig):
    from dynmri.data.sources import load_source, test_split

    src = load_source(cfg.data, frames=cfg.phantom_frames, size=(cfg.phantom_size, cfg.phantom_size), n_phantoms=cfg.n_phantoms, seed=cfg.seed)
    train_idx = test_split(src)["train"]  # the canonical split: no training seed may move test slices into training
    groups = sorted({src.groups[i] for i in train_idx})
    n_val = max(1, round(cfg.val_fraction * len(groups))) if cfg.val_fraction > 0 and len(groups) > 1 else 0
    val_groups = set(groups[len(groups) - n_val :])
    val = [i for i in train_idx if src.groups[i] in val_groups]
    train = [i for i in train_idx if src.groups[i] not in val_groups]
    videos = src.videos
    if cfg.crop:
        from dynmri._complex import center_crop

        videos = center_crop(videos, min(cfg.crop, *videos.shape[-2:]))
    return np.ascontiguousarray(videos), train, val


def _datasets(cfg: TrainConfig):
    from dynmri.data.datasets import DynamicWindowDataset

    videos, train, val = _split(cfg)
    if not train:
        raise ParameterError(f"{cfg.data}: no training slices left after the test and validation splits")
    kw = dict(window=cfg.window, acceleration=cfg.accel, mask=cfg.mask)
    train_ds = DynamicWindowDataset(videos[train], stride=cfg.stride, seed=cfg.seed, fresh_masks=True, **kw)
    val_ds = DynamicWindowDataset(videos[val], stride=cfg.window, seed=cfg.seed + 10_000, **kw) if val else None
    return train_ds, val_ds


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


def _holdout_masks(val_ds, fraction: float, seed: int) -> list[torch.Tensor]:
    """Hide a random ``fraction`` of the sampled phase-encoding *lines* of every frame.

    Whole lines, not points: the networks learn from line masks, so a point-wise split inside
    sampled lines is out of distribution (a first pilot scored held-out NMSE > 1 that way while
    PSNR rose)."""
    g = torch.Generator().manual_seed(seed)
    masks = []
    for i in range(len(val_ds)):
        mask = val_ds[i][2]  # (T, H, W)
        lines = mask.amax(dim=-2)  # (T, W) sampled lines
        hide = (torch.rand(lines.shape, generator=g) < fraction).float() * lines
        masks.append(hide[:, None, :].expand_as(mask).clone())
    return masks


def validate(model, val_ds, holdout_masks) -> dict:
    """Held-out k-space NMSE (no ground truth needed) and, as a diagnostic, PSNR/SSIM."""
    from dynmri._complex import channels_to_np
    from dynmri.eval.metrics import evaluate
    from dynmri.physics.cartesian import make_physics

    model.eval()
    nmse, recs, refs = [], [], []
    with torch.no_grad():
        for i in range(len(val_ds)):
            x, y, mask = val_ds[i]
            hold = mask * holdout_masks[i]
            keep = mask - hold
            physics_in = make_physics(keep[None])
            x_net = model(y[None] * keep[None, None], physics_in)
            resid = make_physics(hold[None]).A(x_net) - y[None] * hold[None, None]
            nmse.append(float(resid.pow(2).sum() / (y * hold[None]).pow(2).sum().clamp_min(1e-30)))
            recs.append(channels_to_np(model(y[None], make_physics(mask[None])))[0])
            refs.append(channels_to_np(x[None])[0])
    model.train()
    m = evaluate(np.stack(recs), np.stack(refs))
    return {"val_holdout_nmse": float(np.mean(nmse)), "val_psnr": m["psnr"], "val_ssim": m["ssim"]}


def train(cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True, fail_at_step: int | None = None) -> dict:
    """Train ``cfg.model`` with ``cfg.loss``; returns the metrics history. See the module doc.

    ``fail_at_step`` (tests only) turns the loss at that global step into NaN.
    """
    from tqdm.auto import tqdm

    from dynmri.fileio import write_text_atomic
    from dynmri.learn.losses import get_loss
    from dynmri.models import count_parameters, get_model
    from dynmri.physics.cartesian import make_physics

    cfg = cfg.validate()
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoint.pt"
    if run_dir.exists() and (run_dir / "config.json").exists() and not resume:
        raise ParameterError(f"{run_dir} already holds a run; pass resume=True (--resume) or choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng():  # dropout etc. use the global RNG: keep the caller's untouched
        torch.manual_seed(cfg.seed)
        train_ds, val_ds = _datasets(cfg)
        model = get_model(cfg.model, **cfg.model_cfg)
        loss = get_loss(cfg.loss, seed=cfg.seed, **cfg.loss_cfg)
        net = loss.adapt_model(model)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = _scheduler(cfg, opt)
        order_gen = torch.Generator().manual_seed(cfg.seed)
        gens = _generators(loss)
        history, start, best = [], 0, math.inf
        if resume and ckpt_path.exists():
            state = torch.load(ckpt_path, weights_only=False)
            if state["config"] != asdict(cfg):
                raise ParameterError(f"{ckpt_path}: was trained with another configuration; resume needs the same one")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            order_gen.set_state(state["order_gen"])
            for g, s in zip(gens, state["loss_gens"], strict=True):
                g.set_state(s)
            torch.set_rng_state(state["torch_rng"])
            train_ds._draws = state["draws"]
            history, start, best = state["history"], state["epoch"], state["best"]
        write_text_atomic(run_dir / "config.json", json.dumps(asdict(cfg) | {"parameters": count_parameters(model)}, indent=1))
        holdout = _holdout_masks(val_ds, cfg.holdout, cfg.seed + 20_000) if val_ds is not None else None
        step = start * (cfg.steps_per_epoch or math.ceil(len(train_ds) / cfg.batch_size))
        for epoch in range(start, cfg.epochs):
            perm = torch.randperm(len(train_ds), generator=order_gen).tolist()
            batches = [perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]
            if cfg.steps_per_epoch:
                batches = batches[: cfg.steps_per_epoch]
            t0, total, frames = time.perf_counter(), 0.0, 0
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
            for idx in bar:
                items = [train_ds[i] for i in idx]
                x, y, mask = (torch.stack(t) for t in zip(*items, strict=True))
                physics = make_physics(mask)
                x_net = net(y, physics, **loss.train_kwargs)
                value = loss(x_net, x, y, physics, net)
                if fail_at_step is not None and step == fail_at_step:
                    value = value * float("nan")
                if not torch.isfinite(value):
                    raise TrainingError(f"loss became {float(value)} at epoch {epoch + 1}, step {step}; the last good checkpoint is {ckpt_path} (lower the learning rate or clip gradients)")
                opt.zero_grad()
                value.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                total += float(value.detach())
                frames += x.shape[0] * x.shape[2]
                step += 1
                bar.set_postfix(loss=f"{float(value):.4g}", fps=f"{frames / (time.perf_counter() - t0):.1f}")
            sched.step()
            secs = time.perf_counter() - t0
            row = {"epoch": epoch + 1, "train_loss": total / max(len(batches), 1), "lr": opt.param_groups[0]["lr"], "seconds": secs, "frames_per_second": frames / secs}
            if val_ds is not None:
                row |= validate(net, val_ds, holdout)
            history.append(row)
            score = row.get("val_holdout_nmse", row["train_loss"])
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch + 1,
                     "order_gen": order_gen.get_state(), "loss_gens": [g.get_state() for g in gens], "torch_rng": torch.get_rng_state(),
                     "draws": train_ds._draws, "history": history, "best": min(best, score), "config": asdict(cfg)}
            if score < best:
                best = score
                save_checkpoint(run_dir / "best.pt", {"model": model.state_dict(), "config": asdict(cfg), "epoch": epoch + 1, "metrics": row})
            save_checkpoint(ckpt_path, state)
            _write_logs(run_dir, history)
    return {"history": history, "best": best}


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

r"""Learning a k-space trajectory by gradient descent through the NUFFT, on scanner limits.

The sample locations :math:`k` of one frame ``(S, Ns, 2)`` minimise the reconstruction error of
the density-compensated adjoint on training images :math:`x_i`:

.. math:: \min_{k \in \mathcal C} \sum_i \frac{\|A_k^H D_k A_k x_i - x_i\|^2}{\|x_i\|^2},

with :math:`D_k` the Voronoi density weights of the current :math:`k` (recomputed at every step, not
differentiated) and :math:`\mathcal C` the set of trajectories that a scanner can play
(:func:`dynmri.sampling.trajectories.project_to_limits`: gradient amplitude, slew rate, k-space box).

Multi-resolution decimation: the shots are parametrised by control points decimated ``d``
times (linearly interpolated to the raster); every ``steps / (log2 d + 1)`` steps the control
points are upsampled by 2, and Adam's moment estimates are interpolated with them, so the
optimiser carries on where it was (its step size halves: finer control points make smaller
moves). At the end of every stage the trajectory is scored on 32 fixed *training* frames and
the best one is kept (the stochastic loss alone is too noisy to tell). **Every iterate is projected** onto :math:`\mathcal C`
(constraints scaled by the current decimation, so that the interpolated readout is feasible),
and the result is checked sample by sample at full resolution.

Devices: ``cfg.device`` (:func:`dynmri.devices.resolve_device`) holds the training frames, the
control points, Adam's state, the batch generator and the NUFFTs (cufinufft on CUDA); the
Voronoi weights are computed by SciPy on the host from the current trajectory (a few kB per
step), and the projection runs where the control points are.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dynmri.config import LearnTrajectoryConfig
from dynmri.errors import ParameterError


def n_control(n_samples: int, d: int) -> int:
    return math.ceil((n_samples - 1) / d) + 1


def interpolate(p: torch.Tensor, n: int) -> torch.Tensor:
    """Linearly interpolate ``(S, n_ctrl, C)`` along the readout to ``(S, n, C)`` (end points kept)."""
    if p.shape[1] == n:
        return p
    return F.interpolate(p.permute(0, 2, 1), size=n, mode="linear", align_corners=True).permute(0, 2, 1)


def trajectory_device(spec: str) -> torch.device:
    """The device of ``--device spec`` for trajectory learning (:func:`dynmri.devices.resolve_device`):
    ``auto`` picks CUDA only where mri-nufft's cufinufft backend is installed, else the CPU; an
    explicit CUDA device without it is a :class:`ParameterError` saying what to install."""
    from dynmri.devices import resolve_device
    from dynmri.physics.nufft import nufft_backend

    dev = resolve_device(spec)
    if dev.type == "cuda":
        try:
            nufft_backend(dev)
        except ParameterError:
            if spec != "auto":
                raise
            return torch.device("cpu")
    return dev


def split_frames(cfg: LearnTrajectoryConfig, split: str) -> np.ndarray:
    """Complex frames ``(F, H, W)`` of the ``train`` or ``test`` slices (canonical split)."""
    from dynmri._complex import center_crop
    from dynmri.data.simulate import add_smooth_phase
    from dynmri.data.sources import load_source, test_split

    src = load_source(cfg.data, frames=12, size=(cfg.size, cfg.size), n_phantoms=cfg.n_phantoms, seed=cfg.seed)
    idx = test_split(src, seed=0)[split] if len(set(src.groups)) > 1 else list(range(src.videos.shape[0]))
    if not idx:
        raise ParameterError(f"{cfg.data}: no {split} slices")
    v = src.videos[idx]
    if cfg.crop and cfg.crop < min(v.shape[-2:]):
        v = center_crop(v, cfg.crop)
    z = add_smooth_phase(np.ascontiguousarray(v), seed=cfg.seed)
    frames = z.reshape(-1, *z.shape[-2:])
    cap = cfg.max_train_frames if split == "train" else cfg.max_eval_frames
    return frames[:cap] if cap else frames


def image_loss(rec: torch.Tensor, ref: torch.Tensor, objective: str) -> torch.Tensor:
    r"""``"magnitude"``: :math:`\mathrm{mean}\,(|\hat x| - |x|)^2 / \max |x|^2` per image (what
    PSNR measures); ``"complex"``: :math:`\|\hat x - x\|^2 / \|x\|^2`. Mean over images."""
    dims = (-2, -1)
    if objective == "magnitude":
        peak = ref.abs().amax(dim=dims)
        return ((rec.abs() - ref.abs()) ** 2).mean(dim=dims).div(peak**2).mean()
    if objective == "complex":
        return ((rec - ref).abs() ** 2).sum(dim=dims).div((ref.abs() ** 2).sum(dim=dims)).mean()
    raise ParameterError(f"objective must be 'magnitude' or 'complex', got {objective!r}")


def dcomp_recon(k: torch.Tensor, images: torch.Tensor, method: str = "voronoi") -> torch.Tensor:
    """:math:`A_k^H D_k A_k x` for complex ``images (F, H, W)`` and one frame ``k (S, Ns, 2)``."""
    from dynmri.physics.nufft import FrameNUFFT, density

    shape = tuple(images.shape[-2:])
    nufft = FrameNUFFT(k[None], shape)
    w = density(k.detach(), shape, method).to(images.device, images.real.dtype)
    return nufft.adj_op(nufft.op(images[:, None]) * w[None])[:, 0]


def learn_trajectory(cfg: LearnTrajectoryConfig, out: Path | None = None, progress: bool = False) -> dict:
    """Run the optimisation; returns ``{"trajectory": (S, Ns, 2), "losses": [...], "snapshots": [...],
    "violations": {...}}`` and, with ``out``, writes ``trajectory.npz``, ``evolution.gif``,
    ``loss.png``, ``waveforms.png`` and ``summary.json`` there (atomically). Runs on
    :func:`trajectory_device` of ``cfg.device`` (checked before anything is read or written)."""
    from tqdm.auto import tqdm

    cfg.validate()
    device = trajectory_device(cfg.device)
    frames = torch.from_numpy(split_frames(cfg, "train")).to(device, torch.complex64)
    if frames.shape[-2] != frames.shape[-1]:
        raise ParameterError(f"learn-trajectory needs square images, got {tuple(frames.shape[-2:])}")
    learner = _TrajectoryLearner(cfg, frames)
    bar = tqdm(total=cfg.steps, desc="learn-trajectory", disable=not progress)
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        learner.step(step)
        bar.update()
        bar.set_postfix(loss=f"{learner.losses[-1]:.4f}", decimation=learner.d)
    bar.close()
    result = learner.finish() | {"seconds": time.perf_counter() - t0}
    if out is not None:
        write_outputs(Path(out), cfg, result)
    return result


class _TrajectoryLearner:
    """The optimisation of :func:`learn_trajectory`: Adam on control points of the readouts,
    multi-resolution (the control points double ``log2(decimation)`` times, with Adam's state
    interpolated and the step halved), every iterate projected onto the scanner limits, and the
    best stage (scored on fixed training frames) kept."""

    def __init__(self, cfg: LearnTrajectoryConfig, frames: torch.Tensor):
        from dynmri.physics.nufft import FrameNUFFT
        from dynmri.sampling.trajectories import make_trajectory, project_to_limits

        self.cfg, self.frames, self.n, dev = cfg, frames, frames.shape[-1], frames.device
        self.k0 = make_trajectory(cfg.init, self.n, cfg.accel, 1, n_samples=cfg.n_samples)[0].to(dev)  # (S, Ns, 2)
        self.Ns, self.d, self.lr = self.k0.shape[1], cfg.decimation, cfg.lr
        self.per_stage = max(1, cfg.steps // (int(math.log2(self.d)) + 1))
        self.gen = torch.Generator(dev).manual_seed(cfg.seed)
        p = interpolate(self.k0, n_control(self.Ns, self.d)).clone()
        with torch.no_grad():
            p = project_to_limits(p, self.n, cfg.limits, decimation=self._ratio(p), n_iter=cfg.proj_iters).float()
        self.p = p.requires_grad_(True)
        self.opt = torch.optim.Adam([self.p], lr=self.lr)
        self.nufft = FrameNUFFT(interpolate(self.p.detach(), self.Ns)[None], (self.n, self.n))
        self.losses, self.snapshots = [], [self._full().cpu().numpy().copy()]
        # model selection on a fixed set of *training* frames: the best stage's trajectory is kept
        self.sel = frames[torch.randperm(frames.shape[0], generator=torch.Generator().manual_seed(cfg.seed + 1))[:32].to(dev)]
        self.stage_losses: list[float] = []
        self.best = {"k": None, "loss": math.inf}
        self._score_stage(self._full())

    def _ratio(self, p) -> float:
        return (self.Ns - 1) / (p.shape[1] - 1)

    def _full(self) -> torch.Tensor:
        """The readouts ``(S, Ns, 2)`` of the current control points (no gradient)."""
        return interpolate(self.p.detach(), self.Ns)

    def _score_stage(self, kk: torch.Tensor) -> None:
        """Score a stage's trajectory on the selection frames; keep it when it is the best."""
        with torch.no_grad():
            rec = dcomp_recon(kk, self.sel, self.cfg.density)
        self.stage_losses.append(float(image_loss(rec, self.sel, self.cfg.objective)))
        if self.stage_losses[-1] < self.best["loss"]:
            self.best.update(k=kk.clone(), loss=self.stage_losses[-1])

    def _upsample(self) -> None:
        """Double the control points (and Adam's moments); halve the step: finer control points
        make smaller moves (sample jitter ruins the density)."""
        self._score_stage(self._full())
        self.d //= 2
        self.lr *= 0.5
        m = n_control(self.Ns, self.d)
        state = self.opt.state[self.p]
        with torch.no_grad():
            newp = interpolate(self.p.detach(), m).clone().requires_grad_(True)
        new_opt = torch.optim.Adam([newp], lr=self.lr)
        new_opt.state[newp] = {
            "step": state["step"],
            "exp_avg": interpolate(state["exp_avg"], m).clone(),
            "exp_avg_sq": interpolate(state["exp_avg_sq"], m).clone(),
        }
        self.p, self.opt = newp, new_opt

    def step(self, step: int) -> None:
        """One Adam step on a random batch of training frames, then the projection."""
        from dynmri.physics.nufft import density
        from dynmri.sampling.trajectories import project_to_limits

        cfg, n = self.cfg, self.n
        if step and step % self.per_stage == 0 and self.d > 1:
            self._upsample()
        k = interpolate(self.p, self.Ns)
        self.nufft.k = k[None]
        self.nufft.refresh()
        w = density(k.detach(), (n, n), cfg.density).to(k.device)
        idx = torch.randint(self.frames.shape[0], (cfg.batch,), generator=self.gen, device=k.device)
        x = self.frames[idx][:, None]  # (B, 1, H, W)
        loss = image_loss(self.nufft.adj_op(self.nufft.op(x) * w[None]), x, cfg.objective)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.p.copy_(project_to_limits(self.p.detach(), n, cfg.limits, decimation=self._ratio(self.p), n_iter=cfg.proj_iters))
        self.losses.append(float(loss.detach()))
        if (step + 1) % cfg.snapshot_every == 0 or step + 1 == cfg.steps:
            self.snapshots.append(self._full().cpu().numpy().copy())

    def finish(self) -> dict:
        """Score the last stage, project the best stage's readouts at full rate, check the limits."""
        from dynmri.sampling.trajectories import project_to_limits, violations

        lim, n = self.cfg.limits, self.n
        with torch.no_grad():
            k = project_to_limits(self._full(), n, lim, n_iter=5000).float()
        self._score_stage(k)
        with torch.no_grad():  # an earlier stage's interpolated control points: check at full rate
            k = project_to_limits(self.best["k"], n, lim, n_iter=5000).float()
        viol = violations(k, n, lim)
        if viol["gradient_violations"] or viol["slew_violations"] or viol["outside_box"]:
            raise ParameterError(f"the learned trajectory violates the limits: {viol}")
        return {"trajectory": k.cpu().numpy(), "losses": self.losses, "snapshots": self.snapshots, "violations": viol,
                "stage_losses": self.stage_losses, "selected_loss": self.best["loss"], "image_size": n, "init": self.k0.cpu().numpy()}


def compare(cfg: LearnTrajectoryConfig, trajectories: dict[str, np.ndarray], cg_iters: int = 0) -> dict:
    """PSNR/SSIM (dynmri.eval.metrics, per frame, peak = reference max) of the density-compensated
    adjoint (and of ``cg_iters`` CG least-squares iterations) on the **test** slices, and the peak
    gradient/slew relative to the limits, for each trajectory ``(S, Ns, 2)``; on ``cfg.device``."""
    from dynmri.eval.metrics import evaluate
    from dynmri.sampling.trajectories import violations

    device = trajectory_device(cfg.device)
    test = torch.from_numpy(split_frames(cfg, "test")).to(device, torch.complex64)
    ref = test.cpu().numpy()[None]
    n = test.shape[-1]
    rows = {}
    for name, k in trajectories.items():
        kt = torch.as_tensor(k).float().to(device)
        with torch.no_grad():
            rec = dcomp_recon(kt, test, cfg.density)
        row = {f"dcomp_{m}": v for m, v in _means(evaluate(rec.cpu().numpy()[None], ref)).items()}
        if cg_iters:
            row |= {f"cg_{m}": v for m, v in _means(evaluate(_cg(kt, test, cg_iters).cpu().numpy()[None], ref)).items()}
        v = violations(kt, n, cfg.limits)
        row |= {"samples": int(kt.shape[0] * kt.shape[1]), "gradient_ratio": v["gradient_ratio"],
                "slew_ratio": v["slew_ratio"], "violations": v["gradient_violations"] + v["slew_violations"] + v["outside_box"]}
        rows[name] = row
    return rows


def _means(metrics: dict) -> dict:
    return {k: float(metrics[k]) for k in ("psnr", "ssim", "nmse")}


def _cg(k: torch.Tensor, images: torch.Tensor, n_iter: int) -> torch.Tensor:
    from dynmri.optim.solvers import conjugate_gradient
    from dynmri.physics.base import normal_operator
    from dynmri.physics.nufft import NonCartesianMRI

    physics = NonCartesianMRI(k[None], tuple(images.shape[-2:]))
    x = torch.stack((images.real, images.imag), dim=1)[:, :, None]  # (F, 2, 1, H, W)
    normal = normal_operator(physics)
    with torch.no_grad():
        rhs = normal(x)
        res = conjugate_gradient(torch.zeros_like(rhs), normal, rhs, n_iter, tol=0.0)
    return torch.complex(res.x[:, 0, 0], res.x[:, 1, 0])


def write_outputs(out: Path, cfg: LearnTrajectoryConfig, result: dict) -> None:
    """``trajectory.npz`` (key ``trajectory`` ``(S, Ns, 2)`` + config and limits), ``loss.png``,
    ``waveforms.png``, ``evolution.gif`` and ``summary.json``."""
    from dynmri.data.files import write_arrays
    from dynmri.eval.figures import save_trajectory_figures
    from dynmri.fileio import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    meta = {"config": asdict(cfg), "violations": result["violations"], "final_loss": result["losses"][-1],
            "stage_losses": result["stage_losses"], "selected_loss": result["selected_loss"],
            "seconds": result["seconds"], "convention": "(n_shots, n_samples, 2), cycles/pixel in [-0.5, 0.5)"}
    write_arrays(out / "trajectory.npz", {"trajectory": result["trajectory"].astype(np.float32)}, meta)
    save_trajectory_figures(out, result, cfg.limits)
    write_text_atomic(out / "summary.json", json.dumps(meta | {"losses": result["losses"]}, indent=1))


def compare_with_baselines(cfg: LearnTrajectoryConfig, result: dict, out: Path | None = None, cg_iters: int = 10) -> tuple[dict, str]:
    """:func:`compare` the learned trajectory of ``result`` (:func:`learn_trajectory`) with its
    initialisation, radial golden-angle and spiral at the same acceleration, on the test split;
    returns ``(rows, Markdown table)``, also written to ``out/comparison.json`` and ``out/comparison.md``."""
    from dynmri.eval.report import trajectory_table, write_json, write_markdown
    from dynmri.sampling.trajectories import make_trajectory

    n, learned = result["image_size"], result["trajectory"]
    trajs = {"learned": learned, "initial": result["init"]}
    for kind in ("radial-golden", "spiral"):
        trajs[kind] = make_trajectory(kind, n, cfg.accel, 1)[0].numpy()
    rows = compare(cfg, trajs, cg_iters=cg_iters)
    title = f"Test split of {cfg.data}, {n}x{n}, acceleration {cfg.accel:g} ({learned.shape[0] * learned.shape[1]} samples per frame for the learned one)"
    table = trajectory_table(rows, title)
    if out is not None:
        write_markdown(Path(out) / "comparison.md", table)
        write_json(Path(out) / "comparison.json", rows)
    return rows, table


def learn_and_compare(cfg: LearnTrajectoryConfig, out: Path, *, compare_baselines: bool = True, progress: bool = False) -> dict:
    """What ``dynmri learn-trajectory`` runs: :func:`learn_trajectory` (outputs in ``out``), then
    :func:`compare_with_baselines` unless ``compare_baselines`` is False; the result gains
    ``comparison`` (rows) and ``table`` (Markdown), None when not compared."""
    result = learn_trajectory(cfg, out, progress=progress)
    rows, table = compare_with_baselines(cfg, result, out) if compare_baselines else (None, None)
    return result | {"comparison": rows, "table": table}

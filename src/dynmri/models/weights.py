"""Trained weights: load a network from a run folder, a weights file or a shipped name, and
export a run's last epoch into the package.

Weights files hold ``{"model": state_dict, "config": TrainConfig fields, "epoch", "metrics"}``.
Shipped weights live in ``dynmri/weights/`` (``NAME.pt``, ``NAME.json``, ``NAME.yaml``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from dynmri.config import TrainConfig
from dynmri.errors import ParameterError


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` to ``path`` atomically."""
    from dynmri.fileio import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def config_from_checkpoint(file: Path, fields: dict) -> TrainConfig:
    """The :class:`TrainConfig` of the ``config`` dict saved in ``file``; fields missing from
    older files take their defaults, a field this version does not know is a DataError."""
    from dynmri.errors import DataError

    try:
        return replace(TrainConfig(), **fields)
    except TypeError as exc:
        raise DataError(f"{file}: incompatible weights (its configuration: {exc})") from None


def load_trained(path: str | Path):
    """A network from a run folder (``best.pt``) or a weights file; returns ``(model, config)``.

    The file is loaded without executing code (:func:`dynmri.safeload.load_checkpoint`) and
    building the network leaves the global torch random generator untouched.
    """
    # dynmri.models.base, not dynmri.models (no import cycle): lps-crnn loads its LPS stage through here
    from dynmri.errors import DataError
    from dynmri.models.base import MODELS
    from dynmri.safeload import load_checkpoint

    path = Path(path)
    file = path / "best.pt" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{path}: no trained weights (expected a run folder with best.pt, or a .pt file)")
    state = load_checkpoint(file, keys=("model", "config"))
    cfg = config_from_checkpoint(file, state["config"])
    try:
        with torch.random.fork_rng(devices=[]):  # the initialisation draws from the global RNG
            model = MODELS.build(cfg.model, **cfg.model_cfg)
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{file}: unreadable or incompatible weights ({type(exc).__name__}: {exc})") from exc
    return model.eval(), cfg


def weights_dir() -> Path:
    """Folder of the weights shipped inside the package (``<name>.pt`` + ``<name>.json``)."""
    return Path(__file__).parent.parent / "weights"


def shipped_weights() -> dict[str, Path]:
    """Shipped weights by name."""
    d = weights_dir()
    return {p.stem: p for p in sorted(d.glob("*.pt"))} if d.is_dir() else {}


def trained_data(path: str | Path) -> str | None:
    """The ``data`` a shipped weights file ``NAME.pt`` was trained on, read from its ``NAME.json``
    (None when it has none or it cannot be read)."""
    try:
        cfg = json.loads(Path(path).with_suffix(".json").read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return None
    return cfg.get("data") if isinstance(cfg, dict) else None


def shipped_for(realtime: bool) -> dict[str, Path]:
    """The shipped weights (:func:`shipped_weights`) trained on the real-time scenario
    (``realtime=True``: ``phantom-realtime`` or its gated cine), or on anything else."""
    from dynmri.data.realtime import REALTIME_SOURCES

    return {name: path for name, path in shipped_weights().items() if (trained_data(path) in REALTIME_SOURCES) == realtime}


def export_weights(run_dir: str | Path, name: str, dest: Path | None = None) -> Path:
    """Copy the **last epoch** of a run (``checkpoint.pt``) into ``dest`` (the package's weights
    folder): ``NAME.pt`` (network + config only), ``NAME.yaml`` (the run's exact configuration,
    loadable by ``dynmri train --config``) and ``NAME.json`` (config, training log and the command
    that retrains it from that YAML). The last epoch, not ``best.pt``: the same rule for every
    paradigm, and one that needs no ground truth."""
    import yaml

    from dynmri.errors import DataError
    from dynmri.fileio import write_text_atomic
    from dynmri.safeload import load_checkpoint

    run_dir = Path(run_dir)
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ParameterError(f"invalid weights name {name!r}")
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.is_file():
        raise DataError(f"{run_dir}: no checkpoint.pt (not a training run folder)")
    state = load_checkpoint(ckpt, keys=("model", "config", "epoch", "history"))
    if not isinstance(state["history"], list) or not state["history"]:
        raise DataError(f"{ckpt}: not a dynmri checkpoint (empty training history)")
    cfg = asdict(config_from_checkpoint(ckpt, state["config"]))
    dest = Path(dest) if dest is not None else weights_dir()
    dest.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dest / f"{name}.pt", {"model": state["model"], "config": cfg, "epoch": state["epoch"], "metrics": state["history"][-1]})
    write_text_atomic(dest / f"{name}.yaml", yaml.safe_dump(cfg, sort_keys=False))
    shown = dest / f"{name}.yaml"
    if dest.resolve() == weights_dir().resolve():
        shown = Path("src/dynmri/weights") / f"{name}.yaml"  # as a user types it from the repository root
    command = f"dynmri train --config {shown} --out runs/{name} --threads 1"
    info = {"name": name, "epoch": state["epoch"], "config": cfg, "retrain": command, "history": state["history"]}
    write_text_atomic(dest / f"{name}.json", json.dumps(info, indent=1))
    return dest / f"{name}.pt"


def resolve_weights(spec: str | Path) -> Path:
    """A run folder, a ``.pt`` file, or the name of shipped weights -> a path."""
    from dynmri.errors import DataError

    path = Path(spec)
    if path.exists():
        return path
    shipped = shipped_weights()
    if str(spec) in shipped:
        return shipped[str(spec)]
    names = ", ".join(shipped) or "none shipped yet"
    raise DataError(f"{spec}: not a run folder, a weights file or a shipped name ({names})")



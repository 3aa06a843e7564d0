"""The training paradigms of the study scripts (``realtime_study.py``, ``zoo_study.py``): a name ->
the :class:`dynmri.config.TrainConfig` fields it sets (``loss`` and ``loss_cfg``; the real-time
study adds its ``data`` for the supervised ones)."""

PARADIGMS = {
    "supervised-l1": {"loss": "supervised-l1"},
    "supervised-l2": {"loss": "supervised-l2"},
    "mc": {"loss": "mc"},
    "ddei": {"loss": "ddei"},
    "ddei-compose": {"loss": "ddei", "loss_cfg": {"group": "compose"}},
    # a real-time window is not a cardiac cycle: wrapping its time shift joins the last frame to the first
    "ddei-reflect": {"loss": "ddei", "loss_cfg": {"time_padding": "reflect"}},
    "ddei-compose-reflect": {"loss": "ddei", "loss_cfg": {"group": "compose", "time_padding": "reflect"}},
    "ei-rotate": {"loss": "ei-rotate"},
    "ei-time": {"loss": "ei-time"},
    "ssdu": {"loss": "ssdu"},
}


def paradigm_fields(name: str, table: dict = PARADIGMS) -> dict:
    """``loss``, ``loss_cfg`` (and ``data`` where the paradigm sets it) of paradigm ``name`` of ``table``."""
    p = table[name]
    return {"loss": p["loss"], "loss_cfg": p.get("loss_cfg", {}), **({"data": p["data"]} if "data" in p else {})}

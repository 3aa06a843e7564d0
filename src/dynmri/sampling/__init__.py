"""Where k-space is sampled: time-varying Cartesian masks (:mod:`.masks`) and non-Cartesian
trajectories within scanner limits (:mod:`.trajectories`)."""

from dynmri.sampling.masks import MASKS, achieved_acceleration, get_mask_generator, make_mask

__all__ = ["MASKS", "achieved_acceleration", "get_mask_generator", "make_mask"]

"""The old flat import paths keep working for one release, with a DeprecationWarning."""

import importlib
import sys

import pytest

from dynmri._compat import MOVED


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_path_forwards_with_a_warning(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        mod = importlib.import_module(old)
    target = importlib.import_module(new)
    public = [n for n in vars(target) if not n.startswith("_") and getattr(getattr(target, n), "__module__", None) == new]
    assert public, f"{new} defines nothing public"
    for name in public:
        assert getattr(mod, name) is getattr(target, name)


def test_moved_names_that_kept_their_path():
    """Packages that replaced modules of the same name re-export the old public names."""
    from dynmri.physics import PHYSICS, make_physics, rss  # noqa: F401
    from dynmri.recon import METHODS, applicable, get_method, method_names, reconstruct_acquisition  # noqa: F401
    from dynmri.sampling import MASKS, achieved_acceleration, make_mask  # noqa: F401

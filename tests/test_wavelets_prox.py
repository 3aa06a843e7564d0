import numpy as np
import pytest
import torch

from dynmri.errors import ParameterError, ShapeError
from dynmri.optim.prox import (
    group_soft_threshold,
    owl,
    owl_weights,
    project_linf,
    prox_owl_vector,
    soft_threshold,
    svt,
)
from dynmri.optim.wavelets import Wavelet


def _pywt_mallat(x: np.ndarray, name: str, levels: int) -> np.ndarray:
    import pywt

    c = pywt.wavedec2(x, name, mode="periodization", level=levels, axes=(-2, -1))
    return pywt.coeffs_to_array(c, axes=(-2, -1))[0]


@pytest.mark.parametrize("name", ["haar", "db4", "sym8"])
@pytest.mark.parametrize("shape", [(3, 32, 64), (2, 256, 512)])
def test_orthogonal_wavelet_matches_pywavelets(name, shape):
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    W = Wavelet(name, levels=2)
    c = W(x)
    np.testing.assert_allclose(c.numpy(), _pywt_mallat(x.numpy(), name, 2), atol=1e-12)
    assert torch.allclose(Wavelet(name, levels=2).adjoint(c), x, atol=1e-10)  # a fresh instance
    assert torch.allclose(W.adjoint(c), x, atol=1e-10)  # orthogonal: adjoint = inverse
    assert torch.allclose(c.norm(), x.norm())


@pytest.mark.parametrize("undecimated", [False, True])
def test_wavelet_adjoint_and_frame(undecimated):
    g = torch.Generator().manual_seed(1)
    W = Wavelet("sym8", levels=3, undecimated=undecimated)
    x = torch.randn(1, 2, 3, 32, 32, dtype=torch.float64, generator=g)
    c = W(x)
    y = torch.randn(c.shape, dtype=torch.float64, generator=g)
    assert abs(torch.sum(c * y) - torch.sum(x * W.adjoint(y))) < 1e-9 * float(c.norm() * y.norm())
    assert torch.allclose(W.adjoint(c), x, atol=1e-10)  # Parseval frame: left inverse
    assert c.shape == ((1, 2, 3, 32, 32) if not undecimated else (1, 2, 3, 10, 32, 32))
    assert int(W.coarse_mask(x.shape).sum()) == (16 if not undecimated else 1)
    labels = W.band_index(x.shape)
    assert labels.max() == 9 and (labels == 0).sum() == (16 if not undecimated else 32 * 32)


def test_wavelet_float32_and_errors():
    x = torch.randn(2, 64, 64)
    W = Wavelet("db4", 2)
    assert W(x).dtype == torch.float32
    assert torch.allclose(W.adjoint(W(x)), x, atol=1e-5)
    with pytest.raises(ShapeError, match="divisible"):
        Wavelet("sym8", 4)(torch.randn(1, 40, 40))
    with pytest.raises(ParameterError, match="unknown wavelet"):
        Wavelet("nope")
    with pytest.raises(ParameterError, match="not orthogonal"):
        Wavelet("bior2.2")
    with pytest.raises(ParameterError):
        Wavelet("haar", levels=0)


def _brute_prox(f, v, grid):
    """argmin_z f(z) + 0.5 (z - v)^2 by exhaustive search (1D)."""
    vals = [f(z) + 0.5 * (z - v) ** 2 for z in grid]
    return grid[int(np.argmin(vals))]


def test_soft_threshold_closed_form_and_brute_force():
    c = torch.tensor([3.0, -1.0, 0.2, 0.0]).view(1, 1, 4)
    c = torch.cat((c, torch.zeros_like(c)), dim=1)  # real numbers
    out = soft_threshold(c, 0.5)[0, 0]
    assert torch.allclose(out, torch.tensor([2.5, -0.5, 0.0, 0.0]))
    grid = np.linspace(-4, 4, 80001)
    for v in [3.0, -1.0, 0.2]:
        assert out.new_tensor(_brute_prox(lambda z: 0.5 * abs(z), v, grid)) == pytest.approx(soft_threshold(torch.tensor([[[v]], [[0.0]]]).view(1, 2, 1), 0.5)[0, 0, 0].item(), abs=1e-3)
    keep = torch.tensor([True, False, False, False]).view(1, 1, 4)
    assert soft_threshold(c, 0.5, keep)[0, 0, 0] == 3.0
    with pytest.raises(ParameterError):
        soft_threshold(c, -1.0)


def test_group_lasso_reduces_to_l1_and_to_l2_group():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(2, 2, 1, 5, generator=g)  # one coil
    assert torch.allclose(group_soft_threshold(c, 0.3, group_dim=2), soft_threshold(c, 0.3))
    c = torch.randn(1, 2, 4, 6, generator=g)  # 4 coils: shrink each column's norm by 0.3
    out = group_soft_threshold(c, 0.3, group_dim=2)
    n_in, n_out = c.pow(2).sum((1, 2)).sqrt(), out.pow(2).sum((1, 2)).sqrt()
    assert torch.allclose(n_out, torch.clamp(n_in - 0.3, min=0), atol=1e-6)


def test_owl_reduces_to_l1_and_matches_brute_force():
    v = np.array([3.0, 0.4, 1.2, 2.0])
    assert np.allclose(prox_owl_vector(v, np.full(4, 0.5)), np.clip(v - 0.5, 0, None))
    w = owl_weights(4, 1.0, beta=1.0)
    assert np.all(np.diff(w) <= 0) and w[-1] == 1.0
    # brute force on a 2-vector: OWL(z) = w1 max|z| + w2 min|z|
    v2, w2 = np.array([1.0, 0.9]), np.array([0.8, 0.1])
    grid = np.linspace(0, 1.5, 601)
    Z1, Z2 = np.meshgrid(grid, grid, indexing="ij")
    obj = w2[0] * np.maximum(Z1, Z2) + w2[1] * np.minimum(Z1, Z2) + 0.5 * ((Z1 - v2[0]) ** 2 + (Z2 - v2[1]) ** 2)
    i, j = np.unravel_index(np.argmin(obj), obj.shape)
    assert np.allclose(prox_owl_vector(v2, w2), [grid[i], grid[j]], atol=5e-3)
    c = torch.randn(1, 2, 3, 8, generator=torch.Generator().manual_seed(2))
    labels = torch.zeros(8, dtype=torch.long)
    assert torch.allclose(owl(c, 0.2, labels, beta=0.0), soft_threshold(c, 0.2), atol=1e-6)


def test_linf_projection_is_moreau_complement_of_soft_threshold():
    u = torch.randn(2, 2, 7, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(project_linf(u, 0.4) + soft_threshold(u, 0.4), u, atol=1e-6)


def test_svt_shrinks_singular_values():
    x = torch.randn(1, 2, 5, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    z = torch.complex(x[:, 0], x[:, 1]).reshape(1, 5, 16)
    s = torch.linalg.svdvals(z)
    out = svt(x, 0.5)
    s_out = torch.linalg.svdvals(torch.complex(out[:, 0], out[:, 1]).reshape(1, 5, 16))
    assert torch.allclose(s_out, torch.clamp(s - 0.5, min=0), atol=1e-10)


def test_group_and_owl_norms():
    from dynmri.optim.prox import group_norm, owl_norm

    c = torch.zeros(1, 2, 2, 3)
    c[0, 0, 0] = torch.tensor([3.0, 0.0, 1.0])
    c[0, 1, 1] = torch.tensor([4.0, 2.0, 0.0])
    assert group_norm(c, 2) == pytest.approx(5.0 + 2.0 + 1.0)
    labels = torch.zeros(3, dtype=torch.long)
    # magnitudes per position over the 2 coils: |c| over real/imag, then OWL across coils and positions
    mags = np.sort(np.sqrt((c.numpy() ** 2).sum(1)).ravel())[::-1]
    assert owl_norm(c, 1.0, labels, beta=0.0) == pytest.approx(mags.sum(), rel=1e-6)
    w = owl_weights(mags.size, 1.0, beta=1.0)
    assert owl_norm(c, 1.0, labels, beta=1.0) == pytest.approx(float(np.dot(w, mags)), rel=1e-6)

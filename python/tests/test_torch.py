"""The PyTorch probes, where torch is installed (skipped with a message elsewhere: the package
never depends on torch)."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch probes (gan_early_stopping.torch_probes) are not tested here")

from gan_early_stopping import EarlyStopping, mode_quantile  # noqa: E402
from gan_early_stopping.torch_probes import Steepness, disc_grad_norms, exact_steepness  # noqa: E402


def test_disc_grad_norms_of_a_linear_discriminator_in_closed_form():
    torch.manual_seed(0)
    G = torch.nn.Linear(2, 3)
    D = torch.nn.Linear(3, 1)
    x = G(torch.randn(5, 2))
    logits = D(x)
    got = disc_grad_norms(x, logits)
    # log sigmoid(w.x + b) has gradient (1 - sigmoid(l)) w
    want = (1 - torch.sigmoid(logits.squeeze(1))).detach().numpy() * D.weight.norm().item()
    assert np.allclose(got, want, rtol=1e-5)
    # The generator step's graph is still usable and no parameter gradient was accumulated.
    assert G.weight.grad is None and D.weight.grad is None
    torch.nn.functional.softplus(-logits).mean().backward()
    assert torch.isfinite(G.weight.grad).all()
    with pytest.raises(ValueError, match="autograd graph"):
        disc_grad_norms(x.detach(), logits)
    with pytest.raises(ValueError, match=r"shape \(5,\) or \(5, 1\)"):
        disc_grad_norms(x, logits[:3])


def test_probe_does_not_change_the_generator_gradient():
    torch.manual_seed(1)
    G = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    D = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    z = torch.randn(8, 2)
    grads = []
    for probe in (False, True):
        G.zero_grad()
        x = G(z)
        logits = D(x)
        if probe:
            disc_grad_norms(x, logits)
        torch.nn.functional.softplus(-logits).mean().backward()
        grads.append([p.grad.clone() for p in G.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_steepness_matches_the_exact_spectral_norm():
    torch.manual_seed(2)
    G = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 5)).double()
    z = torch.randn(6, 3, dtype=torch.float64)
    exact = exact_steepness(G, z)
    s = Steepness(G, z, iters=50)
    assert np.allclose(s(), exact, rtol=1e-6)
    # A linear generator: the steepness is ||A||_2 at every latent.
    A = torch.nn.Linear(4, 7, bias=False).double()
    s = Steepness(A, torch.randn(3, 4, dtype=torch.float64), iters=100)()
    assert np.allclose(s, torch.linalg.matrix_norm(A.weight, ord=2).item(), rtol=1e-8)


def test_steepness_warm_start_improves_across_calls_and_keeps_the_mode():
    torch.manual_seed(3)
    G = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(), torch.nn.Linear(32, 6)).double()
    G.train()
    G(torch.randn(64, 4, dtype=torch.float64))  # some running statistics
    running = G[1].running_mean.clone()
    z = torch.randn(5, 4, dtype=torch.float64)
    exact = exact_steepness(G, z)
    s = Steepness(G, z, iters=1)
    errs = [np.abs(s() - exact).max() for _ in range(30)]
    assert errs[-1] < 1e-6 * exact.max() and errs[-1] <= errs[0]
    assert G.training and torch.equal(G[1].running_mean, running), "mode and BatchNorm statistics restored"
    assert np.all(s() <= exact * (1 + 1e-9)), "power iteration never overshoots the largest singular value"


def test_algorithm_2_in_a_torch_loop_stops_on_a_steepness_drop():
    # The loop of the module docstring on a linear generator whose weights are scaled by 0.4 at
    # epoch 8: S drops by 60% < k_g = 50%, so Algorithm 2 fires there; best checkpoint: epoch 7.
    torch.manual_seed(4)
    G = torch.nn.Linear(2, 2, bias=False)
    D = torch.nn.Linear(2, 1)
    stop = EarlyStopping(k_d=2.0, sigma=0.1, k_g=-0.5, modes=2, warmup=3)
    steep = Steepness(G, torch.randn(4, 2), iters=20)
    for epoch in range(1, 20):
        if epoch == 8:
            with torch.no_grad():
                G.weight.mul_(0.4)
        x = G(torch.randn(16, 2))
        q = mode_quantile(disc_grad_norms(x, D(x)), 2)
        if stop.observe(q, steep().mean()).fires:
            break
        stop.register_checkpoint(epoch)
    e = stop.fired
    assert (e.t, e.reason, e.best_checkpoint.at) == (8, "steepness_drop", 7)
    assert abs(e.delta_s + 0.6) < 1e-4


def test_the_example_runs(tmp_path):
    example = pathlib.Path(__file__).resolve().parents[1] / "examples" / "torch_gmm.py"
    out = subprocess.run([sys.executable, str(example), "--epochs", "3"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "3 epochs in" in out.stdout and "did not fire" in out.stdout

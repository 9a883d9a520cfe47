"""The two probes of Algorithm 2 for PyTorch GANs (optional: needs torch; the rest of the package
does not).

- :func:`disc_grad_norms`: per-sample ||grad_x log d(x)|| = ||grad d(x) / d(x)|| (Section 2.2) at
  the generated samples of the generator step, from that step's own graph (``retain_graph``, so
  the generator loss still backpropagates; parameter ``.grad`` is not touched). Its (1 - 1/m)
  quantile is q_d (Algorithm 2 line 3): :func:`gan_early_stopping.mode_quantile`.
- :class:`Steepness`: S_g(z) = ||J_g(z)||_2 (Definition 2.1) on a few fixed latents by power
  iteration on J^T J, warm-started from the previous call's right singular vectors. J v comes
  from the double-backward identity J v = d/dw <J^T w, v> (exact, no finite differences), J^T u
  from one backward pass. The generator runs in eval mode for it (BatchNorm reads its running
  statistics, dropout is off) and its mode is restored afterwards.

Algorithm 2 in an ordinary PyTorch loop (G: latent -> sample, D: sample -> logit)::

    from gan_early_stopping import EarlyStopping, mode_quantile
    from gan_early_stopping.torch_probes import disc_grad_norms, Steepness
    stop, steep = EarlyStopping(k_d=2.0, sigma=0.0125**0.5, modes=8, warmup=50), Steepness(G, torch.randn(16, nz))
    for epoch in range(1, epochs + 1):
        q = []
        for real in loader:
            ...                                               # discriminator step as usual
            x = G(torch.randn(len(real), nz)); logits = D(x)  # generator step
            q.append(mode_quantile(disc_grad_norms(x, logits), 8))
            opt_g.zero_grad(); F.softplus(-logits).mean().backward(); opt_g.step()
        if stop.observe(sum(q) / len(q), steep().mean()).fires: break   # stop.fired says why
        torch.save(G.state_dict(), f"G_{epoch}.pt"); stop.register_checkpoint(epoch)

then reload ``stop.fired.best_checkpoint.at``. ``examples/torch_gmm.py`` is this loop on the
paper's 3-D mixture.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["disc_grad_norms", "Steepness", "exact_steepness"]


def disc_grad_norms(x_fake: torch.Tensor, d_logits: torch.Tensor) -> np.ndarray:
    """||grad_x log d(x_i)||_2 for each generated sample x_i, as a float64 numpy array (batch,).

    x_fake: the generator's output G(z) in the generator step (part of the autograd graph);
    d_logits: the discriminator's logits at x_fake, shape (batch,) or (batch, 1), d = sigmoid(logit).
    log d = logsigmoid(logit) is stable. The graph is retained for the step's own backward; no
    parameter gradient is accumulated. With a BatchNorm discriminator in train mode this is the
    batch-coupled field, the one the generator step receives.
    """
    if not x_fake.requires_grad:
        raise ValueError("`x_fake` must be part of the autograd graph (the generator's output, requires_grad=True)")
    if d_logits.shape[0] != x_fake.shape[0] or d_logits.numel() != x_fake.shape[0]:
        raise ValueError(f"`d_logits` must have shape ({x_fake.shape[0]},) or ({x_fake.shape[0]}, 1); got {tuple(d_logits.shape)}")
    (g,) = torch.autograd.grad(F.logsigmoid(d_logits).sum(), x_fake, retain_graph=True)
    return g.detach().flatten(1).norm(dim=1).double().cpu().numpy()


class Steepness:
    """Warm-started power iteration for ||J_g(z_i)||_2 on fixed latents z_i.

    generator: a module mapping latents (k, ...) to samples (k, ...), samples independent of
    each other in eval mode; latents: the fixed latents (k, ...), e.g. ``torch.randn(16, nz)``;
    iters: power-iteration steps per call (the warm start carries the vector across calls, so a
    few suffice once training moves slowly). Calling it returns the per-latent steepness as a
    float64 numpy array (k,); take ``.mean()`` for Algorithm 2's S.
    """

    def __init__(self, generator: torch.nn.Module, latents: torch.Tensor, iters: int = 3, seed: int = 0):
        if iters < 1:
            raise ValueError(f"`iters` must be >= 1, got {iters}")
        self.generator = generator
        self.latents = latents.detach()
        self.iters = iters
        gen = torch.Generator(device="cpu").manual_seed(seed)
        v = torch.randn(self.latents.shape, generator=gen, dtype=self.latents.dtype).to(self.latents.device)
        self.v = _unit_rows(v)

    def __call__(self) -> np.ndarray:
        g = self.generator
        was_training = g.training
        g.eval()
        try:
            with torch.enable_grad():
                z = self.latents.clone().requires_grad_(True)
                y = g(z)
                w = torch.zeros_like(y, requires_grad=True)
                (jt_w,) = torch.autograd.grad(y, z, grad_outputs=w, create_graph=True)  # J^T w, linear in w

                def jv(v):
                    (out,) = torch.autograd.grad(jt_w, w, grad_outputs=v, retain_graph=True)
                    return out

                v = self.v
                for _ in range(self.iters):
                    u = jv(v)
                    (jtu,) = torch.autograd.grad(y, z, grad_outputs=u, retain_graph=True)
                    v = _unit_rows(jtu)
                s = jv(v).flatten(1).norm(dim=1)
        finally:
            g.train(was_training)
        self.v = v.detach()
        return s.detach().double().cpu().numpy()


def exact_steepness(generator: torch.nn.Module, latents: torch.Tensor) -> np.ndarray:
    """||J_g(z_i)||_2 from the full Jacobian of each latent (eval mode; for small models and
    tests)."""
    was_training = generator.training
    generator.eval()
    try:
        out = []
        for z in latents.detach():
            j = torch.autograd.functional.jacobian(lambda t: generator(t.unsqueeze(0)).flatten(), z)
            out.append(torch.linalg.matrix_norm(j.reshape(j.shape[0], -1).double(), ord=2).item())
    finally:
        generator.train(was_training)
    return np.asarray(out)


def _unit_rows(v: torch.Tensor) -> torch.Tensor:
    n = v.flatten(1).norm(dim=1).clamp_min(1e-30)
    return v / n.view(-1, *([1] * (v.dim() - 1)))

"""Algorithm 2 inside an ordinary PyTorch loop, on the paper's 3-D Gaussian mixture (Appendix F.2:
8 modes at {+-1}^3, sigma^2 = 0.0125, k_d = 2, k_g = -0.5, N_w = 50), with the settings of this
project's burn runs (experiments/configs/gmm.yaml: 1024 points, batch 64, SGD lr 0.03, MLPs
128x3). Per epoch: q_d (mean over batches of the per-batch 7/8 quantile of ||grad_x log d||), S
(mean power-iteration steepness on 16 fixed latents), and the modes covered by 2000 samples (a
mode counts when >= 1/4 of its share of the samples lies within 3 sigma of it). A checkpoint is
registered every 10 epochs, scored by modes covered + high-quality rate.

    python examples/torch_gmm.py [--epochs 600] [--seed 1] [--keep-going]
"""

import argparse
import itertools
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_early_stopping import EarlyStopping, mode_quantile
from gan_early_stopping.torch_probes import Steepness, disc_grad_norms


def mlp(i, o, hidden=128, depth=3):
    layers, d = [], i
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, o))


def quality(G, means, sigma, n=2000, share=0.25):
    with torch.no_grad():
        x = G(torch.randn(n, 3))
    d = torch.cdist(x, means)
    near, idx = d.min(dim=1)
    hq = near < 3 * sigma
    counts = torch.bincount(idx[hq], minlength=len(means))
    return int((counts >= share * n / len(means)).sum()), hq.float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-going", action="store_true", help="train on after the stop, to see what follows")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    means = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=3)))
    sigma = 0.0125 ** 0.5
    data = means[torch.randint(0, 8, (1024,))] + sigma * torch.randn(1024, 3)
    G, D = mlp(3, 3), mlp(3, 1)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.03), torch.optim.SGD(D.parameters(), lr=0.03)

    stop = EarlyStopping(k_d=2.0, sigma=sigma, k_g=-0.5, modes=8, warmup=50, granularity="epoch")
    steep = Steepness(G, torch.randn(16, 3))
    m, hq = quality(G, means, sigma)
    stop.register_checkpoint(0, m + hq)
    t0 = time.time()
    print("epoch  q_d     S       modes  hq")
    for epoch in range(1, a.epochs + 1):
        q = []
        for real in data[torch.randperm(1024)].split(64):
            z = torch.randn(len(real), 3)
            fake = G(z).detach()
            loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            x = G(torch.randn(len(real), 3))
            logits = D(x)
            q.append(mode_quantile(disc_grad_norms(x, logits), 8))  # Algorithm 2 line 3
            opt_g.zero_grad()
            F.softplus(-logits).mean().backward()  # NS generator loss -log d(G(z))
            opt_g.step()
        s = steep().mean()
        decision = stop.observe(float(np.mean(q)), float(s))
        m, hq = quality(G, means, sigma)
        if epoch % 25 == 0 or decision.fires and stop.fired.t == epoch:
            print(f"{epoch:5d}  {np.mean(q):.3f}  {s:.4f}  {m}      {hq:.3f}")
        if decision.fires and stop.fired.t == epoch:
            print(f"Algorithm 2: {stop.fired}; modes covered now {m}")
            if not a.keep_going:
                break
        if epoch % 10 == 0 and stop.fired is None:
            stop.register_checkpoint(epoch, m + hq)
    print(f"{epoch} epochs in {time.time() - t0:.0f} s; modes covered at the end: {m}, high-quality rate {hq:.3f}")
    if stop.fired is None:
        print("Algorithm 2 did not fire")


if __name__ == "__main__":
    main()

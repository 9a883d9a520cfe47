#!/usr/bin/env python3
"""PyTorch reference of the plain NSGAN training step, timed for `experiments bench train`.
Not part of CI; needs torch (and numpy, which torch imports): pip install torch numpy

  train_reference.py serve [--threads 2]
      builds models on demand and answers one line per request on stdin:
        "<case> <device> <steps>"  ->  "<seconds per step>"   (after building the case's model
                                        and one warm-up step the first time it is named)
        "info <case> <device>"     ->  "<generator params> <discriminator params>"
        "quit"
      Cases: dcgan28, dcgan32, dcgan64 (DCGAN, 1 channel, base width 16, 32, 64) and mlp
      (mixture MLP 3-128-128-128, 3-D). Devices: cpu, cuda.
      The first line printed is "ready torch=<version> threads=<n>", or "error <message>".

  train_reference.py once --case dcgan28 [--steps 5]
      times one case and prints the seconds per step (for a quick look by hand).

Every model mirrors this workspace's exactly (crates/models/src/{dcgan,mlp,gan}.rs):
- DCGAN generator: ConvTranspose2d(100, w0, start) without bias, BatchNorm, ReLU; then stride-2
  ConvTranspose2d(4, padding 1) layers, BatchNorm + ReLU after all but the last, which has a
  bias and is followed by tanh. Widths f*2^(k-1), ..., f, channels; start 7 (28 px) or 4.
- DCGAN discriminator: stride-2 Conv2d(4, padding 1) layers with LeakyReLU(0.2), a bias on the
  first only and BatchNorm after the others; then Conv2d(w_last, 1, start) with a bias.
- Mixture MLP: generator 3-128-128-128-3 with ReLU, discriminator 3-128-128-128-1 with
  LeakyReLU(0.2); plain SGD.
- One step (models::gan::Gan::step_with(.., probe = false)): x = G(z) once; the discriminator
  step on (real, x.detach()) with loss -mean log sigmoid(D(real)) - mean log sigmoid(-D(fake))
  (the BatchNorm discriminator sees the two batches separately, the MLP one concatenated);
  then the generator step -mean log sigmoid(D(x)) through the updated discriminator with its
  parameters frozen (no parameter gradients computed for it); both loss values read back to
  the host. Adam(2e-4, betas (0.5, 0.999), eps 1e-8) for the DCGAN, SGD(0.03) for the MLP;
  batch 64 throughout. The batches are drawn once before timing and cycled, as on the Rust side.
"""
import argparse, sys, time

CASES = {
    # name: (kind, image size, base width)
    "dcgan28": ("dcgan", 28, 16),
    "dcgan32": ("dcgan", 32, 32),
    "dcgan64": ("dcgan", 64, 64),
    "mlp": ("mlp", None, None),
}
BATCH, LATENT, CHANNELS, MIX_DIM = 64, 100, 1, 3


def build(torch, case, device):
    nn = torch.nn
    kind, size, f = CASES[case]
    if kind == "mlp":
        def stack(sizes, act):
            layers = []
            for i in range(len(sizes) - 1):
                layers.append(nn.Linear(sizes[i], sizes[i + 1]))
                if i + 2 < len(sizes):
                    layers.append(act())
            return nn.Sequential(*layers)
        g = stack([MIX_DIM, 128, 128, 128, MIX_DIM], nn.ReLU)
        d = stack([MIX_DIM, 128, 128, 128, 1], lambda: nn.LeakyReLU(0.2))
        opt = lambda p: torch.optim.SGD(p, lr=0.03)
        real_dim, coupled = MIX_DIM, False
        latent = MIX_DIM
    else:
        start, n = {64: (4, 4), 32: (4, 3), 28: (7, 2)}[size]
        widths = [f << k for k in reversed(range(n))]
        gl = [nn.ConvTranspose2d(LATENT, widths[0], start, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
        for k in range(n):
            last = k + 1 == n
            c_out = CHANNELS if last else widths[k + 1]
            gl.append(nn.ConvTranspose2d(widths[k], c_out, 4, 2, 1, bias=last))
            gl += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.ReLU()]
        g = nn.Sequential(*gl)
        dw = [f << k for k in range(n)]
        dl = []
        for k in range(n):
            c_in = CHANNELS if k == 0 else dw[k - 1]
            dl.append(nn.Conv2d(c_in, dw[k], 4, 2, 1, bias=k == 0))
            if k > 0:
                dl.append(nn.BatchNorm2d(dw[k]))
            dl.append(nn.LeakyReLU(0.2))
        dl.append(nn.Conv2d(dw[-1], 1, start))
        d = nn.Sequential(*dl)
        for m in list(g.modules()) + list(d.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        opt = lambda p: torch.optim.Adam(p, lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
        real_dim, coupled = CHANNELS * size * size, True
        latent = LATENT
    g, d = g.to(device).train(), d.to(device).train()
    og, od = opt(g.parameters()), opt(d.parameters())
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(BATCH, real_dim, generator=gen).to(device),
                torch.randn(BATCH, latent, generator=gen).to(device)) for _ in range(4)]
    logsig = torch.nn.functional.logsigmoid
    shape = (BATCH, latent) if kind == "mlp" else (BATCH, latent, 1, 1)
    img = (lambda t: t) if kind == "mlp" else (lambda t: t.view(BATCH, CHANNELS, size, size))
    flat = (lambda t: t) if kind == "mlp" else (lambda t: t.reshape(BATCH, -1))

    def logits(x):
        return d(img(x)).reshape(-1)

    state = {"i": 0}

    def step():
        real, z = batches[state["i"] % len(batches)]
        state["i"] += 1
        x = flat(g(z.view(shape)))
        # discriminator step
        fake = x.detach()
        if coupled:
            lr_, lf = logits(real), logits(fake)
        else:
            l = logits(torch.cat([real, fake], 0))
            lr_, lf = l[:BATCH], l[BATCH:]
        loss_d = -(logsig(lr_).mean() + logsig(-lf).mean())
        od.zero_grad(set_to_none=True)
        loss_d.backward()
        od.step()
        vd = loss_d.item()
        # generator step through the updated, frozen discriminator
        for p in d.parameters():
            p.requires_grad_(False)
        loss_g = -logsig(logits(x)).mean()
        og.zero_grad(set_to_none=True)
        loss_g.backward()
        og.step()
        for p in d.parameters():
            p.requires_grad_(True)
        return vd, loss_g.item()

    # burn's num_params counts BatchNorm's running mean and variance too (they are module state
    # there, buffers here): count them the same way so that equal layouts give equal numbers.
    count = lambda m: sum(p.numel() for p in m.parameters()) + sum(
        b.numel() for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var")))
    return step, (count(g), count(d))


def sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_steps(torch, step, device, steps):
    sync(torch, device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(torch, device)
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--threads", type=int, default=2)
    o = sub.add_parser("once")
    o.add_argument("--case", choices=sorted(CASES), default="dcgan28")
    o.add_argument("--device", default="cpu")
    o.add_argument("--steps", type=int, default=5)
    o.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"error PyTorch is not importable by {sys.executable} ({e}); install it with "
              f"`{sys.executable} -m pip install torch numpy` (or into a venv: python3 -m venv venv && "
              f"venv/bin/pip install torch numpy, then pass --python venv/bin/python)", flush=True)
        return 0 if args.cmd == "serve" else 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.cmd == "once":
        step, _ = build(torch, args.case, args.device)
        step()
        print(time_steps(torch, step, args.device, args.steps))
        return 0
    print(f"ready torch={torch.__version__} threads={torch.get_num_threads()}", flush=True)
    models = {}

    def get(case, device):
        if (case, device) not in models:
            if case not in CASES:
                raise ValueError(f"unknown case {case}")
            if device == "cuda" and not torch.cuda.is_available():
                raise ValueError("this PyTorch sees no CUDA device")
            step, counts = build(torch, case, device)
            step()  # warm-up: allocator, kernels, thread pool
            sync(torch, device)
            models[(case, device)] = (step, counts)
        return models[(case, device)]

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "quit":
                break
            if parts[0] == "info":
                _, counts = get(parts[1], parts[2])
                print(f"{counts[0]} {counts[1]}", flush=True)
                continue
            case, device, steps = parts[0], parts[1], int(parts[2])
            step, _ = get(case, device)
            print(repr(time_steps(torch, step, device, steps)), flush=True)
        except Exception as e:  # one line back, the caller decides
            print(f"error {type(e).__name__}: {e}".replace("\n", " "), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

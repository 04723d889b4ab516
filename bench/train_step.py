"""Training-step cost of every mixing method relative to ERM, measured in one run.

For each method: the median wall time of a full training step (mixing loss, backward,
SGD step) on the same model and batch, divided by ERM's; and the method's work in
forward/backward passes relative to ERM, counted in FLOPs with torch's FlopCounterMode.
Methods are timed round-robin, and each method's time is divided by the ERM step of the
same round before the median over rounds is taken, so that machine noise hits all of them
alike.

Goals (issue 2): mixup ≤ 1.05, manifold ≤ 1.10, flow and flow-consistency ≤ 1.1 × their
pass count.

    python bench/train_step.py [--model preact-resnet32] [--batch-size 128] [--size 28] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mixdiag.mixing import MixRandom, as_targets, create_method, criterion_for, list_methods
from mixdiag.models import create_model

GOALS = {"mixup": 1.05, "manifold": 1.10}


def make_step(model, method, x, targets, rnd):
    criterion = criterion_for(False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss = method.loss(model, x, targets, criterion, rnd)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def flops_of(step) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="preact-resnet32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=28, help="input height and width (28: Fashion-MNIST)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, args.channels, args.size, args.size, generator=g)
    targets = as_targets(torch.randint(0, 10, (args.batch_size,), generator=g), 10)
    methods = list_methods()
    steps, flops = {}, {}
    for name in methods:
        model = create_model(args.model, in_channels=args.channels, num_classes=10, input_size=(args.size, args.size))
        steps[name] = make_step(model, create_method(name), x, targets, MixRandom(0))
        flops[name] = flops_of(steps[name])
        steps[name]()  # warm-up
    times = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name in methods:
            t0 = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t0)

    base_t, base_f = statistics.median(times["erm"]), flops["erm"]
    # The ratio within each round, then its median: a slow stretch of a shared machine hits
    # a method and the ERM step next to it alike, and drops out of their ratio.
    ratios = {name: statistics.median(t / e for t, e in zip(times[name], times["erm"])) for name in methods}
    print(f"model {args.model}, batch {args.batch_size}x{args.channels}x{args.size}x{args.size}, "
          f"{args.rounds} rounds, torch threads {torch.get_num_threads()}; ERM step {base_t * 1e3:.1f} ms")
    print(f"{'method':<18}{'time/ERM':>10}{'passes/ERM':>12}{'time/passes':>13}  goal")
    for name in methods:
        t_ratio, f_ratio = ratios[name], flops[name] / base_f
        if name in GOALS:
            goal, ok = f"time/ERM <= {GOALS[name]:.2f}", t_ratio <= GOALS[name]
        elif name == "erm":
            goal, ok = "-", True
        else:
            goal, ok = "time/passes <= 1.10", t_ratio / f_ratio <= 1.10
        print(f"{name:<18}{t_ratio:>10.3f}{f_ratio:>12.3f}{t_ratio / f_ratio:>13.3f}  {goal}{'' if name == 'erm' else ('  met' if ok else '  MISSED')}")


if __name__ == "__main__":
    main()

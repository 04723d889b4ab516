"""Training-step cost of every mixing method relative to ERM, measured in one run.

For each method: the median wall time of a full training step (mixing loss, backward,
SGD step) on the same model and batch, divided by ERM's; and the method's work in
forward/backward passes relative to ERM, counted in FLOPs with torch's FlopCounterMode.
Methods are timed round-robin, and each method's time is divided by the ERM step of the
same round before the median over rounds is taken, so that machine noise hits all of them
alike.

Goals (issue 2): mixup ≤ 1.05, manifold ≤ 1.10, flow and flow-consistency ≤ 1.1 × their
pass count.

A second table (``--external``, default ``torchvision:resnet18`` when torchvision is
installed; ``none`` to skip) times the same methods on a network mixdiag did not write,
mixed through forward hooks (:mod:`mixdiag.models.mixable`), each again relative to ERM on
that network in the same rounds. There Flow-Mixup cannot share the prefix up to a mixing
point: each point costs a full forward pass (issue 13; docs/your_own_model.md).

    python bench/train_step.py [--model preact-resnet32] [--batch-size 128] [--size 28] [--rounds 30] [--external SPEC]
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


def timed(steps: dict, rounds: int) -> dict:
    """Wall times of every step, ``rounds`` times round-robin: ``{name: [seconds, ...]}``."""
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return times


def table(title: str, build, methods, x, targets, rounds: int, goals: bool) -> None:
    """Time and count every method on a fresh ``build()`` each, and print one row per method relative to ERM."""
    steps, flops = {}, {}
    for name in methods:
        steps[name] = make_step(build(), create_method(name), x, targets, MixRandom(0))
        flops[name] = flops_of(steps[name])
        steps[name]()  # warm-up
    times = timed(steps, rounds)
    # The ratio within each round, then its median: a slow stretch of a shared machine hits
    # a method and the ERM step next to it alike, and drops out of their ratio.
    ratios = {name: statistics.median(t / e for t, e in zip(times[name], times["erm"])) for name in methods}
    print(f"{title}; ERM step {statistics.median(times['erm']) * 1e3:.1f} ms")
    print(f"{'method':<18}{'time/ERM':>10}{'passes/ERM':>12}{'time/passes':>13}" + ("  goal" if goals else ""))
    for name in methods:
        t_ratio, f_ratio = ratios[name], flops[name] / flops["erm"]
        row = f"{name:<18}{t_ratio:>10.3f}{f_ratio:>12.3f}{t_ratio / f_ratio:>13.3f}"
        if goals and name != "erm":
            goal, ok = (f"time/ERM <= {GOALS[name]:.2f}", t_ratio <= GOALS[name]) if name in GOALS else \
                ("time/passes <= 1.10", t_ratio / f_ratio <= 1.10)
            row += f"  {goal}  {'met' if ok else 'MISSED'}"
        print(row)


def external_net(spec: str, channels: int, size: int):
    """``() -> HookedNet`` of ``spec`` at its found mixing points, or None when its package is missing."""
    from mixdiag.errors import MixdiagError
    from mixdiag.models.external import build_model
    from mixdiag.models.mixable import as_mixable, mixing_points

    try:
        build_model(spec, num_classes=10, in_channels=channels)
    except MixdiagError as exc:
        print(f"{spec}: skipped ({exc})")
        return None

    def build():
        net = build_model(spec, num_classes=10, in_channels=channels)
        return as_mixable(net, mixing_points(net, example=torch.zeros(1, channels, size, size)))

    return build


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="preact-resnet32")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=28, help="input height and width (28: Fashion-MNIST)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--external", default="torchvision:resnet18", help="a network mixed through hooks, or none")
    args = parser.parse_args()

    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, args.channels, args.size, args.size, generator=g)
    targets = as_targets(torch.randint(0, 10, (args.batch_size,), generator=g), 10)
    methods = list_methods()
    shape = (f"batch {args.batch_size}x{args.channels}x{args.size}x{args.size}, {args.rounds} rounds, "
             f"torch threads {torch.get_num_threads()}")

    def own():
        return create_model(args.model, in_channels=args.channels, num_classes=10, input_size=(args.size, args.size))

    table(f"model {args.model} (split forwards), {shape}", own, methods, x, targets, args.rounds, goals=True)
    build = None if args.external == "none" else external_net(args.external, args.channels, args.size)
    if build is not None:
        print()
        points = ", ".join(build().mixing_points)
        table(f"model {args.external} (forward hooks at {points}), {shape}", build, methods, x, targets, args.rounds, goals=False)


if __name__ == "__main__":
    main()

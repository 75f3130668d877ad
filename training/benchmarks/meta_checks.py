"""Checks of the meta-learning toolkit against results whose answers are known. Each
returns a dict of figures; the tests run them small, ``training/benchmarks/meta.py`` runs
them at full size and writes docs/meta-learning.md."""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from voiceadapt.meta import cactus, continual, leo, patches, protonets
from voiceadapt.meta.gradient import MAML, Reptile, evaluate
from voiceadapt.meta.leap import Leap, training_curve
from voiceadapt.meta.mole import MOLe
from voiceadapt.meta.tasks import Sinusoids, Task, cross_entropy, half_sse, mean_interval, mlp


def _timed(fn):
    def run(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        out["seconds"] = round(time.perf_counter() - start, 2)
        return out
    run.__name__ = fn.__name__
    return run


# -- MAML, first-order MAML, Reptile on sinusoids ---------------------------------------------
@_timed
def sinusoid(method: str, iterations: int, meta_batch: int = 10, eval_tasks: int = 600,
             outer_lr: float = 1e-3, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = mlp((1, 40, 40, 1))
    if method == "reptile":
        learner = Reptile(model, inner_lr=0.02, inner_steps=5, outer_lr=100 * outer_lr)
        lr = 0.02
    else:
        learner = MAML(model, inner_lr=0.01, first_order=method == "fomaml", outer_lr=outer_lr)
        lr = 0.01
    family = Sinusoids(seed=seed + 1)
    for _ in range(iterations):
        learner.meta_step(family.tasks(meta_batch))
    test = Sinusoids(seed=10_000 + seed).tasks(eval_tasks)
    out = {"method": method, "iterations": iterations, "meta_batch": meta_batch}
    for steps in (0, 1, 10):
        mean, half = mean_interval(evaluate(learner, test, steps, lr))
        out[f"mse_{steps}"], out[f"ci_{steps}"] = mean, half
    return out


# -- the k = 2 gradient identities (Nichol et al. 2018) on a quadratic -------------------------
def _quadratic_batches(dim: int, count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Minibatch i: rows B_i and targets B_i c_i, so L_i = 1/2 (phi - c_i)^T A_i (phi - c_i)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        b = torch.randn(dim + 2, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
        c = torch.randn(dim, generator=gen, dtype=torch.float64)
        out.append((b, b @ c))
    return out


@_timed
def k2_identities(dim: int = 5, count: int = 4, alphas: tuple[float, ...] = (0.02, 0.01, 0.005),
                  seed: int = 0) -> dict:
    """E[g_MAML] = AvgGrad - 2a AvgGradInner, E[g_FOMAML] = AvgGrad - a AvgGradInner,
    E[g_Reptile] = 2 AvgGrad - a AvgGradInner, each up to O(a^2): the residual must shrink
    four-fold when a halves. Expectations are exact: all ordered minibatch pairs."""
    batches = _quadratic_batches(dim, count, seed)
    model = nn.Linear(dim, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, dim, generator=torch.Generator().manual_seed(seed + 1),
                                       dtype=torch.float64))
    phi = model.weight.detach()[0]
    hess = [b.T @ b for b, _ in batches]
    grad0 = [h @ phi - b.T @ y for h, (b, y) in zip(hess, batches, strict=True)]
    avg_grad = torch.stack(grad0).mean(0)
    avg_inner = torch.stack([hess[j] @ grad0[i] for i in range(count)
                             for j in range(count)]).mean(0)
    out = {"alphas": list(alphas), "residual": {}}
    for a in alphas:
        got = {"maml": [], "fomaml": [], "reptile": []}
        for i in range(count):
            for j in range(count):
                (bi, yi), (bj, yj) = batches[i], batches[j]
                task = Task(bi, yi[:, None], bj, yj[:, None], half_sse)
                for name, first in (("maml", False), ("fomaml", True)):
                    g = MAML(model, inner_lr=a, first_order=first).meta_gradient(task)
                    got[name].append(g["weight"][0])
                both = Task(torch.cat([bi, bj]), torch.cat([yi, yj])[:, None], bj, yj[:, None],
                            half_sse)
                r = Reptile(model, inner_lr=a, inner_steps=2, minibatches=2).meta_gradient(both)
                got["reptile"].append(r["weight"][0])
        expected = {"maml": avg_grad - 2 * a * avg_inner, "fomaml": avg_grad - a * avg_inner,
                    "reptile": 2 * avg_grad - a * avg_inner}
        out["residual"][a] = {k: float((torch.stack(v).mean(0) - expected[k]).norm())
                              for k, v in got.items()}
    # the first-order term itself is not small, so the check is meaningful
    out["first_order_term_norm"] = float((alphas[0] * avg_inner).norm())
    return out


# -- ProtoNets ------------------------------------------------------------------------------
@_timed
def protonets_identity(distances: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0), shots: int = 500,
                       queries: int = 20_000, seed: int = 0) -> dict:
    """Identity encoder, two unit-variance Gaussian classes at distance d: accuracy ->
    Phi(d/2) (prototypes from many shots, so they sit on the means)."""
    rows = []
    for d in distances:
        family = protonets.GaussianClasses(d, dim=2, seed=seed)
        task = family.task(shots, queries)
        acc = protonets.ProtoNet(nn.Identity()).accuracy(task)
        expected = 0.5 * (1 + math.erf(d / 2 / math.sqrt(2)))
        half = 1.96 * math.sqrt(expected * (1 - expected) / (2 * queries))
        rows.append({"distance": d, "accuracy": acc, "phi_d_over_2": expected, "ci": half})
    return {"rows": rows}


class NoisyClasses:
    """N-way episodes where class means differ in ``signal`` dimensions and ``noise`` other
    dimensions carry large irrelevant variance: nearest-mean on raw inputs does badly; an
    encoder that learns to drop the noise does well."""

    def __init__(self, signal: int = 4, noise: int = 28, noise_std: float = 3.0,
                 seed: int = 0) -> None:
        self.signal, self.noise, self.noise_std = signal, noise, noise_std
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, means: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n = len(labels)
        sig = means[labels] + 0.5 * torch.randn(n, self.signal, generator=self.gen)
        return torch.cat([sig, self.noise_std * torch.randn(n, self.noise, generator=self.gen)], 1)

    def task(self, ways: int = 5, shots: int = 5, queries: int = 10) -> Task:
        means = torch.randn(ways, self.signal, generator=self.gen) * 1.5
        sy = torch.arange(ways).repeat_interleave(shots)
        qy = torch.arange(ways).repeat_interleave(queries)
        return Task(self.sample(means, sy), sy, self.sample(means, qy), qy, cross_entropy)


@_timed
def protonets_learned(iterations: int = 300, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    train, test = NoisyClasses(seed=seed), NoisyClasses(seed=seed + 99)
    encoder = nn.Linear(32, 16)
    learner = protonets.ProtoNet(encoder, lr=1e-2)
    tasks = [test.task() for _ in range(300)]
    before = protonets.ProtoNet(nn.Identity())
    raw = sum(before.accuracy(t) for t in tasks) / len(tasks)
    for _ in range(iterations):
        learner.meta_step([train.task() for _ in range(8)])
    learned = sum(learner.accuracy(t) for t in tasks) / len(tasks)
    return {"identity_accuracy": raw, "learned_accuracy": learned, "iterations": iterations}


# -- LEO ------------------------------------------------------------------------------------
@_timed
def leo_inner_loop() -> dict:
    task = Task(torch.tensor([[4.0]]), torch.tensor([[0.0]]), torch.zeros(0, 1), torch.zeros(0, 1))
    path = []
    for steps in (1, 2, 3):
        out = leo.inner_loop(lambda x, y: (x[0, 0], torch.tensor(0.0)),
                             lambda z: (z, torch.tensor(0.0)),
                             lambda theta, x: theta ** 2 * x, lambda pred, y: pred.sum(), task,
                             leo.LEOConfig(inner_lr=0.1, inner_steps=steps), training=False)
        path.append(float(out["z"].detach()))
    return {"latents": path, "expected": [0.8, 0.16, 0.032]}


@_timed
def leo_vs_maml(iterations: int, shots: int = 5, meta_batch: int = 10, eval_tasks: int = 300,
                seed: int = 0) -> dict:
    """Sinusoids with few shots: LEO (latent inner loop) vs MAML (parameter inner loop),
    the same number of meta-iterations and inner steps."""
    torch.manual_seed(seed)
    family = Sinusoids(shots=shots, queries=20, seed=seed + 1)
    test = Sinusoids(shots=shots, queries=20, seed=20_000 + seed).tasks(eval_tasks)
    model = leo.LEORegressor(cfg=leo.LEOConfig(inner_lr=0.1, inner_steps=5))
    maml = MAML(mlp((1, 40, 40, 1)), inner_lr=0.01, inner_steps=5)
    for _ in range(iterations):
        batch = family.tasks(meta_batch)
        model.meta_step(batch)
        maml.meta_step(batch)
    leo_mse = torch.tensor([model.query_loss(t) for t in test])
    maml_mse = evaluate(maml, test, 5)
    (lm, lh), (mm, mh) = mean_interval(leo_mse), mean_interval(maml_mse)
    return {"shots": shots, "iterations": iterations, "leo_mse": lm, "leo_ci": lh,
            "maml_mse": mm, "maml_ci": mh}


# -- CACTUs ---------------------------------------------------------------------------------
def _mixture(classes: int, per_class: int, family: NoisyClasses,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    means = torch.randn(classes, family.signal, generator=gen) * 1.5
    labels = torch.arange(classes).repeat_interleave(per_class)
    return family.sample(means, labels), labels, means


@_timed
def cactus_check(iterations: int = 300, clusters: int = 40, partitions: int = 5,
                 eval_tasks: int = 300, seed: int = 0) -> dict:
    """Unlabeled data from 40 classes (noise dimensions dominate the variance; PCA keeps
    the class structure). ProtoNets meta-trained on CACTUs tasks vs a classifier trained from
    scratch on each held-out labelled 5-way 5-shot task (new classes)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    family = NoisyClasses(noise_std=1.0, seed=seed)
    x, truth, _ = _mixture(40, 60, family, gen)
    embedding = cactus.pca(x, 4)
    parts = cactus.partitions(embedding, clusters, partitions, min_size=10, seed=seed)
    purity = [cactus.purity(p.labels, truth) for p in parts]
    encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16))
    learner = protonets.ProtoNet(encoder, lr=1e-3)
    for i in range(iterations):
        part = parts[i % len(parts)]
        learner.meta_step([cactus.sample_task(x, part, 5, 5, 5, gen) for _ in range(8)])
    test_family = NoisyClasses(noise_std=1.0, seed=seed + 7)
    tasks = [test_family.task(5, 5, 15) for _ in range(eval_tasks)]
    meta_acc = sum(learner.accuracy(t) for t in tasks) / len(tasks)
    scratch = []
    for t in tasks:
        torch.manual_seed(len(scratch))
        model = mlp((32, 64, 5))
        fitted = patches.fit(model, t, None, steps=100, lr=1e-2)
        with torch.no_grad():
            scratch.append(float((fitted(t.query_x).argmax(1) == t.query_y).float().mean()))
    return {"purity": purity, "clusters_kept": [len(p.clusters) for p in parts],
            "cactus_protonets_accuracy": meta_acc,
            "scratch_accuracy": sum(scratch) / len(scratch), "iterations": iterations}


# -- Leap -----------------------------------------------------------------------------------
@_timed
def leap_check(iterations: int = 200, steps: int = 20, lr: float = 0.01, eval_tasks: int = 100,
               seed: int = 0) -> dict:
    """Training-loss area under the curve of SGD on held-out sinusoid tasks (50 points) from
    Leap's initialization, from a random one, and from joint pretraining on all tasks."""
    family = Sinusoids(shots=50, queries=1, seed=seed + 1)
    torch.manual_seed(seed)
    leap = Leap(mlp((1, 40, 40, 1)), inner_lr=lr, inner_steps=steps, outer_lr=1e-3)
    for _ in range(iterations):
        leap.meta_step(family.tasks(5))
    torch.manual_seed(seed)
    random_init = mlp((1, 40, 40, 1))
    torch.manual_seed(seed)
    joint = mlp((1, 40, 40, 1))
    opt = torch.optim.Adam(joint.parameters(), lr=1e-3)
    for _ in range(iterations * 5):
        t = family.task()
        opt.zero_grad()
        t.loss(joint(t.support_x), t.support_y).backward()
        opt.step()
    test = Sinusoids(shots=50, queries=1, seed=30_000 + seed).tasks(eval_tasks)
    out = {"iterations": iterations, "steps": steps}
    for name, model in (("leap", leap.model), ("random", random_init), ("joint", joint)):
        areas = torch.tensor([sum(training_curve(model, t, lr, steps)) / (steps + 1) for t in test])
        out[f"{name}_auc"], out[f"{name}_ci"] = mean_interval(areas)
    return out


# -- MER ------------------------------------------------------------------------------------
def _permuted_stream(tasks: int, per_task: int, test_per_task: int, dim: int, classes: int,
                     seed: int) -> tuple[list, list]:
    """Tasks share one set of Gaussian classes; task t permutes the input dimensions."""
    gen = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, dim, generator=gen) * 1.0
    perms = [torch.arange(dim)] + [torch.randperm(dim, generator=gen) for _ in range(tasks - 1)]
    train, test = [], []
    for perm in perms:
        def draw(n: int, perm: torch.Tensor = perm) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(classes, (n,), generator=gen)
            return (means[y] + 0.7 * torch.randn(n, dim, generator=gen))[:, perm], y
        train.append(draw(per_task))
        test.append(draw(test_per_task))
    return train, test


# each method's best on validation streams (seeds 100 and 101, not used below), from
# ER lr {0.03, 0.1} and MER (beta, gamma, lr) in {(0.1, 1, 0.03), (0.3, 1, 0.03),
# (1, 0.3, 0.03), (0.3, 0.3, 0.03), (0.1, 1, 0.1)}; SGD shares ER's learning rate
TUNED = {"sgd": {"lr": 0.1}, "er": {"lr": 0.1},
         "mer": {"lr": 0.03, "beta": 1.0, "gamma": 0.3}}


@_timed
def mer_check(tasks: int = 5, per_task: int = 200, memory: int = 100, seeds: int = 3) -> dict:
    """One pass over a stream of permuted tasks; accuracy on every task afterwards. The
    same memory for ER and MER; the same learning rate for all."""
    out: dict[str, list[float]] = {"sgd": [], "er": [], "mer": []}
    earlier: dict[str, list[float]] = {"sgd": [], "er": [], "mer": []}
    for seed in range(seeds):
        train, test = _permuted_stream(tasks, per_task, 500, 20, 5, seed)
        stream = [(x[i], y[i]) for x, y in train for i in range(len(y))]
        for method in out:
            torch.manual_seed(seed)
            model = mlp((20, 100, 5))
            learner = continual.ContinualLearner(model.parameters(),
                                                 continual.example_loss(model, cross_entropy),
                                                 method, memory=memory, batch=10, batches=5,
                                                 seed=seed, **TUNED[method])
            learner.fit_stream(stream)
            accs = [continual.accuracy(model, x, y) for x, y in test]
            out[method].append(sum(accs) / len(accs))
            earlier[method].append(sum(accs[:-1]) / (len(accs) - 1))
    return {"tasks": tasks, "per_task": per_task, "memory": memory, "seeds": seeds,
            **{f"{m}_all": sum(v) / len(v) for m, v in out.items()},
            **{f"{m}_earlier": sum(v) / len(v) for m, v in earlier.items()}}


# -- MOLe -----------------------------------------------------------------------------------
SEGMENTS = [(4.0, 0.5), (1.5, 2.5), (4.0, 0.5), (3.0, 1.5), (1.5, 2.5)]  # A B A C B


@_timed
def mole_check(prior_iterations: int = 1500, batches_per_segment: int = 20, steps: int = 5,
               alpha: float = 0.1,
               seed: int = 0) -> dict:
    """A stream of sinusoid segments A B A C B (10 points a batch). The prior is MAML's
    initialization for the family. MOLe vs one model updated continually from the same
    prior, each batch predicted before it is learned, by the model in use."""
    torch.manual_seed(seed)
    maml = MAML(mlp((1, 40, 40, 1)), inner_lr=0.01)
    family = Sinusoids(seed=seed + 5)
    for _ in range(prior_iterations):
        maml.meta_step(family.tasks(10))
    gen = torch.Generator().manual_seed(seed)
    stream = []
    for amp, phase in SEGMENTS:
        for _ in range(batches_per_segment):
            x = -5 + 10 * torch.rand(10, 1, generator=gen)
            stream.append((x, amp * torch.sin(x - phase)))
    import copy

    mole = MOLe(prior=maml.model, alpha=alpha, lr=0.01, steps=steps, noise=1.0)
    single = copy.deepcopy(maml.model)
    opt = torch.optim.SGD(single.parameters(), lr=0.01)
    mole_err, single_err = [], []
    for x, y in stream:
        mole_err.append(float((mole.predict(x) - y).pow(2).mean()))
        with torch.no_grad():
            single_err.append(float((single(x) - y).pow(2).mean()))
        mole.observe((x, y))
        for _ in range(steps):
            opt.zero_grad()
            (single(x) - y).pow(2).mean().backward()
            opt.step()
    n = batches_per_segment
    segments = [mole.assignments[i * n:(i + 1) * n] for i in range(len(SEGMENTS))]
    main = [max(set(s), key=s.count) for s in segments]
    recovery = slice(1, 6)  # batches 2-6 after each switch (the first is always a surprise)
    after = [i * n for i in range(1, len(SEGMENTS))]
    return {"components": len(mole.components), "segment_components": main,
            "mole_after_switch_mse": sum(sum(mole_err[a:a + 6][recovery]) / 5 for a in after)
            / len(after),
            "single_after_switch_mse": sum(sum(single_err[a:a + 6][recovery]) / 5 for a in after)
            / len(after),
            "mole_mse": sum(mole_err) / len(mole_err),
            "single_mse": sum(single_err) / len(single_err)}


# -- model patches --------------------------------------------------------------------------
class _Teacher:
    """Tasks share hidden features relu(W x); each task labels by its own linear head."""

    def __init__(self, dim: int = 20, hidden: int = 64, classes: int = 5, seed: int = 0) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.w = torch.randn(hidden, dim, generator=self.gen) / math.sqrt(dim)
        self.dim, self.hidden, self.classes = dim, hidden, classes

    def head(self) -> torch.Tensor:
        return torch.randn(self.classes, self.hidden, generator=self.gen)

    def data(self, head: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, self.dim, generator=self.gen)
        return x, (torch.relu(x @ self.w.T) @ head.T).argmax(1)


def _trunk(dim: int = 20, width: int = 160) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, width), nn.LayerNorm(width), nn.ReLU(),
                         nn.Linear(width, width), nn.LayerNorm(width), nn.ReLU())


@_timed
def patches_check(pretrain_steps: int = 1500, new_tasks: int = 10, shots: int = 200,
                  seed: int = 0) -> dict:
    """Pretrain a trunk on 20 tasks (one head each); on new tasks fit only the patch
    (LayerNorm scales/biases + a new head) vs fine-tuning everything."""
    import copy

    torch.manual_seed(seed)
    teacher = _Teacher(seed=seed)
    trunk = _trunk()
    heads = nn.ModuleList(nn.Linear(160, 5) for _ in range(20))
    task_heads = [teacher.head() for _ in range(20)]
    opt = torch.optim.Adam([*trunk.parameters(), *heads.parameters()], lr=1e-3)
    for step in range(pretrain_steps):
        i = step % 20
        x, y = teacher.data(task_heads[i], 64)
        opt.zero_grad()
        cross_entropy(heads[i](trunk(x)), y).backward()
        opt.step()
    rows = {"patch": [], "full": [], "head_only": []}
    share = 0.0
    for _ in range(new_tasks):
        head = teacher.head()
        sx, sy = teacher.data(head, shots)
        qx, qy = teacher.data(head, 2000)
        task = Task(sx, sy, qx, qy, cross_entropy)
        for name in rows:
            torch.manual_seed(seed)
            model = nn.Sequential(copy.deepcopy(trunk), nn.Linear(160, 5))
            names = {"patch": patches.patch_names(model, "1"), "full": None,
                     "head_only": ["1.weight", "1.bias"]}[name]
            if name == "patch":
                share = patches.patch_share(model, "1")
            patches.fit(model, task, names, steps=300, lr=1e-2)
            with torch.no_grad():
                rows[name].append(float((model(qx).argmax(1) == qy).float().mean()))
    return {"patch_share": share, **{f"{k}_accuracy": sum(v) / len(v) for k, v in rows.items()}}

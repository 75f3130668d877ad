"""The meta-learning toolkit against answers known in advance (small sizes; the full-size
figures come from training/benchmarks/meta.py)."""

from __future__ import annotations

import gc
import math

import pytest
import torch

from training.benchmarks import meta_checks as mc
from voiceadapt.meta.continual import Reservoir
from voiceadapt.meta.gradient import MAML, Reptile
from voiceadapt.meta.tasks import Sinusoids, mlp


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only adds overhead
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["maml", "fomaml", "reptile"])
def test_sinusoid_meta_training_beats_task_agnostic(method):
    r = mc.sinusoid(method, iterations=800, meta_batch=5, eval_tasks=200, outer_lr=3e-3)
    # 3.0: the reference; the unadapted model sits near the family's variance
    assert r["mse_10"] < 2.0 and r["mse_10"] < r["mse_0"] - 0.8, r
    assert r["mse_1"] < r["mse_0"], r


def test_k2_gradient_identities():
    r = mc.k2_identities()
    a1, a2, a3 = r["alphas"]
    for name in ("fomaml", "reptile"):  # exact on a quadratic: no O(a^2) term at all
        assert max(r["residual"][a][name] for a in r["alphas"]) < 1e-10
    ratios = [r["residual"][a1]["maml"] / r["residual"][a2]["maml"],
              r["residual"][a2]["maml"] / r["residual"][a3]["maml"]]
    assert all(3.6 < x < 4.4 for x in ratios), ratios  # O(a^2): halving a quarters it
    assert r["residual"][a3]["maml"] < 0.01 * r["first_order_term_norm"]


def test_meta_step_memory_does_not_grow():
    family = Sinusoids(seed=3)
    for learner in (MAML(mlp()), MAML(mlp(), first_order=True), Reptile(mlp())):
        for _ in range(3):
            learner.meta_step(family.tasks(4))
        gc.collect()
        before = sum(torch.is_tensor(o) for o in gc.get_objects())
        for _ in range(15):
            learner.meta_step(family.tasks(4))
        gc.collect()
        after = sum(torch.is_tensor(o) for o in gc.get_objects())
        assert after <= before, (type(learner).__name__, before, after)


def test_protonets_identity_encoder_matches_phi():
    for row in mc.protonets_identity(shots=500, queries=20_000)["rows"]:
        assert abs(row["accuracy"] - row["phi_d_over_2"]) < 3 * row["ci"], row


def test_protonets_learns_an_embedding():
    r = mc.protonets_learned(iterations=150)
    assert r["learned_accuracy"] > r["identity_accuracy"] + 0.3, r


def test_leo_inner_loop_follows_the_known_path():
    r = mc.leo_inner_loop()
    assert r["latents"] == pytest.approx(r["expected"], rel=1e-5)


@pytest.mark.parametrize("first_order, expected", [(False, 1.28), (True, 6.4)])
def test_leo_outer_gradient_with_and_without_second_derivatives(first_order, expected):
    """predict(theta, x) = theta^2 x, one latent step of 0.1 from z0 = 4 at x = 4: z1 = 0.8 and
    the query theta^2 x has d/dz0 = 2 z1 x dz1/dz0, with dz1/dz0 = 1 - 2 lr x = 0.2 through the
    inner gradient, or 1 when that gradient is taken as a constant (first order)."""
    from voiceadapt.meta.leo import LEOConfig, inner_loop
    from voiceadapt.meta.tasks import Task

    mean = torch.tensor(4.0, requires_grad=True)
    quiet = torch.tensor(-40.0)  # no sampling noise
    x = torch.tensor(4.0)
    task = Task(x, x, x, x, loss=lambda value, _: value)
    out = inner_loop(lambda sx, sy: (mean, quiet), lambda z: (z, quiet),
                     lambda theta, xx: theta**2 * xx, task.loss, task,
                     LEOConfig(inner_lr=0.1, inner_steps=1, first_order=first_order), training=True)
    assert float(out["z"]) == pytest.approx(0.8)
    (grad,) = torch.autograd.grad(out["theta"] ** 2 * x, mean)
    assert float(grad) == pytest.approx(expected, rel=1e-5)


def test_leo_meta_training_improves_adaptation():
    from voiceadapt.meta.leo import LEOConfig, LEORegressor

    torch.manual_seed(0)
    model = LEORegressor(cfg=LEOConfig(inner_lr=0.1, inner_steps=5))
    family, test = Sinusoids(shots=5, queries=20, seed=1), Sinusoids(shots=5, queries=20, seed=2)
    tasks = test.tasks(100)
    before = sum(model.query_loss(t) for t in tasks) / len(tasks)
    for _ in range(80):
        model.meta_step(family.tasks(5))
    after = sum(model.query_loss(t) for t in tasks) / len(tasks)
    assert after < 0.7 * before, (before, after)


def test_cactus_tasks_beat_training_from_scratch():
    r = mc.cactus_check(iterations=100, eval_tasks=40)
    assert min(r["purity"]) > 0.5 and min(r["clusters_kept"]) >= 5, r
    assert r["cactus_protonets_accuracy"] > r["scratch_accuracy"] + 0.15, r


def test_kmeans_recovers_separated_clusters():
    from voiceadapt.meta.cactus import kmeans, purity

    gen = torch.Generator().manual_seed(0)
    truth = torch.arange(4).repeat_interleave(50)
    x = torch.randn(4, 2, generator=gen)[truth] * 10 + torch.randn(200, 2, generator=gen) * 0.1
    assert purity(kmeans(x, 4), truth) == 1.0


def test_leap_path_gradient_matches_its_formula():
    """One segment of f(t) = t^2/2 from t = 1 to 0.5: the loss fell 0.375 over a step of -0.5,
    a segment 0.625 long, so the meta-gradient is -(-0.375 * 1 - 0.5) / 0.625 = 1.4 (descent
    moves the start toward where the path went); an uphill step counts as downhill."""
    from voiceadapt.meta.leap import PathGradient

    path = PathGradient()
    path.add_point(0.5, {"t": torch.tensor([1.0])}, {"t": torch.tensor([1.0])})
    path.add_point(0.125, {"t": torch.tensor([0.5])}, None)
    assert path.total["t"].item() == pytest.approx(1.4)
    assert path.losses == [0.5, 0.125]
    uphill = PathGradient()
    uphill.add_point(0.125, {"t": torch.tensor([0.5])}, {"t": torch.tensor([0.5])})
    uphill.add_point(0.5, {"t": torch.tensor([1.0])}, None)
    # delta_f 0.375 is used as -0.375: -(-0.375 * 0.5 + 0.5) / 0.625 = -0.5
    assert uphill.total["t"].item() == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="gradients"):
        uphill.add_point(0.4, {"t": torch.tensor([0.9])}, None)  # the last point had none
    broken = PathGradient()
    broken.add_point(0.5, {"t": torch.tensor([1.0])}, {"u": torch.tensor([1.0])})
    with pytest.raises(ValueError, match="same tensors"):
        broken.add_point(0.1, {"t": torch.tensor([0.5])}, None)


@pytest.mark.slow
def test_leap_shortens_training():
    r = mc.leap_check(iterations=150, eval_tasks=40)
    assert r["leap_auc"] < r["random_auc"] and r["leap_auc"] < r["joint_auc"], r


def test_reservoir_keeps_a_uniform_sample():
    counts = torch.zeros(100)
    for seed in range(300):
        memory = Reservoir(10, seed)
        for i in range(100):
            memory.add((torch.tensor(i), torch.tensor(0)))
        for x, _ in memory.items:
            counts[int(x)] += 1
    # each item kept with probability 0.1: 30 of 300 expected
    assert counts.sum() == 3000 and counts.min() > 10 and counts.max() < 55
    assert abs(counts[:50].sum() - counts[50:].sum()) < 200


@pytest.mark.slow
def test_replay_retains_earlier_tasks():
    r = mc.mer_check(tasks=3, per_task=150, memory=60, seeds=1)
    assert r["mer_earlier"] > r["sgd_earlier"] + 0.05, r
    assert r["er_earlier"] > r["sgd_earlier"], r


@pytest.mark.slow
def test_mole_spawns_at_switches_and_reuses_on_recurrence():
    r = mc.mole_check(prior_iterations=600, batches_per_segment=12)
    assert r["components"] == 3 and r["segment_components"] == [0, 1, 0, 2, 1], r
    assert r["mole_after_switch_mse"] < 0.7 * r["single_after_switch_mse"], r


@pytest.mark.slow
def test_patches_are_small_and_close_to_full_finetuning():
    r = mc.patches_check(pretrain_steps=800, new_tasks=3, shots=200)
    assert r["patch_share"] <= 0.05, r
    assert r["patch_accuracy"] > r["full_accuracy"] - 0.05, r
    assert math.isfinite(r["head_only_accuracy"])

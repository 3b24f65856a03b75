"""Weighted k-NN (against a numpy brute force) and the L-BFGS linear probe on synthetic features."""
import numpy as np
import pytest
import torch

from dbot_mm.evaluation.frozen_protocols import knn_accuracy, knn_predict, linear_probe_accuracy


def numpy_knn(train, train_labels, val, k, temperature, num_classes):
    """DINO's weighted vote, one val row at a time; ties: lower train index, then lower class."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    preds, votes_all = [], []
    for v in val:
        sim = train @ (v / np.linalg.norm(v))
        nearest = np.argsort(-sim, kind='stable')[:k]
        votes = np.zeros(num_classes)
        for i in nearest:
            votes[train_labels[i]] += np.exp(sim[i] / temperature)
        preds.append(int(np.argmax(votes)))
        votes_all.append(votes)
    return np.array(preds), np.array(votes_all)


@pytest.mark.parametrize('k', [1, 5, 20, 60])
def test_knn_matches_brute_force(k):
    rng = np.random.default_rng(k)
    train, val = rng.normal(size=(60, 8)), rng.normal(size=(25, 8))
    train_labels, val_labels = rng.integers(0, 5, 60), rng.integers(0, 5, 25)
    expected, _ = numpy_knn(train, train_labels, val, k, 0.07, 5)
    t = [torch.from_numpy(a) for a in (train, train_labels, val, val_labels)]
    pred = knn_predict(t[0], t[1], t[2], k=k, num_classes=5, chunk=7)
    np.testing.assert_array_equal(pred.numpy(), expected)
    acc = knn_accuracy(*t, k=k, num_classes=5, chunk=4)
    assert acc == pytest.approx(100 * np.mean(expected == val_labels))


@pytest.mark.parametrize('k', [2, 3, 5, 7])
def test_knn_similarity_ties_cut_by_k(k):
    """Train rows are repeated basis vectors and val rows small integers: cosine similarities
    tie exactly, and k cuts through groups of equal similarity."""
    rng = np.random.default_rng(k)
    train = np.eye(4)[np.repeat(np.arange(4), [2, 3, 4, 3])]
    train_labels = np.array([0, 1, 1, 1, 2, 0, 0, 2, 1, 2, 2, 0])
    val = rng.integers(0, 3, (40, 4)).astype(float) + np.eye(4)[rng.integers(0, 4, 40)]
    expected, votes = numpy_knn(train, train_labels, val, k, 0.1, 3)
    pred = knn_predict(
        torch.from_numpy(train), torch.from_numpy(train_labels), torch.from_numpy(val), k, 0.1)
    top2 = np.sort(votes, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-9 * top2[:, 1]  # vote ties: next test
    assert clear.sum() >= 15
    np.testing.assert_array_equal(pred.numpy()[clear], expected[clear])


def test_knn_tie_breaks():
    train = torch.tensor([[1., 0.], [1., 0.], [0., 1.]])
    # equal similarity: the lower training index (label 2) is the nearest
    assert knn_predict(train, torch.tensor([2, 1, 0]), train[:1], k=1).tolist() == [2]
    # equal votes: the lower class
    assert knn_predict(train, torch.tensor([2, 1, 0]), train[:1], k=2).tolist() == [1]


def clusters(n, num_classes=4, dim=16, spread=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:num_classes] * 5
    labels = torch.arange(n) % num_classes
    return centres[labels] + spread * torch.randn(n, dim, generator=g), labels


def test_separated_clusters_are_perfect():
    (xt, yt), (xv, yv) = clusters(80, seed=0), clusters(40, seed=1)
    assert knn_accuracy(xt, yt, xv, yv, k=20) == 100.
    assert linear_probe_accuracy(xt, yt, xv, yv, max_iter=100)['top1'] == 100.


def test_linear_probe_separable_and_random_labels():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(10, 4, generator=g, dtype=torch.float64)
    xt = torch.randn(400, 10, generator=g, dtype=torch.float64) * 3 + 1
    xv = torch.randn(400, 10, generator=g, dtype=torch.float64) * 3 + 1
    yt, yv = (xt @ w).argmax(1), (xv @ w).argmax(1)
    grid = (1e-5, 1e-3, 1e-1)
    res = linear_probe_accuracy(xt, yt, xv, yv, weight_decays=grid, max_iter=200)
    assert res['top1'] >= 95 and res['weight_decay'] in grid
    # a label that no linear function of the features predicts: chance (25%) on val
    rand = linear_probe_accuracy(
        xt,
        torch.randint(0, 4, (400, ), generator=g),
        xv,
        torch.randint(0, 4, (400, ), generator=g),
        weight_decays=grid,
        max_iter=200)
    assert 13 <= rand['top1'] <= 37 and rand['weight_decay'] in grid


def test_linear_probe_deterministic_and_wd_from_grid():
    g = torch.Generator().manual_seed(3)
    xt, xv = torch.randn(60, 40, generator=g), torch.randn(30, 40, generator=g)
    yt, yv = (xt[:, 0] > 0).long(), (xv[:, 0] > 0).long()
    grid = (1e-4, 1e-2, 1.)
    first = linear_probe_accuracy(xt, yt, xv, yv, weight_decays=grid, max_iter=100, seed=1)
    assert first == linear_probe_accuracy(xt, yt, xv, yv, grid, max_iter=100, seed=1)
    assert first['weight_decay'] in grid
    single = linear_probe_accuracy(xt, yt, xv, yv, weight_decays=(0.5, ), max_iter=100)
    assert single['weight_decay'] == 0.5


@pytest.mark.parametrize('fn', [knn_accuracy, linear_probe_accuracy])
@pytest.mark.parametrize('shapes, match',
                         [(((10, 4), (10, ), (5, 3), (5, )), 'feature dims differ'),
                          (((10, 4), (9, ), (5, 4), (5, )), 'train: features must be'),
                          (((10, 4), (10, ), (5, 4), (5, 1)), 'val: features must be')])
def test_bad_shapes(fn, shapes, match):
    xt, yt, xv, yv = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match) as err:
        fn(xt, yt.long(), xv, yv.long())
    assert '\n' not in str(err.value)


def test_k_larger_than_train():
    xt, yt = clusters(8)
    with pytest.raises(ValueError, match=r'k=9 must be in \[1, number of training samples 8\]'):
        knn_accuracy(xt, yt, xt, yt, k=9)


def test_labels_outside_num_classes():
    xt, yt = clusters(8)
    with pytest.raises(ValueError, match=r'labels span \[0, 3\], outside \[0, num_classes=3\)'):
        knn_accuracy(xt, yt, xt, yt, k=2, num_classes=3)
    with pytest.raises(ValueError, match=r'labels span \[-1, 3\]'):
        linear_probe_accuracy(xt, yt, xt, yt - 1)

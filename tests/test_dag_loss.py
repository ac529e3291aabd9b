"The DAG loss at extreme magnitudes, on problems without an alignment, and with lengths as lists: both implementations against brute force."
import pytest
import torch
from mlm_explained.core import UserError
from mlm_explained.dag_loss import (random_dag_problem, dag_log_likelihood, dag_log_likelihood_brute, dag_loss, dag_best_path,
                                    alignment_posteriors, check_dag_lengths, transition_log_probs, allowed_transitions,
                                    monotone_paths, DagLikelihoodNumba, _dag_forward_torch, _logsumexp)

NEG_INF = float('-inf')
SCALES = [1e2, 1e3, 1e4, 1e5]        # -log P(y) from hundreds to millions


def extreme_problems(seed, scale, B=12, M=6, L=10, cut=0.25):
    "Every log-probability times `scale`; a share `cut` of the edges set to -inf, so some problems have no alignment."
    em, logT, tl, nl = random_dag_problem(B, M, L, seed=seed, scale=scale)
    drop = torch.rand(logT.shape, generator=torch.Generator().manual_seed(seed), dtype=logT.dtype) < cut
    return em, logT.masked_fill(drop, NEG_INF), tl, nl


def brute_each(em, logT, tl, nl):
    "(log P [B], d em, d logT) by enumerating the alignments of each problem; gradients 0 where there is none."
    ll, ge, gt = torch.empty(len(tl), dtype=em.dtype), torch.zeros_like(em), torch.zeros_like(logT)
    for b in range(len(tl)):
        M, L = int(tl[b]), int(nl[b])
        e, t = em[b, :M, :L].clone().requires_grad_(), logT[b, :L, :L].clone().requires_grad_()
        lb = dag_log_likelihood_brute(e, t); ll[b] = lb.detach()
        if lb > NEG_INF: lb.backward(); ge[b, :M, :L], gt[b, :L, :L] = e.grad, t.grad
    return ll, ge, gt


def run_each(em, logT, tl, nl, impl):
    e, t = em.clone().requires_grad_(), logT.clone().requires_grad_()
    ll = dag_log_likelihood(e, t, tl.tolist(), nl.tolist(), impl); ll.sum().backward()   # lengths as lists
    return ll.detach(), e.grad, t.grad


def assert_same(got, want):
    ulp = torch.finfo(want[0].dtype).eps * want[0][want[0].isfinite()].abs().max().item()
    torch.testing.assert_close(got[0], want[0], rtol=1e-13, atol=0)           # -inf must match -inf exactly
    for g, w in zip(got[1:], want[1:]):
        assert g.isfinite().all()
        torch.testing.assert_close(g, w, rtol=0, atol=16 * ulp)                # a gradient is exp(s - log P): a few ulps of |log P|


@pytest.mark.parametrize('impl', ['torch', 'numba'])
def test_extreme_magnitudes_match_brute_force(impl):
    n_nopath = 0
    for seed, scale in enumerate(SCALES * 2):
        em, logT, tl, nl = extreme_problems(seed, scale)
        want = brute_each(em, logT, tl, nl)
        assert_same(run_each(em, logT, tl, nl, impl), want)
        n_nopath += int((want[0] == NEG_INF).sum())
    assert n_nopath > 0                                                         # the no-path rows were exercised


def test_torch_equals_numba_at_extreme_magnitudes():
    for seed, scale in enumerate(SCALES + [1e6]):
        em, logT, tl, nl = extreme_problems(50 + seed, scale, B=16, M=8, L=20)   # too big for brute force: compare the two
        assert_same(run_each(em, logT, tl, nl, 'torch'), run_each(em, logT, tl, nl, 'numba'))


@pytest.mark.parametrize('impl', ['torch', 'numba'])
def test_no_path_rows_give_inf_loss_and_zero_gradients(impl):
    em, logT, tl, nl = random_dag_problem(6, 5, 9, seed=3)
    cut = logT.clone(); cut[0] = NEG_INF                                        # problem 0: no edge at all
    e, t = em.clone().requires_grad_(), cut.clone().requires_grad_()
    e0, t0 = em.clone().requires_grad_(), logT.clone().requires_grad_()
    loss = dag_loss(e, t, tl, nl, impl); loss.backward()
    dag_loss(e0, t0, tl, nl, impl).backward()
    assert loss == float('inf')
    assert dag_log_likelihood(em, cut, tl, nl, impl)[0] == NEG_INF
    assert (e.grad[0] == 0).all() and (t.grad[0] == 0).all()
    torch.testing.assert_close(e.grad[1:], e0.grad[1:]); torch.testing.assert_close(t.grad[1:], t0.grad[1:])
    assert (alignment_posteriors(em, cut, tl, nl)[0] == 0).all()


def test_more_targets_than_states_past_the_check():
    em, logT, _, _ = random_dag_problem(2, 6, 6, ragged=False)
    for fn in (DagLikelihoodNumba.apply, _dag_forward_torch):
        e, t = em.clone().requires_grad_(), logT.clone().requires_grad_()
        ll = fn(e, t, [6, 6], [4, 6]); ll.sum().backward()
        assert ll[0] == NEG_INF and ll[1].isfinite() and (e.grad[0] == 0).all() and (t.grad[0] == 0).all()
    with pytest.raises(UserError, match='unreachable'): dag_log_likelihood(em, logT, [6, 6], [4, 6], 'torch')


def test_tiny_case_the_finite_stand_in_got_wrong():
    em = torch.zeros(1, 3, 3, dtype=torch.float64); em[0, 1, 1] = -3e4        # only alignment 0 -> 1 -> 2, nearly impossible
    logT = transition_log_probs(torch.zeros(1, 3, 3, dtype=torch.float64), [3])
    truth = dag_log_likelihood_brute(em[0], logT[0])
    for impl in ('torch', 'numba'): torch.testing.assert_close(dag_log_likelihood(em, logT, [3], [3], impl), truth[None])
    logT[0, 1, 2] = NEG_INF
    for impl in ('torch', 'numba'): assert dag_log_likelihood(em, logT, [3], [3], impl)[0] == NEG_INF


def test_best_path_at_extreme_magnitudes():
    n_nopath = 0
    for seed, scale in enumerate([1e3, 1e5, 1e7]):
        em, logT, tl, nl = extreme_problems(200 + seed, scale, B=8)
        path, best = dag_best_path(em, logT, tl.tolist(), nl.tolist())
        for b in range(8):
            M, L = int(tl[b]), int(nl[b])
            cand = torch.from_numpy(monotone_paths(M, L))
            scores = em[b, torch.arange(M), cand].sum(1) + logT[b, cand[:, :-1], cand[:, 1:]].sum(1)
            if scores.max() == NEG_INF:
                assert best[b] == NEG_INF and (path[b] == -1).all(); n_nopath += 1; continue
            torch.testing.assert_close(best[b], scores.max(), rtol=1e-12, atol=0)
            assert (path[b, :M] == cand[scores.argmax()]).all() and (path[b, M:] == -1).all()
    assert n_nopath > 0


def test_lengths_as_lists_tuples_and_arrays():
    em, logT, tl, nl = random_dag_problem(5, 5, 9, seed=4)
    ref = dag_log_likelihood(em, logT, tl, nl, 'numba')
    for conv in (lambda x: x.tolist(), lambda x: tuple(x.tolist()), lambda x: x.numpy(), lambda x: x.int()):
        a, b = conv(tl), conv(nl)
        for impl in ('torch', 'numba'):
            torch.testing.assert_close(dag_log_likelihood(em, logT, a, b, impl), ref)
            torch.testing.assert_close(dag_loss(em, logT, a, b, impl), dag_loss(em, logT, tl, nl, impl))
        torch.testing.assert_close(alignment_posteriors(em, logT, a, b), alignment_posteriors(em, logT, tl, nl))
        assert (dag_best_path(em, logT, a, b)[0] == dag_best_path(em, logT, tl, nl)[0]).all()
        assert (allowed_transitions(9, b) == allowed_transitions(9, nl)).all()
        torch.testing.assert_close(transition_log_probs(logT, b), transition_log_probs(logT, nl))
    with pytest.raises(UserError, match='integers'): check_dag_lengths(em, logT, tl.double().tolist(), nl)
    with pytest.raises(UserError, match='one length per problem'): check_dag_lengths(em, logT, [3, 3], nl)
    with pytest.raises(UserError, match='exceed'): dag_log_likelihood(em, logT, [9] * 5, nl.tolist())


def test_safe_logsumexp_and_transitions():
    x = torch.full((2, 3), NEG_INF, dtype=torch.float64); x[1, 0] = -5e4
    x.requires_grad_()
    y = _logsumexp(x, 1); y.sum().backward()
    assert y[0] == NEG_INF and y[1] == -5e4 and (x.grad == torch.tensor([[0., 0, 0], [1, 0, 0]], dtype=torch.float64)).all()
    s = torch.randn(4, 7, 7, dtype=torch.float64)                             # the softmax ignores a shift, at any magnitude
    torch.testing.assert_close(transition_log_probs(s - 1e5, [7, 5, 3, 1]).exp(), transition_log_probs(s, [7, 5, 3, 1]).exp(), rtol=0, atol=1e-9)
    assert not transition_log_probs(s * 1e6, [7, 5, 3, 1]).isnan().any()

"""The checks of Part VII accept the solutions and reject the mistakes students make, with a helpful message."""
from collections import Counter

import torch

from unigen import checks, compare
from unigen.data import tasks
from check_helpers import rejected, cases


# ---- lsb_digits -------------------------------------------------------------------------------

def lsb_digits(n, width):
    powers = 10 ** torch.arange(width)
    return (n[:, None] // powers) % 10


def lsb_msb_first(n, width):                                   # most significant digit first
    return lsb_digits(n, width).flip(1)


def lsb_one_digit_short(n, width):                             # range(width - 1): off by one
    powers = 10 ** torch.arange(width - 1)
    return (n[:, None] // powers) % 10


def lsb_skips_units(n, width):                                 # powers 10, 100, ... instead of 1, 10, ...
    powers = 10 ** torch.arange(1, width + 1)
    return (n[:, None] // powers) % 10


def lsb_float_division(n, width):                              # / instead of //
    powers = 10 ** torch.arange(width)
    return (n[:, None] / powers).floor() % 10


def lsb_remainder_not_digit(n, width):                         # keeps the place value: 305 -> 5, 5, 305
    powers = 10 ** torch.arange(width)
    return n[:, None] % (10 * powers)


@cases((lsb_msb_first, "`digits` differs at 6 of 12 entries; first at index (0, 0): got 0, expected 7"),
       (lsb_one_digit_short, "`digits` has shape (4, 2), expected (4, 3)"),
       (lsb_skips_units, "`digits` differs"),
       (lsb_float_division, "`digits` has dtype torch.float32, expected an integer dtype (like torch.int64)"),
       (lsb_remainder_not_digit, "`digits` differs"))
def test_lsb_digits_rejects(wrong, expected):
    msg = rejected(checks.lsb_digits, wrong)
    assert expected in msg
    assert "n = torch.tensor([7, 42, 305, 0])\n    width = 3\n  then call lsb_digits(n, width)" in msg


# ---- sudoku_valid -----------------------------------------------------------------------------

def _all_of(groups):                                           # (B, G, 4) -> each group holds 1..4
    return (groups.sort(-1).values == torch.arange(1, 5)).all(-1).all(-1)


def _rows_cols_boxes(grids):
    g = grids.reshape(-1, 4, 4)
    boxes = g.reshape(-1, 2, 2, 2, 2).permute(0, 1, 3, 2, 4).reshape(-1, 4, 4)
    return g, g.transpose(1, 2), boxes


def sudoku_valid(grids):
    rows, cols, boxes = _rows_cols_boxes(grids)
    return _all_of(rows) & _all_of(cols) & _all_of(boxes)


def sudoku_rows_only(grids):
    return _all_of(grids.reshape(-1, 4, 4))


def sudoku_no_boxes(grids):                                    # a Latin square passes
    rows, cols, _ = _rows_cols_boxes(grids)
    return _all_of(rows) & _all_of(cols)


def sudoku_boxes_not_permuted(grids):                          # reshape without permute: the "boxes" are rows
    rows, cols, _ = _rows_cols_boxes(grids)
    boxes = grids.reshape(-1, 2, 2, 2, 2).reshape(-1, 4, 4)
    return _all_of(rows) & _all_of(cols) & _all_of(boxes)


def sudoku_strided_boxes(grids):                               # g[:, 0::2, 0::2]: every other cell, not a box
    rows, cols, _ = _rows_cols_boxes(grids)
    boxes = torch.stack([rows[:, i::2, j::2].reshape(-1, 4) for i in (0, 1) for j in (0, 1)], 1)
    return _all_of(rows) & _all_of(cols) & _all_of(boxes)


def sudoku_sums_to_ten(grids):                                 # 1 + 2 + 3 + 4 = 10, but so is 2 + 2 + 3 + 3
    return torch.stack([(part.sum(-1) == 10).all(-1) for part in _rows_cols_boxes(grids)]).all(0)


def sudoku_int_result(grids):                                  # 0/1 instead of False/True
    return sudoku_valid(grids).long()


@cases((sudoku_rows_only, "`valid` differs at 2 of 5 entries; first at index (2,): got True, expected False"),
       (sudoku_no_boxes, "`valid` differs at 1 of 5 entries; first at index (2,)"),
       (sudoku_boxes_not_permuted, "`valid` differs at 1 of 5 entries; first at index (2,)"),
       (sudoku_strided_boxes, "`valid` differs at 1 of 5 entries; first at index (1,): got False, expected True"),
       (sudoku_sums_to_ten, "`valid` differs at 1 of 5 entries; first at index (3,)"),
       (sudoku_int_result, "`valid` has dtype torch.int64, expected torch.bool"))
def test_sudoku_valid_rejects(wrong, expected):
    msg = rejected(checks.sudoku_valid, wrong)
    assert expected in msg
    assert 'args = checks.failing_inputs("sudoku_valid", trial=1)' in msg and "grids: tensor(5, 16)" in msg


# ---- pareto_front -----------------------------------------------------------------------------

def _dominated(cost, error, *, strict_one=True, strict_both=False):
    c, e = cost[:, None], error[:, None]
    if strict_both:
        return ((cost[None] < c) & (error[None] < e)).any(1)
    no_worse = (cost[None] <= c) & (error[None] <= e)
    if strict_one:
        return (no_worse & ((cost[None] < c) | (error[None] < e))).any(1)
    return (no_worse & ~torch.eye(len(cost), dtype=torch.bool)).any(1)


def pareto_front(cost, error):
    return ~_dominated(cost, error)


def pareto_strictly_better_on_both(cost, error):               # (1, 4) survives next to (1, 3)
    return ~_dominated(cost, error, strict_both=True)


def pareto_drops_ties(cost, error):                            # a copy of a point "dominates" it
    return ~_dominated(cost, error, strict_one=False)


def pareto_lowest_error_only(cost, error):                     # one objective
    return error == error.min()


def pareto_sweep(cost, error):                                 # sort by cost, keep each new lowest error
    keep, best = torch.zeros(len(cost), dtype=torch.bool), float("inf")
    for i in cost.argsort(stable=True).tolist():
        if error[i] < best:
            keep[i], best = True, error[i].item()
    return keep


def pareto_maximises(cost, error):                             # higher taken as better
    return ~_dominated(-cost, -error)


@cases((pareto_strictly_better_on_both, "`on_front` differs at 1 of 6 entries; first at index (0,): got True, "
                                        "expected False"),
       (pareto_drops_ties, "`on_front` differs at 2 of 6 entries; first at index (2,): got False, expected True"),
       (pareto_lowest_error_only, "`on_front` differs at 3 of 6 entries"),
       (pareto_sweep, "`on_front` differs at 2 of 6 entries; first at index (0,): got True, expected False"),
       (pareto_maximises, "`on_front` differs"))
def test_pareto_front_rejects(wrong, expected):
    msg = rejected(checks.pareto_front, wrong)
    assert expected in msg
    assert ("cost = torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 3.0])\n"
            "    error = torch.tensor([4.0, 3.0, 2.0, 2.0, 1.0, 3.0])\n  then call pareto_front(cost, error)") in msg


# ---- bigram_tv --------------------------------------------------------------------------------

def _tv(fa, fb, half=0.5):
    return half * sum(abs(fa.get(k, 0.0) - fb.get(k, 0.0)) for k in sorted(fa.keys() | fb.keys()))


def _freqs(counts):
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def _bigrams(names, marked=True):
    return Counter(p for s in names for p in (zip("^" + s, s + "$") if marked else zip(s, s[1:])))


def bigram_tv(a, b):
    return _tv(_freqs(_bigrams(a)), _freqs(_bigrams(b)))


def bigram_no_markers(a, b):                                   # first and last letters are not counted
    return _tv(_freqs(_bigrams(a, marked=False)), _freqs(_bigrams(b, marked=False)))


def bigram_counts(a, b):                                       # counts, not frequencies
    return _tv(_bigrams(a), _bigrams(b))


def bigram_no_half(a, b):                                      # the L1 distance, twice the TV
    return _tv(_freqs(_bigrams(a)), _freqs(_bigrams(b)), half=1.0)


def bigram_unigrams(a, b):                                     # letters, not pairs of letters
    return _tv(_freqs(Counter("".join(a))), _freqs(Counter("".join(b))))


def bigram_keys_of_a_only(a, b):                               # misses the bigrams that only b has
    fa, fb = _freqs(_bigrams(a)), _freqs(_bigrams(b))
    return 0.5 * sum(abs(fa[k] - fb.get(k, 0.0)) for k in fa)


@cases((bigram_no_markers, "`tv` is 0, expected 0.266667"), (bigram_counts, "`tv` is 3, expected 1"),
       (bigram_no_half, "`tv` is 2, expected 1"), (bigram_unigrams, "`tv` is 0, expected 1"),
       (bigram_keys_of_a_only, "`tv` is 0.5, expected 1"))
def test_bigram_tv_rejects(wrong, expected):
    msg = rejected(checks.bigram_tv, wrong)
    assert expected in msg
    assert "a = [" in msg and "then call bigram_tv(a, b)" in msg


# ---- constrained_logprob ----------------------------------------------------------------------

def _chosen(logp, tokens):
    return logp.gather(1, tokens[:, None])[:, 0]


def _log_z(logp, allowed):
    return logp.masked_fill(~allowed, float("-inf")).logsumexp(-1)


def constrained_logprob(logp, allowed, tokens):
    return float((_chosen(logp, tokens) - _log_z(logp, allowed)).sum())


def constrained_no_renormalisation(logp, allowed, tokens):
    return float(_chosen(logp, tokens).sum())


def constrained_forbidden_mass(logp, allowed, tokens):         # divides by the forbidden mass 1 - Z
    return float((_chosen(logp, tokens) - torch.log1p(-_log_z(logp, allowed).exp())).sum())


def constrained_max_not_sum(logp, allowed, tokens):            # the largest allowed probability, not the sum
    return float((_chosen(logp, tokens) - logp.masked_fill(~allowed, float("-inf")).max(-1).values).sum())


def constrained_adds_log_z(logp, allowed, tokens):             # wrong sign
    return float((_chosen(logp, tokens) + _log_z(logp, allowed)).sum())


@cases((constrained_no_renormalisation, "`log_q` is -1.89712, expected -1.50408"),
       (constrained_forbidden_mass, "`log_q` is"), (constrained_max_not_sum, "`log_q` is"),
       (constrained_adds_log_z, "`log_q` is"))
def test_constrained_logprob_rejects(wrong, expected):
    msg = rejected(checks.constrained_logprob, wrong)
    assert expected in msg
    assert "allowed = torch.tensor([[True, False, True], [False, True, True]])" in msg
    assert "then call constrained_logprob(logp, allowed, tokens)" in msg


# ---- reveal_steps -----------------------------------------------------------------------------

def reveal_steps(trajectory, mask_id):
    return (torch.stack(trajectory) != mask_id).int().argmax(0)


def reveal_counts_from_one(trajectory, mask_id):
    return reveal_steps(trajectory, mask_id) + 1


def reveal_last_masked_step(trajectory, mask_id):
    masked = (torch.stack(trajectory) == mask_id).int()
    return (masked * torch.arange(len(trajectory))[:, None, None]).max(0).values


def reveal_masked_steps_after_first(trajectory, mask_id):
    return (torch.stack(trajectory[1:]) == mask_id).sum(0)


@cases((reveal_counts_from_one, "`revealed_at` differs at 6 of 6 entries"),
       (reveal_last_masked_step, "`revealed_at` differs"),
       (reveal_masked_steps_after_first, "`revealed_at` differs"))
def test_reveal_steps_rejects(wrong, expected):
    msg = rejected(checks.reveal_steps, wrong)
    assert expected in msg
    assert 'args = checks.failing_inputs("reveal_steps", trial=1)' in msg and "mask_id = 9" in msg


# ---- the solutions pass -----------------------------------------------------------------------

def test_unified_checks_accept_solutions():
    checks.lsb_digits(lsb_digits, quiet=True)
    checks.lsb_digits(tasks.lsb_digits, quiet=True)
    checks.sudoku_valid(sudoku_valid, quiet=True)
    checks.sudoku_valid(tasks.is_valid_sudoku, quiet=True)
    checks.pareto_front(pareto_front, quiet=True)
    checks.pareto_front(compare.pareto_front, quiet=True)
    checks.bigram_tv(bigram_tv, quiet=True)
    checks.bigram_tv(compare.bigram_tv, quiet=True)
    checks.constrained_logprob(constrained_logprob, quiet=True)
    checks.reveal_steps(reveal_steps, quiet=True)


def test_unified_checks_report_unfinished_work():
    def stub(*args):
        raise NotImplementedError
    for check in (checks.lsb_digits, checks.sudoku_valid, checks.pareto_front, checks.bigram_tv,
                  checks.constrained_logprob, checks.reveal_steps):
        assert "not implemented yet" in rejected(check, stub)


def test_unified_failing_cases_rebuild():
    grids, = checks.failing_inputs("sudoku_valid", trial=1)
    assert grids.shape == (5, 16) and not tasks.is_valid_sudoku(grids)[2]
    trajectory, mask_id = checks.failing_inputs("reveal_steps", trial=2)
    assert mask_id == 9 and all(t.shape == trajectory[0].shape for t in trajectory)

"""Bad input is refused with an error that names the argument and what was expected."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from ballroom.mgk.data import char_windows, generate_listops
from ballroom.mgk.functional import attention_rank, mgk_scores
from ballroom.mgk.models import MGKEncoderClassifier, MGKLanguageModel
from ballroom.mgk.nn import MGKAttention, MLKAttention
from ballroom.mgk.official_lm import load_official_lm_state_dict, official_lm
from ballroom.mgk.sdpa import mgk_attention_sdpa

Q = torch.randn(2, 5, 4)
K = torch.randn(2, 2, 5, 4)
LAYER = MGKAttention(8, 2, 4)
CLF = MGKEncoderClassifier(16, 10, d_model=8, n_heads=2, head_dim=4, d_ff=16, max_len=12)
NAN = torch.tensor([[1.0, float("nan"), 0.0, 0.0]]).expand(5, 4)[None].expand(2, 5, 4)

CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    (
        "q numpy",
        lambda: mgk_scores(Q.numpy(), K, sigma2=1.0),
        TypeError,
        r"q must be a torch.Tensor.*torch.as_tensor",
    ),
    ("q integer", lambda: mgk_scores(Q.long(), K, sigma2=1.0), TypeError, "q must have a floating"),
    ("q rank 1", lambda: mgk_scores(Q[0, 0], K, sigma2=1.0), ValueError, "q must have rank >= 2"),
    ("q NaN", lambda: mgk_scores(NAN, K, sigma2=1.0), ValueError, "q must be finite"),
    ("q empty", lambda: mgk_scores(Q[:0], K[:0], sigma2=1.0), ValueError, "q must not be empty"),
    ("keys head dim", lambda: mgk_scores(Q, K[..., :3], sigma2=1.0), ValueError, "keys must have head dim 4"),
    ("keys dtype", lambda: mgk_scores(Q, K.double(), sigma2=1.0), TypeError, "keys must have q's dtype"),
    ("keys empty list", lambda: mgk_scores(Q, [], sigma2=1.0), ValueError, "keys must hold at least one"),
    (
        "sigma2 count",
        lambda: mgk_scores(Q, K, sigma2=(1.0, 1.0, 1.0)),
        ValueError,
        "sigma2 must have one variance",
    ),
    ("sigma2 <= 0", lambda: mgk_scores(Q, K, sigma2=(1.0, 0.0)), ValueError, r"sigma2 must lie in \(0"),
    (
        "log_pi > 0",
        lambda: mgk_scores(Q, K, sigma2=1.0, log_pi=torch.full((2, 1), float("inf"))),
        ValueError,
        "log_pi must be <= 0",
    ),
    ("mode", lambda: mgk_scores(Q, K, sigma2=1.0, mode="medium"), ValueError, "mode must be one of"),
    (
        "hard with pi",
        lambda: mgk_scores(Q, K, sigma2=1.0, mode="hard", log_pi=torch.zeros(2, 1)),
        ValueError,
        "log_pi must be None",
    ),
    (
        "mask dtype",
        lambda: mgk_scores(Q, K, sigma2=1.0, mask=torch.ones(5, 5)),
        TypeError,
        "mask must have torch.bool",
    ),
    (
        "mask shape",
        lambda: mgk_scores(Q, K, sigma2=1.0, mask=torch.ones(5, 4, dtype=torch.bool)),
        ValueError,
        r"mask must be broadcastable to \(\.\.\., 5, 5\)",
    ),
    ("sdpa q numpy", lambda: mgk_attention_sdpa(Q.numpy(), K, Q, sigma2=1.0), TypeError, "q must be a torch"),
    ("sdpa v length", lambda: mgk_attention_sdpa(Q, K, Q[:, :4], sigma2=1.0), ValueError, "v must have 5"),
    ("sdpa v dtype", lambda: mgk_attention_sdpa(Q, K, Q.double(), sigma2=1.0), TypeError, "v must have q's"),
    ("sdpa v NaN", lambda: mgk_attention_sdpa(Q, K, NAN, sigma2=1.0), ValueError, "v must be finite"),
    ("sdpa sigma2", lambda: mgk_attention_sdpa(Q, K, Q, sigma2=(1.0, -1.0)), ValueError, r"sigma2 must lie"),
    (
        "sdpa mask shape",
        lambda: mgk_attention_sdpa(Q, K, Q, sigma2=1.0, mask=torch.ones(5, 4, dtype=torch.bool)),
        ValueError,
        r"mask must be broadcastable",
    ),
    ("sdpa dropout", lambda: mgk_attention_sdpa(Q, K, Q, sigma2=1.0, dropout_p=1.0), ValueError, "dropout_p"),
    ("impl", lambda: MGKAttention(8, 2, 4, impl="flash"), ValueError, "impl must be one of"),
    ("sdpa hard", lambda: MGKAttention(8, 2, 4, pi_mode="hard", impl="sdpa"), ValueError, "soft mixture"),
    (
        "lm load model",
        lambda: load_official_lm_state_dict(LAYER, {}),
        TypeError,
        "model must be an MGKLanguageModel",
    ),
    (
        "lm attn_type",
        lambda: official_lm(10, n_layer=1, n_head=2, d_model=8, d_head=4, d_inner=8, attn_type=0),
        ValueError,
        r"attn_type must be one of \[2, 200, 400\]",
    ),
    (
        "lm update_mode",
        lambda: official_lm(10, n_layer=1, n_head=2, d_model=8, d_head=4, d_inner=8, update_mode="rbf3"),
        ValueError,
        "update_mode must be one of",
    ),
    (
        "lm mlk soft",
        lambda: official_lm(
            10, n_layer=1, n_head=2, d_model=8, d_head=4, d_inner=8, attn_type=400, update_mode="soft"
        ),
        ValueError,
        r"update_mode must be one of \['rbf2keys', 'rbf'\]",
    ),
    (
        "lm positions",
        lambda: MGKLanguageModel(10, positions="learned"),
        ValueError,
        "positions must be one of",
    ),
    (
        "lm odd width",
        lambda: MGKLanguageModel(10, d_model=9, positions="transformer_xl"),
        ValueError,
        "even d_model",
    ),
    ("lm cutoffs order", lambda: MGKLanguageModel(10, cutoffs=(5, 3)), ValueError, "cutoffs must increase"),
    (
        "lm cutoffs range",
        lambda: MGKLanguageModel(10, cutoffs=(10,)),
        ValueError,
        r"cutoffs must be an integer in",
    ),
    (
        "lm activation",
        lambda: MGKLanguageModel(10, activation="tanh"),
        ValueError,
        "activation must be one of",
    ),
    ("x rank", lambda: LAYER(torch.randn(5, 8)), ValueError, "x must have rank 3"),
    ("x width", lambda: LAYER(torch.randn(2, 5, 7)), ValueError, "x must have d_model = 8"),
    ("x inf", lambda: LAYER(torch.full((2, 5, 8), float("inf"))), ValueError, "x must be finite"),
    (
        "padding mask shape",
        lambda: LAYER(torch.randn(2, 5, 8), torch.zeros(2, 4, dtype=torch.bool)),
        ValueError,
        r"key_padding_mask must have shape \(2, 5\)",
    ),
    (
        "padding mask dtype",
        lambda: LAYER(torch.randn(2, 5, 8), torch.zeros(2, 5)),
        TypeError,
        "key_padding_mask must have torch.bool",
    ),
    ("key_mode", lambda: MGKAttention(8, 2, 4, key_mode="mixed"), ValueError, "key_mode must be one of"),
    ("pi_mode", lambda: MGKAttention(8, 2, 4, pi_mode="soft"), ValueError, "pi_mode must be one of"),
    ("mlk em", lambda: MLKAttention(8, 2, 4, pi_mode="em", max_len=4), ValueError, "pi_mode must be one of"),
    (
        "em needs 2 keys",
        lambda: MGKAttention(8, 2, 4, n_keys=3, sigma2=(1, 1, 1), pi_mode="em", max_len=4),
        ValueError,
        "n_keys=2",
    ),
    (
        "sigma2 length",
        lambda: MGKAttention(8, 2, 4, sigma2=(1.0,)),
        ValueError,
        "sigma2 must have n_keys = 2",
    ),
    ("n_heads", lambda: MGKAttention(8, 0, 4), ValueError, "n_heads must be an integer in"),
    ("dropout", lambda: MGKAttention(8, 2, 4, dropout=1.0), ValueError, "dropout must lie in"),
    (
        "attention name",
        lambda: MGKEncoderClassifier(16, 10, attention="flash"),
        ValueError,
        "attention must be one of",
    ),
    ("tokens float", lambda: CLF(torch.rand(2, 5)), TypeError, "x must have an integer"),
    ("tokens range", lambda: CLF(torch.full((2, 5), 16)), ValueError, r"token ids in \[0, 15\]"),
    ("tokens too long", lambda: CLF(torch.zeros(2, 13, dtype=torch.long)), ValueError, "max_len = 12"),
    ("lm norm", lambda: MGKLanguageModel(10, norm="middle"), ValueError, "norm must be one of"),
    ("rank tol", lambda: attention_rank(torch.eye(3), tol=0.0), ValueError, r"tol must lie in \(0"),
    ("rank rank", lambda: attention_rank(torch.ones(3)), ValueError, "a must have rank >= 2"),
    (
        "windows stride",
        lambda: char_windows(torch.arange(20), 8, 9),
        ValueError,
        r"stride must be an integer in \[1, 8\]",
    ),
    ("windows short", lambda: char_windows(torch.arange(5), 8), ValueError, "more than context = 8"),
    ("listops n", lambda: generate_listops(0), ValueError, "n must be an integer"),
    (
        "listops lengths",
        lambda: generate_listops(3, min_len=50, max_len=10),
        ValueError,
        "min_len <= max_len",
    ),
]


@pytest.mark.parametrize(("what", "call", "exc", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(
    what: str, call: Callable[[], object], exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc, match=message):
        call()

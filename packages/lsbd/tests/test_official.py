"""Official Keras weights: a ``save_weights`` h5 file (and TF-checkpoint keys) in the layout the
released model-building code implies, written here from random numbers, loaded into our dislib
LSBD-VAE, whose encoder and decoder must then equal an independent numpy re-implementation of the
Keras forward (channels-last, TF "same" padding, NHWC flatten / reshape); plus the ``log_t`` bias
option (spec zeros vs the released ``bias_initializer=ones``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ballroom.lsbd import CircleLatent, build_lsbd
from ballroom.lsbd.official import keras_h5_weights, load_official_state_dict, load_official_weights

try:
    import h5py
except ImportError:  # the 'data' extra; the TF-checkpoint and bad-input tests run without it
    h5py = None
needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py (the 'data' extra) is not installed")

C, H, W = 3, 32, 48  # H/16 = 2, W/16 = 3: the NHWC flatten permutation is not trivial
LOG_T = (-10.0, -5.0)


# ---------------------------------------------------------------- numpy Keras forward (channels-last)
def _same_pads(n_in: int, k: int, s: int) -> tuple[int, int]:
    """TF "same": output ceil(n/s), total padding max((out-1) s + k - n, 0), the extra one after."""
    out = -(-n_in // s)
    total = max((out - 1) * s + k - n_in, 0)
    return total // 2, total - total // 2


def np_conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, s: int = 2) -> np.ndarray:
    """Keras Conv2D(padding="same"): ``x (B, H, W, Cin)``, ``kernel (kh, kw, Cin, Cout)``."""
    b, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    (pt, pb), (pl, pr) = _same_pads(h, kh, s), _same_pads(w, kw, s)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh, ow = -(-h // s), -(-w // s)
    out = np.zeros((b, oh, ow, cout))
    for a in range(kh):
        for c in range(kw):
            patch = xp[:, a : a + s * oh : s, c : c + s * ow : s, :]  # (B, oh, ow, Cin)
            out += patch @ kernel[a, c]
    return out + bias


def np_conv2d_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, s: int = 2) -> np.ndarray:
    """Keras Conv2DTranspose(padding="same"): output ``in * s``; the adjoint of the "same" conv of
    that output size (each input pixel scatters ``kernel[a, c] @ x`` to ``s*i + a - pad``);
    ``kernel (kh, kw, Cout, Cin)``."""
    b, h, w, _ = x.shape
    kh, kw, cout, _ = kernel.shape
    oh, ow = h * s, w * s
    pt, pl = _same_pads(oh, kh, s)[0], _same_pads(ow, kw, s)[0]
    full = np.zeros((b, (h - 1) * s + kh, (w - 1) * s + kw, cout))
    for a in range(kh):
        for c in range(kw):
            full[:, a : a + s * h : s, c : c + s * w : s, :] += x @ kernel[a, c].T
    return full[:, pt : pt + oh, pl : pl + ow, :] + bias


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def keras_encode(
    p: dict[str, np.ndarray], x: np.ndarray, latents: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The released encoder + heads: ``x (B, H, W, C)`` -> concatenated locations and the circles' log_t."""
    h = x
    for name in ("conv2d", "conv2d_1", "conv2d_2", "conv2d_3"):
        h = relu(np_conv2d(h, p[f"{name}/kernel"], p[f"{name}/bias"]))
    h = h.reshape(h.shape[0], -1)  # Keras Flatten of NHWC
    h = relu(h @ p["enc_dense/kernel"] + p["enc_dense/bias"])
    locs, log_ts = [], []
    for j, kind in enumerate(latents):
        raw = h @ p[f"loc{j}/kernel"] + p[f"loc{j}/bias"]
        if kind == "s1":
            locs.append(raw / np.sqrt(np.maximum((raw**2).sum(-1, keepdims=True), 1e-12)))
            a, c = (LOG_T[1] - LOG_T[0]) / 2, (LOG_T[1] + LOG_T[0]) / 2
            log_ts.append(abs(a) * np.tanh(h @ p[f"scale{j}/kernel"] + p[f"scale{j}/bias"]) + c)
        else:
            locs.append(raw)
    return np.concatenate(locs, -1), np.concatenate(log_ts, -1)


def keras_decode(p: dict[str, np.ndarray], z: np.ndarray, sigmoid: bool) -> np.ndarray:
    h = relu(z @ p["dec_dense0/kernel"] + p["dec_dense0/bias"])
    h = relu(h @ p["dec_dense1/kernel"] + p["dec_dense1/bias"]).reshape(z.shape[0], H // 16, W // 16, 64)
    names = ["conv2d_transpose", "conv2d_transpose_1", "conv2d_transpose_2", "conv2d_transpose_3"]
    for i, name in enumerate(names):
        h = np_conv2d_transpose(h, p[f"{name}/kernel"], p[f"{name}/bias"])
        if i < 3:
            h = relu(h)
    return 1 / (1 + np.exp(-h)) if sigmoid else h


# ---------------------------------------------------------------- the official layout
def random_params(latents: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    """Random Keras-layout weights by role (Glorot-like scales, so the ReLUs stay alive)."""
    rng = np.random.default_rng(seed)

    def dense(i: int, o: int) -> tuple[np.ndarray, np.ndarray]:
        return rng.normal(0, math.sqrt(2 / (i + o)), (i, o)), rng.normal(0, 0.1, (o,))

    p: dict[str, np.ndarray] = {}
    chans = [C, 32, 32, 64, 64]
    for i in range(4):
        k = rng.normal(0, math.sqrt(2 / (16 * chans[i])), (4, 4, chans[i], chans[i + 1]))
        p[f"{['conv2d', 'conv2d_1', 'conv2d_2', 'conv2d_3'][i]}/kernel"] = k
        p[f"{['conv2d', 'conv2d_1', 'conv2d_2', 'conv2d_3'][i]}/bias"] = rng.normal(0, 0.1, (chans[i + 1],))
    flat = 64 * (H // 16) * (W // 16)
    p["enc_dense/kernel"], p["enc_dense/bias"] = dense(flat, 256)
    dim = sum(2 if s == "s1" else int(s[1:]) for s in latents)
    p["dec_dense0/kernel"], p["dec_dense0/bias"] = dense(dim, 256)
    p["dec_dense1/kernel"], p["dec_dense1/bias"] = dense(256, flat)
    dchans = [64, 64, 32, 32, C]  # Conv2DTranspose kernels are (kh, kw, out, in)
    for i, name in enumerate(
        ["conv2d_transpose", "conv2d_transpose_1", "conv2d_transpose_2", "conv2d_transpose_3"]
    ):
        p[f"{name}/kernel"] = rng.normal(0, math.sqrt(2 / (16 * dchans[i])), (4, 4, dchans[i + 1], dchans[i]))
        p[f"{name}/bias"] = rng.normal(0, 0.1, (dchans[i + 1],))
    for j, s in enumerate(latents):
        d = 2 if s == "s1" else int(s[1:])
        p[f"loc{j}/kernel"], p[f"loc{j}/bias"] = dense(256, d)
        p[f"scale{j}/kernel"], p[f"scale{j}/bias"] = dense(256, 1 if s == "s1" else d)
    return {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}  # what a float32 file holds


def keras_layers(
    latents: list[str], offset: int = 0, names: tuple[str, ...] = ("a", "b")
) -> dict[str, list[tuple[str, str]]]:
    """``(Keras variable name, role)`` per sub-model ("enc", "dec", "loc<j>", "scale<j>"), each in
    ``weight_names`` order, for run.py's build order (the latent spaces, named ``names`` (``""``:
    run.py's default), then the dislib encoder and decoder) in a session whose auto-name counters
    start at ``offset`` (0: a fresh session)."""

    def n(base: str, i: int) -> str:
        return base if i == 0 else f"{base}_{i}"

    def pairs(layer: str, role: str) -> list[tuple[str, str]]:
        return [(f"{layer}/{v}:0", f"{role}/{v}") for v in ("kernel", "bias")]

    n_circ = latents.count("s1")
    d0 = offset + n_circ  # the first backbone Dense: the circles' location Dense layers come first
    out = {
        "enc": [x for i in range(4) for x in pairs(n("conv2d", offset + i), n("conv2d", i))]
        + pairs(n("dense", d0), "enc_dense"),
        "dec": pairs(n("dense", d0 + 1), "dec_dense0")
        + pairs(n("dense", d0 + 2), "dec_dense1")
        + [x for i in range(4) for x in pairs(n("conv2d_transpose", offset + i), n("conv2d_transpose", i))],
    }
    k = offset
    for j, s in enumerate(latents):
        if s == "s1":
            out[f"loc{j}"] = pairs(f"{n('loc_param_layer', k)}/{n('dense', k)}", f"loc{j}")
            out[f"scale{j}"] = pairs(f"hyperspherical_log_t_{names[j]}", f"scale{j}")
            k += 1
        else:
            out[f"loc{j}"] = pairs(f"guassian_mu_{names[j]}", f"loc{j}")
            out[f"scale{j}"] = pairs(f"gaussian_log_sigma_{names[j]}", f"scale{j}")
    return out


def _group(fh: object, top: str, weights: list[tuple[str, str]], p: dict[str, np.ndarray]) -> None:
    g = fh.create_group(top)  # type: ignore[attr-defined]
    g.attrs["weight_names"] = np.array([name.encode("utf8") for name, _ in weights], dtype="S")
    for name, role in weights:
        g.create_dataset(name, data=p[role].astype(np.float32))


def _root_attrs(fh: object, layer_names: list[str]) -> None:
    fh.attrs["layer_names"] = np.array([s.encode("utf8") for s in layer_names], dtype="S")  # type: ignore[attr-defined]
    fh.attrs["backend"] = b"tensorflow"  # type: ignore[attr-defined]
    fh.attrs["keras_version"] = b"2.15.0"  # type: ignore[attr-defined]


def write_u_lsbd_h5(path: Path, p: dict[str, np.ndarray], latents: list[str], offset: int = 0) -> None:
    """What ``model.u_lsbd.save_weights("u.h5")`` writes (Keras 2 ``save_weights_to_hdf5_group``;
    checked against a Keras 2.15 model of the released structure): root attributes ``layer_names``
    (the sub-models in tracking order: encoder, decoder, the location models, the scale models,
    ``encoder_flat``, ...), ``backend``, ``keras_version``; one group per sub-model (h5 stores them
    in name order), each with ``weight_names`` and every weight of that sub-model, shared layers
    repeated. (The whole ``LSBDVAE.save_weights("w.h5")`` fails in Keras: its loss trackers' variables
    are all named ``total:0`` / ``count:0``.)"""
    lay = keras_layers(latents, offset)
    m = len(latents)
    groups = {"model": lay["enc"], "model_1": lay["dec"]}
    for j in range(m):
        groups[f"model_{2 + 2 * j}"] = lay["enc"] + lay[f"loc{j}"]
        groups[f"model_{3 + 2 * j}"] = lay["enc"] + lay[f"scale{j}"]
    flat = lay["enc"] + [x for j in range(m) for x in lay[f"loc{j}"] + lay[f"scale{j}"]]
    groups[f"model_{2 + 2 * m}"] = flat  # encoder_flat
    groups[f"model_{3 + 2 * m}"] = lay["dec"]  # decoder_from_list
    order = (
        ["model", "model_1"]
        + [f"model_{2 + 2 * j}" for j in range(m)]
        + [f"model_{3 + 2 * j}" for j in range(m)]
    )
    order += [f"model_{2 + 2 * m}", f"model_{3 + 2 * m}"]
    with h5py.File(path, "w") as fh:
        _root_attrs(fh, order)
        for top in sorted(groups):
            _group(fh, top, groups[top], p)
        _group(fh, "top_level_model_weights", [], p)


def write_encoder_decoder_h5(enc: Path, dec: Path, p: dict[str, np.ndarray], latents: list[str]) -> None:
    """``u_lsbd.encoder_flat.save_weights(enc)`` and ``u_lsbd.decoder.save_weights(dec)`` with
    run.py's unnamed latent spaces: the circles' log_t heads all named ``hyperspherical_log_t_``,
    each in its own scale sub-model's group; the decoder file has one group per layer."""
    lay = keras_layers(latents, names=("", ""))
    m = len(latents)
    with h5py.File(enc, "w") as fh:
        order = ["input_3"] + [f"model_{2 + i}" for i in range(2 * m)]  # loc0, scale0, loc1, scale1
        _root_attrs(fh, order)
        _group(fh, "input_3", [], p)
        for j in range(m):
            _group(fh, f"model_{2 + 2 * j}", lay["enc"] + lay[f"loc{j}"], p)
            _group(fh, f"model_{3 + 2 * j}", lay["enc"] + lay[f"scale{j}"], p)
        _group(fh, "top_level_model_weights", [], p)
    with h5py.File(dec, "w") as fh:
        layers = [name.split("/")[0] for name, _ in lay["dec"][::2]]
        _root_attrs(fh, ["input_2", layers[0], layers[1], "reshape", *layers[2:]])
        for top in sorted(["input_2", "reshape", *layers]):
            _group(fh, top, [x for x in lay["dec"] if x[0].split("/")[0] == top], p)


def tf_checkpoint_arrays(p: dict[str, np.ndarray], latents: list[str]) -> dict[str, np.ndarray]:
    """The object-graph keys of ``run.py``'s ``save_weights(".../weights")`` (TF format), with the
    optimizer slots and counters a real checkpoint also holds."""
    tail = "/.ATTRIBUTES/VARIABLE_VALUE"
    out: dict[str, np.ndarray] = {"save_counter" + tail: np.array(1), "optimizer/iter" + tail: np.array(10)}
    enc = ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3", "enc_dense"]
    dec = [
        "dec_dense0",
        "dec_dense1",
        "conv2d_transpose",
        "conv2d_transpose_1",
        "conv2d_transpose_2",
        "conv2d_transpose_3",
    ]
    for v in ("kernel", "bias"):
        for i, role in enumerate(enc):
            key = f"u_lsbd/_BaseLSBDVAE__encoder_backbones/0/layer_with_weights-{i}/{v}"
            out[key + tail] = p[f"{role}/{v}"].astype(np.float32)
            out[key + "/.OPTIMIZER_SLOT/optimizer/m" + tail] = np.zeros_like(p[f"{role}/{v}"])
        for i, role in enumerate(dec):
            out[f"u_lsbd/decoder/layer_with_weights-{i}/{v}" + tail] = p[f"{role}/{v}"].astype(np.float32)
        for j, s in enumerate(latents):
            mid = "mu_z_euclidean/" if s == "s1" else ""
            out[f"u_lsbd/lst_encoder_loc/{j}/layer_with_weights-1/{mid}{v}" + tail] = p[f"loc{j}/{v}"]
            out[f"u_lsbd/lst_encoder_scale/{j}/layer_with_weights-1/{v}" + tail] = p[f"scale{j}/{v}"]
    return out


def _model(latents: list[str], output: str = "linear") -> torch.nn.Module:
    return build_lsbd("dislib", (C, H, W), latents, decoder_output=output).double().eval()


def _check_forward(net: torch.nn.Module, p: dict[str, np.ndarray], latents: list[str], sigmoid: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((3, H, W, C))  # channels-last, as Keras sees it
    ref_loc, ref_log_t = keras_encode(p, x, latents)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    with torch.no_grad():
        loc = net(xt).numpy()
        params = net.encode(xt)
        log_t = np.concatenate([params[j][1].numpy() for j, s in enumerate(latents) if s == "s1"], -1)
        z = rng.normal(size=(3, ref_loc.shape[1]))
        img = net.decode(torch.from_numpy(z)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(loc, ref_loc, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(log_t, ref_log_t, rtol=1e-9, atol=1e-11)
    ref_img = keras_decode(p, z, sigmoid)
    assert np.abs(ref_img).max() > 1e-2  # the check is not vacuous
    np.testing.assert_allclose(img, ref_img, rtol=1e-9, atol=1e-11)


@needs_h5py
@pytest.mark.parametrize(
    "offset", [0, 8]
)  # a fresh session, or layers numbered past 9 (dense_10 < dense_9 as text)
@pytest.mark.parametrize("latents", [["s1", "s1"], ["s1", "r5"]])
def test_keras_h5_weights_give_the_keras_forward(tmp_path: Path, latents: list[str], offset: int) -> None:
    p = random_params(latents)
    path = tmp_path / "u_lsbd.h5"
    write_u_lsbd_h5(path, p, latents, offset)
    net = _model(latents)
    names = load_official_weights(net, path)
    assert set(names) == set(net.state_dict())  # every parameter came from the file
    assert names["encoder.convs.0.weight"] == f"{'conv2d' if offset == 0 else f'conv2d_{offset}'}/kernel"
    _check_forward(net, p, latents, sigmoid=False)


@needs_h5py
@pytest.mark.parametrize("latents", [["s1", "s1"], ["s1", "r5"]])
def test_encoder_and_decoder_files_with_unnamed_heads(tmp_path: Path, latents: list[str]) -> None:
    p = random_params(latents, seed=5)
    write_encoder_decoder_h5(tmp_path / "enc.h5", tmp_path / "dec.h5", p, latents)
    weights = keras_h5_weights([tmp_path / "enc.h5", tmp_path / "dec.h5"])
    if latents == ["s1", "s1"]:  # two heads of one name: the second is kept under its group
        assert (
            "hyperspherical_log_t_/kernel:0" in weights
            and "model_5/hyperspherical_log_t_/kernel:0" in weights
        )
    net = _model(latents)
    names = load_official_weights(net, [tmp_path / "enc.h5", tmp_path / "dec.h5"])
    assert set(names) == set(net.state_dict())
    _check_forward(net, p, latents, sigmoid=False)


@needs_h5py
def test_h5_group_and_the_sigmoid_decoder(tmp_path: Path) -> None:
    latents = ["s1", "s1"]
    p = random_params(latents, seed=3)
    path = tmp_path / "u_lsbd.h5"
    write_u_lsbd_h5(path, p, latents)
    net = _model(latents, output="sigmoid")
    with h5py.File(path, "r") as fh:
        load_official_state_dict(net, fh)  # an open file works too (the other packages' name)
    _check_forward(net, p, latents, sigmoid=True)


def test_location_heads_without_their_layer_scope_are_found_by_shape() -> None:
    latents = ["s1", "s1"]
    p = random_params(latents, seed=4)
    lay = keras_layers(latents)
    flat = {
        name.replace("loc_param_layer/", "").replace("loc_param_layer_1/", ""): p[role]
        for part in lay.values()
        for name, role in part
    }
    assert "dense/kernel:0" in flat and "dense_1/kernel:0" in flat  # the two heads look like backbone layers
    net = _model(latents)
    names = load_official_weights(net, flat)
    assert (
        names["latents.1.loc.weight"] == "dense_1/kernel"
        and names["encoder.dense.1.weight"] == "dense_2/kernel"
    )
    _check_forward(net, p, latents, sigmoid=False)


@needs_h5py
def test_h5_reader_follows_layer_and_weight_names_not_the_alphabet(tmp_path: Path) -> None:
    latents = ["s1", "s1"]
    write_u_lsbd_h5(tmp_path / "w.h5", random_params(latents), latents, offset=8)
    weights = keras_h5_weights(tmp_path / "w.h5")
    lay = keras_layers(latents, 8)
    expected = lay["enc"] + lay["dec"] + lay["loc0"] + lay["loc1"] + lay["scale0"] + lay["scale1"]
    assert list(weights) == [name for name, _ in expected]  # each shared weight read once, in tracking order
    assert weights["conv2d_8/kernel:0"].shape == (4, 4, C, 32)


@pytest.mark.parametrize("latents", [["s1", "s1"], ["s1", "r5"]])
def test_tf_checkpoint_keys_give_the_keras_forward(tmp_path: Path, latents: list[str]) -> None:
    p = random_params(latents, seed=2)
    arrays = tf_checkpoint_arrays(p, latents)
    net = _model(latents)
    names = load_official_weights(net, arrays)
    assert names["latents.0.loc.weight"].endswith(
        "lst_encoder_loc/0/layer_with_weights-1/mu_z_euclidean/kernel"
    )
    _check_forward(net, p, latents, sigmoid=False)
    np.savez(tmp_path / "w.npz", **arrays)  # the conversion the ImportError message suggests
    net2 = _model(latents)
    load_official_weights(net2, tmp_path / "w.npz")
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k])


def test_log_t_bias_spec_zero_and_official_one() -> None:
    spec, official = CircleLatent(8), CircleLatent(8, log_t_bias=1.0)
    h = torch.randn(5, 8)
    assert torch.all(spec.log_t.weight == 0) and torch.all(official.log_t.weight == 0)
    torch.testing.assert_close(spec.params(h)[1], torch.full((5, 1), -7.5))
    torch.testing.assert_close(
        official.params(h)[1], torch.full((5, 1), 2.5 * math.tanh(1.0) - 7.5)
    )  # -5.596
    net = build_lsbd(hidden=(8,), log_t_bias=1.0)
    assert all(
        float(lat.log_t.bias.detach()) == 1.0 for lat in net.subspaces if isinstance(lat, CircleLatent)
    )


BAD: list[Any] = [
    (lambda p: load_official_weights(build_lsbd(hidden=(8,)), {}), TypeError, "dislib backbone"),
    (lambda p: load_official_weights(torch.nn.Linear(2, 2), {}), TypeError, "must be an LSBDAutoencoder"),
    (lambda p: load_official_weights(_model(["s1", "s1"]), p / "none.h5"), FileNotFoundError, "no file"),
    (
        lambda p: load_official_weights(_model(["s1", "s1"]), p / "weights"),
        FileNotFoundError,
        "weights.index",
    ),
    (lambda p: load_official_weights(_model(["s1", "s1"]), 3), TypeError, "source must be"),
    (
        lambda p: load_official_weights(
            _model(["s1", "s1", "s1"]), tf_checkpoint_arrays(random_params(["s1", "s1"]), ["s1", "s1"])
        ),
        ValueError,
        "2 circle location",
    ),
    (
        lambda p: load_official_weights(
            build_lsbd("dislib", (C, 64, 64), ("s1", "s1")),
            tf_checkpoint_arrays(random_params(["s1", "s1"]), ["s1", "s1"]),
        ),
        ValueError,
        "encoder Dense",
    ),
    (
        lambda p: load_official_weights(
            build_lsbd("dislib", (1, H, W), ("s1", "s1")),
            tf_checkpoint_arrays(random_params(["s1", "s1"]), ["s1", "s1"]),
        ),
        ValueError,
        "the model needs",
    ),
    pytest.param(
        lambda p: (
            write_empty := p / "e.h5",
            h5py.File(write_empty, "w").close(),
            keras_h5_weights(write_empty),
        ),
        ValueError,
        "no Keras weights",
        marks=needs_h5py,
    ),
    (lambda p: load_official_weights(_model(["s1", "s1"]), p / "w.keras"), ValueError, "Keras 3 file"),
    (lambda p: load_official_weights(_model(["s1", "s1"]), p / "w.weights.h5"), ValueError, "Keras 3 file"),
    (lambda p: CircleLatent(4, log_t_bias=float("nan")), ValueError, "log_t_bias"),
    (
        lambda p: build_lsbd(hidden=(8,), decoder_output="linear"),
        ValueError,
        "only available for backbone='dislib'",
    ),
    (
        lambda p: build_lsbd("dislib", (1, 16, 16), decoder_output="tanh"),
        ValueError,
        "decoder_output must be one of",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_official_loader_refuses_bad_input_clearly(
    tmp_path: Path, call: Callable[[Path], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(tmp_path)

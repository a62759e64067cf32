"""Weights of the released TensorFlow/Keras LSBD-VAE (``luis-armando-perez-rey/lsbd-vae``) in our
:class:`~ballroom.lsbd.nn.LSBDAutoencoder` (dislib backbone).

The released model is a subclassed ``tf.keras.Model`` (``LSBDVAE``, holding ``u_lsbd`` and
``s_lsbd``, which share one encoder backbone, the latent heads and one decoder), so its weights only
exist as ``save_weights`` files. The layouts were reconstructed from the released model-building
code (``architectures.py``, ``latentspace.py``, ``lsbd_vae.py``, ``run.py``) and checked against
files that Keras 2.15 writes for a model of that structure (``tools/check_keras_layout.py``):

- **TF checkpoint** (``save_weights(".../weights")``, what ``run.py`` writes): object-graph keys such
  as ``u_lsbd/_BaseLSBDVAE__encoder_backbones/0/layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE``,
  ``u_lsbd/decoder/layer_with_weights-i/...``, ``u_lsbd/lst_encoder_loc/j/layer_with_weights-1/
  mu_z_euclidean/...`` and ``u_lsbd/lst_encoder_scale/j/layer_with_weights-1/...``; pass the arrays
  (``tf.train.load_checkpoint(path).get_tensor(key)`` for every key) as a mapping or ``.npz``, or the
  prefix when tensorflow is installed.
- **Keras h5**: ``LSBDVAE.save_weights("w.h5")`` fails in Keras (the loss trackers' variables all
  share the names ``total:0`` / ``count:0``), and ``u_lsbd.save_weights`` fails with unnamed latent
  spaces (both circles' heads are ``hyperspherical_log_t_``); what can be written is
  ``u_lsbd.save_weights`` with named latent spaces, or ``u_lsbd.encoder_flat`` and ``u_lsbd.decoder``
  separately: one group per sub-model or layer, datasets named by the variable names, which carry
  Keras' auto-generated layer names: ``conv2d .. conv2d_3`` (encoder), ``dense_k`` (encoder Dense 256
  and the two decoder Dense layers), ``conv2d_transpose .. _3`` (decoder),
  ``loc_param_layer[_k]/dense[_k]`` (a circle's location head), ``hyperspherical_log_t_<name>``
  (its log_t head), ``guassian_mu_<name>`` (sic) / ``gaussian_log_sigma_<name>`` (a Gaussian
  subspace). Read by layer kind and creation order (numeric suffixes; the named heads in the
  ``layer_names`` / ``weight_names`` order), so the session-dependent numbers do not matter.

Keras layouts become ours: Dense ``(in, out)`` -> ``weight (out, in)``; Conv2D ``(kh, kw, in, out)``
-> ``(out, in, kh, kw)``; Conv2DTranspose ``(kh, kw, out, in)`` -> ``(in, out, kh, kw)``; the encoder
Dense after ``Flatten`` reads NHWC ``(h, w, c)`` rows and the decoder's second Dense feeds
``Reshape((h, w, c))``, so both are permuted to torch's ``(c, h, w)``. Keras ``padding="same"`` for
4x4 stride-2 layers on even sizes pads 1 on each side, which is our ``padding=1``.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ballroom.lsbd.latent import CircleLatent, GaussianLatent
from ballroom.lsbd.models import DislibDecoder, DislibEncoder
from ballroom.lsbd.nn import LSBDAutoencoder

__all__ = ["keras_h5_weights", "load_official_state_dict", "load_official_weights", "official_state_dict"]

_SUFFIX = re.compile(r"^(?P<base>.*?)(?:_(?P<n>\d+))?$")
_TF_TAIL = r"/(?P<var>kernel|bias)/\.ATTRIBUTES/VARIABLE_VALUE$"
_TF_ENC = re.compile(r"(?:^|/)_BaseLSBDVAE__encoder_backbones/\d+/layer_with_weights-(?P<i>\d+)" + _TF_TAIL)
_TF_DEC = re.compile(r"(?:^|/)decoder/layer_with_weights-(?P<i>\d+)" + _TF_TAIL)
_TF_LOC = re.compile(
    r"(?:^|/)lst_encoder_loc/(?P<j>\d+)/layer_with_weights-1/(?P<circ>mu_z_euclidean/)?" + _TF_TAIL[1:]
)
_TF_SCALE = re.compile(r"(?:^|/)lst_encoder_scale/(?P<j>\d+)/layer_with_weights-1" + _TF_TAIL)

Pair = dict[str, np.ndarray]  # {"kernel": ..., "bias": ...} of one Keras layer


def _read_attr_list(node: Any, name: str) -> list[str] | None:
    """A Keras list attribute (``layer_names``, ``weight_names``), also when Keras split it into
    ``name0``, ``name1``, ... because it exceeded the HDF5 header limit."""
    attrs = node.attrs
    if name in attrs:
        chunks = [attrs[name]]
    elif f"{name}0" in attrs:
        chunks, k = [], 0
        while f"{name}{k}" in attrs:
            chunks.append(attrs[f"{name}{k}"])
            k += 1
    else:
        return None
    return [
        v.decode("utf8") if isinstance(v, bytes) else str(v)
        for c in chunks
        for v in np.asarray(c).reshape(-1)
    ]


def _dataset_names(group: Any, dataset_type: type) -> list[str]:
    """The paths of every dataset under ``group``, in h5 order."""
    found: list[str] = []
    group.visititems(lambda n, obj: found.append(n) if isinstance(obj, dataset_type) else None)
    return found


def keras_h5_weights(path_or_h5: Any) -> dict[str, np.ndarray]:
    """Every weight of Keras ``save_weights`` h5 files as ``{variable name: array}``, in the files'
    order (top-level layers as listed in ``layer_names``, weights as listed in each group's
    ``weight_names``; groups without those attributes in h5 order).

    A layer stored under several top-level layers with the same values (the released model's shared
    backbone, in every per-subspace sub-model) is read once. A layer whose name repeats with other
    values is another layer of the same name (the released latent spaces all name their heads
    ``hyperspherical_log_t_`` unless given names) and is kept as ``<top-level layer>/<name>``.

    Args:
        path_or_h5: a path to an ``.h5`` file, an open ``h5py.File`` / ``h5py.Group``, or a list of
            them (e.g. ``encoder_flat.save_weights`` and ``decoder.save_weights`` files), read in order.

    Returns:
        ``{"conv2d/kernel:0": array, ...}`` (names without the top-level group, unless repeated).

    Raises:
        ImportError: h5py is not installed.
        ValueError: the files hold no weights.
    """
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - optional
        raise ImportError("reading Keras h5 weights needs h5py: pip install 'ballroom-lsbd[data]'") from err
    out: dict[str, np.ndarray] = {}
    for src in path_or_h5 if isinstance(path_or_h5, list | tuple) else [path_or_h5]:
        if isinstance(src, str | os.PathLike):
            with h5py.File(os.fspath(src), "r") as fh:
                _read_groups(fh, h5py, out)
        else:
            _read_groups(src, h5py, out)
    if not out:
        raise ValueError("path_or_h5 holds no Keras weights (no datasets under its top-level groups)")
    return out


def _read_groups(root: Any, h5py: Any, out: dict[str, np.ndarray]) -> None:
    """Add the weights of one Keras h5 file (or group) to ``out`` (see :func:`keras_h5_weights`)."""
    if "model_weights" in root and isinstance(root["model_weights"], h5py.Group):  # a whole-model save
        root = root["model_weights"]
    for top in _read_attr_list(root, "layer_names") or list(root.keys()):
        group = root.get(top)
        if not isinstance(group, h5py.Group):
            continue
        order = _read_attr_list(group, "weight_names") or _dataset_names(group, h5py.Dataset)
        layers: dict[str, list[str]] = {}
        for name in order:
            layers.setdefault(name.rsplit("/", 1)[0], []).append(name)
        for names in layers.values():
            values = {name: np.asarray(group[name][()]) for name in names}
            same = all(
                n in out and out[n].shape == v.shape and np.array_equal(out[n], v) for n, v in values.items()
            )
            if same:
                continue  # a copy of a shared layer
            clash = any(n in out for n in values)
            for name, value in values.items():
                out[f"{top}/{name}" if clash else name] = value


def _number(name: str) -> int:
    m = _SUFFIX.match(name)
    return int(m.group("n")) if m and m.group("n") else 0


def _roles_h5(weights: Mapping[str, np.ndarray]) -> dict[str, list[tuple[str, Pair]]]:
    """Group Keras variable names (``[top/][parent/]layer/kernel:0``) by layer kind, each list in
    creation order: the backbone layers and the circles' location heads by their auto-numbered
    names (``conv2d_3``, ``loc_param_layer_1``), the explicitly named heads (``hyperspherical_log_t_*``,
    ``guassian_mu_*``, ``gaussian_log_sigma_*``) in the mapping's order (an h5 file's ``weight_names``
    order is the model's latent order). A location Dense stored without its ``loc_param_layer``
    scope is recognised by its ``(F, 2)`` kernel."""
    kinds: dict[str, dict[str, Pair]] = {
        k: {} for k in ("conv", "deconv", "dense", "loc", "log_t", "mu", "sigma")
    }
    number: dict[str, int] = {}
    for full, value in weights.items():
        parts = full.split("/")
        if len(parts) < 2:
            continue
        var = parts[-1].split(":")[0]
        if var not in ("kernel", "bias"):
            continue
        layer, parent = parts[-2], (parts[-3] if len(parts) > 2 else "")
        base = _SUFFIX.match(layer).group("base")  # type: ignore[union-attr]  # the pattern matches any string
        key, num = layer, _number(layer)
        if layer.startswith("hyperspherical_log_t_"):
            kind, key = "log_t", full.rsplit("/", 1)[0]  # the same name may hold several heads
        elif layer.startswith(("guassian_mu_", "gaussian_mu_")):
            kind, key = "mu", full.rsplit("/", 1)[0]
        elif layer.startswith("gaussian_log_sigma_"):
            kind, key = "sigma", full.rsplit("/", 1)[0]
        elif base == "conv2d_transpose":
            kind = "deconv"
        elif base == "conv2d":
            kind = "conv"
        elif base == "dense" and parent.startswith("loc_param_layer"):
            kind, key, num = "loc", f"{parent}/{layer}", _number(parent)
        elif base == "dense":
            kind = "dense"
        else:
            continue
        number.setdefault(key, num)
        kinds[kind].setdefault(key, {})[var] = np.asarray(value)
    if not kinds["loc"]:  # location Dense layers saved without their loc_param_layer scope: (F, 2) kernels
        for key in [
            k for k, pair in kinds["dense"].items() if "kernel" in pair and pair["kernel"].shape[-1:] == (2,)
        ]:
            kinds["loc"][key] = kinds["dense"].pop(key)
    out: dict[str, list[tuple[str, Pair]]] = {}
    for kind, layers in kinds.items():
        names = list(layers)  # the mapping's order
        if kind in ("conv", "deconv", "dense", "loc"):
            names.sort(key=lambda n: number[n])
        out[kind] = [(n, layers[n]) for n in names]
    return out


def _roles_tf(weights: Mapping[str, np.ndarray]) -> dict[str, list[tuple[str, Pair]]]:
    """Group TF-checkpoint keys by role: encoder / decoder layers by index, heads by latent index."""
    enc: dict[int, Pair] = {}
    dec: dict[int, Pair] = {}
    loc: dict[int, Pair] = {}
    scale: dict[int, Pair] = {}
    circ: dict[int, bool] = {}
    names: dict[tuple[str, int], str] = {}
    for key in sorted(weights, key=lambda k: (not k.startswith("u_lsbd/"), k)):
        value = np.asarray(weights[key])
        for pattern, table, tag, idx in (
            (_TF_ENC, enc, "enc", "i"),
            (_TF_DEC, dec, "dec", "i"),
            (_TF_LOC, loc, "loc", "j"),
            (_TF_SCALE, scale, "scale", "j"),
        ):
            m = pattern.search(key)
            if m is None:
                continue
            i = int(m.group(idx))
            slot = table.setdefault(i, {})
            if m.group("var") not in slot:  # the same variable may be listed under u_lsbd and s_lsbd
                slot[m.group("var")] = value
                names.setdefault((tag, i), key.rsplit("/", 3)[0])
            if tag == "loc":
                circ[i] = m.group("circ") is not None
            break
    enc_l = [(names[("enc", i)], enc[i]) for i in sorted(enc)]
    dec_l = [(names[("dec", i)], dec[i]) for i in sorted(dec)]
    out: dict[str, list[tuple[str, Pair]]] = {
        "conv": enc_l[:-1],
        "dense": enc_l[-1:] + dec_l[:2],
        "deconv": dec_l[2:],
        "loc": [],
        "log_t": [],
        "mu": [],
        "sigma": [],
    }
    for j in sorted(set(loc) | set(scale)):
        if j not in loc or j not in scale:
            raise ValueError(
                f"latent {j} has a location head but no scale head (or the reverse) in the checkpoint"
            )
        a, b = ("loc", "log_t") if circ.get(j, False) else ("mu", "sigma")
        out[a].append((names[("loc", j)], loc[j]))
        out[b].append((names[("scale", j)], scale[j]))
    return out


def _take(kind: str, items: list[tuple[str, Pair]], n: int) -> list[tuple[str, Pair]]:
    if len(items) != n:
        raise ValueError(
            f"the official weights hold {len(items)} {kind} layers, the model needs {n}: {[i[0] for i in items]}"
        )
    for name, pair in items:
        if set(pair) != {"kernel", "bias"}:
            raise ValueError(f"official layer {name!r} needs a kernel and a bias, has {sorted(pair)}")
    return items


def _put(
    state: dict[str, torch.Tensor], names: dict[str, str], key: str, value: np.ndarray, source: str
) -> None:
    target = state[key]
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(
            f"official weight {source!r} gives {key} the shape {tuple(value.shape)}, the model needs {tuple(target.shape)}"
        )
    state[key] = torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype)
    names[key] = source


def official_state_dict(
    model: LSBDAutoencoder, weights: Mapping[str, np.ndarray]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Our state dict from official Keras weights, and which official weight each entry came from.

    Args:
        model: a dislib :class:`LSBDAutoencoder` (``build_lsbd("dislib", ...)``) whose subspaces
            match the official latent spaces in kind and order (circles ``"s1"``, Gaussians ``"r<d>"``).
        weights: ``{name: array}``: Keras variable names (:func:`keras_h5_weights`) or TF-checkpoint
            keys (``.../.ATTRIBUTES/VARIABLE_VALUE``).

    Returns:
        ``(state_dict, {our key: official name})``; the state dict has every entry of ``model``'s.

    Raises:
        TypeError: ``model`` is not a dislib :class:`LSBDAutoencoder`.
        ValueError: the weights do not hold the layers the model needs, or a shape differs.
    """
    if not isinstance(model, LSBDAutoencoder):
        raise TypeError(f"model must be an LSBDAutoencoder, got {type(model).__name__}")
    enc, dec = model.encoder, model.decoder
    if not isinstance(enc, DislibEncoder) or not isinstance(dec, DislibDecoder):
        raise TypeError(
            "model must use the dislib backbone (build_lsbd('dislib', ...)): the released code's other "
            f"architectures are not mapped; got {type(enc).__name__} / {type(dec).__name__}"
        )
    tf_keys = any(k.endswith(".ATTRIBUTES/VARIABLE_VALUE") for k in weights)
    roles = _roles_tf(weights) if tf_keys else _roles_h5(weights)
    circles = [j for j, lat in enumerate(model.subspaces) if isinstance(lat, CircleLatent)]
    gaussians = [j for j, lat in enumerate(model.subspaces) if isinstance(lat, GaussianLatent)]
    heads = [
        (circles, "loc", "loc", "circle location (loc_param_layer)"),
        (circles, "log_t", "log_t", "circle log_t (hyperspherical_log_t_)"),
        (gaussians, "mu", "loc", "Gaussian mu (guassian_mu_)"),
        (gaussians, "sigma", "log_sigma", "Gaussian log_sigma (gaussian_log_sigma_)"),
    ]
    taken = [
        (idx, attr, _take(what, roles[kind], len(idx))) for idx, kind, attr, what in heads
    ]  # counts first
    state = {k: v.clone() for k, v in model.state_dict().items()}
    names: dict[str, str] = {}
    _, h, w = enc.image_shape
    hh, ww = h // 16, w // 16
    for i, (name, p) in enumerate(_take("Conv2D", roles["conv"], 4)):
        _put(
            state, names, f"encoder.convs.{2 * i}.weight", p["kernel"].transpose(3, 2, 0, 1), f"{name}/kernel"
        )
        _put(state, names, f"encoder.convs.{2 * i}.bias", p["bias"], f"{name}/bias")
    dense = _take("Dense (backbone)", roles["dense"], 3)
    k0 = dense[0][1]["kernel"]  # (h*w*64 in NHWC order, F)
    if k0.ndim != 2 or k0.shape[0] != hh * ww * 64:
        raise ValueError(
            f"official weight {dense[0][0]!r} (encoder Dense) has shape {k0.shape}, expected ({hh * ww * 64}, F)"
        )
    k0 = k0.reshape(hh, ww, 64, -1).transpose(2, 0, 1, 3).reshape(hh * ww * 64, -1)
    _put(state, names, "encoder.dense.1.weight", k0.T, f"{dense[0][0]}/kernel")
    _put(state, names, "encoder.dense.1.bias", dense[0][1]["bias"], f"{dense[0][0]}/bias")
    _put(state, names, "decoder.dense.0.weight", dense[1][1]["kernel"].T, f"{dense[1][0]}/kernel")
    _put(state, names, "decoder.dense.0.bias", dense[1][1]["bias"], f"{dense[1][0]}/bias")
    k2, b2 = dense[2][1]["kernel"], dense[2][1]["bias"]
    if k2.ndim != 2 or k2.shape[1] != hh * ww * 64:
        raise ValueError(
            f"official weight {dense[2][0]!r} (decoder Dense) has shape {k2.shape}, expected (256, {hh * ww * 64})"
        )
    k2 = k2.reshape(-1, hh, ww, 64).transpose(0, 3, 1, 2).reshape(k2.shape[0], -1)
    _put(state, names, "decoder.dense.2.weight", k2.T, f"{dense[2][0]}/kernel")
    _put(
        state,
        names,
        "decoder.dense.2.bias",
        b2.reshape(hh, ww, 64).transpose(2, 0, 1).reshape(-1),
        f"{dense[2][0]}/bias",
    )
    for i, (name, p) in enumerate(_take("Conv2DTranspose", roles["deconv"], 4)):
        _put(
            state,
            names,
            f"decoder.deconvs.{2 * i}.weight",
            p["kernel"].transpose(3, 2, 0, 1),
            f"{name}/kernel",
        )
        _put(state, names, f"decoder.deconvs.{2 * i}.bias", p["bias"], f"{name}/bias")
    for idx, attr, items in taken:
        for j, (name, p) in zip(idx, items):
            _put(state, names, f"latents.{j}.{attr}.weight", p["kernel"].T, f"{name}/kernel")
            _put(state, names, f"latents.{j}.{attr}.bias", p["bias"], f"{name}/bias")
    return state, names


def load_official_weights(model: LSBDAutoencoder, source: Any) -> dict[str, str]:
    """Load the released Keras LSBD-VAE's weights into ``model`` (in place).

    Args:
        model: a dislib :class:`LSBDAutoencoder` whose subspaces match the official latent spaces
            (e.g. ``build_lsbd("dislib", (3, 64, 64), ("s1", "s1"), decoder_output="linear")`` for the
            released ``architectures.py``, whose last Conv2DTranspose has no activation).
        source: a Keras ``save_weights`` ``.h5`` path or open ``h5py`` file/group, or a list of them
            (e.g. ``u_lsbd.encoder_flat`` and ``u_lsbd.decoder`` saved separately); a mapping
            ``{name: array}`` (Keras variable names or TF-checkpoint keys); an ``.npz`` of such a
            mapping; or a TF-checkpoint prefix (``.../weights``, needs tensorflow).

    Returns:
        ``{our state-dict key: official weight name}`` for every loaded entry.

    Raises:
        ImportError: h5py (h5) or tensorflow (a TF-checkpoint prefix) is missing.
        TypeError: ``model`` is not a dislib :class:`LSBDAutoencoder` or ``source`` is of another type.
        FileNotFoundError: ``source`` is a path that does not exist.
        ValueError: the weights do not fit the model (see :func:`official_state_dict`).
    """
    weights: Mapping[str, np.ndarray]
    if (hasattr(source, "attrs") and hasattr(source, "visititems")) or isinstance(source, list | tuple):
        weights = keras_h5_weights(source)  # an open h5py File / Group (a Mapping too), or several h5 files
    elif isinstance(source, Mapping):
        weights = source
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if path.endswith((".keras", ".weights.h5")):
            raise ValueError(
                f"source: {path!r} is a Keras 3 file (a .keras zip or a .weights.h5 with layers/<name>/vars); "
                "the released code is Keras 2: pass its save_weights h5 file or TF-checkpoint prefix"
            )
        if path.endswith((".h5", ".hdf5")):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"source: no file {path!r}")
            weights = keras_h5_weights(path)
        elif path.endswith(".npz"):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"source: no file {path!r}")
            with np.load(path) as data:
                weights = {k: data[k] for k in data.files}
        else:
            if not os.path.isfile(path + ".index"):
                raise FileNotFoundError(
                    f"source: no Keras h5 file or TF checkpoint {path!r} (looked for {path}.index)"
                )
            try:
                tf = importlib.import_module("tensorflow")  # pragma: no cover - not installed here
            except ImportError as err:
                raise ImportError(
                    "reading a TF checkpoint needs tensorflow; or convert it where tensorflow is installed: "
                    "r = tf.train.load_checkpoint(path); np.savez('w.npz', **{k: r.get_tensor(k) for k in "
                    "r.get_variable_to_shape_map()}) and pass 'w.npz'"
                ) from err
            reader = tf.train.load_checkpoint(path)  # pragma: no cover
            weights = {
                k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            }  # pragma: no cover
    else:
        raise TypeError(
            f"source must be an h5 path / h5py group, a mapping of arrays or an .npz path, got {type(source).__name__}"
        )
    state, names = official_state_dict(model, weights)
    model.load_state_dict(state)
    return names


#: the same loader under the name the other ballroom packages use
load_official_state_dict = load_official_weights

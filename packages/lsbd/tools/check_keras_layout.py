"""Manual check of ``ballroom.lsbd.official`` against real Keras 2 files (not part of the suite).

``build`` (needs TensorFlow 2.x with Keras 2, e.g. ``pip install "tensorflow-cpu==2.15.*" "numpy<2" h5py``)
builds a Keras model with the structure of the released LSBD-VAE as its model-building code
describes it (written here from those facts: the latent spaces are plain objects holding their
head layers, created before the dislib backbone as ``run.py`` does; a subclassed model with the
released attribute names in the released order, ``u_lsbd`` / ``s_lsbd`` inside ``LSBDVAE``), gives
every weight its own random value (a stand-in for training), writes the TF checkpoint ``run.py``
writes, the h5 files Keras can write (``u_lsbd``, ``encoder_flat`` + ``decoder``; the whole model
fails, see below) and a forward pass. ``compare`` (the ballroom environment) loads each file with
:func:`ballroom.lsbd.official.load_official_weights` and prints the largest difference to that
forward::

    python tools/check_keras_layout.py build OUT torus a,b      # TF environment
    python tools/check_keras_layout.py build OUT2 cylinder ,    # run.py's unnamed latent spaces
    python tools/check_keras_layout.py compare OUT torus        # ballroom environment
"""

from __future__ import annotations

import os
import sys

H, W, C = 32, 48, 3  # H/16 != W/16: the NHWC flatten permutation is exercised
LIMIT = (-10.0, -5.0)


def build(out: str, torus: bool, names: list[str]) -> None:  # pragma: no cover - needs tensorflow
    """Write the files and the forward pass into ``out``."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.keras import layers as kl

    class LocParamLayer(kl.Layer):  # a custom layer wrapping an unnamed Dense and the projection
        def __init__(self, dim: int, **kw: object) -> None:
            super().__init__(**kw)
            self.mu_z_euclidean = kl.Dense(dim)
            self.mu_z_layer = kl.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))

        def call(self, x: object) -> object:
            return self.mu_z_layer(self.mu_z_euclidean(x))

    class Space:  # a latent space: plain object, four Lambda layers, then its two heads
        def __init__(self, circle: bool, name: str) -> None:
            self.circle = circle
            self.dim = 2 if circle else 5
            self.layers = [kl.Lambda(lambda t: t, name=f"sample_{name}")] + [
                kl.Lambda(lambda t: t) for _ in range(3)
            ]
            if circle:
                half, mid = (LIMIT[1] - LIMIT[0]) / 2, (LIMIT[1] + LIMIT[0]) / 2
                self.scale = kl.Dense(
                    1,
                    name=f"hyperspherical_log_t_{name}",
                    activation=lambda x: half * tf.math.tanh(x) + mid,
                    bias_initializer="ones",
                    kernel_initializer="zeros",
                )
                self.loc = LocParamLayer(2)
            else:
                self.loc = kl.Dense(5, name=f"guassian_mu_{name}")
                self.scale = kl.Dense(5, name=f"gaussian_log_sigma_{name}")

    spaces = [Space(True, names[0]), Space(torus, names[1])]
    d = sum(s.dim for s in spaces)
    x = kl.Input((H, W, C))
    h = x
    for f in (32, 32, 64, 64):
        h = kl.Conv2D(f, 4, strides=2, padding="same", activation="relu")(h)
    encoder = tf.keras.Model(x, kl.Dense(256, activation="relu")(kl.Flatten()(h)))
    z = kl.Input((d,))
    g = kl.Dense(256, activation="relu")(z)
    g = kl.Reshape((H // 16, W // 16, 64))(kl.Dense(H // 16 * W // 16 * 64, activation="relu")(g))
    for f in (64, 32, 32):
        g = kl.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu")(g)
    decoder = tf.keras.Model(z, kl.Conv2DTranspose(C, 4, strides=2, padding="same")(g))

    class BaseLSBDVAE(tf.keras.Model):
        def __init__(self, backbones: list, dec: object, latent_spaces: list, **kw: object) -> None:
            super().__init__(**kw)
            self.reconstruction_loss = lambda a, b: a
            self.stop_gradient = False
            self.input_shape_ = (H, W, C)
            self.latent_spaces = latent_spaces
            self.encoder_backbones = backbones
            self.decoder = dec
            inp = kl.Input(self.input_shape_)
            self.lst_encoder_loc, self.lst_encoder_scale = [], []
            for e, s in zip(self.encoder_backbones, self.latent_spaces):
                he = e(inp)
                self.lst_encoder_loc.append(tf.keras.Model(inp, s.loc(he)))
                self.lst_encoder_scale.append(tf.keras.Model(inp, s.scale(he)))
            inp2 = kl.Input(self.input_shape_)
            outs = [m(inp2) for pair in zip(self.lst_encoder_loc, self.lst_encoder_scale) for m in pair]
            self.encoder_flat = tf.keras.Model(inp2, outs)
            ins = [kl.Input((s.dim,)) for s in self.latent_spaces]
            self.decoder_from_list = tf.keras.Model(ins, self.decoder(kl.Concatenate(-1)(ins)))
            self.total_loss_tracker = tf.keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = tf.keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = tf.keras.metrics.Mean(name="kl_loss")
            self.equivariance_tracker = tf.keras.metrics.Mean(name="equivariance_loss")

        @property
        def encoder_backbones(self) -> list:
            return self.__encoder_backbones

        @encoder_backbones.setter
        def encoder_backbones(self, value: list) -> None:
            self.__encoder_backbones = value * len(self.latent_spaces) if len(value) == 1 else value

        def call(self, inputs: object) -> object:
            return self.encoder_flat(inputs)

    class Views(BaseLSBDVAE):  # u_lsbd / s_lsbd: TimeDistributed wrappers over the shared models
        def __init__(self, n_views: int, *a: object, **kw: object) -> None:
            super().__init__(*a, **kw)
            inp = kl.Input((n_views, H, W, C))
            self.encoder_views = tf.keras.Model(
                inp, [kl.TimeDistributed(m)(inp) for m in self.lst_encoder_loc]
            )
            zin = kl.Input((n_views, d))
            self.decoder_views = tf.keras.Model(zin, kl.TimeDistributed(self.decoder)(zin))

    class LSBDVAE(tf.keras.Model):
        def __init__(self, *a: object) -> None:
            super().__init__()
            self.u_lsbd = Views(1, *a)
            self.s_lsbd = Views(2, *a)

        def call(self, inputs: object) -> object:
            return self.u_lsbd(inputs)

    model = LSBDVAE([encoder], decoder, spaces)
    model.compile(optimizer="adam")
    rng = np.random.default_rng(7)
    for w in model.u_lsbd.trainable_weights:
        w.assign((rng.normal(size=w.shape) * 0.5 / np.sqrt(max(1, np.prod(w.shape[:-1])))).astype(np.float32))
    os.makedirs(out, exist_ok=True)
    model.save_weights(os.path.join(out, "weights"))  # run.py: no .h5 suffix, the TF format
    reader = tf.train.load_checkpoint(os.path.join(out, "weights"))
    np.savez(
        os.path.join(out, "tf.npz"), **{k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
    )
    for sub, name in (
        (model, "lsbdvae.h5"),
        (model.u_lsbd, "u_lsbd.h5"),
        (model.u_lsbd.encoder_flat, "encoder_flat.h5"),
        (decoder, "decoder.h5"),
    ):
        try:
            sub.save_weights(os.path.join(out, name))
            print("saved", name)
        except Exception as err:  # report and go on (the whole model fails: duplicate names)
            print(name, "not saved:", err)
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
    xx = np.random.default_rng(0).random((2, H, W, C)).astype(np.float32)
    zz = np.random.default_rng(1).normal(size=(2, d)).astype(np.float32)
    np.savez(
        os.path.join(out, "forward.npz"),
        x=xx,
        loc=np.concatenate([m(xx).numpy() for m in model.u_lsbd.lst_encoder_loc], -1),
        scale=np.concatenate([m(xx).numpy() for m in model.u_lsbd.lst_encoder_scale], -1),
        z=zz,
        img=decoder(zz).numpy(),
    )


def compare(out: str, torus: bool) -> None:
    """Load every file of ``out`` into our model and print the largest differences to Keras' forward."""
    import numpy as np
    import torch

    from ballroom.lsbd import build_lsbd
    from ballroom.lsbd.official import load_official_weights

    latents = ("s1", "s1") if torus else ("s1", "r5")
    f = np.load(os.path.join(out, "forward.npz"))
    sources = {
        "TF checkpoint (tf.npz)": os.path.join(out, "tf.npz"),
        "u_lsbd.h5": os.path.join(out, "u_lsbd.h5"),
        "encoder_flat.h5 + decoder.h5": [
            os.path.join(out, "encoder_flat.h5"),
            os.path.join(out, "decoder.h5"),
        ],
    }
    for label, src in sources.items():
        paths = src if isinstance(src, list) else [src]
        if not all(os.path.exists(p) for p in paths):
            print(f"{label}: not written by Keras")
            continue
        net = build_lsbd("dislib", (C, H, W), latents, decoder_output="linear").double().eval()
        load_official_weights(net, src)
        x = torch.from_numpy(f["x"].astype(np.float64)).permute(0, 3, 1, 2)
        with torch.no_grad():
            loc = net(x).numpy()
            scale = np.concatenate([p[1].numpy() for p in net.encode(x)], -1)
            img = net.decode(torch.from_numpy(f["z"].astype(np.float64))).permute(0, 2, 3, 1).numpy()
        print(
            f"{label}: max |diff| locations {np.abs(loc - f['loc']).max():.1e}, scales "
            f"{np.abs(scale - f['scale']).max():.1e}, decoded images {np.abs(img - f['img']).max():.1e} "
            f"(images up to {np.abs(f['img']).max():.2f})"
        )


if __name__ == "__main__":
    mode, where, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "build":
        build(where, kind == "torus", (sys.argv[4] if len(sys.argv) > 4 else ",").split(","))
    else:
        compare(where, kind == "torus")

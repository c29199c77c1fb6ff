"""Independent literal re-computation of the official GENESIS and GENESIS-v2 forward passes
(applied-ai-lab/genesis: models/genesis_config.py, models/genesisv2_config.py, modules/*,
third_party/sylvester) from an official state dict, written from the published formulas with
``torch.nn.functional`` only: no module of ours is used. The Gaussian noise is zero (every latent
is its posterior mean); GENESIS-v2's seed map ``rand_pixel [B, 1, S, S]`` is an input.

Returns the official quantities: ``log_m_k`` (GENESIS: stick-breaking masks; GENESIS-v2: the IC-SBP
masks), ``log_m_r_k`` (v2: the decoder's reconstructed masks), ``x_r_k``, ``recon``, ``err``
(per image, the plain exp-sum-log of the official code) and ``kl`` (sum of the MC KL terms).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

State = dict[str, Tensor]


def _bn(x: Tensor, sd: State, p: str) -> Tensor:
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
                        False, 0.0, 1e-5)


def _gated(x: Tensor, sd: State, p: str, stride: int, pad: int, norm: bool, transpose: bool = False) -> Tensor:
    w, b = sd[p + ".conv.weight"], sd[p + ".conv.bias"]
    if transpose:
        y = F.conv_transpose2d(x, w, b, stride, pad, stride - 1 if pad else 0)
    else:
        y = F.conv2d(x, w, b, stride, pad)
    h, g = torch.chunk(y, 2, dim=1)
    if norm:
        h, g = _bn(h, sd, p + ".h_norm"), _bn(g, sd, p + ".g_norm")
    return h * torch.sigmoid(g)


def _lin(x: Tensor, sd: State, p: str) -> Tensor:
    return F.linear(x, sd[p + ".weight"], sd[p + ".bias"])


def _lstm_step(x: Tensor, state: tuple[Tensor, Tensor] | None, sd: State, p: str) -> tuple[Tensor, Tensor]:
    """One step of a one-layer nn.LSTM (gates i, f, g, o) from its ``*_l0`` tensors."""
    hidden = sd[p + ".weight_hh_l0"].shape[1]
    if state is None:
        state = (x.new_zeros(x.shape[0], hidden), x.new_zeros(x.shape[0], hidden))
    h, c = state
    gates = (x @ sd[p + ".weight_ih_l0"].T + sd[p + ".bias_ih_l0"] + h @ sd[p + ".weight_hh_l0"].T
             + sd[p + ".bias_hh_l0"])
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def _log_normal(x: Tensor, mu: Tensor | float, sigma: Tensor | float) -> Tensor:
    """``Normal(mu, sigma).log_prob(x)`` written out."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    return -((x - mu) ** 2) / (2 * sigma**2) - torch.log(sigma) - math.log(math.sqrt(2 * math.pi))


def _to_sigma(x: Tensor) -> Tensor:
    return F.softplus(x + 0.5) + 1e-8


def _prior_sigma(x: Tensor) -> Tensor:
    return torch.sigmoid(x + 4.0) + 1e-4


def _coords(size: int, like: Tensor) -> tuple[Tensor, Tensor]:
    lin = torch.linspace(-1, 1, size, dtype=like.dtype)
    g1, g2 = torch.meshgrid(lin, lin, indexing="ij")
    return g1, g2


def _broadcast(z: Tensor, size: int) -> Tensor:
    g1, g2 = _coords(size, z)
    n = z.shape[0]
    tiled = z.view(n, -1, 1, 1).expand(-1, -1, size, size)
    return torch.cat([tiled, g1.expand(n, 1, -1, -1), g2.expand(n, 1, -1, -1)], dim=1)


def _err(x: Tensor, log_m_k: list[Tensor], x_r_k: list[Tensor], std: Tensor | float) -> Tensor:
    log_x = _log_normal(x.unsqueeze(4), torch.stack(x_r_k, dim=4), std)
    log_mx = torch.stack(log_m_k, dim=4) + log_x
    return (-torch.log(log_mx.exp().sum(dim=4))).sum(dim=(1, 2, 3))


def _mask_prior_kl(z_k: list[Tensor], mu_k: list[Tensor], sigma_k: list[Tensor], sd: State) -> list[Tensor]:
    """Official mask_latent_loss: p(z_0) = N(0, 1), p(z_k | z_<k) from the prior LSTM + linear."""
    kls, state = [], None
    for k, z in enumerate(z_k):
        if k == 0 or "prior_lstm.weight_ih_l0" not in sd:
            p_mu, p_sigma = torch.zeros_like(z), torch.ones_like(z)
        else:
            state = _lstm_step(z_k[k - 1], state, sd, "prior_lstm")
            out = _lin(state[0], sd, "prior_linear")
            raw_mu, raw_sigma = out.chunk(2, dim=1)
            p_mu, p_sigma = torch.tanh(raw_mu), _prior_sigma(raw_sigma)
        kls.append((_log_normal(z, mu_k[k], sigma_k[k]) - _log_normal(z, p_mu, p_sigma)).sum(dim=1))
    return kls


def genesis_forward(sd: State, x: Tensor, K: int) -> dict[str, Tensor]:
    """Official GENESIS (two-stage, bn norms, autoregressive and component priors), noise zero."""
    b, _, s, _ = x.shape
    strides = [1, 2, 1, 2, 1] if s <= 64 else [2, 2, 2, 1, 1]
    # attention posterior
    h = x
    for i, st in enumerate(strides):
        h = _gated(h, sd, f"att_process.core.q_z_nn.{i}", st, 2, True)
    h = _gated(h, sd, "att_process.core.q_z_nn.5", 1, 0, False).view(b, -1)
    mu = _lin(h, sd, "att_process.core.q_z_mean")
    sigma = torch.sqrt(_to_sigma(_lin(h, sd, "att_process.core.q_z_var.0")) ** 2)
    z_k, mu_k, sigma_k, state = [mu], [mu], [sigma], None
    for _ in range(1, K):
        state = _lstm_step(torch.cat([h, z_k[-1]], dim=1), state, sd, "att_process.lstm")
        mean, raw = _lin(state[0], sd, "att_process.linear").chunk(2, dim=1)
        z_k.append(mean)
        mu_k.append(mean)
        sigma_k.append(torch.sqrt(_to_sigma(raw) ** 2))
    # attention decoder on the K latents as one batch, stick-breaking
    out = torch.cat(z_k, dim=0).view(K * b, -1, 1, 1)
    out = _gated(out, sd, "att_process.core.p_x_nn.0", 1, 0, False, transpose=True)
    for i, st in enumerate(reversed(strides)):
        out = _gated(out, sd, f"att_process.core.p_x_nn.{i + 1}", st, 2, True, transpose=True)
    out = F.conv2d(out, sd["att_process.core.p_x_mean.weight"], sd["att_process.core.p_x_mean.bias"])
    log_m_k, log_s_k = [], [torch.zeros(b, 1, s, s, dtype=x.dtype)]
    for k, logits in enumerate(torch.chunk(out, K, dim=0)):
        a = logits[:, :1]
        log_m_k.append(log_s_k[k] + F.logsigmoid(a))
        log_s_k.append(log_s_k[k] + F.logsigmoid(-a))
    log_m_k[K - 1] = log_s_k[K - 1]
    # component VAE
    enc = torch.cat([torch.cat(log_m_k, dim=0), x.repeat(K, 1, 1, 1)], dim=1)
    for i in (0, 2, 4, 6):
        p = f"comp_vae.encoder_module.module.{i}"
        enc = F.elu(F.conv2d(enc, sd[p + ".weight"], sd[p + ".bias"], 2, 1))
    enc = F.elu(_lin(enc.flatten(1), sd, "comp_vae.encoder_module.module.9"))
    mu_c, raw_c = _lin(enc, sd, "comp_vae.encoder_module.module.11").chunk(2, dim=1)
    sigma_c = _to_sigma(raw_c)
    dec = _broadcast(mu_c, s + 8)
    for i in (1, 3, 5, 7):
        p = f"comp_vae.decoder_module.seq.{i}"
        dec = F.elu(F.conv2d(dec, sd[p + ".weight"], sd[p + ".bias"]))
    dec = torch.sigmoid(F.conv2d(dec, sd["comp_vae.decoder_module.seq.9.weight"], sd["comp_vae.decoder_module.seq.9.bias"]))
    x_r_k = list(torch.chunk(dec, K, dim=0))
    recon = (torch.stack(log_m_k, dim=4).exp() * torch.stack(x_r_k, dim=4)).sum(dim=4)
    err = _err(x, log_m_k, x_r_k, sd["std"].to(x.dtype))
    kl = torch.stack(_mask_prior_kl(z_k, mu_k, sigma_k, sd)).sum(0)
    zc_k, muc_k, sigc_k = torch.chunk(mu_c, K, 0), torch.chunk(mu_c, K, 0), torch.chunk(sigma_c, K, 0)
    for k in range(K):
        hid = F.elu(_lin(z_k[k], sd, "prior_mlp.0"))
        hid = F.elu(_lin(hid, sd, "prior_mlp.2"))
        raw_mu, raw_sigma = _lin(hid, sd, "prior_mlp.4").chunk(2, dim=1)
        log_q = _log_normal(zc_k[k], muc_k[k], sigc_k[k])
        log_p = _log_normal(zc_k[k], torch.tanh(raw_mu), _prior_sigma(raw_sigma))
        kl = kl + (log_q - log_p).sum(dim=1)
    return {"log_m_k": torch.stack(log_m_k, 1), "x_r_k": torch.stack(x_r_k, 1), "recon": recon, "err": err,
            "kl": kl, "mu_m": torch.stack(mu_k, 1), "mu_c": mu_c.view(K, b, -1).transpose(0, 1)}


def _gn(x: Tensor, sd: State, p: str) -> Tensor:
    return F.group_norm(x, 8, sd[p + ".weight"], sd[p + ".bias"], 1e-5)


def _conv_gn_relu(x: Tensor, sd: State, p: str) -> Tensor:
    """Official ConvGNReLU: ``p.0`` conv 3x3 (no bias, padding 1), ``p.1`` GroupNorm(8), ReLU."""
    return F.relu(_gn(F.conv2d(x, sd[p + ".0.weight"], None, 1, 1), sd, p + ".1"))


def genesisv2_forward(sd: State, x: Tensor, K: int, rand_pixel: Tensor, sigma: float = 0.7) -> dict[str, Tensor]:
    """Official GENESIS-v2 (gaussian kernel, semiconv, autoregressive prior), Gaussian noise zero."""
    b, _, s, _ = x.shape
    blocks = int(math.log2(s) - 1)
    # UNet
    skips, h = [], x
    for i in range(blocks):
        h = _conv_gn_relu(h, sd, f"encoder.down.{i}")
        skips.append(h)
        if i < blocks - 1:
            h = F.interpolate(h, scale_factor=0.5, mode="nearest")
    h = F.relu(_lin(h.flatten(1), sd, "encoder.mlp.1"))
    h = F.relu(_lin(h, sd, "encoder.mlp.3"))
    h = F.relu(_lin(h, sd, "encoder.mlp.5")).view(b, -1, 4, 4)
    for i in range(blocks):
        h = _conv_gn_relu(torch.cat([h, skips[-1 - i]], dim=1), sd, f"encoder.up.{i}")
        if i < blocks - 1:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
    enc = F.relu(h)
    # IC-SBP
    feats = _conv_gn_relu(enc, sd, "seg_head")
    colour = sd["att_process.colour_head.gate.gate"] * F.conv2d(
        feats, sd["att_process.colour_head.conv.weight"], sd["att_process.colour_head.conv.bias"])
    g1, g2 = _coords(s, x)
    colour = colour + torch.cat([torch.zeros(1, colour.shape[1] - 2, s, s, dtype=x.dtype),
                                 g1.view(1, 1, s, s), g2.view(1, 1, s, s)], dim=1)
    log_m_k, log_s_k = [], [torch.zeros(b, 1, s, s, dtype=x.dtype)]
    for step in range(K - 1):
        probs = rand_pixel * log_s_k[step].exp()
        idx = probs.flatten(2).argmax(2).flatten()
        seed = torch.stack([colour.flatten(2)[i, :, idx[i]] for i in range(b)])
        dist = ((colour - seed.view(b, -1, 1, 1)) ** 2).sum(1)
        alpha = torch.exp(-dist / sd["att_process.log_sigma"].exp()).unsqueeze(1)
        alpha = alpha + (alpha.clamp(0.01, 0.99) - alpha)
        log_m_k.append(log_s_k[step] + torch.log(alpha))
        log_s_k.append(log_s_k[step] + torch.log(1 - alpha))
    log_m_k.append(log_s_k[-1])
    # component latents (means)
    feat = F.conv2d(_conv_gn_relu(enc, sd, "feat_head.0"), sd["feat_head.1.weight"], sd["feat_head.1.bias"])
    mu_k, sigma_k = [], []
    for log_m in log_m_k:
        m = log_m.exp()
        obj = (m * feat).sum((2, 3)) / (m.sum((2, 3)) + 1e-5)
        hid = F.layer_norm(obj, (obj.shape[1],), sd["z_head.0.weight"], sd["z_head.0.bias"], 1e-5)
        hid = F.relu(_lin(hid, sd, "z_head.1"))
        mu, raw = _lin(hid, sd, "z_head.3").chunk(2, dim=1)
        mu_k.append(mu)
        sigma_k.append(_to_sigma(raw))
    # decoder, softmax masks
    x_r_k, logits_k = [], []
    for z in mu_k:
        d = _broadcast(z, s // 16)
        for i in (1, 4, 7, 10):
            d = F.conv_transpose2d(d, sd[f"decoder_module.{i}.weight"], sd[f"decoder_module.{i}.bias"], 2, 2, 1)
            d = F.relu(_gn(d, sd, f"decoder_module.{i + 1}"))
        d = F.conv2d(d, sd["decoder_module.13.weight"], sd["decoder_module.13.bias"])
        x_r_k.append(torch.sigmoid(d[:, :3]))
        logits_k.append(d[:, 3:])
    log_m_r_k = list(torch.unbind(F.log_softmax(torch.stack(logits_k, dim=4), dim=4), dim=4))
    recon = (torch.stack(log_m_r_k, dim=4).exp() * torch.stack(x_r_k, dim=4)).sum(dim=4)
    err = _err(x, log_m_r_k, x_r_k, sigma)
    kl = torch.stack(_mask_prior_kl(mu_k, mu_k, sigma_k, sd)).sum(0)
    return {"log_m_k": torch.stack(log_m_k, 1), "log_m_r_k": torch.stack(log_m_r_k, 1), "x_r_k": torch.stack(x_r_k, 1),
            "recon": recon, "err": err, "kl": kl, "mu": torch.stack(mu_k, 1)}

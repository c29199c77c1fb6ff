"""An independent, literal re-computation of the reference EfficientMORL forward pass from an
official state dict (official key names, ``module.`` stripped), for parity tests.

It follows the reference's data layout and operations step by step: ``[N*K, D]`` rows, the
``[W, H, 4]`` position grid added to ``[H, W]`` features, the DualGRU's zero-padded
block matrices, ``torch.distributions`` for sampling statistics and KL, and
``autograd.grad(create_graph=True)`` for the refinement inputs. It shares no code with
``models/`` so that a mistake there (key map, gate order, grid transposition, KL variant, step
weights) shows up as a mismatch. Noise is explicit (our ``EMORLNoise`` layout ``[B, K, ...]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Independent, Normal, kl_divergence


def _grid(h: int, w: int) -> Tensor:
    right = torch.linspace(1, 0, w).view(w, 1, 1).repeat(1, h, 1)
    left = torch.linspace(0, 1, w).view(w, 1, 1).repeat(1, h, 1)
    top = torch.linspace(0, 1, h).view(1, h, 1).repeat(w, 1, 1)
    bottom = torch.linspace(1, 0, h).view(1, h, 1).repeat(w, 1, 1)
    return torch.cat([right, left, top, bottom], 2)  # [w, h, 4]


def _std(sp: Tensor) -> Tensor:
    sp = torch.min(sp, torch.ones_like(sp) * 80)
    return torch.sqrt(torch.log(1.0 + sp.exp()) + 1e-5)


def _mvn(loc: Tensor, sp: Tensor) -> Independent:
    return Independent(Normal(loc, _std(sp)), 1)


def _std_mvn(shape: tuple[int, int]) -> Independent:
    return Independent(Normal(torch.zeros(shape), torch.ones(shape)), 1)


def _linear(sd: dict, name: str, x: Tensor) -> Tensor:
    return F.linear(x, sd[name + ".weight"], sd.get(name + ".bias"))


def _pad(p1: Tensor, p2: Tensor) -> Tensor:
    zeros = torch.zeros_like(p1)
    return torch.cat([torch.cat([p1, zeros], 1), torch.cat([zeros, p2], 1)], 0)


def _dual_gru(sd: dict, x: Tensor, h: Tensor) -> Tensor:
    p = "hvae_networks.gru.cell."
    w_ih = _pad(sd[p + "weight_ih_1"], sd[p + "weight_ih_2"])
    w_hh = _pad(sd[p + "weight_hh_1"], sd[p + "weight_hh_2"])
    w_in = _pad(sd[p + "weight_in_1"], sd[p + "weight_in_2"])
    w_hn = _pad(sd[p + "weight_hn_1"], sd[p + "weight_hn_2"])
    gates = x @ w_ih.t() + sd[p + "bias_ih"] + h @ w_hh.t() + sd[p + "bias_hh"]
    r1, z1, r2, z2 = gates.chunk(4, 1)
    r = torch.cat([torch.sigmoid(r1), torch.sigmoid(r2)], 1)
    z = torch.cat([torch.sigmoid(z1), torch.sigmoid(z2)], 1)
    n = torch.tanh(x @ w_in.t() + sd[p + "bias_in"] + r * (h @ w_hn.t() + sd[p + "bias_hn"]))
    return (1.0 - z) * n + z * h


def _gru(sd: dict, prefix: str, x: Tensor, h: Tensor) -> Tensor:
    gi = F.linear(x, sd[prefix + "weight_ih_l0"], sd[prefix + "bias_ih_l0"])
    gh = F.linear(h, sd[prefix + "weight_hh_l0"], sd[prefix + "bias_hh_l0"])
    ir, iz, inn = gi.chunk(3, 1)
    hr, hz, hn = gh.chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(inn + r * hn)
    return (1 - z) * n + z * h


def _decoder(sd: dict, z: Tensor, kind: str, h: int, w: int) -> tuple[Tensor, Tensor]:
    p = "hvae_networks.image_decoder."
    gh, gw = (h + 10, w + 10) if kind == "iodine" else (h + 6, w + 6)
    zb = z.view(z.shape[0], -1, 1, 1).expand(-1, -1, gh, gw)
    pos = _linear(sd, p + "pos_embed_projection", _grid(gh, gw)).permute(2, 0, 1).unsqueeze(0)
    x = zb + pos
    if kind == "iodine":
        for i in (0, 2, 4, 6):
            x = F.elu(F.conv2d(x, sd[f"{p}decode.{i}.weight"], sd[f"{p}decode.{i}.bias"]))
        x = F.conv2d(x, sd[f"{p}decode.8.weight"], sd[f"{p}decode.8.bias"])
    else:
        for i in (0, 2, 4):
            x = F.relu(F.conv2d(x, sd[f"{p}decode.{i}.weight"], sd[f"{p}decode.{i}.bias"], padding=1))
        x = F.conv2d(x, sd[f"{p}decode.6.weight"], sd[f"{p}decode.6.bias"], padding=1)
    return torch.sigmoid(x[:, :3]), x[:, 3]


def _prior(sd: dict, z: Tensor) -> tuple[Tensor, Tensor]:
    p = "hvae_networks.indep_prior."
    hidden = F.elu(_linear(sd, p + "z_linear.0", z))
    return _linear(sd, p + "z_mu", hidden), _linear(sd, p + "z_softplus", hidden)


def reference_forward(sd: dict, x01: Tensor, noise, *, K: int, D: int, L: int, I: int, decoder: str,
                      likelihood: str, log_scale: float, prior: str = "reversed_plus_plus") -> dict[str, Tensor]:
    """The reference's ``two_stage_inference`` in eval mode with the ELBO loss (``geco=None``,
    ``kl_beta=1``), for images ``x01 [N, 3, H, W]`` in [0, 1] and explicit noise."""
    # parameters require grad, as in the reference module (refinement differentiates through them)
    sd = {key: value.detach().clone().requires_grad_(value.is_floating_point()) for key, value in sd.items()}
    n, _, h, w = x01.shape
    x = x01 * 2 - 1
    hv = "hvae_networks."
    # --- image encoder
    feats = x
    for i in (0, 2, 4, 6):
        feats = F.relu(F.conv2d(feats, sd[f"{hv}encoder_pt_1.{i}.weight"], sd[f"{hv}encoder_pt_1.{i}.bias"], padding=2))
    feats = feats.permute(0, 2, 3, 1)  # [N, H, W, 64]
    pos = _linear(sd, hv + "pos_embed_projection", _grid(h, w)).unsqueeze(0)  # [1, W, H, 64]
    feats = (feats + pos).reshape(n, -1, 64)
    feats = F.layer_norm(feats, (64,), sd[hv + "encoder_pt_2.0.weight"], sd[hv + "encoder_pt_2.0.bias"])
    feats = _linear(sd, hv + "encoder_pt_2.3", F.relu(_linear(sd, hv + "encoder_pt_2.1", feats)))
    k = F.linear(feats, sd[hv + "to_k.weight"])
    v = F.linear(feats, sd[hv + "to_v.weight"])
    # --- bottom-up layers, rows = n * K + k
    rows = lambda t: t.reshape(n * K, D)  # noqa: E731
    loc, sp = sd[hv + "init_posterior"].repeat(n * K, 1).chunk(2, dim=1)
    slots = (loc + _std(sp) * rows(noise.z0)).view(n, K, D)
    mu, s = loc, sp
    posteriors, lam = [], None
    for layer in range(L):
        q = F.linear(F.layer_norm(slots, (D,), sd[hv + "norm_slots.weight"], sd[hv + "norm_slots.bias"]),
                     sd[hv + "to_q.weight"]) * D ** -0.5
        attn = torch.einsum("bid,bjd->bij", q, k).softmax(dim=1) + 1e-8
        attn = attn / attn.sum(dim=-1, keepdim=True)
        updates = torch.einsum("bjd,bij->bid", v, attn)
        if hv + "gru.cell.weight_ih_1" in sd:
            hidden = _dual_gru(sd, torch.cat([updates, updates], 2).reshape(-1, 2 * D), torch.cat([mu, s], 1))
        else:
            upd = _linear(sd, hv + "project_update", updates).reshape(-1, 2 * D)
            hidden = _gru(sd, hv + "gru.", upd, torch.cat([mu, s], 1))
        mu, s = hidden.chunk(2, 1)
        mu = mu + _linear(sd, hv + "mlp_mu.2", F.relu(_linear(sd, hv + "mlp_mu.0", F.layer_norm(
            mu, (D,), sd[hv + "norm_mu_pre_ff.weight"], sd[hv + "norm_mu_pre_ff.bias"]))))
        s = s + _linear(sd, hv + "mlp_softplus.2", F.relu(_linear(sd, hv + "mlp_softplus.0", F.layer_norm(
            s, (D,), sd[hv + "norm_softplus_pre_ff.weight"], sd[hv + "norm_softplus_pre_ff.bias"]))))
        lam = torch.cat([mu, s], 1)
        mu, s = lam.chunk(2, 1)
        post = _mvn(mu, s)
        slots = mu + post.stddev * rows(noise.layers[:, :, layer])
        posteriors.append(post)
        slots_last = slots
        slots = slots.view(n, K, D)
    # --- step 0 and refinement
    if I > 0 and not lam.requires_grad:
        raise RuntimeError("call with gradients enabled")
    outs: dict[str, list] = {"nll": [], "kl": [], "recon": [], "masks": [], "means": [], "loss": []}
    total = 0.0
    h_state = torch.zeros(n * K, D)
    z_dec = slots_last
    prior_z = None
    loss = None
    for step in range(I + 1):
        if step > 0:
            (grad,) = torch.autograd.grad(loss, lam, create_graph=True, retain_graph=True)
            d_loc, d_sp = grad.chunk(2, 1)
            d_loc = F.layer_norm(d_loc, (D,)).detach()
            d_sp = F.layer_norm(d_sp, (D,)).detach()
            enc = _linear(sd, "refinenet.encoding.2", F.elu(_linear(sd, "refinenet.encoding.0",
                                                                    torch.cat([lam, d_loc, d_sp], 1))))
            h_state = _gru(sd, "refinenet.recurrence.", enc, h_state)
            lam = lam + torch.cat([_linear(sd, "refinenet.loc", h_state), _linear(sd, "refinenet.softplus", h_state)], 1)
            loc, sp = lam.chunk(2, 1)
            posterior = _mvn(loc, sp)
            z_dec = loc + posterior.stddev * rows(noise.refine[:, :, step - 1])
        rgb, logits = _decoder(sd, z_dec, decoder, h, w)
        rgb = rgb.view(n, K, 3, h, w)
        log_masks = F.log_softmax(logits.view(n, K, 1, h, w), dim=1)
        log_var = torch.tensor(2 * log_scale)
        if likelihood == "gmm":
            sq = (x01.unsqueeze(1) - rgb).pow(2)
            ll = -0.5 * log_var - 0.5 * sq / log_var.exp()
            nll = -torch.logsumexp(log_masks + ll, dim=1).sum(dim=(1, 2, 3))
        else:
            recon = (rgb * log_masks.exp()).sum(1)
            ll = -0.5 * log_var - 0.5 * (x01 - recon).pow(2) / log_var.exp()
            nll = -ll.sum(dim=(1, 2, 3))
        if step == 0:
            kl_div = torch.zeros(n)
            if prior != "bottom_up":
                for layer in reversed(range(L)):
                    if layer == L - 1:
                        prior_z = _std_mvn((n * K, D))
                    else:
                        src = posteriors[layer + 1]
                        z = src.mean + src.stddev * rows(noise.prior[:, :, layer])
                        p_loc, p_sp = _prior(sd, z)
                        prior_z = _mvn(p_loc, p_sp)
                    kl_div = kl_div + kl_divergence(posteriors[layer], prior_z).view(n, K).sum(1)
            else:
                for layer in range(L):
                    if layer == 0:
                        prior_z = _std_mvn((n * K, D))
                    else:
                        src = posteriors[layer - 1]
                        z = src.mean + src.stddev * rows(noise.prior[:, :, layer - 1])
                        p_loc, p_sp = _prior(sd, z)
                        prior_z = _mvn(p_loc, p_sp)
                    kl_div = kl_div + kl_divergence(posteriors[layer], prior_z).view(n, K).sum(1)
        else:
            if prior != "reversed_plus_plus":
                prior_z = _std_mvn((n * K, D))
            kl_div = kl_divergence(posterior, prior_z).view(n, K).sum(1)
        loss = torch.mean(nll + kl_div)
        total = total + (I + 2 - step + 1) / (I + 1) * loss
        outs["nll"].append(nll)
        outs["kl"].append(kl_div)
        outs["masks"].append(log_masks.exp())
        outs["recon"].append((rgb * log_masks.exp()).sum(1))
        outs["means"].append(lam.chunk(2, 1)[0].view(n, K, D))
        outs["loss"].append(loss)
    result = {key: value[-1] for key, value in outs.items()}
    result["total_loss"] = total
    result["stage_nll"] = outs["nll"]
    result["stage_means"] = outs["means"]
    return result


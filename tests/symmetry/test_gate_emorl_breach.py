"""The gate catches a slot-order bug planted inside the real EfficientMORL: a forward hook adds
``k * eps`` to slot k of one sub-network's output; exactly the components built on that
sub-network must then be reported violated, the others must still hold. (At the reference init,
xavier gain 0.02, the decoder is nearly constant and the bias would not reach the masks or the
NLL; generic weights make every downstream output react.)"""

from __future__ import annotations

import pytest
import torch

from emorl_eval import models
from emorl_eval import symmetry as sym

pytestmark = pytest.mark.symmetry

K = 3

# sub-network -> components whose claimed properties it must break
EXPECTED = {
    "layer": {"posterior_layer", "inference", "loss"},
    "prior": {"prior", "inference", "loss"},  # refinement follows the KL's gradient
    "refinement": {"refinement", "inference", "loss"},
}


def _slot_bias(module, args, output, eps=0.05):
    first = output[0] if isinstance(output, tuple) else output
    assert first.shape[1] == K, f"expected a slot axis at dim 1, got {tuple(first.shape)}"
    shape = [1, K] + [1] * (first.dim() - 2)
    biased = first + eps * torch.arange(K, dtype=first.dtype).reshape(shape)
    return (biased, *output[1:]) if isinstance(output, tuple) else biased


@pytest.fixture(scope="module")
def emorl():
    if "emorl" not in models.available():
        pytest.skip("EfficientMORL not registered")
    torch.manual_seed(0)
    built = models.build("emorl", preset="tetrominoes", num_slots=K, latent_dim=8, image_size=(8, 8))
    return sym.generic_weights(built, seed=1)  # distinct slots (the reference init makes them agree)


@pytest.mark.parametrize("submodule", sorted(EXPECTED))
def test_planted_slot_bias_is_caught_where_it_acts(emorl, submodule):
    handle = getattr(emorl, submodule).register_forward_hook(_slot_bias)
    try:
        table = sym.check_model(emorl, batch_size=2, seeds=[0], num_perms=2)
    finally:
        handle.remove()
    violated = set(table.loc[~table["passed"], "component"])
    assert violated == EXPECTED[submodule], sym.format_table(table)
    assert sym.exit_status(table) == 1
    # the planted bias does not depend on the order of the N input features
    assert table.loc[table["property"] == sym.INPUT_ORDER_INVARIANCE, "passed"].all()
    # and without the hook the same check passes again
    assert sym.exit_status(sym.check_model(emorl, batch_size=2, seeds=[0], num_perms=2)) == 0

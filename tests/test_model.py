"""The pretrained weights are mapped correctly: real photos are classified as what they show."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from framepick import ModelError
from framepick.embed import TorchEmbedder
from framepick.models.efficientnet_lite import FEATURE_DIM, load_pretrained, map_state_dict, weights_path

skimage_data = pytest.importorskip("skimage.data")

EGYPTIAN_CAT, ESPRESSO = 285, 967


def _input(img: np.ndarray) -> torch.Tensor:
    x = np.asarray(Image.fromarray(img).resize((224, 224), Image.BILINEAR)).astype(np.float32)
    return (torch.from_numpy(x).permute(2, 0, 1)[None] - 127.0) / 128.0


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return load_pretrained()


@pytest.mark.parametrize(
    ("photo", "label", "min_prob"),
    # The thresholds also catch subtler mapping errors: symmetric instead of TF "SAME"
    # padding still gets the labels right but at 0.70 / 0.86.
    [("chelsea", EGYPTIAN_CAT, 0.75), ("coffee", ESPRESSO, 0.88)],
)
def test_real_photo_classified(model, photo: str, label: int, min_prob: float) -> None:  # type: ignore[no-untyped-def]
    with torch.inference_mode():
        probs = model.classify(_input(getattr(skimage_data, photo)())).softmax(-1)[0]
    assert int(probs.argmax()) == label
    assert float(probs[label]) > min_prob


def test_every_checkpoint_weight_is_used() -> None:
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    mapped = map_state_dict(state)
    assert len(mapped) == len(state) == 296
    assert set(mapped) == set(load_pretrained().state_dict())


def test_unknown_weight_is_an_error() -> None:
    with pytest.raises(ModelError, match="unexpected weight"):
        map_state_dict({"_se_reduce.weight": torch.zeros(1)})


def test_fused_model_matches_unfused(model) -> None:  # type: ignore[no-untyped-def]
    x = _input(skimage_data.astronaut())
    with torch.inference_mode():
        a = model(x)
        b = load_pretrained().fuse()(x)
    assert a.shape == (1, FEATURE_DIM)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_embedder_features_are_pooled_1280d_and_deterministic() -> None:
    emb = TorchEmbedder(input_size=224, device="cpu")
    img = np.asarray(Image.fromarray(skimage_data.chelsea()).resize((224, 224), Image.BILINEAR))
    batch = np.stack([img, img[:, ::-1]])
    out = emb.embed(batch)
    assert out.shape == (2, FEATURE_DIM) and out.dtype == np.float32
    assert (out >= 0).all()  # ReLU6 head, then average pooling
    np.testing.assert_array_equal(out, emb.embed(batch))
    cos = float(out[0] @ out[1] / np.linalg.norm(out[0]) / np.linalg.norm(out[1]))
    assert cos > 0.8  # a mirrored cat is still a cat

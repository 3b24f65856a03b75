"""Numpy/PIL drawing primitives for the synthetic datasets.

Everything takes an explicit ``np.random.Generator`` so one image is a pure function of its seed.
Images are ``uint8`` arrays of shape (H, W, 3); masks are ``bool`` arrays of shape (H, W).
"""
import math

import numpy as np
from PIL import Image, ImageDraw


def image_rng(seed, split, index):
    """One generator per image: an image does not change when the dataset grows or shrinks."""
    return np.random.default_rng([int(seed), int(split), int(index)])


def smooth_noise(rng, h, w, cells=4):
    """Low-frequency colour field in [-1, 1] (H, W, 3): backgrounds that are not flat."""
    low = rng.integers(0, 256, size=(cells + 1, cells + 1, 3), dtype=np.uint8)
    big = Image.fromarray(low).resize((w, h), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 127.5 - 1.0


def random_colour(rng, far_from=None, min_dist=110.0):
    """A random RGB colour, at least ``min_dist`` away from ``far_from`` so shapes stay visible."""
    for _ in range(100):
        colour = rng.uniform(0, 255, size=3).astype(np.float32)
        if far_from is None or np.linalg.norm(colour - np.asarray(far_from)) >= min_dist:
            return colour
    return (255.0 - np.asarray(far_from, dtype=np.float32))  # the complement is always far enough


def background(rng, h, w, colour, amplitude=30.0, sigma=6.0):
    """A colour plus smooth blotches plus pixel noise (float32, unclipped)."""
    img = np.asarray(colour, np.float32) + amplitude * smooth_noise(rng, h, w)
    return img + rng.normal(0.0, sigma, size=(h, w, 3)).astype(np.float32)


def paint(img, mask, colour, rng=None, sigma=6.0):
    """Paint ``colour`` (+ optional pixel noise) where ``mask`` is true, in place."""
    n = int(mask.sum())
    value = np.broadcast_to(np.asarray(colour, np.float32), (n, 3))
    if rng is not None and sigma > 0:
        value = value + rng.normal(0.0, sigma, size=(n, 3)).astype(np.float32)
    img[mask] = value
    return img


def to_uint8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def polygon_mask(points, h, w):
    """Rasterise a polygon with PIL (used where no annotation format fixes the rasteriser)."""
    canvas = Image.new('L', (w, h), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=1)
    return np.asarray(canvas, dtype=bool)


def regular_polygon(cx, cy, radius, sides, angle=0.0):
    """Vertices of a regular polygon (circles are 32-gons, as polygon annotations need)."""
    t = angle + 2 * math.pi * np.arange(sides) / sides
    return np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1)


def star_polygon(cx, cy, radius, points=5, angle=0.0, inner=0.45):
    t = angle + math.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, radius, radius * inner)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def rect_polygon(cx, cy, half_w, half_h, angle=0.0):
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    c, s = math.cos(angle), math.sin(angle)
    rot = corners @ np.array([[c, s], [-s, c]])
    return rot + np.array([cx, cy])


def coords(h, w):
    """Pixel-centre coordinates (y, x) as float32 grids."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy + 0.5, xx + 0.5


def stripes(h, w, period, angle, phase, duty=0.5):
    """Mask of parallel stripes at ``angle`` (radians; 0 = horizontal bands)."""
    yy, xx = coords(h, w)
    t = yy * math.cos(angle) - xx * math.sin(angle)
    return ((t / period + phase) % 1.0) < duty


def checkerboard(h, w, period, angle, phase):
    yy, xx = coords(h, w)
    c, s = math.cos(angle), math.sin(angle)
    u = (yy * c - xx * s) / period + phase[0]
    v = (yy * s + xx * c) / period + phase[1]
    return (np.floor(u) + np.floor(v)) % 2 == 0


def dot_grid(h, w, period, radius, phase):
    yy, xx = coords(h, w)
    dy = (yy / period + phase[0]) % 1.0 - 0.5
    dx = (xx / period + phase[1]) % 1.0 - 0.5
    return dy * dy + dx * dx < (radius / period)**2

"""CLEVR-like scenes (96x96 or 128x128), rendered on the CPU by our own ray caster.

**CLEVR-like, not CLEVR6**: the object sampler follows CLEVR's generator
(facebookresearch/clevr-dataset-gen ``render_images.py``; ``datasets.md`` section 3.3) but the
renderer is a small Blinn-Phong ray caster (hard key-light shadows, one reflection bounce for
metal) with approximate camera and lights, so numbers on this data are not comparable with
published CLEVR6 numbers.

Sampler: n ~ U{min_objects..max_objects} (3..6, CLEVR6's range) fixed per image; per object size
large (0.7) or small (0.35), (x, y) ~ U[-3, 3]^2 accepted if its distance to every placed object
minus both radii is >= 0.25 and its offset along the camera's left/right/front/behind directions
is either <= 0 or >= 0.4 (50 tries, then the scene restarts); shape cube / sphere / cylinder
(cubes shrunk by 1/sqrt(2)), 8 colours, material rubber / metal, rotation ~ U[0, 360) degrees.
Camera and lights get CLEVR's uniform jitter (+-0.5 / +-1.0 per axis). Rays are cast only for the
EfficientMORL crop ``(64, 29, 256, 221)`` of CLEVR's 320x240 frame, at the output resolution, so
framing matches EMORL's preprocessing. A scene is redrawn (same n) if any object shows fewer than
``min_visible_pixels`` pixels (CLEVR's rule, 200 px at 320x240, in our crop).

Factors (EMORL's CLEVR order): ``x``, ``y``, ``z``, ``rotation`` (degrees; continuous),
``size`` (0 large, 1 small), ``material`` (0 rubber, 1 metal), ``shape`` (0 cube, 1 sphere,
2 cylinder), ``color`` (0 gray, 1 red, 2 blue, 3 green, 4 brown, 5 purple, 6 cyan, 7 yellow),
codes in the order of CLEVR's ``properties.json``.
"""

from __future__ import annotations

import math

import numpy as np

from emorl_eval.data.layouts import CLEVR_CROP, CLEVR_FACTOR_SPECS, CLEVR_RAW_SHAPE
from emorl_eval.data.raycast import Primitive, intersect_scene, occluded
from emorl_eval.data.scenes import SceneArrays
from emorl_eval.data.sprites import to_uint8

COLOR_NAMES = ("gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow")
COLORS_RGB = np.array([[87, 87, 87], [173, 35, 35], [42, 75, 215], [29, 105, 20], [129, 74, 25],
                       [129, 38, 192], [41, 208, 208], [255, 238, 51]], dtype=np.float32) / 255.0
SIZES = (0.7, 0.35)  # large, small
SHAPE_NAMES = ("cube", "sphere", "cylinder")
MATERIAL_NAMES = ("rubber", "metal")

CAMERA = np.array([7.48, -6.51, 5.34], dtype=np.float32)
FOV_DEG = 49.13  # horizontal field of view of CLEVR's 320-px-wide frame
LIGHTS = (  # (position, intensity, casts shadow): key, fill, back
    (np.array([6.0, -3.0, 8.0], dtype=np.float32), 0.85, True),
    (np.array([-5.0, -4.0, 5.0], dtype=np.float32), 0.30, False),
    (np.array([-1.0, 7.0, 6.0], dtype=np.float32), 0.30, False),
)
AMBIENT = 0.22
FLOOR = 0.62
SKY = 0.55


def _camera_basis(position: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    forward = -position / np.linalg.norm(position)  # looks at the origin
    right = np.cross(forward, np.array([0, 0, 1], dtype=np.float32))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return forward.astype(np.float32), right.astype(np.float32), up.astype(np.float32)


def camera_rays(position: np.ndarray, size: int, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rays through the EMORL crop of the 320x240 frame at ``size`` x ``size`` pixels.

    Returns origins and unit directions ``[size*size*supersample**2, 3]`` ordered by output
    pixel (row-major), then sub-sample.
    """
    forward, right, up = _camera_basis(position)
    left, top, rt, bottom = CLEVR_CROP
    h_frame, w_frame = CLEVR_RAW_SHAPE
    s = supersample
    sub = (np.arange(s, dtype=np.float32) + 0.5) / s
    pix = np.arange(size, dtype=np.float32)
    cols = left + (pix[:, None] + sub[None, :]).ravel() * (rt - left) / size  # [size*s]
    rows = top + (pix[:, None] + sub[None, :]).ravel() * (bottom - top) / size
    tan = math.tan(math.radians(FOV_DEG) / 2)
    xs = (cols - w_frame / 2) / (w_frame / 2) * tan
    ys = (h_frame / 2 - rows) / (w_frame / 2) * tan
    # order rays as [row, col, sub_row, sub_col] so sub-samples of a pixel are contiguous
    xs = xs.reshape(size, s)
    ys = ys.reshape(size, s)
    gx = np.broadcast_to(xs[None, :, None, :], (size, size, s, s))
    gy = np.broadcast_to(ys[:, None, :, None], (size, size, s, s))
    d = forward[None] + gx.reshape(-1, 1) * right[None] + gy.reshape(-1, 1) * up[None]
    d = (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32)
    o = np.broadcast_to(position.astype(np.float32), d.shape).copy()
    return o, d


def _ground_directions(camera: np.ndarray) -> np.ndarray:
    """CLEVR's cardinal directions ``[4, 2]`` (behind, front, left, right) in the ground plane."""
    forward, right, _ = _camera_basis(camera)
    behind = forward[:2] / np.linalg.norm(forward[:2])
    r = right[:2] / np.linalg.norm(right[:2])
    return np.stack([behind, -behind, -r, r])


def sample_layout(rng: np.random.Generator, n: int, camera: np.ndarray, min_dist: float = 0.25,
                  margin: float = 0.4, tries: int = 50) -> list[dict]:
    """CLEVR's object placement for ``n`` objects (restarts until all fit)."""
    dirs = _ground_directions(camera)
    while True:
        objects: list[dict] = []
        for _ in range(n):
            size_code = int(rng.integers(0, 2))
            r = SIZES[size_code]
            for _ in range(tries):
                x, y = rng.uniform(-3, 3, 2)
                ok = True
                for other in objects:
                    dx, dy = x - other["x"], y - other["y"]
                    if math.hypot(dx, dy) - r - other["r"] < min_dist:
                        ok = False
                        break
                    proj = dirs @ np.array([dx, dy])
                    if ((proj > 0) & (proj < margin)).any():
                        ok = False
                        break
                if ok:
                    break
            else:
                break  # no room: restart the scene
            shape = int(rng.integers(0, 3))
            half = r / math.sqrt(2) if shape == 0 else r
            objects.append({"x": float(x), "y": float(y), "r": half, "size": size_code, "shape": shape,
                            "color": int(rng.integers(0, 8)), "material": int(rng.integers(0, 2)),
                            "rotation": float(rng.uniform(0, 360))})
        if len(objects) == n:
            return objects


def _shade(points: np.ndarray, normals: np.ndarray, ids: np.ndarray, view: np.ndarray, objects: list[dict],
           prims: list[Primitive], lights, base: np.ndarray, metal: np.ndarray) -> np.ndarray:
    """Direct lighting ``[R, 3]`` at hit points (Blinn-Phong, key-light shadows)."""
    out = np.zeros_like(points)
    diffuse = np.full(points.shape[0], AMBIENT, dtype=np.float32)
    spec = np.zeros(points.shape[0], dtype=np.float32)
    ks = np.where(metal, 0.9, 0.12).astype(np.float32)
    shininess = np.where(metal, 80.0, 12.0).astype(np.float32)
    start = points + normals * 1e-3
    for pos, intensity, shadows in lights:
        to_l = pos[None] - points
        dist = np.linalg.norm(to_l, axis=1)
        ldir = to_l / dist[:, None]
        lam = np.clip(np.einsum("ij,ij->i", normals, ldir), 0, None)
        if shadows:
            lit = lam > 0
            blocked = np.zeros(points.shape[0], dtype=bool)
            if lit.any():
                blocked[lit] = occluded(start[lit], ldir[lit], dist[lit], prims)
            lam = np.where(blocked, 0, lam)
        diffuse += intensity * lam
        half = ldir - view
        half /= np.linalg.norm(half, axis=1, keepdims=True) + 1e-9
        spec += intensity * (lam > 0) * np.clip(np.einsum("ij,ij->i", normals, half), 0, None) ** shininess
    out = base * diffuse[:, None] * np.where(metal, 0.35, 1.0)[:, None] + (ks * spec)[:, None]
    return out.astype(np.float32)


def _surface(ids: np.ndarray, objects: list[dict], points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Base colour ``[R, 3]`` and metal flag ``[R]`` of hit ids (-1 ground, -2 sky)."""
    table = np.concatenate([np.array([[FLOOR] * 3, [SKY] * 3], dtype=np.float32),
                            np.stack([COLORS_RGB[o["color"]] for o in objects]) if objects else np.zeros((0, 3), np.float32)])
    metal_tab = np.array([False, False] + [o["material"] == 1 for o in objects])
    idx = np.where(ids == -1, 0, np.where(ids == -2, 1, ids + 2))
    return table[idx], metal_tab[idx]


def primitives(objects: list[dict]) -> list[Primitive]:
    """Ray-caster primitives of sampled objects (resting on the ground: centre z = half size)."""
    return [Primitive(o["shape"], np.array([o["x"], o["y"], o["r"]], dtype=np.float32), o["r"],
                      math.radians(o["rotation"])) for o in objects]


def trace_primary(objects: list[dict], camera: np.ndarray, size: int, supersample: int = 1):
    """Primary rays and their hits: ``(origins, dirs, t, ids, normals, labels)``; ``labels`` is
    the uint8 ``[size, size]`` label map (object ``j`` -> ``j + 1``; with supersampling, the id
    most sub-samples of a pixel see)."""
    o, d = camera_rays(camera, size, supersample)
    t, ids, normals = intersect_scene(o, d, primitives(objects))
    s2 = supersample * supersample
    labels = (ids + 1).clip(min=0).reshape(size, size, s2)  # ground/sky -> 0
    if s2 > 1:
        counts = np.stack([(labels == k).sum(axis=2) for k in range(len(objects) + 1)], axis=-1)
        labels = counts.argmax(axis=-1)
    else:
        labels = labels[..., 0]
    return o, d, t, ids, normals, labels.astype(np.uint8)


def render(objects: list[dict], camera: np.ndarray, lights, size: int, supersample: int = 1,
           primary=None) -> tuple[np.ndarray, np.ndarray]:
    """Render one scene.

    Returns:
        image float32 ``[size, size, 3]`` in [0, 1]; label map uint8 ``[size, size]`` (see
        :func:`trace_primary`, whose result may be passed as ``primary``).
    """
    prims = primitives(objects)
    o, d, t, ids, normals, labels = primary or trace_primary(objects, camera, size, supersample)
    colour = np.full(o.shape, SKY, dtype=np.float32)
    hit = ids != -2
    pts = o[hit] + d[hit] * t[hit, None]
    base, metal = _surface(ids[hit], objects)
    direct = _shade(pts, normals[hit], ids[hit], d[hit], objects, prims, lights, base, metal)
    # one reflection bounce for metal surfaces
    if metal.any():
        dm, nm = d[hit][metal], normals[hit][metal]
        rdir = dm - 2 * np.einsum("ij,ij->i", dm, nm)[:, None] * nm
        ro = pts[metal] + nm * 1e-3
        rt, rids, rn = intersect_scene(ro, rdir, prims)
        rcol = np.full(ro.shape, SKY, dtype=np.float32)
        rhit = rids != -2
        if rhit.any():
            rbase, rmetal = _surface(rids[rhit], objects)
            rcol[rhit] = _shade(ro[rhit] + rdir[rhit] * rt[rhit, None], rn[rhit], rids[rhit], rdir[rhit], objects,
                                prims, lights, rbase, rmetal)
        direct[metal] += 0.6 * base[metal] * rcol + 0.15 * rcol
    colour[hit] = direct
    image = colour.reshape(size, size, supersample * supersample, 3).mean(axis=2)
    return np.clip(image, 0, 1), labels


def generate_clevr_like(num: int, seed: int, size: int = 96, min_objects: int = 3, max_objects: int = 6,
                        supersample: int = 1, jitter: bool = True, min_visible_pixels: int | None = None) -> SceneArrays:
    """Generate ``num`` CLEVR-like scenes from ``seed``.

    Args:
        size: output side in px (96 = EMORL's clevr-small, 128 = clevr-large).
        min_objects, max_objects: range of the uniform object count.
        supersample: ``s`` gives ``s x s`` rays per pixel (anti-aliased image; the mask takes
            the majority id per pixel). 1 (default) keeps image and mask edges identical.
        jitter: CLEVR's random camera/light jitter.
        min_visible_pixels: redraw scenes in which an object shows fewer pixels (default
            ``25 * (size / 96) ** 2``, CLEVR's 200 px at 320x240 scaled to the crop).

    Returns:
        :class:`SceneArrays` with images ``[N,size,size,3]``, masks ``[N,size,size]``,
        visibility ``[N,max_objects]``, factors ``[N,max_objects,8]``.
    """
    if not 1 <= min_objects <= max_objects <= 10:
        raise ValueError("need 1 <= min_objects <= max_objects <= 10")
    if size < 8 or supersample < 1:
        raise ValueError("size must be >= 8 and supersample >= 1")
    if min_visible_pixels is None:
        min_visible_pixels = max(1, round(25 * (size / 96) ** 2))
    rng = np.random.default_rng(seed)
    images = np.zeros((num, size, size, 3), dtype=np.uint8)
    masks = np.zeros((num, size, size), dtype=np.uint8)
    visibility = np.zeros((num, max_objects), dtype=bool)
    factors = np.zeros((num, max_objects, 8), dtype=np.float32)
    for i in range(num):
        n = int(rng.integers(min_objects, max_objects + 1))
        for _attempt in range(1000):
            camera = CAMERA + (rng.uniform(-0.5, 0.5, 3).astype(np.float32) if jitter else 0)
            lights = [(pos + (rng.uniform(-1, 1, 3).astype(np.float32) if jitter else 0), inten, sh)
                      for pos, inten, sh in LIGHTS]
            objects = sample_layout(rng, n, camera)
            primary = trace_primary(objects, camera, size, supersample)
            counts = np.bincount(primary[-1].ravel(), minlength=n + 1)[1:]
            if (counts >= min_visible_pixels).all():
                break
        else:
            raise RuntimeError("could not place visible objects in 1000 attempts")
        image, labels = render(objects, camera, lights, size, supersample, primary)
        images[i] = to_uint8(image)
        masks[i] = labels
        visibility[i, :n] = counts > 0
        factors[i, :n] = [[o["x"], o["y"], o["r"], o["rotation"], o["size"], o["material"], o["shape"],
                           o["color"]] for o in objects]
    return SceneArrays(images, masks, visibility, factors, list(CLEVR_FACTOR_SPECS), "clevr_like",
                       {"size": size, "min_objects": min_objects, "max_objects": max_objects,
                        "supersample": supersample, "jitter": jitter, "min_visible_pixels": min_visible_pixels})

"""The heads-up display, drawn with OpenCV onto the rendered RGB frame so every sink gets it.

Layout (sizes scale with the frame; 640 x 480 is the reference):
- top left: fps, end-to-end latency and the encoder's name;
- top centre: a red "NO FACE" badge when no face is seen, "calibrating..." while calibrating;
- top right: the optional self-view inset (the camera image, downscaled);
- bottom left: the valence-arousal circumplex with the current point and a fading trail;
- bottom right: the 8 expression-class probabilities, the top class highlighted.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from avatar_live.types import EMOTION_CLASSES, Emotion, FaceParams

FONT = cv2.FONT_HERSHEY_SIMPLEX
REFERENCE_SIZE = (640, 480)
"""Frame size at which the HUD's pixel sizes below are used as they are."""

# Colours are RGB, like the frames.
PANEL = (16, 18, 26)
PANEL_ALPHA = 0.62
BORDER = (70, 76, 92)
TEXT = (235, 238, 245)
MUTED = (150, 157, 172)
AXIS = (92, 98, 115)
ACCENT = (96, 206, 255)
BAR = (104, 112, 132)
TOP_BAR = (255, 193, 72)
ALERT = (214, 48, 48)
WARN = (255, 190, 64)

MARGIN = 8  # reference pixels between panels and the frame's edges
PAD = 6  # reference pixels inside panels
LABEL_FONT = 0.34  # font scale of small labels at the reference size


@dataclass
class HudStats:
    """What the HUD reports besides the face parameters.

    Attributes:
        fps: frames per second of the output.
        latency_ms: capture-to-render latency in milliseconds, None if unknown.
        face: whether a face is seen in the current frame.
        calibrating: whether the neutral-face calibration is running.
        encoder: the read-outs at work, e.g. "learned", or "learned + emoca onnxruntime-int8 8/s"
            (EMOCA's backend and results per second).
    """

    fps: float
    latency_ms: float | None
    face: bool
    calibrating: bool
    encoder: str = "learned"


@dataclass(frozen=True)
class _Box:
    """A pixel rectangle, x1 and y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int


class Hud:
    """Draws the HUD for frames of one size, keeping the circumplex trail between frames."""

    def __init__(self, size: tuple[int, int], *, trail_seconds: float = 2.0) -> None:
        """Lay the HUD out for frames of `size`.

        Args:
            size: (width, height) of the frames it will draw on.
            trail_seconds: how long a valence-arousal point stays in the fading trail.

        Raises:
            ValueError: size or trail_seconds is not positive.
        """
        width, height = size
        if width <= 0 or height <= 0 or trail_seconds <= 0:
            raise ValueError(f"size and trail_seconds must be positive, got {size} and {trail_seconds}")
        self._size = (width, height)
        self._trail_seconds = trail_seconds
        self._trail: deque[tuple[float, float, float]] = deque()  # (time, valence, arousal)
        self._tints: dict[tuple[int, ...], np.ndarray] = {}  # (h, w, r, g, b) -> solid block
        self._now = 0.0  # time of the latest draw

        s = min(width / REFERENCE_SIZE[0], height / REFERENCE_SIZE[1])
        self._scale = s
        self._thin = max(1, int(s))  # 1 px up to twice the reference size; thicker crowds the glyphs
        self._margin = round(MARGIN * s)
        self._pad = round(PAD * s)
        self._label_font = LABEL_FONT * s
        self._label_height = cv2.getTextSize("Ag", FONT, self._label_font, self._thin)[0][1]
        self._layout_circumplex()
        self._layout_bars()

    def draw(
        self,
        image: np.ndarray,
        params: FaceParams,
        stats: HudStats,
        *,
        time: float,
    ) -> np.ndarray:
        """Draw the HUD onto `image` in place.

        Args:
            image: H x W x 3 RGB uint8 frame of the HUD's size.
            params: the frame's face parameters; only `emotion` is shown (None: no bars
                and no current point, everything else as usual).
            stats: fps, latency, face and calibration state, encoder name.
            time: seconds on any steadily increasing clock; ages the trail. Going
                backwards clears the trail.

        Returns:
            `image`.

        Raises:
            ValueError: image is not an RGB uint8 image of the right size,
                or emotion.probs does not have one value per class.
        """
        width, height = self._size
        if image.shape != (height, width, 3) or image.dtype != np.uint8:
            raise ValueError(f"image must be {height} x {width} x 3 uint8, got {image.shape} {image.dtype}")
        emotion = params.emotion
        if emotion is not None and np.shape(emotion.probs) != (len(EMOTION_CLASSES),):
            raise ValueError(f"emotion.probs must have shape ({len(EMOTION_CLASSES)},), got {np.shape(emotion.probs)}")
        self._update_trail(emotion, time)
        self._draw_stats(image, stats)
        self._draw_circumplex(image, emotion)
        if emotion is not None:
            self._draw_bars(image, emotion)
        self._draw_badges(image, stats)
        return image

    def reset(self) -> None:
        """Forget the trail (e.g. when a new source starts)."""
        self._trail.clear()

    def circumplex_point(self, valence: float, arousal: float) -> tuple[int, int]:
        """Pixel (x, y) where a valence-arousal pair is drawn; clamped to the circle.

        Args:
            valence: in [-1, 1], unpleasant to pleasant (left to right).
            arousal: in [-1, 1], calm to excited (bottom to top).

        Returns:
            (x, y) in frame pixels.
        """
        v, a = float(valence), float(arousal)
        length = max(1.0, float(np.hypot(v, a)))
        cx, cy = self._centre
        return round(cx + v / length * self._radius), round(cy - a / length * self._radius)

    # Layout, done once per size.

    def _layout_circumplex(self) -> None:
        """Place the circumplex panel in the bottom-left corner."""
        s, pad, height = self._scale, self._pad, self._size[1]
        self._radius = round(40 * s)
        gap = round(3 * s)
        left_w = self._label_width("unpleasant")
        right_w = self._label_width("pleasant")
        panel_w = pad + left_w + gap + 2 * self._radius + gap + right_w + pad
        panel_h = pad + self._label_height + gap + 2 * self._radius + gap + self._label_height + pad + gap
        x0, y1 = self._margin, height - self._margin
        self._circumplex_box = _Box(x0, y1 - panel_h, x0 + panel_w, y1)
        cx = x0 + pad + left_w + gap + self._radius
        cy = y1 - panel_h + pad + self._label_height + gap + self._radius
        self._centre = (cx, cy)
        r, half_h = self._radius, self._label_height // 2
        self._axis_labels = [
            ("excited", (cx - self._label_width("excited") // 2, cy - r - gap - 1)),
            ("calm", (cx - self._label_width("calm") // 2, cy + r + gap + self._label_height + 1)),
            ("unpleasant", (cx - r - gap - left_w, cy + half_h)),
            ("pleasant", (cx + r + gap, cy + half_h)),
        ]

    def _layout_bars(self) -> None:
        """Place the class-probability panel in the bottom-right corner."""
        s, pad = self._scale, self._pad
        width, height = self._size
        self._row_h = round(12 * s)
        self._bar_w = round(70 * s)
        label_w = max(self._label_width(name) for name in EMOTION_CLASSES)
        value_w = self._label_width("100%")
        gap = round(5 * s)
        panel_w = pad + label_w + gap + self._bar_w + gap + value_w + pad
        panel_h = pad + self._row_h + self._row_h * len(EMOTION_CLASSES) + pad
        x1, y1 = width - self._margin, height - self._margin
        self._bars_box = _Box(x1 - panel_w, y1 - panel_h, x1, y1)
        self._bar_x = x1 - panel_w + pad + label_w + gap
        self._value_x = self._bar_x + self._bar_w + gap
        self._rows_y = y1 - panel_h + pad + self._row_h  # top of the first class row

    def _label_width(self, text: str) -> int:
        return cv2.getTextSize(text, FONT, self._label_font, self._thin)[0][0]

    # Drawing, every frame.

    def _update_trail(self, emotion: Emotion | None, time: float) -> None:
        if self._trail and time < self._trail[-1][0]:
            self._trail.clear()
        if emotion is not None:
            self._trail.append((time, float(emotion.valence), float(emotion.arousal)))
        while self._trail and self._trail[0][0] < time - self._trail_seconds:
            self._trail.popleft()
        self._now = time

    def _draw_circumplex(self, image: np.ndarray, emotion: Emotion | None) -> None:
        box = self._circumplex_box
        self._shade(image, box)
        (cx, cy), r, thin = self._centre, self._radius, self._thin
        cv2.circle(image, (cx, cy), r, AXIS, thin, cv2.LINE_AA)
        cv2.line(image, (cx - r, cy), (cx + r, cy), AXIS, thin, cv2.LINE_AA)
        cv2.line(image, (cx, cy - r), (cx, cy + r), AXIS, thin, cv2.LINE_AA)
        for text, origin in self._axis_labels:
            self._label(image, text, origin, MUTED)
        if len(self._trail) > 1:
            self._draw_trail(image)
        if emotion is not None:
            point = self.circumplex_point(emotion.valence, emotion.arousal)
            cv2.circle(image, point, max(2, round(4 * self._scale)), ACCENT, -1, cv2.LINE_AA)
            cv2.circle(image, point, max(2, round(4 * self._scale)), TEXT, thin, cv2.LINE_AA)

    def _draw_trail(self, image: np.ndarray) -> None:
        """The recent valence-arousal path; older segments fade towards the panel colour and
        get thinner. The same pixels as `circumplex_point` per point, computed for all at
        once (a trail holds a second and a half of frames)."""
        times, valence, arousal = np.array(self._trail, dtype=np.float64).T
        length = np.maximum(1.0, np.hypot(valence, arousal))
        cx, cy = self._centre
        xs = np.round(cx + valence / length * self._radius).astype(int).tolist()
        ys = np.round(cy - arousal / length * self._radius).astype(int).tolist()
        fresh = np.maximum(0.0, 1.0 - (self._now - times[1:]) / self._trail_seconds)
        panel, accent = np.array(PANEL, np.float64), np.array(ACCENT, np.float64)
        colours = np.round(panel + (accent - panel) * fresh[:, None]).astype(int).tolist()
        widths = np.maximum(1, np.round(2 * self._scale * fresh)).astype(int).tolist()
        for i, (colour, width) in enumerate(zip(colours, widths)):
            cv2.line(image, (xs[i], ys[i]), (xs[i + 1], ys[i + 1]), colour, width, cv2.LINE_AA)

    def _draw_bars(self, image: np.ndarray, emotion: Emotion) -> None:
        probs = np.asarray(emotion.probs, dtype=np.float64)
        box = self._bars_box
        self._shade(image, box)
        top = int(np.argmax(probs))
        pad, row_h = self._pad, self._row_h
        self._label(image, f"emotion ({emotion.source})", (box.x0 + pad, self._rows_y - round(3 * self._scale)), MUTED)
        bar_h = max(2, round(row_h * 0.6))
        for i, (name, p) in enumerate(zip(EMOTION_CLASSES, probs)):
            row_top = self._rows_y + i * row_h
            baseline = row_top + (row_h + self._label_height) // 2
            highlight = i == top
            self._label(image, name, (box.x0 + pad, baseline), TEXT if highlight else MUTED)
            y0 = row_top + (row_h - bar_h) // 2
            cv2.rectangle(image, (self._bar_x, y0), (self._bar_x + self._bar_w - 1, y0 + bar_h - 1), AXIS, 1)
            filled = round(float(np.clip(p, 0.0, 1.0)) * (self._bar_w - 2))
            if filled > 0:
                colour = TOP_BAR if highlight else BAR
                cv2.rectangle(image, (self._bar_x + 1, y0 + 1), (self._bar_x + filled, y0 + bar_h - 2), colour, -1)
            self._label(image, f"{round(100 * float(p))}%", (self._value_x, baseline), TEXT if highlight else MUTED)

    def _draw_stats(self, image: np.ndarray, stats: HudStats) -> None:
        latency = "-- ms" if stats.latency_ms is None else f"{stats.latency_ms:.0f} ms"
        text = f"{stats.fps:.1f} fps | {latency} | {stats.encoder}"
        font = 0.42 * self._scale
        (text_w, text_h), _ = cv2.getTextSize(text, FONT, font, self._thin)
        m, pad = self._margin, self._pad
        box = _Box(m, m, min(self._size[0], m + text_w + 2 * pad), m + text_h + 2 * pad)
        self._shade(image, box)
        cv2.putText(image, text, (m + pad, m + pad + text_h), FONT, font, TEXT, self._thin, cv2.LINE_AA)

    def _draw_badges(self, image: np.ndarray, stats: HudStats) -> None:
        """The NO FACE badge and the calibration notice, stacked at the top centre."""
        y = self._margin
        if not stats.face:
            y = self._badge(image, "NO FACE", y, ALERT, TEXT, 0.6, alpha=0.85)
        if stats.calibrating:
            self._badge(image, "calibrating...", y + self._margin // 2, PANEL, WARN, 0.5, alpha=PANEL_ALPHA)

    def _badge(
        self, image: np.ndarray, text: str, y: int, fill: tuple[int, int, int], colour: tuple[int, int, int],
        font: float, *, alpha: float,
    ) -> int:
        """Centred text on a translucent `fill` box whose top is at y; returns its bottom."""
        font *= self._scale
        thickness = max(1, round(2 * self._scale)) if fill == ALERT else self._thin
        (text_w, text_h), _ = cv2.getTextSize(text, FONT, font, thickness)
        pad = round(1.5 * self._pad)
        x0 = (self._size[0] - text_w) // 2 - pad
        box = _Box(max(0, x0), y, min(self._size[0], x0 + text_w + 2 * pad), y + text_h + 2 * pad)
        self._shade(image, box, fill, alpha)
        cv2.putText(image, text, (x0 + pad, y + pad + text_h), FONT, font, colour, thickness, cv2.LINE_AA)
        return box.y1

    def draw_self_view(self, image: np.ndarray, self_view: np.ndarray) -> np.ndarray:
        """Draw the camera image as an inset in the top right corner of `image`, in place.

        Kept apart from `draw` because the inset belongs to the window only: it must never
        reach a virtual camera or a recording, which may show the HUD.

        Args:
            image: H x W x 3 RGB uint8 frame of the HUD's size.
            self_view: h x w x 3 RGB uint8 camera image.

        Returns:
            `image`.
        """
        if self_view.ndim != 3 or self_view.shape[2] != 3 or self_view.dtype != np.uint8 or 0 in self_view.shape:
            raise ValueError(f"self_view must be h x w x 3 uint8, got {self_view.shape} {self_view.dtype}")
        width, height = self._size
        inset_w = round(width * 0.2)
        inset_h = min(round(inset_w * self_view.shape[0] / self_view.shape[1]), height // 3)
        x1, y0 = width - self._margin, self._margin
        # Linear is enough for a thumbnail and ~80x faster than INTER_AREA on HD input.
        image[y0:y0 + inset_h, x1 - inset_w:x1] = cv2.resize(self_view, (inset_w, inset_h), interpolation=cv2.INTER_LINEAR)
        cv2.rectangle(image, (x1 - inset_w - 1, y0 - 1), (x1, y0 + inset_h), BORDER, self._thin)
        return image

    def _shade(
        self, image: np.ndarray, box: _Box, fill: tuple[int, int, int] = PANEL, alpha: float = PANEL_ALPHA
    ) -> None:
        """Blend a translucent `fill` rectangle over `box`, with a thin border."""
        roi = image[box.y0:box.y1, box.x0:box.x1]
        key = (roi.shape[0], roi.shape[1], *fill)
        tint = self._tints.get(key)
        if tint is None:
            tint = self._tints[key] = np.full(roi.shape, fill, np.uint8)
        cv2.addWeighted(roi, 1.0 - alpha, tint, alpha, 0.0, dst=roi)
        cv2.rectangle(image, (box.x0, box.y0), (box.x1 - 1, box.y1 - 1), BORDER, 1)

    def _label(self, image: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int]) -> None:
        cv2.putText(image, text, origin, FONT, self._label_font, colour, self._thin, cv2.LINE_AA)

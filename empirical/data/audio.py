"""Spoken digits in background noise (the Feature Dropout paper's AudioMNIST-with-noise), offline.

Tamkin et al.'s audio task mixes AudioMNIST spoken digits with one of three background noises
(babble, traffic, machinery) and reads log-mel spectrograms (64 mels). Nothing may be downloaded
here, so the parts are made on this machine:

* Speech: the words "zero".."nine" synthesised by eSpeak NG, driven through ``ctypes`` from the
  library and voice data bundled in the ``espeakng-loader`` wheel (GPL-3.0 engine and data).
  A *speaker* is an English voice (accent) x a voice variant (timbre) x pitch, pitch range and
  speaking rate; each repetition of a word jitters pitch and rate slightly.
* Noise (per split, disjoint generator seeds): babble = several overlapping talkers reading
  digit-free sentences (other synthetic speakers); traffic = low-passed brown noise with passing
  vehicles (swelling engine tone with Doppler glide and tyre hiss); machinery = a motor hum
  (harmonic series with wobble), rhythmic damped clanks and band-limited hiss.
* Features: a hand-written triangular mel filterbank (HTK mel scale) over a Hann-window STFT.

Waveforms are 16 kHz, 1 s (utterances trimmed of silence and placed at a fixed random offset).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy.signal import resample_poly

from empirical.data.base import SPLITS, Batch, TaskSpec, check_indices, split_stream
from empirical.data.cache import cached_arrays
from empirical.registry import strict

SAMPLE_RATE = 16_000
ESPEAK_SAMPLE_RATE = 22_050
DIGIT_WORDS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
NOISE_TYPES: tuple[str, ...] = ("babble", "traffic", "machinery")
ENGLISH_VOICES: tuple[str, ...] = (
    "en",
    "en-029",
    "en-GB-scotland",
    "en-GB-x-gbclan",
    "en-GB-x-gbcwmd",
    "en-GB-x-rp",
    "en-US",
    "en-US-nyc",
)
_EXCLUDED_VARIANTS = frozenset({"whisper", "whisperf"})
BABBLE_SENTENCES: tuple[str, ...] = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet onto the dark blue background.",
    "It is easy when you tell a story with a clear voice.",
    "The boy was there when the sun rose.",
    "A large size in stockings is hard on a thin purse.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "A rod is used as a tool when catching fish.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "We talked of the side show in the circus.",
    "Use a pencil when you write the name of the city.",
    "The walled town was seized without a fight.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
)

# eSpeak NG API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_RATE, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakUnavailableError(RuntimeError):
    """eSpeak NG (from the ``espeakng-loader`` package) cannot be loaded or driven here."""


# --------------------------------------------------------------------------- eSpeak NG driver


class _Espeak:
    """A process-wide handle on the bundled libespeak-ng in synchronous mode (not thread-safe)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:
            raise EspeakUnavailableError(
                "the audio suite needs eSpeak NG from the 'espeakng-loader' package: "
                "pip install 'featuredrop[audio]'"
            ) from err
        self.data_path = Path(espeakng_loader.get_data_path())
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as err:
            raise EspeakUnavailableError(f"cannot load libespeak-ng: {err}") from err
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate != ESPEAK_SAMPLE_RATE:
            raise EspeakUnavailableError(
                f"espeak_Initialize returned {rate} (expected sample rate {ESPEAK_SAMPLE_RATE})"
            )
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept alive with the handle
        lib.espeak_SetSynthCallback(self._callback)
        self.lib = lib
        self.version = (lib.espeak_Info(None) or b"unknown").decode()

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def synthesise(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, seed: int = 0
    ) -> np.ndarray:
        """``text`` spoken by ``voice`` (e.g. ``"en-US+m3"``) -> ``(N,)`` float32 at 22.05 kHz.

        ``seed`` seeds eSpeak NG's own noise generator (breathiness, frication) for this call.
        """
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailableError(f"eSpeak NG has no voice {voice!r}")
        for param, value in (
            (_ESPEAK_RATE, rate),
            (_ESPEAK_PITCH, pitch),
            (_ESPEAK_RANGE, pitch_range),
        ):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self.lib.espeak_ng_SetRandSeed(seed)
        self._chunks = []
        data = text.encode()
        err = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        if err != 0:
            raise EspeakUnavailableError(f"espeak_Synth failed with code {err} for {text!r}")
        if not self._chunks:
            raise EspeakUnavailableError(f"eSpeak NG produced no audio for {text!r} ({voice})")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0


_ENGINE: _Espeak | None = None


def espeak() -> _Espeak:
    """The process-wide eSpeak NG handle (raises ``EspeakUnavailableError`` with the reason)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Espeak()
    return _ENGINE


def voice_variants() -> tuple[str, ...]:
    """The bundled voice variants (timbres), sorted, without whispering ones and odd names."""
    folder = espeak().data_path / "voices" / "!v"
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    return tuple(n for n in names if n not in _EXCLUDED_VARIANTS and n.isidentifier())


# --------------------------------------------------------------------------- speakers and speech


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: eSpeak voice (accent) + variant (timbre), pitch 0-99, pitch range
    0-99 and rate in words per minute."""

    voice: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int


def sample_speakers(n: int, rng: np.random.Generator) -> list[Speaker]:
    """``n`` speakers with distinct (voice, variant) pairs; pitch U{25..75}, range U{20..80},
    rate U{130..210} wpm."""
    variants = voice_variants()
    pairs = [(v, w) for v in ENGLISH_VOICES for w in variants]
    if not 1 <= n <= len(pairs):
        raise ValueError(f"number of speakers must lie in [1, {len(pairs)}]; got {n}")
    chosen = rng.choice(len(pairs), size=n, replace=False)
    return [
        Speaker(
            voice=pairs[k][0],
            variant=pairs[k][1],
            pitch=int(rng.integers(25, 76)),
            pitch_range=int(rng.integers(20, 81)),
            rate=int(rng.integers(130, 211)),
        )
        for k in chosen
    ]


def speak(text: str, speaker: Speaker, rng: np.random.Generator | None = None) -> np.ndarray:
    """``text`` by ``speaker`` as ``(N,)`` float32 at 16 kHz, silence trimmed, peak 1.

    With ``rng``, one repetition's jitter: pitch +-6 and rate +-8 %.
    """
    pitch, rate, seed = speaker.pitch, speaker.rate, 0
    if rng is not None:
        pitch = int(np.clip(pitch + rng.integers(-6, 7), 0, 99))
        rate = round(float(rate * rng.uniform(0.92, 1.08)))
        seed = int(rng.integers(0, 2**31))
    wave = espeak().synthesise(
        text, f"{speaker.voice}+{speaker.variant}", rate, pitch, speaker.pitch_range, seed
    )
    wave = resample_poly(wave, 320, 441).astype(np.float32)  # 22050 Hz -> 16000 Hz
    return _normalise_peak(_trim_silence(wave))


def _trim_silence(wave: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut leading and trailing samples below ``threshold`` x peak (10 ms margin)."""
    loud = np.flatnonzero(np.abs(wave) > threshold * np.abs(wave).max())
    margin = SAMPLE_RATE // 100
    return wave[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def _normalise_peak(wave: np.ndarray) -> np.ndarray:
    return (wave / max(float(np.abs(wave).max()), 1e-8)).astype(np.float32)


# --------------------------------------------------------------------------- background noise


def _filtered_noise(n: int, rng: np.random.Generator, response: np.ndarray) -> np.ndarray:
    """White noise shaped by a magnitude ``response`` ``(n // 2 + 1,)`` over rfft bins."""
    spec = np.fft.rfft(rng.standard_normal(n)) * response
    return np.fft.irfft(spec, n)


def _freqs(n: int) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)


def _harmonic_series(phase: np.ndarray, n_harmonics: int, rng: np.random.Generator) -> np.ndarray:
    """``sum_k sin(k phase + phi_k) / k`` for k = 1..n_harmonics, random phases; ``(n,)``."""
    k = np.arange(1, n_harmonics + 1)[:, None]  # (K, 1)
    phi = rng.uniform(0.0, 2.0 * np.pi, size=(n_harmonics, 1))  # (K, 1)
    return (np.sin(k * phase[None, :] + phi) / k).sum(axis=0)


def traffic_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Road traffic: low-passed brown rumble plus passing vehicles (engine tone gliding down by
    Doppler, tyre hiss), each swelling and fading over 2-5 s. ``(n,)`` float32, unit RMS."""
    f = _freqs(n)
    t = np.arange(n) / SAMPLE_RATE
    rumble = _filtered_noise(n, rng, 1.0 / np.maximum(f, 20.0) / (1.0 + (f / 600.0) ** 2))
    out = rumble / rumble.std()
    hiss_band = np.exp(-0.5 * ((f - 1500.0) / 700.0) ** 2)
    duration = n / SAMPLE_RATE
    for _ in range(max(1, int(rng.poisson(duration / 2.5)))):
        centre = rng.uniform(-2.0, duration + 2.0)
        width = rng.uniform(1.0, 2.5)
        envelope = np.exp(-0.5 * ((t - centre) / width) ** 2)
        f0 = rng.uniform(60.0, 160.0)
        glide = f0 * (1.0 + 0.06 * np.tanh(-(t - centre) / (0.5 * width)))  # Doppler shift
        phase = 2.0 * np.pi * np.cumsum(glide) / SAMPLE_RATE
        engine = _harmonic_series(phase, 5, rng)
        hiss = _filtered_noise(n, rng, hiss_band)
        out = out + envelope * rng.uniform(1.0, 3.0) * (0.6 * engine + 2.0 * hiss / hiss.std())
    return _unit_rms(out)


def machinery_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Machinery: motor hum (harmonics of 40-120 Hz, amplitudes 1/k, slow wobble), rhythmic damped
    metallic clanks (2-8 per second, 1-3 kHz) and band-limited hiss. ``(n,)`` float32, unit RMS."""
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(40.0, 120.0)
    wobble = 1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    phase = 2.0 * np.pi * f0 * np.cumsum(wobble) / SAMPLE_RATE
    hum = _harmonic_series(phase, 20, rng)
    hum = hum / np.std(hum)
    clanks = np.zeros(n)
    period = int(SAMPLE_RATE / rng.uniform(2.0, 8.0))
    ring_t = np.arange(int(0.08 * SAMPLE_RATE)) / SAMPLE_RATE
    for start in range(int(rng.integers(0, period)), n, period):
        ring = np.sin(2 * np.pi * rng.uniform(1000.0, 3000.0) * ring_t) * np.exp(-ring_t / 0.015)
        stop = min(start + ring.size, n)
        clanks[start:stop] += ring[: stop - start] * rng.uniform(0.5, 1.0)
    f = _freqs(n)
    hiss = _filtered_noise(n, rng, np.exp(-0.5 * ((f - 2500.0) / 1200.0) ** 2))
    out = hum + 1.5 * clanks / max(clanks.std(), 1e-8) + 0.5 * hiss / hiss.std()
    return _unit_rms(out)


def babble_noise(
    n: int, rng: np.random.Generator, speakers: list[Speaker], talkers: int = 6
) -> np.ndarray:
    """Babble: ``talkers`` overlapping streams of digit-free sentences, each read by speakers
    drawn from ``speakers``. ``(n,)`` float32, unit RMS."""
    out = np.zeros(n)
    for _ in range(talkers):
        stream: list[np.ndarray] = [np.zeros(int(rng.integers(0, SAMPLE_RATE)))]
        length = stream[0].size
        while length < n:
            sentence = BABBLE_SENTENCES[int(rng.integers(len(BABBLE_SENTENCES)))]
            speaker = speakers[int(rng.integers(len(speakers)))]
            wave = speak(sentence, speaker, rng)
            gap = np.zeros(int(rng.integers(SAMPLE_RATE // 20, SAMPLE_RATE // 4)))
            stream += [wave / max(float(wave.std()), 1e-8), gap]
            length += wave.size + gap.size
        out += np.concatenate(stream)[:n]
    return _unit_rms(out)


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / max(float(np.sqrt(np.mean(x**2))), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- log-mel features


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of ``hz_to_mel``."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int = 64,
    n_fft: int = 512,
    sample_rate: int = SAMPLE_RATE,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular mel filters, ``(n_mels, n_fft // 2 + 1)`` float32 (HTK scale, peak 1, no area
    normalisation): filter k rises from centre k-1 to 1 at centre k and falls to 0 at centre k+1,
    the ``n_mels + 2`` centres equally spaced in mel between ``f_min`` and ``f_max``. Between the
    first and last centre the filters sum to 1 (a partition of unity)."""
    f_max = sample_rate / 2.0 if f_max is None else f_max
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1; got {n_mels}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2; got {f_min}, {f_max}")
    centres = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))  # (M+2,)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)  # (F,)
    lower, centre, upper = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    rise = (freqs[None, :] - lower) / (centre - lower)  # (M, F)
    fall = (upper - freqs[None, :]) / (upper - centre)  # (M, F)
    return np.clip(np.minimum(rise, fall), 0.0, None).astype(np.float32)


@dataclass(frozen=True)
class LogMelConfig:
    """STFT and mel settings: 25 ms Hann window, 10 ms hop, 512-point FFT, 64 mels, 0-8 kHz."""

    n_mels: int = 64
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    f_min: float = 0.0
    f_max: float = SAMPLE_RATE / 2.0
    eps: float = 1e-6


def log_mel_spectrogram(wave: torch.Tensor, config: LogMelConfig | None = None) -> torch.Tensor:
    """``(B, N)`` waveforms at 16 kHz -> ``(B, 1, n_mels, 1 + N // hop)`` ``log(mel power + eps)``
    (centred frames, reflect padding)."""
    cfg = config or LogMelConfig()
    window = torch.hann_window(cfg.win_length, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(
        wave,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )  # (B, F, T)
    power = spec.real**2 + spec.imag**2
    fb = torch.from_numpy(
        mel_filterbank(cfg.n_mels, cfg.n_fft, SAMPLE_RATE, cfg.f_min, cfg.f_max)
    ).to(wave)
    mel = torch.einsum("mf,bft->bmt", fb, power)  # (M, F) x (B, F, T) -> (B, M, T)
    return torch.log(mel + cfg.eps)[:, None]


def standardise_per_example(x: torch.Tensor) -> torch.Tensor:
    """``(B, ...)`` -> zero mean, unit variance over all but the batch axis."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1).clamp_min(1e-6)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return (x - mean.view(shape)) / std.view(shape)


def mix_at_snr(
    speech: np.ndarray, speech_rms: np.ndarray, noise: np.ndarray, snr_db: float
) -> np.ndarray:
    """``speech + g * noise`` with ``g`` so that ``20 log10(speech_rms / rms(g noise)) = snr_db``.

    Args:
        speech: ``(B, N)``; speech_rms: ``(B,)`` RMS of each utterance over its voiced part;
        noise: ``(B, N)``.
    """
    noise_rms = np.sqrt(np.mean(noise**2, axis=1)).clip(1e-12)  # (B,)
    gain = speech_rms / noise_rms * 10.0 ** (-snr_db / 20.0)  # (B,)
    return (speech + gain[:, None] * noise).astype(np.float32)


# --------------------------------------------------------------------------- the suite

SplitBy = Literal["speaker", "utterance"]
_GENERATOR_VERSION = "2"


@dataclass(frozen=True)
class AudioConfig:
    """What the synthesised speech depends on (the cache key).

    Attributes:
        n_speakers: digit speakers (each a distinct voice x variant), >= 2.
        n_repeats: repetitions of each digit by each speaker (pitch/rate jitter), >= 1.
        n_babble_speakers: extra speakers (disjoint from the digit speakers) whose digit-free
            sentences make the babble noise, >= 1.
        noise_seconds: length of each noise recording per split and type, >= 2.
        seed: generator seed.
    """

    n_speakers: int = 40
    n_repeats: int = 5
    n_babble_speakers: int = 12
    noise_seconds: float = 20.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (("n_speakers", 2), ("n_repeats", 1), ("n_babble_speakers", 1)):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if not self.noise_seconds >= 2.0:
            raise ValueError(f"noise_seconds must be >= 2; got {self.noise_seconds}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0; got {self.seed}")


def build_audio_arrays(config: AudioConfig) -> dict[str, np.ndarray]:
    """Synthesise every utterance and both splits' noise recordings, in a fresh process.

    eSpeak NG keeps state between calls inside one process (its pitch-flutter phase, for one),
    so an utterance depends on everything synthesised before it in that process; the output of
    one process that starts afresh and makes the same calls is reproducible bit for bit. So the
    build runs in a new Python process (``python -c``, so the caller's main module is never
    re-imported) that writes an npz this process reads back; it is a deterministic function of
    ``config`` and of the eSpeak NG build.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package_root, *sys.path])}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="featuredrop-audio-") as tmp:
        out = Path(tmp) / "arrays.npz"
        code = (
            "import json, sys, numpy as np\n"
            "from empirical.data.audio import AudioConfig, _build_audio_arrays\n"
            "arrays = _build_audio_arrays(AudioConfig(**json.loads(sys.argv[1])))\n"
            "np.savez(sys.argv[2], **arrays)\n"
        )
        args = [sys.executable, "-c", code, json.dumps(asdict(config)), str(out)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EspeakUnavailableError(
                f"speech synthesis subprocess failed (exit {done.returncode}):\n"
                f"{done.stderr[-2000:]}"
            )
        with np.load(out, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}


def _build_audio_arrays(config: AudioConfig) -> dict[str, np.ndarray]:
    """The synthesis behind ``build_audio_arrays`` (run in the current process).

    Returns (``U = S * 10 * R`` utterances in speaker-major order):
        ``pcm`` int16, every trimmed utterance (peak 1 -> 32767) one after another;
        ``start``, ``length`` ``(U,)`` where each lies in ``pcm``; ``offset`` ``(U,)`` where it
        starts in its 1 s clip; ``speech_rms`` ``(U,)`` float32 RMS (full scale 1) of the trimmed
        utterance; ``speaker``, ``digit``, ``repeat`` ``(U,)`` int64; ``noise_{split}``
        ``(3, noise_seconds * 16000)`` float32 unit-RMS recordings in ``NOISE_TYPES`` order,
        and ``speaker_table`` ``(S, 5)`` int64 (voice index, variant index, pitch, range, rate).
    """
    rng = np.random.default_rng([config.seed, 7])
    everyone = sample_speakers(config.n_speakers + config.n_babble_speakers, rng)
    speakers, babblers = everyone[: config.n_speakers], everyone[config.n_speakers :]
    pieces: list[np.ndarray] = []
    rows: list[
        tuple[int, int, int, int, int, float]
    ] = []  # speaker, digit, repeat, len, offset, rms
    for s, speaker in enumerate(speakers):
        for d, word in enumerate(DIGIT_WORDS):
            for r in range(config.n_repeats):
                wave = speak(word, speaker, rng)[:SAMPLE_RATE]
                offset = int(rng.integers(0, SAMPLE_RATE - wave.size + 1))
                pieces.append(np.round(wave * 32767.0).astype(np.int16))
                rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
                rows.append((s, d, r, wave.size, offset, rms))
    table = np.array(rows)  # (U, 6)
    lengths = table[:, 3].astype(np.int64)
    out = {
        "pcm": np.concatenate(pieces),
        "start": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        "length": lengths,
        "offset": table[:, 4].astype(np.int64),
        "speech_rms": table[:, 5].astype(np.float32),
        "speaker": table[:, 0].astype(np.int64),
        "digit": table[:, 1].astype(np.int64),
        "repeat": table[:, 2].astype(np.int64),
    }
    n_noise = int(config.noise_seconds * SAMPLE_RATE)
    for stream, split in enumerate(SPLITS):
        noise_rng = np.random.default_rng([config.seed, 11, stream])
        half = babblers[stream::2] or babblers  # train and test babble by different talkers
        out[f"noise_{split}"] = np.stack(
            [
                babble_noise(n_noise, noise_rng, half),
                traffic_noise(n_noise, noise_rng),
                machinery_noise(n_noise, noise_rng),
            ]
        )
    variants = voice_variants()
    out["speaker_table"] = np.array(
        [
            (
                ENGLISH_VOICES.index(s.voice),
                variants.index(s.variant),
                s.pitch,
                s.pitch_range,
                s.rate,
            )
            for s in speakers
        ],
        dtype=np.int64,
    )
    return out


def load_audio_arrays(config: AudioConfig) -> dict[str, np.ndarray]:
    """``build_audio_arrays`` through the on-disk cache (keyed by the config and eSpeak version)."""
    key = {**asdict(config), "espeak": espeak().version, "variants": list(voice_variants())}
    return cached_arrays(
        "audio-digits", key, lambda: build_audio_arrays(config), version=_GENERATOR_VERSION
    )


class AudioDigitsNoiseDataset:
    """Spoken digits mixed with babble, traffic or machinery noise; log-mel inputs.

    Each example is one utterance (fixed) mixed at ``snr_db`` with a fixed 1 s segment of its
    noise type's recording for that split; the noise type is balanced and independent of the
    digit. ``batch`` returns ``x`` ``(B, 1, 64, 101)`` float32 log-mels standardised per example,
    labels ``digit`` (10 classes), ``noise`` (3) and, with ``split_by="utterance"``, ``speaker``
    (``n_speakers`` classes); ``params["speaker"]`` ``(B,)`` always. The log-mels are computed
    once at construction; ``waveforms(indices)`` gives the 16 kHz mixtures ``(B, 16000)`` (for
    waveform views) and ``clean_speech(indices)`` the same clips without noise.

    ``split_by="speaker"`` (default): the test split's speakers (``test_speakers`` of them) never
    occur in training; there is no speaker task, since held-out speakers cannot be identified.
    ``split_by="utterance"``: both splits use every speaker; the last ``test_repeats`` repetitions
    of each (speaker, digit) form the test split.
    """

    name: str = "audio-digits-noise"
    input_shape: tuple[int, int, int]
    tasks: tuple[TaskSpec, ...]
    split: str

    def __init__(
        self,
        split: str = "train",
        n_speakers: int = 40,
        test_speakers: int = 10,
        n_repeats: int = 5,
        test_repeats: int = 1,
        split_by: SplitBy = "speaker",
        snr_db: float = 0.0,
        n_babble_speakers: int = 12,
        noise_seconds: float = 20.0,
        seed: int = 0,
    ) -> None:
        stream = split_stream(split)
        if split_by not in ("speaker", "utterance"):
            raise ValueError(f"split_by must be 'speaker' or 'utterance'; got {split_by!r}")
        if split_by == "speaker" and not (
            isinstance(test_speakers, int) and 1 <= test_speakers < n_speakers
        ):
            raise ValueError(
                f"test_speakers must be an integer in [1, n_speakers - 1 = {n_speakers - 1}]; "
                f"got {test_speakers!r}"
            )
        if split_by == "utterance" and not (
            isinstance(test_repeats, int) and 1 <= test_repeats < n_repeats
        ):
            raise ValueError(
                f"test_repeats must be an integer in [1, n_repeats - 1 = {n_repeats - 1}]; "
                f"got {test_repeats!r}"
            )
        if not -30.0 <= snr_db <= 60.0:
            raise ValueError(f"snr_db must lie in [-30, 60]; got {snr_db}")
        self.config = AudioConfig(n_speakers, n_repeats, n_babble_speakers, noise_seconds, seed)
        self.split, self.split_by, self.snr_db = split, split_by, float(snr_db)
        arrays = load_audio_arrays(self.config)
        rng = np.random.default_rng([seed, 13])
        if split_by == "speaker":
            test_ids = rng.choice(n_speakers, size=test_speakers, replace=False)
            in_test = np.isin(arrays["speaker"], test_ids)
        else:
            in_test = arrays["repeat"] >= n_repeats - test_repeats
        rows = np.flatnonzero(in_test if split == "test" else ~in_test)
        self.pcm = arrays["pcm"]  # (sum of lengths,) int16
        self.start, self.length = arrays["start"][rows], arrays["length"][rows]  # (n,), (n,)
        self.offset = arrays["offset"][rows]  # (n,)
        self.speech_rms = arrays["speech_rms"][rows]  # (n,)
        self.digit = torch.from_numpy(arrays["digit"][rows])  # (n,) int64
        self.speaker = torch.from_numpy(arrays["speaker"][rows])  # (n,) int64
        self.repeat = arrays["repeat"][rows]  # (n,)
        self.noise_bank = arrays[f"noise_{split}"]  # (3, L)
        split_rng = np.random.default_rng([seed, 17, stream])
        n = rows.size
        self.noise_type = split_rng.permutation(np.arange(n) % len(NOISE_TYPES))  # (n,) balanced
        self.noise = torch.from_numpy(self.noise_type.astype(np.int64))  # (n,)
        self.noise_offset = split_rng.integers(0, self.noise_bank.shape[1] - SAMPLE_RATE + 1, n)
        self.mel = LogMelConfig()
        frames = 1 + SAMPLE_RATE // self.mel.hop_length
        self.input_shape = (1, self.mel.n_mels, frames)
        tasks = [
            TaskSpec("digit", "classification", num_classes=len(DIGIT_WORDS)),
            TaskSpec("noise", "classification", num_classes=len(NOISE_TYPES)),
        ]
        if split_by == "utterance":
            tasks.append(TaskSpec("speaker", "classification", num_classes=n_speakers))
        self.tasks = tuple(tasks)
        self.features = self._log_mels()  # (n, 1, 64, 101)

    def __len__(self) -> int:
        return int(self.digit.numel())

    def clean_speech(self, indices: np.ndarray) -> np.ndarray:
        """The noise-free 1 s clips of examples ``indices`` ``(B,)``: ``(B, 16000)`` float32."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.zeros((idx.size, SAMPLE_RATE), dtype=np.float32)
        for row, i in enumerate(idx):
            a, n, o = self.start[i], self.length[i], self.offset[i]
            out[row, o : o + n] = self.pcm[a : a + n] / np.float32(32767.0)
        return out

    def waveforms(self, indices: np.ndarray) -> np.ndarray:
        """The noisy mixtures of examples ``indices`` ``(B,)``: ``(B, 16000)`` float32."""
        idx = np.asarray(indices, dtype=np.int64)
        cols = self.noise_offset[idx, None] + np.arange(SAMPLE_RATE)[None, :]  # (B, 16000)
        noise = self.noise_bank[self.noise_type[idx, None], cols]  # (B, 16000)
        return mix_at_snr(self.clean_speech(idx), self.speech_rms[idx], noise, self.snr_db)

    def _log_mels(self, chunk: int = 256) -> torch.Tensor:
        """Every example's standardised log-mel, ``(n, 1, 64, 101)`` float32 (computed once)."""
        parts = []
        for lo in range(0, len(self), chunk):
            idx = np.arange(lo, min(lo + chunk, len(self)))
            wave = torch.from_numpy(self.waveforms(idx))  # (b, 16000)
            parts.append(standardise_per_example(log_mel_spectrogram(wave, self.mel)))
        return torch.cat(parts).float()

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """Examples ``indices`` ``(B,)``; fixed examples, so ``rng`` is not used."""
        idx = check_indices(indices, len(self))
        index = torch.from_numpy(idx)
        labels = {"digit": self.digit[index], "noise": self.noise[index]}
        if self.split_by == "utterance":
            labels["speaker"] = self.speaker[index]
        return Batch(
            x=self.features[index],
            labels=labels,
            index=index,
            params={"speaker": self.speaker[index]},
        )


build_audio_digits_noise = strict(AudioDigitsNoiseDataset, "suite 'audio-digits-noise'")

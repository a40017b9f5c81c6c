"""Spoken digits in noise: eSpeak NG synthesis, noise, mel filterbank, log-mels and the suite."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.audio import (
    ESPEAK_SAMPLE_RATE,
    NOISE_TYPES,
    SAMPLE_RATE,
    AudioDigitsNoiseDataset,
    LogMelConfig,
    Speaker,
    build_audio_arrays,
    build_audio_digits_noise,
    espeak,
    hz_to_mel,
    log_mel_spectrogram,
    machinery_noise,
    mel_filterbank,
    mel_to_hz,
    mix_at_snr,
    sample_speakers,
    speak,
    traffic_noise,
)
from empirical.data.base import MultiTaskDataset

SMALL = {
    "n_speakers": 24,
    "test_speakers": 6,
    "n_repeats": 2,
    "n_babble_speakers": 2,
    "noise_seconds": 3.0,
    "snr_db": 10.0,
    "seed": 1,
}


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("audio_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEATUREDROP_DATA_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def small_split(cache_root: Path) -> tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset]:
    return AudioDigitsNoiseDataset("train", **SMALL), AudioDigitsNoiseDataset("test", **SMALL)


# --------------------------------------------------------------------------- mel filterbank


def reference_filterbank(
    n_mels: int, n_fft: int, sr: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangles written out bin by bin from the HTK mel formula."""
    mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    step = (mel(f_max) - mel(f_min)) / (n_mels + 1)
    centres = [hz(mel(f_min) + i * step) for i in range(n_mels + 2)]
    out = np.zeros((n_mels, n_fft // 2 + 1))
    for k in range(n_mels):
        lo, c, hi = centres[k], centres[k + 1], centres[k + 2]
        for j in range(n_fft // 2 + 1):
            f = j * sr / n_fft
            if lo <= f <= c:
                out[k, j] = (f - lo) / (c - lo)
            elif c < f <= hi:
                out[k, j] = (hi - f) / (hi - c)
    return out


@pytest.mark.parametrize(
    ("n_mels", "n_fft", "f_min", "f_max"), [(64, 512, 0.0, 8000.0), (20, 256, 100.0, 4000.0)]
)
def test_filterbank_matches_reference(n_mels: int, n_fft: int, f_min: float, f_max: float) -> None:
    fb = mel_filterbank(n_mels, n_fft, SAMPLE_RATE, f_min, f_max)
    ref = reference_filterbank(n_mels, n_fft, SAMPLE_RATE, f_min, f_max)
    assert fb.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(fb, ref, atol=1e-6)


def test_filterbank_rows_nonnegative_and_partition_of_unity() -> None:
    fb = mel_filterbank(64, 512, SAMPLE_RATE, 0.0, 8000.0).astype(np.float64)
    assert bool(np.all(fb >= 0.0)) and bool(np.all(fb <= 1.0))
    assert bool(np.all(fb.sum(axis=1) > 0.0))  # every filter covers at least one bin
    freqs = np.fft.rfftfreq(512, 1.0 / SAMPLE_RATE)
    centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 66))
    inside = (freqs >= centres[1]) & (freqs <= centres[-2])
    np.testing.assert_allclose(fb.sum(axis=0)[inside], 1.0, atol=1e-6)
    assert bool(np.all(fb.sum(axis=0) <= 1.0 + 1e-6))
    # each filter peaks at its own centre, in increasing order
    assert bool(np.all(np.diff(fb.argmax(axis=1)) >= 0))


def test_filterbank_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(64, 512, SAMPLE_RATE, 0.0, 9000.0)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(0)


@settings(deadline=None, max_examples=50, derandomize=True)
@given(f=st.floats(0.0, 20_000.0))
def test_mel_scale_round_trip_and_monotone(f: float) -> None:
    assert float(mel_to_hz(hz_to_mel(f))) == pytest.approx(f, rel=1e-9, abs=1e-9)
    assert float(hz_to_mel(f + 1.0)) > float(hz_to_mel(f))


def test_mel_scale_anchor() -> None:
    # HTK: 1000 Hz is (almost exactly) 1000 mel
    assert float(hz_to_mel(1000.0)) == pytest.approx(999.9855, abs=1e-3)


def test_log_mel_shape_and_tone_lands_in_its_band() -> None:
    t = torch.arange(SAMPLE_RATE, dtype=torch.float64) / SAMPLE_RATE
    tones = torch.stack([torch.sin(2 * math.pi * f * t) for f in (300.0, 1000.0, 4000.0)])
    spec = log_mel_spectrogram(tones)
    cfg = LogMelConfig()
    assert spec.shape == (3, 1, 64, 1 + SAMPLE_RATE // cfg.hop_length)
    centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 66))[1:-1]
    for k, f in enumerate((300.0, 1000.0, 4000.0)):
        band = int(spec[k, 0, :, 50].argmax())
        assert abs(centres[band] - f) <= np.diff(centres)[min(band, 62)]


# --------------------------------------------------------------------------- speech and noise


def test_speak_sample_rate_and_duration() -> None:
    speaker = Speaker("en-US", "m3", pitch=50, pitch_range=50, rate=170)
    raw = espeak().synthesise("seven", "en-US+m3", 170, 50, 50)
    wave = speak("seven", speaker)
    raw_seconds = raw.size / ESPEAK_SAMPLE_RATE
    assert wave.dtype == np.float32
    assert float(np.abs(wave).max()) == pytest.approx(1.0)
    # resampled to 16 kHz: same duration, only silence trimmed
    assert 0.2 < wave.size / SAMPLE_RATE <= raw_seconds + 1e-3
    assert wave.size / SAMPLE_RATE > 0.5 * raw_seconds


def test_speakers_distinct_and_jitter_changes_utterance() -> None:
    speakers = sample_speakers(30, np.random.default_rng(0))
    assert len({(s.voice, s.variant) for s in speakers}) == 30
    assert all(25 <= s.pitch <= 75 and 130 <= s.rate <= 210 for s in speakers)
    a = speak("four", speakers[0], np.random.default_rng(1))
    b = speak("four", speakers[0], np.random.default_rng(2))
    assert a.shape != b.shape or not np.allclose(a, b)
    with pytest.raises(ValueError, match="speakers"):
        sample_speakers(0, np.random.default_rng(0))


@pytest.mark.parametrize("make", [traffic_noise, machinery_noise])
def test_noise_unit_rms_and_deterministic(make) -> None:  # type: ignore[no-untyped-def]
    a = make(2 * SAMPLE_RATE, np.random.default_rng(3))
    b = make(2 * SAMPLE_RATE, np.random.default_rng(3))
    assert a.shape == (2 * SAMPLE_RATE,) and a.dtype == np.float32
    assert float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, make(2 * SAMPLE_RATE, np.random.default_rng(4)))


@settings(deadline=None, max_examples=20, derandomize=True)
@given(snr_db=st.floats(-20.0, 30.0), seed=st.integers(0, 100))
def test_mix_at_snr_hits_the_snr(snr_db: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    speech = rng.standard_normal((3, 1000))
    rms = np.sqrt(np.mean(speech**2, axis=1))
    noise = 5.0 * rng.standard_normal((3, 1000))
    mix = mix_at_snr(speech, rms, noise, snr_db).astype(np.float64)
    added = np.sqrt(np.mean((mix - speech) ** 2, axis=1))
    np.testing.assert_allclose(20 * np.log10(rms / added), snr_db, atol=1e-3)


# --------------------------------------------------------------------------- the suite


def _features(x: torch.Tensor) -> np.ndarray:
    """Shift-tolerant summary of ``(B, 1, 64, T)`` log-mels: per-band mean, std, 10 time bins."""
    x = x[:, 0]
    pooled = torch.nn.functional.avg_pool1d(x, 10, 10).flatten(1)
    f = torch.cat([x.mean(2), x.std(2), pooled], dim=1).numpy()
    return f


def _probe_accuracy(train: np.ndarray, ytr: np.ndarray, test: np.ndarray, yte: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    mu, sd = train.mean(0), train.std(0) + 1e-6
    clf = LogisticRegression(max_iter=300, C=0.05).fit((train - mu) / sd, ytr)
    return float(clf.score((test - mu) / sd, yte))


def test_suite_shapes_labels_and_protocol(
    small_split: tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset],
) -> None:
    train, test = small_split
    assert isinstance(train, MultiTaskDataset)
    assert len(train) == 18 * 10 * 2 and len(test) == 6 * 10 * 2
    assert [t.name for t in train.tasks] == ["digit", "noise"]
    batch = train.batch(np.array([0, 5, 7]), np.random.default_rng(0))
    assert batch.x.shape == (3, 1, 64, 101) == (3, *train.input_shape)
    assert batch.x.dtype == torch.float32
    assert torch.allclose(batch.x.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert set(batch.labels) == {"digit", "noise"}
    assert torch.equal(batch.index, torch.tensor([0, 5, 7]))
    waves = train.waveforms(np.array([0, 5]))
    assert waves.shape == (2, SAMPLE_RATE) and waves.dtype == np.float32
    # every digit and every noise type occur; noise types are balanced
    assert set(train.digit.tolist()) == set(range(10))
    counts = np.bincount(train.noise.numpy(), minlength=3)
    assert counts.max() - counts.min() <= 1


def test_speaker_split_disjoint(
    small_split: tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset],
) -> None:
    train, test = small_split
    tr, te = set(train.speaker.tolist()), set(test.speaker.tolist())
    assert len(tr) == 18 and len(te) == 6 and not tr & te


def test_utterance_split_shares_speakers_not_utterances(cache_root: Path) -> None:
    opts = {**SMALL, "split_by": "utterance", "test_repeats": 1}
    train = build_audio_digits_noise("train", **opts)
    test = build_audio_digits_noise("test", **opts)
    assert [t.name for t in train.tasks] == ["digit", "noise", "speaker"]
    assert train.tasks[2].num_classes == 24
    assert set(train.speaker.tolist()) == set(test.speaker.tolist()) == set(range(24))
    key = lambda ds: set(  # noqa: E731
        zip(ds.speaker.tolist(), ds.digit.tolist(), ds.repeat.tolist(), strict=True)
    )
    assert not key(train) & key(test)
    batch = test.batch(np.arange(4), np.random.default_rng(0))
    assert torch.equal(batch.labels["speaker"], test.speaker[:4])


def test_deterministic_by_seed_and_cached(
    small_split: tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset], cache_root: Path
) -> None:
    train, _ = small_split
    assert len(list(cache_root.glob("audio-digits-*.npz"))) >= 1
    again = AudioDigitsNoiseDataset("train", **SMALL)  # from the cache
    assert torch.equal(again.features, train.features)
    idx = np.arange(len(train))
    rebuilt = build_audio_arrays(train.config)  # synthesised again, no cache
    np.testing.assert_array_equal(rebuilt["pcm"], train.pcm)
    np.testing.assert_array_equal(rebuilt["noise_train"], train.noise_bank)
    np.testing.assert_array_equal(
        AudioDigitsNoiseDataset("train", **SMALL).waveforms(idx[:8]), train.waveforms(idx[:8])
    )


def test_digits_and_noise_distinguishable_on_held_out_speakers(
    small_split: tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset],
) -> None:
    train, test = small_split
    ftr, fte = _features(train.features), _features(test.features)
    digit_acc = _probe_accuracy(ftr, train.digit.numpy(), fte, test.digit.numpy())
    noise_acc = _probe_accuracy(ftr, train.noise.numpy(), fte, test.noise.numpy())
    assert digit_acc > 0.3  # chance 0.1, unseen speakers
    assert noise_acc > 0.9  # chance 1/3


def test_noise_only_clips_reveal_their_type(
    small_split: tuple[AudioDigitsNoiseDataset, AudioDigitsNoiseDataset],
) -> None:
    """The three noise recordings differ in spectral tilt (low bands minus high bands); traffic
    is tilted further to low frequencies than babble."""
    train, _ = small_split
    bank = torch.from_numpy(train.noise_bank[:, : 2 * SAMPLE_RATE])  # (3, 32000)
    spec = log_mel_spectrogram(bank).mean(dim=(1, 3))  # (3, 64) mean log power per band
    assert len(NOISE_TYPES) == 3
    low, high = spec[:, :16].mean(1), spec[:, 40:].mean(1)
    tilt = (low - high).tolist()
    assert tilt[1] > tilt[0]  # traffic tilts to low frequencies more than babble
    assert len({round(v, 3) for v in tilt}) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"test_speakers": 24}, "test_speakers"),
        ({"test_speakers": 0}, "test_speakers"),
        ({"split_by": "utterance", "test_repeats": 2}, "test_repeats"),
        ({"split_by": "voice"}, "split_by"),
        ({"snr_db": 100.0}, "snr_db"),
        ({"n_repeats": 0, "split_by": "speaker"}, "n_repeats"),
        ({"noise_seconds": 1.0}, "noise_seconds"),
        ({"loudness": 3}, "loudness"),
    ],
)
def test_bad_arguments_raise_value_error_naming_field(
    kwargs: dict, field: str, cache_root: Path
) -> None:
    with pytest.raises(ValueError, match=field):
        build_audio_digits_noise("train", **{**SMALL, **kwargs})


def test_missing_engine_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from empirical.data import audio

    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    monkeypatch.setattr(audio, "_ENGINE", None)
    with pytest.raises(audio.EspeakUnavailableError, match="espeakng-loader"):
        audio.espeak()

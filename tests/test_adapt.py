"""Adaptation: SEA-ENC profiles, saved atomically, tied to their backbone, used by synthesize."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import speechlike
from test_models import compact_backbone

import voiceadapt
from voiceadapt.adapt import (
    ProfileMismatch,
    adapt_sea_enc,
    backbone_fingerprint,
    load_profile,
    save_profile,
)
from voiceadapt.audio import TooShortError
from voiceadapt.cli import main
from voiceadapt.models.checkpoint import save


@pytest.fixture
def clips(tmp_path):
    paths = []
    for i, f0 in enumerate((115.0, 125.0)):
        path = tmp_path / f"ref{i}.wav"
        sf.write(str(path), speechlike(2.5, 24_000, f0=f0, seed=i), 24_000)
        paths.append(path)
    return paths


def test_sea_enc_profile_round_trip_and_synthesis(clips, tmp_path):
    model = compact_backbone()
    profile = adapt_sea_enc(model, clips, name="me")
    assert profile.mode == "sea-enc" and profile.steps == 0
    assert profile.seconds == pytest.approx(5.0, abs=0.3)
    save_profile(profile, tmp_path / "voice")
    assert sorted(p.name for p in (tmp_path / "voice").iterdir()) == ["profile.json",
                                                                      "voice.safetensors"]
    again = load_profile(tmp_path / "voice", model)
    assert torch.equal(again.embedding, profile.embedding) and again.name == "me"
    a, _ = voiceadapt.synthesize("Hello.", voice=tmp_path / "voice", model=model, seed=4)
    b, _ = voiceadapt.synthesize("Hello.", embedding=profile.embedding, model=model, seed=4)
    assert np.array_equal(a, b)


def test_more_audio_changes_the_embedding_and_order_of_clips_does_not(clips):
    model = compact_backbone()
    one = adapt_sea_enc(model, clips[:1]).embedding
    both = adapt_sea_enc(model, clips).embedding
    swapped = adapt_sea_enc(model, clips[::-1]).embedding
    assert not torch.allclose(one, both)
    assert torch.allclose(both, swapped, atol=1e-5)


def test_profile_for_another_backbone_is_refused(clips, tmp_path):
    model = compact_backbone()
    save_profile(adapt_sea_enc(model, clips), tmp_path / "voice")
    other = compact_backbone()
    with torch.no_grad():
        other.encoder.proj[0].weight.add_(0.01)
    assert backbone_fingerprint(other) != backbone_fingerprint(model)
    with pytest.raises(ProfileMismatch, match="another backbone"):
        load_profile(tmp_path / "voice", other)
    with pytest.raises(ProfileMismatch, match="another backbone"):
        voiceadapt.synthesize("Hi.", voice=tmp_path / "voice", model=other)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "voice.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ProfileMismatch, match="not a readable voice profile"):
        load_profile(tmp_path / "broken")


def test_unusable_reference_is_a_clear_error(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(str(short), np.concatenate([speechlike(0.4), np.zeros(8000, np.float32)]), 16_000)
    with pytest.raises(TooShortError):
        adapt_sea_enc(compact_backbone(), [short])
    with pytest.raises(ValueError, match="at least one"):
        adapt_sea_enc(compact_backbone(), [])


def test_cli_adapt_then_say_with_the_voice(clips, tmp_path, capsys):
    checkpoint = save(compact_backbone(), tmp_path / "m.safetensors")
    voice = tmp_path / "voice"
    assert main(["adapt", "--mode", "sea-enc", "--ref", *map(str, clips), "-o", str(voice),
                 "--model", str(checkpoint)]) == 0
    assert "wrote sea-enc voice" in capsys.readouterr().out
    out = tmp_path / "out.wav"
    assert main(["say", "Good day.", "--voice", str(voice), "--model", str(checkpoint),
                 "-o", str(out)]) == 0
    assert sf.info(str(out)).frames > 0

"""Adaptation: SEA-ENC profiles, saved atomically, tied to their backbone, used by synthesize."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import compact_backbone, speechlike

import voiceadapt
from voiceadapt.adapt import (
    Cancelled,
    FitConfig,
    MissingTranscriptError,
    ProfileMismatch,
    adapt_patch,
    adapt_sea_all,
    adapt_sea_emb,
    adapt_sea_enc,
    apply_profile,
    backbone_fingerprint,
    load_profile,
    save_profile,
)
from voiceadapt.adapt.fit import (
    _fit_embedding,
    _held_loss,
    clip_batch,
    patch_parameter_names,
    prepare_clips,
    split_for_early_stopping,
    uses_wavenet,
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


# -- gradient-based modes, on real synthesized speech from the tiny corpus -----------------


FAST = FitConfig(steps=6, eval_every=2, segment=800, lr_weights=1e-3, min_steps=2)


@pytest.fixture
def dev_clips(tiny_corpus):
    corpus, _, _ = tiny_corpus
    utts = corpus.split("dev")[:3]
    return [corpus.audio_path(u) for u in utts], [u.text for u in utts]


def _model():
    from voiceadapt.audio import FeatureParams

    model = compact_backbone()
    # the tiny corpus is at the default feature settings; rebuild the compact model for them
    from voiceadapt.models.backbone import Backbone, BackboneConfig

    params = FeatureParams()
    cfg = BackboneConfig.compact(len(model.symbols), params.n_mels, params.hop_length)
    torch.manual_seed(0)
    stats = type(model.stats)(mel_mean=tuple([-6.0] * params.n_mels),
                              mel_std=tuple([2.5] * params.n_mels))
    return Backbone(cfg, ["a", "b"], model.symbols, params, stats).eval()


def test_sea_emb_fits_the_embedding_and_leaves_weights_bit_identical(dev_clips):
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    profile = adapt_sea_emb(model, *dev_clips, cfg=FAST, progress=seen.append)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())  # flags restored
    assert [p.step for p in seen] == list(range(1, 7))
    held = {p.step: p.heldout_loss for p in seen if p.heldout_loss is not None}
    assert sorted(held) == [2, 4, 6]  # held-out loss every eval_every steps
    assert profile.mode == "sea-emb" and not profile.tensors
    assert profile.steps in (0, 2, 4, 6)
    # the kept step is the best one seen, step 0 (the encoder's estimate) a candidate too
    assert profile.heldout_loss <= min(held.values()) + 1e-4
    if profile.steps:
        assert profile.heldout_loss == pytest.approx(held[profile.steps], abs=1e-4)


def test_sea_emb_early_stopping_falls_back_to_the_encoder_estimate(dev_clips, bundled_model):
    """A fit that only makes the held-out audio worse keeps step 0: SEA-ENC's estimate."""
    model = bundled_model
    wild = FitConfig(steps=4, eval_every=2, segment=800, lr_embedding=50.0, embedding_prior=0.0)
    profile = adapt_sea_emb(model, *dev_clips, cfg=wild)
    assert profile.steps == 0
    assert torch.allclose(profile.embedding, adapt_sea_enc(model, dev_clips[0]).embedding, atol=1e-5)
    gentle = adapt_sea_emb(model, *dev_clips, cfg=FitConfig(steps=4, eval_every=2, segment=800,
                                                             lr_embedding=0.02))
    assert gentle.heldout_loss <= profile.heldout_loss + 1e-6  # never worse than the estimate


def test_embedding_prior_keeps_g_near_the_encoder_estimate(dev_clips):
    model = _model()
    start = adapt_sea_enc(model, dev_clips[0]).embedding
    loose, tight = (
        _fit_embedding(model, prepare_clips(model, *dev_clips, "sea-emb"),
                       FitConfig(steps=6, segment=800, lr_embedding=0.1, embedding_prior=prior),
                       "sea-emb", None, None).g
        for prior in (0.0, 1000.0))
    assert (tight - start).norm() < 0.5 * (loose - start).norm()


def test_patch_touches_only_patch_parameters(dev_clips):
    model = _model()
    profile = adapt_patch(model, *dev_clips, cfg=FAST)
    names = set(patch_parameter_names(model))
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for n, p in model.named_parameters() if n in names) <= 0.05 * total
    patched = dict(apply_profile(model, profile).named_parameters())
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, patched[n])}
    assert changed and changed <= names


@pytest.mark.parametrize("voice", [0.0, 1.0])
def test_sea_all_keeps_the_best_held_out_step(dev_clips, tmp_path, voice):
    model = _model()
    seen = []
    cfg = replace(FAST, heldout_voice=voice)
    profile = adapt_sea_all(model, *dev_clips, cfg=cfg, progress=seen.append)
    held = {p.step: p.heldout_loss for p in seen if p.heldout_loss is not None
            and p.stage == "weights"}
    assert sorted(held) == [2, 4, 6]
    eligible = [h for step, h in held.items() if step >= cfg.min_steps]
    assert profile.heldout_loss == pytest.approx(min(eligible), abs=1e-4)
    assert profile.steps >= cfg.min_steps  # SEA-EMB's kept step + the weights' kept step
    assert set(k.split(".")[0] for k in profile.tensors) == {"delta"}
    # what is stored is the kept step's state: the stored delta, applied, scores that step's
    # held-out loss (up to its float16 rounding), not another step's
    train, held_clips = split_for_early_stopping(model, prepare_clips(model, *dev_clips, "sea-all"),
                                                 cfg.heldout_fraction)
    again = _held_loss(apply_profile(model, profile).eval(), clip_batch(held_clips),
                       profile.embedding, cfg, uses_wavenet(model, cfg))
    off = abs(again - profile.heldout_loss)
    assert off < 0.01 * abs(profile.heldout_loss) + 1e-3, (again, profile.heldout_loss)
    assert all(off < abs(again - h) for h in eligible if abs(h - profile.heldout_loss) > 1e-4)
    save_profile(profile, tmp_path / "v")
    wav, rate = voiceadapt.synthesize("Hello.", voice=tmp_path / "v", model=model)
    assert np.isfinite(wav).all() and 0.1 < len(wav) / rate < 3.0 and np.abs(wav).max() > 0


def test_refit_fits_every_clip_for_the_steps_early_stopping_chose(dev_clips):
    """With ``refit``, the fit is made again from the start on every clip, the held-out ones
    included, for the steps early stopping kept: same steps, and the held-out clips, now
    heard, score lower than under the profile that never heard them."""
    model = _model()
    cfg = replace(FAST, steps=10, min_steps=4)
    plain_seen, refit_seen = [], []
    plain = adapt_sea_all(model, *dev_clips, cfg=cfg, progress=plain_seen.append)
    again = adapt_sea_all(model, *dev_clips, cfg=replace(cfg, refit=True), progress=refit_seen.append)
    assert again.steps == plain.steps and plain.heldout_loss is not None
    assert again.heldout_loss is None  # its weights heard the held-out clips
    stages = [p.stage for p in refit_seen]
    assert stages == [p.stage for p in plain_seen] + [s for s in stages if s.startswith("refit")]
    kept = [p for p in refit_seen if p.stage == "refit-weights"]
    assert kept and len(kept) == kept[0].steps == max(p.step for p in kept)
    assert all(p.heldout_loss is None for p in refit_seen if p.stage.startswith("refit"))
    _, held = split_for_early_stopping(model, prepare_clips(model, *dev_clips, "sea-all"),
                                       cfg.heldout_fraction)
    wavenet = uses_wavenet(model, cfg)

    def on_held(profile):
        return _held_loss(apply_profile(model, profile), clip_batch(held), profile.embedding,
                          cfg, wavenet)

    assert on_held(again) < on_held(plain)


def test_held_out_score_adds_the_voice_distance_the_unadapted_encoder_hears(dev_clips):
    """Early stopping's score with ``heldout_voice``: the generator's losses plus the weight
    times 1 - cos between the encoder's embeddings of the predicted and the recorded held-out
    mels, the encoder being the unadapted backbone's even when the scored copy's differs."""
    from voiceadapt.adapt.fit import generator_loss
    from voiceadapt.models.losses import speaker_consistency_loss

    model = _model().eval()
    _, held = split_for_early_stopping(model, prepare_clips(model, *dev_clips, "sea-all"), 0.1)
    batch = clip_batch(held)
    g = adapt_sea_enc(model, dev_clips[0][:1]).embedding
    plain, voiced = FitConfig(segment=800), FitConfig(segment=800, heldout_voice=2.0)
    wavenet = uses_wavenet(model, plain)
    out = {}
    with torch.no_grad():
        generator_loss(model, batch, g, 800, torch.Generator().manual_seed(2), wavenet, out)
        distance = float(speaker_consistency_loss(model.encoder, out["mel_pred"], out["mel"],
                                                  out["mel_mask"]))
    assert 0 < distance < 2
    base = _held_loss(model, batch, g, plain, wavenet)
    assert _held_loss(model, batch, g, voiced, wavenet) == pytest.approx(base + 2.0 * distance,
                                                                         rel=1e-5)
    deaf = copy.deepcopy(model)
    with torch.no_grad():
        for p in deaf.encoder.parameters():
            p.mul_(-1.5)
    assert _held_loss(deaf, batch, g, voiced, wavenet, judge=model) == pytest.approx(
        _held_loss(model, batch, g, voiced, wavenet), rel=1e-5)
    assert _held_loss(deaf, batch, g, voiced, wavenet) != pytest.approx(
        _held_loss(model, batch, g, voiced, wavenet), rel=1e-3)


def test_griffin_lim_model_fits_without_the_wavenet(dev_clips):
    model = _model()
    model.extra = {"vocoder": "griffin-lim"}  # the WaveNet's loss cannot change what is heard
    profile = adapt_sea_all(model, *dev_clips, cfg=FAST)
    changed = {k.partition(".")[2] for k in profile.tensors}
    assert changed and not any(n.startswith("wavenet.") for n in changed)
    assert any(n.startswith("acoustic.") for n in changed)


def test_long_references_are_sampled_whole_clips_within_the_step_budget():
    import numpy as np

    from voiceadapt.adapt.fit import Clip, sample_batch
    from voiceadapt.audio import Audio

    def clip(seconds: float, n: int) -> Clip:
        samples = np.zeros(int(seconds * 16_000), dtype=np.float32)
        return Clip(Audio(samples, 16_000, 16_000, seconds, seconds), torch.arange(n), torch.zeros(4))

    clips = [clip(3.0, n) for n in range(3, 23)]  # 60 s of reference
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        batch = sample_batch(clips, 12.0, gen)
        assert batch["audio"].shape[0] == 4 and int(batch["lens"].sum()) == 4 * 48_000
        seen.update(int(n) for n in batch["text_lens"])
    assert len(seen) > 10  # different clips on different steps
    assert sample_batch(clips[:3], 12.0, gen)["audio"].shape[0] == 3  # short: all of it
    assert sample_batch([clip(20.0, 5)], 12.0, gen)["audio"].shape[0] == 1  # never empty


def test_one_clip_is_split_with_the_aligner(dev_clips):
    from voiceadapt.adapt.fit import prepare_clips, split_heldout

    model = _model()
    (clip,) = prepare_clips(model, dev_clips[0][:1], dev_clips[1][:1], "sea-all")
    train, held = split_heldout(model, [clip], 0.1)
    assert len(train) == len(held) == 1
    total = len(clip.audio.samples)
    head, tail = len(train[0].audio.samples), len(held[0].audio.samples)
    assert head > 0 and tail > 0 and abs(head + tail - total) <= 200  # cut on a frame boundary
    assert len(train[0].ids) + len(held[0].ids) == len(clip.ids) + 1  # the space -> EOS + BOS


def test_missing_transcript_and_cancellation(dev_clips):
    model = _model()
    clips, texts = dev_clips
    with pytest.raises(MissingTranscriptError, match="transcript for every clip"):
        adapt_sea_emb(model, clips, [texts[0], None, texts[2]])
    with pytest.raises(MissingTranscriptError):
        adapt_sea_all(model, clips, [])
    steps = []
    with pytest.raises(Cancelled, match="step 3"):
        adapt_sea_emb(model, clips, texts, cfg=FAST, progress=lambda p: steps.append(p.step),
                      cancel=lambda: len(steps) >= 3)


def test_cli_adapt_sea_all_needs_transcripts_and_writes_a_voice(dev_clips, tmp_path, capsys):
    checkpoint = save(_model(), tmp_path / "m.safetensors")
    clips, texts = dev_clips
    args = ["adapt", "--mode", "sea-all", "--ref", *map(str, clips), "--model", str(checkpoint),
            "-o", str(tmp_path / "voice"), "--steps", "3"]
    assert main(args) == 2
    assert "transcript for every clip" in capsys.readouterr().err
    assert main([*args, "--text", *texts]) == 0
    assert "wrote sea-all voice" in capsys.readouterr().out
    assert load_profile(tmp_path / "voice").mode == "sea-all"


@pytest.mark.synth
def test_sea_all_moves_toward_a_voice_far_from_the_model(bundled_model, tmp_path):
    """A base voice pushed far away (F0 x1.8, formants x1.2): SEA-ALL lowers the held-out
    loss well below the best SEA-EMB reached.

    (The encoder-measured similarity does not reliably follow on the bundled model: on this
    voice it went 0.850 -> 0.842 with the default 60 steps; see the unseen-voices issue.)"""
    from helpers import require_synthesizers

    from training.corpus.derive import SpeakerParams, transform
    from training.corpus.voices import synthesize_batch, voice_by_name

    require_synthesizers()
    texts = ["The quiet river drifted past the old mill.",
             "Please bring the heavy boxes inside before noon.",
             "Nobody expected the garden to bloom so early."]
    far = SpeakerParams(f0_scale=1.8, warp=1.2, breathiness=0.2)
    paths = []
    for i, wav in enumerate(synthesize_batch(voice_by_name("flite-rms"), texts)):
        paths.append(tmp_path / f"far{i}.wav")
        sf.write(str(paths[-1]), transform(wav, far), 16_000)
    seen = []
    cfg = FitConfig(steps=10)
    fitted = adapt_sea_all(bundled_model, paths, texts, cfg=cfg, progress=seen.append)
    embedding_stage = [p.heldout_loss for p in seen if p.heldout_loss is not None
                       and p.stage == "embedding"]
    assert fitted.heldout_loss < 0.95 * min(embedding_stage)


def _speech_l1(model, clip, g) -> float:
    """Teacher-forced normalized mel L1 on a clip's speech frames under voice g."""
    from voiceadapt.adapt.mel_offset import speech_residual

    return float(speech_residual(model.eval(), clip, g).abs().mean())


def test_mel_offset_carries_a_coloured_voice_to_clips_it_did_not_measure(dev_clips, bundled_model,
                                                                          tmp_path):
    """A voice whose spectrum no training speaker had (the dev clips through a strong
    high-frequency tilt): the offset measured on two clips lowers the teacher-forced mel error
    on the third, leaves the backbone untouched, and is the least-squares bias (measured again
    after it is applied, what is left is ~0)."""
    from scipy.signal import lfilter

    from voiceadapt.adapt.mel_offset import OUTPUT_BIAS, measure_mel_offset

    model = bundled_model
    paths = []
    for i, path in enumerate(dev_clips[0]):
        wav, rate = sf.read(str(path), dtype="float32")
        paths.append(tmp_path / f"tilted{i}.wav")
        sf.write(str(paths[-1]), (0.5 * lfilter([1.0, -0.9], [1.0], wav)).astype(np.float32), rate)
    texts = dev_clips[1]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FitConfig(steps=4, eval_every=2, segment=800)
    plain = adapt_sea_emb(model, paths[:2], texts[:2], cfg=cfg)
    coloured = adapt_sea_emb(model, paths[:2], texts[:2], cfg=replace(cfg, mel_offset=True))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not plain.tensors and set(coloured.tensors) == {f"delta.{OUTPUT_BIAS}"}
    assert torch.equal(plain.embedding, coloured.embedding)  # the fit itself is the same
    unseen = prepare_clips(model, paths[2:], texts[2:], "sea-emb")[0]
    with torch.no_grad():
        without = _speech_l1(model, unseen, plain.embedding)
        fitted = apply_profile(model, coloured)
        with_offset = _speech_l1(fitted, unseen, coloured.embedding)
        assert with_offset < 0.9 * without, (without, with_offset)
        again = measure_mel_offset(fitted, prepare_clips(model, paths[:2], texts[:2], "sea-emb"),
                                   coloured.embedding)
    assert float(again.abs().max()) < 1e-3
    assert float(coloured.tensors[f"delta.{OUTPUT_BIAS}"].abs().mean()) > 0.1  # it did move
    reloaded = load_profile(save_profile(coloured, tmp_path / "voice"), model)
    spoken, _ = voiceadapt.synthesize("A coloured voice.", voice=reloaded, model=model,
                                      vocoder="griffin-lim")
    assert np.isfinite(spoken).all() and np.abs(spoken).max() > 0.01


def test_mel_offset_adds_to_a_patch_or_delta_the_profile_already_has():
    from voiceadapt.adapt.mel_offset import OUTPUT_BIAS, with_mel_offset
    from voiceadapt.adapt.profile import VoiceProfile

    offset = torch.linspace(-1, 1, 4)
    base = VoiceProfile(mode="patch", embedding=torch.zeros(3), backbone="x", seconds=1.0,
                        tensors={f"patch.{OUTPUT_BIAS}": torch.ones(4), "patch.other": torch.ones(2)})
    patched = with_mel_offset(base, offset)
    assert torch.allclose(patched.tensors[f"patch.{OUTPUT_BIAS}"], 1 + offset)
    assert torch.equal(patched.tensors["patch.other"], torch.ones(2))
    assert torch.equal(base.tensors[f"patch.{OUTPUT_BIAS}"], torch.ones(4))  # a new profile
    delta = replace(base, mode="sea-all", tensors={f"delta.{OUTPUT_BIAS}": torch.ones(4).half()})
    added = with_mel_offset(delta, offset).tensors[f"delta.{OUTPUT_BIAS}"]
    assert added.dtype == torch.float16 and torch.allclose(added.float(), 1 + offset, atol=1e-3)
    fresh = with_mel_offset(replace(base, mode="sea-emb", tensors={}), offset)
    assert set(fresh.tensors) == {f"delta.{OUTPUT_BIAS}"}
    assert torch.equal(fresh.tensors[f"delta.{OUTPUT_BIAS}"], offset)


@pytest.mark.parametrize("fitter", [adapt_patch, adapt_sea_all])
def test_mel_offset_after_patch_and_sea_all_is_their_least_squares_output_bias(dev_clips, fitter):
    """Through the whole fit: what the profile leaves the model with explains the clips' mean
    mel, so measuring again finds nothing left to add; without the option nothing is added."""
    from voiceadapt.adapt.mel_offset import OUTPUT_BIAS, measure_mel_offset

    model = _model()
    plain = fitter(model, *dev_clips, cfg=FAST)
    coloured = fitter(model, *dev_clips, cfg=replace(FAST, mel_offset=True))
    assert set(plain.tensors) == set(coloured.tensors)  # added to the bias the mode stores
    changed = [k for k in plain.tensors if not torch.equal(plain.tensors[k], coloured.tensors[k])]
    assert changed == [next(k for k in plain.tensors if k.endswith(OUTPUT_BIAS))]
    left = measure_mel_offset(apply_profile(model, coloured),
                              prepare_clips(model, *dev_clips, "x"), coloured.embedding)
    assert float(left.abs().max()) < 2e-3  # float16 rounding of SEA-ALL's delta

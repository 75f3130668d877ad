// The demo page: record or upload a voice, create it, adapt it, speak with it.
"use strict";

const $ = (id) => document.getElementById(id);
const clips = []; // {name, blob}
let selectedVoice = null;

// -- the API ------------------------------------------------------------------------------
function headers(extra = {}) {
  const key = $("api-key").value.trim();
  localStorage.setItem("voiceadapt-key", key);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = JSON.stringify((await response.json()).detail); } catch (e) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

// -- recording: Web Audio samples, encoded to 16-bit WAV here -------------------------------
let recorder = null;

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(node);
  node.connect(context.destination);
  recorder = { stream, context, node, chunks, started: performance.now() };
  $("record").disabled = true;
  $("stop").disabled = false;
  say("rec-status", "recording...");
}

async function stopRecording() {
  const { stream, context, node, chunks } = recorder;
  node.disconnect();
  stream.getTracks().forEach((t) => t.stop());
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const samples = new Float32Array(length);
  let offset = 0;
  for (const c of chunks) { samples.set(c, offset); offset += c.length; }
  const blob = encodeWav(samples, context.sampleRate);
  await context.close();
  recorder = null;
  $("record").disabled = false;
  $("stop").disabled = true;
  say("rec-status", `recorded ${(length / context.sampleRate).toFixed(1)} s`);
  await addClip(`recording-${clips.length + 1}.wav`, blob);
}

function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true);
  view.setUint16(22, 1, true); view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((x, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, x)) * 32767, true));
  return new Blob([buffer], { type: "audio/wav" });
}

async function addClip(name, blob) {
  clips.push({ name, blob });
  const li = document.createElement("li");
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.src = URL.createObjectURL(blob);
  li.append(`${name} `, audio);
  $("clips").append(li);
  await draw(blob, "ref-wave", "ref-spec");
}

// -- pictures: waveform and spectrogram ---------------------------------------------------
async function draw(blob, waveId, specId) {
  const context = new OfflineAudioContext(1, 1, 16000);
  let buffer;
  try { buffer = await context.decodeAudioData(await blob.arrayBuffer()); } catch (e) { return; }
  const x = buffer.getChannelData(0);
  drawWave(x, $(waveId));
  drawSpectrogram(x, buffer.sampleRate, $(specId));
}

function drawWave(x, canvas) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#111"; g.fillRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = "#6cf";
  const step = Math.max(1, Math.floor(x.length / canvas.width));
  const mid = canvas.height / 2;
  for (let px = 0; px < canvas.width; px++) {
    let lo = 0, hi = 0;
    for (let i = px * step; i < Math.min(x.length, (px + 1) * step); i++) {
      lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]);
    }
    g.beginPath(); g.moveTo(px, mid - hi * mid); g.lineTo(px, mid - lo * mid); g.stroke();
  }
}

function fft(re, im) { // in place, radix 2
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(angle * k), wi = Math.sin(angle * k);
        const a = i + k, b = i + k + len / 2;
        const tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
      }
    }
  }
}

function drawSpectrogram(x, rate, canvas) {
  const g = canvas.getContext("2d");
  const n = 512, bins = n / 2;
  const cols = canvas.width, hop = Math.max(1, Math.floor((x.length - n) / cols));
  const image = g.createImageData(cols, canvas.height);
  const maxBin = Math.min(bins, Math.floor((8000 / (rate / 2)) * bins)); // up to 8 kHz
  for (let c = 0; c < cols; c++) {
    const re = new Float32Array(n), im = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = x[c * hop + i] || 0;
      re[i] = s * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
    }
    fft(re, im);
    for (let y = 0; y < canvas.height; y++) {
      const bin = Math.floor(((canvas.height - 1 - y) / canvas.height) * maxBin);
      const db = 10 * Math.log10(re[bin] ** 2 + im[bin] ** 2 + 1e-10);
      const v = Math.max(0, Math.min(255, (db + 60) * 3));
      const p = (y * cols + c) * 4;
      image.data[p] = v; image.data[p + 1] = v * 0.6; image.data[p + 2] = 255 - v; image.data[p + 3] = 255;
    }
  }
  g.putImageData(image, 0, 0);
}

// -- voices --------------------------------------------------------------------------------
async function createVoice() {
  if (!clips.length) return say("create-status", "record or upload a clip first", true);
  const form = new FormData();
  form.append("name", $("name").value);
  form.append("consent", $("consent").checked ? "true" : "false");
  clips.forEach((c) => form.append("files", c.blob, c.name));
  $("transcripts").value.split("\n").map((t) => t.trim()).filter((t) => t)
    .forEach((t) => form.append("transcripts", t));
  say("create-status", "creating...");
  try {
    const voice = await (await api("/v1/voices", { method: "POST", body: form })).json();
    selectedVoice = voice.id;
    say("create-status", `created ${voice.name} (${voice.seconds.toFixed(1)} s, ${voice.mode})`);
    await refreshVoices();
  } catch (e) { say("create-status", e.message, true); }
}

async function refreshVoices() {
  const voices = await (await api("/v1/voices")).json();
  const builtin = (await (await api("/v1/audio/voices")).json()).voices.filter((v) => v.type === "builtin");
  $("voices").replaceChildren(...voices.map((v) => {
    const li = document.createElement("li");
    const pick = document.createElement("input");
    pick.type = "radio"; pick.name = "picked"; pick.value = v.id; pick.checked = v.id === selectedVoice;
    pick.onchange = () => { selectedVoice = v.id; $("voice").value = v.id; };
    const del = document.createElement("button");
    del.textContent = "Delete"; del.className = "delete";
    del.onclick = async () => { await api(`/v1/voices/${v.id}`, { method: "DELETE" }); await refreshVoices(); };
    li.dataset.id = v.id;
    li.append(pick, ` ${v.name} — ${v.mode}, ${v.seconds.toFixed(1)} s `, del);
    return li;
  }));
  const options = [...voices.map((v) => [v.id, `${v.name} (${v.mode})`]),
                   ...builtin.map((v) => [v.id, `${v.id} (built in)`])];
  $("voice").replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  if (selectedVoice && voices.some((v) => v.id === selectedVoice)) $("voice").value = selectedVoice;
}

async function startAdaptation() {
  if (!selectedVoice) return say("job-status", "pick a voice first", true);
  try {
    const body = JSON.stringify({ mode: $("adapt-mode").value });
    let job = await (await api(`/v1/voices/${selectedVoice}/adapt`, {
      method: "POST", body, headers: { "Content-Type": "application/json" } })).json();
    while (job.state === "queued" || job.state === "running") {
      $("job-progress").value = job.steps ? job.step / job.steps : 0;
      const loss = job.loss == null ? "" : `, loss ${job.loss.toFixed(3)}`;
      say("job-status", `${job.mode} ${job.state}: ${job.stage || ""} step ${job.step}/${job.steps}${loss}`);
      await new Promise((r) => setTimeout(r, 500));
      job = await (await api(`/v1/jobs/${job.id}`)).json();
    }
    $("job-progress").value = job.state === "succeeded" ? 1 : 0;
    say("job-status", `${job.mode} ${job.state}${job.error ? ": " + job.error : ""}`, job.state !== "succeeded");
    await refreshVoices();
  } catch (e) { say("job-status", e.message, true); }
}

// -- speaking ------------------------------------------------------------------------------
async function speak() {
  say("speak-status", "speaking...");
  try {
    const started = performance.now();
    const response = await api("/v1/tts", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: $("text").value, voice: $("voice").value, format: "wav" }) });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    $("player").src = url;
    $("download").href = url;
    $("download").hidden = false;
    say("speak-status", `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await draw(blob, "out-wave", "out-spec");
  } catch (e) { say("speak-status", e.message, true); }
}

$("api-key").value = localStorage.getItem("voiceadapt-key") || "";
$("record").onclick = () => startRecording().catch((e) => say("rec-status", e.message, true));
$("stop").onclick = () => stopRecording();
$("files").onchange = async (e) => { for (const f of e.target.files) await addClip(f.name, f); };
$("create").onclick = createVoice;
$("adapt").onclick = startAdaptation;
$("speak").onclick = speak;
refreshVoices().catch((e) => say("create-status", e.message, true));

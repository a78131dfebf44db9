"""Runtimes: how a loaded model's encoder is executed, under registered, versioned names.

A runtime takes a loaded :class:`~transcript_coder.model.TranscriptModel` and returns it ready to
predict; :meth:`TranscriptModel.predict_proba` is unchanged (it calls ``module.pool`` and then
``module.heads``), so tokenizing, length-sorted batching and turning probabilities into codes are
the same whatever the runtime.

* ``auto`` (default): ``torch_bf16.v1`` on CPUs with bfloat16 matrix units (AMX-BF16 or
  AVX512-BF16), ``torch_fp32.v1`` elsewhere. bfloat16 codes agree with float32 on at least 99 %
  of units per scheme (``tests/test_runtime.py`` checks it on the fixture set); it is about twice
  as fast where the CPU has the instructions, and slower where it emulates them.
* ``torch_fp32.v1``: the PyTorch module as loaded, float32.
* ``torch_bf16.v1``: the encoder in bfloat16; pooling and heads in float32.
* ``onnx_int8.v1`` (opt-in, ``pip install "transcript_coder[int8]"``): the encoder and pooling
  are exported to ONNX (TorchScript exporter, opset 17, dynamic batch and length), quantised with
  ONNX Runtime's dynamic int8 quantisation (per-channel int8 weights of every MatMul with a
  constant weight; activations quantised per batch at run time; attention's activation x
  activation products stay float) and run by an ONNX Runtime CPU session. The heads stay float32
  torch. Its codes do **not** yet agree with float32 to the 99 % that making it the default
  needs (``tests/test_runtime.py`` measures it), so it is opt-in.
  ONNX Runtime is used because PyTorch's own dynamic quantisation
  (``torch.ao.quantization.quantize_dynamic``) is deprecated and its successor (torchao's
  ``quantize_``) was about 3x *slower* than float32 on this CPU in eager mode.

The export runs when the model is loaded (a few seconds per model) into a temporary folder.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import ModelError, UsageError
from .registry import runtimes

log = logging.getLogger(__name__)

#: ``auto`` picks ``torch_bf16.v1`` on CPUs with bfloat16 matrix instructions and
#: ``torch_fp32.v1`` elsewhere (see :func:`resolve_runtime`).
DEFAULT_RUNTIME = "auto"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def has_bf16_matrix_units(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU multiplies bfloat16 matrices natively (AMX-BF16 or AVX512-BF16); without
    them PyTorch emulates bfloat16 and it is slower than float32."""
    try:
        flags = set(Path(cpuinfo).read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return any(flag in flags for flag in _BF16_FLAGS)


def resolve_runtime(name: str | None) -> str:
    """The registered runtime ``name`` stands for; ``None`` and ``"auto"`` resolve to
    ``torch_bf16.v1`` where :func:`has_bf16_matrix_units`, else ``torch_fp32.v1``.
    Raises UsageError E411 if unknown."""
    if name in (None, "", "auto"):
        return "torch_bf16.v1" if has_bf16_matrix_units() else "torch_fp32.v1"
    if name not in runtimes:
        raise UsageError("E411", value=name, known=", ".join(["auto", *runtimes.names()]))
    return name


def apply_runtime(model, name: str | None = None, threads: int | None = None):
    """``model`` prepared for the runtime ``name`` (see the module docstring)."""
    return runtimes.get(resolve_runtime(name))(model, threads=threads)


@runtimes.register("torch_fp32.v1")
def torch_fp32_v1(model, threads: int | None = None):
    """The loaded PyTorch module, unchanged."""
    return model


@runtimes.register("torch_bf16.v1")
def torch_bf16_v1(model, threads: int | None = None):
    """The encoder's weights and activations in bfloat16 (AMX / AVX-512 BF16 matrix units where the
    CPU has them); pooling and the heads stay float32."""
    model.module.encoder.to(torch.bfloat16)
    return model


class _Pool(nn.Module):
    """``module.pool`` as a module with positional inputs, for export."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.module.pool(input_ids, attention_mask, token_type_ids)


class OnnxPoolModule(nn.Module):
    """Stands in for :class:`~transcript_coder.model.MultiHeadClassifier` at prediction: ``pool``
    runs an ONNX Runtime session, ``heads`` are the original float32 heads."""

    def __init__(self, session, module: nn.Module) -> None:
        super().__init__()
        self.session = session
        self.inner = module
        self.heads = module.heads

    @property
    def encoder(self) -> nn.Module:
        """The torch encoder (its config describes the vectors the session returns)."""
        return self.inner.encoder

    def head_logits(self, scheme, pooled, context=None):
        return self.inner.head_logits(scheme, pooled, context)

    def pool(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy(),
                 "token_type_ids": token_type_ids.numpy()}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def export_onnx(model, path: Path) -> Path:
    """Export ``model``'s encoder + pooling to ``path`` (float32 ONNX, dynamic batch and length)."""
    sample = model.tokenizer(["a short unit", "and a somewhat longer second unit"], ["context", ""],
                             padding=True, return_tensors="pt", return_token_type_ids=True)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    dynamic["pooled"] = {0: "batch"}
    module = _Pool(model.module).eval()
    with warnings.catch_warnings():
        # The tracer warns about Python booleans in transformers' mask helpers; the test suite
        # checks that the exported graph matches torch for other batch sizes and lengths.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(sample[name] for name in _INPUTS), str(path), input_names=list(_INPUTS),
                          output_names=["pooled"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
    return path


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_runtime(model, threads: int | None = None, quantize: bool = True):
    """``model`` with its encoder run by ONNX Runtime (int8 dynamic quantisation if ``quantize``)."""
    try:
        import onnx  # noqa: F401  (needed by the exporter and the quantiser)
        import onnxruntime  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelError("E206", runtime="onnx_int8.v1" if quantize else "onnx_fp32.v1",
                         packages="onnxruntime and onnx", extra="int8", detail=str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="transcript-coder-onnx-") as folder:
        path = export_onnx(model, Path(folder) / "encoder.onnx")
        if quantize:
            quantized = Path(folder) / "encoder.int8.onnx"
            root = logging.getLogger()
            was, root.disabled = root.disabled, True  # the quantiser logs advice to the root logger
            try:
                quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"MatMulConstBOnly": True})
            finally:
                root.disabled = was
            path = quantized
        session = _session(path, threads)  # the session holds the graph; the files can go
    log.info("%s: encoder runs on ONNX Runtime (%s)", model.name, "int8" if quantize else "fp32")
    model.module = OnnxPoolModule(session, model.module).eval()
    return model


@runtimes.register("onnx_int8.v1")
def onnx_int8_v1(model, threads: int | None = None):
    """Encoder exported to ONNX, MatMul weights int8 (dynamic quantisation), run by ONNX Runtime."""
    return onnx_runtime(model, threads, quantize=True)


@runtimes.register("onnx_fp32.v1")
def onnx_fp32_v1(model, threads: int | None = None):
    """Encoder exported to ONNX in float32, run by ONNX Runtime (a reference for the int8 path)."""
    return onnx_runtime(model, threads, quantize=False)

"""What every model declares: :class:`ModelSpec`, one row of Table 1 (Coutrin & Thomaz 2022,
docs/PROTOCOL.md#models) with everything code needs to build, train and explain the model.

Each architecture's module (``vgg16.py`` ... ``ncnn.py``) holds its spec and says why its values are what
they are; :mod:`painxai.models.registry` collects them. The rules the specs share:

- The fine-tuned layers of Table 1 ("conv layers fine-tuned": 6 / 9 / 9 / 18 / all) are **the last N
  ``Conv2D`` layers in creation order**, where creation order is that of the keras-vggface sources (the
  order of ``layer_names`` in the original weight files; in a bottleneck block: 1x1 reduce, 3x3, 1x1
  increase, then the 1x1 projection) and of ``keras.applications`` for InceptionV3. A model trained end to
  end (``phase2_cut_layer`` None) lists every layer with weights.
- BatchNormalization in phase 2 is a training-profile setting (``Profile.finetune_batchnorm``): "frozen"
  keeps every BN layer in inference mode (Keras's fine-tuning guidance); "train" also trains
  ``finetune_batchnorm``, the BN layers that normalise a Table-1 conv's output, which in Keras then run in
  training mode (batch statistics, moving averages updated), as a ``trainable = True`` on those blocks does
  in TF 2.x Keras. BN layers of frozen convs stay frozen either way.
- ``phase2_cut_layer`` is a layer whose single output every fine-tuned layer depends on and through which
  everything downstream flows: training caches activations there in phase 2 and the dashboard computes the
  frozen trunk once for all folds.
- Input sizes are square sides in pixels: ``paper_input_size`` (Table 1), ``demo_input_size`` (the CPU
  demo; each module says how it was chosen), ``min_input_size`` (what ``build`` accepts, measured).
- Class order of every model: index 0 = no pain, index 1 = pain (``pain_index``); a 1-unit sigmoid
  output gives the pain probability directly (index 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from painxai.labels import CLASSES, PAIN


@dataclass(frozen=True)
class ModelSpec:
    """One row of Table 1 with everything code needs to build, train and explain the model.

    Sizes are square input sides in pixels. ``head`` lists the ReLU dense units between the base and
    the output layer; ``head_dropout`` follows each of them.
    """

    name: str
    title: str
    base_weights: str | None  # "VGGFace", "VGGFace2", "ImageNet" or None (trained from scratch)
    weights_file: str | None  # canonical file name in painxai.paths.weights_dir()
    weights_url: str | None  # where the original file is published
    paper_input_size: int
    demo_input_size: int
    min_input_size: int
    preprocessing: str  # a name registered with registry.register_preprocessing (run.json records it)
    head: tuple[int, ...]
    head_dropout: float
    output: str  # "softmax2" (2 units, index 1 = pain) or "sigmoid1" (1 unit = P(pain))
    last_conv_layer: str  # the last conv layer of Table 1's network (the paper's Grad-CAM layer)
    finetune_layers: tuple[str, ...]  # the conv layers of Table 1 trained in phase 2 (all weighted layers: ncnn)
    finetune_companions: tuple[str, ...]  # other base layers unfrozen with them (SENet's SE gates)
    phase2_cut_layer: str | None  # None: trained end to end, nothing is frozen
    total_params: int  # at paper_input_size, Table 1
    finetune_batchnorm: tuple[str, ...] = ()  # BN layers after the Table-1 convs, trained when the profile says so
    explained_layer: str = ""  # the layer maps explain by default; "" = last_conv_layer (why not: see the row)
    # Table 2 of the paper, metric -> (mean, sd) in % (epochs in epochs); None for models the paper lacks
    paper_table2: dict[str, tuple[float, float]] | None = field(default=None, hash=False)
    # measured CPU seconds per training sample and epoch (phase 1, phase 2) at paper_input_size on 2 cores
    # (training/projection.py); None when not measured
    cpu_seconds_per_sample: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.explained_layer:
            object.__setattr__(self, "explained_layer", self.last_conv_layer)

    @property
    def trained_end_to_end(self) -> bool:
        """True when the model has no frozen base (N-CNN)."""
        return self.phase2_cut_layer is None

    @property
    def n_outputs(self) -> int:
        """Units of the ``logits`` layer: 2 for softmax models, 1 for the sigmoid N-CNN."""
        return 2 if self.output == "softmax2" else 1

    @property
    def pain_index(self) -> int:
        """Column of the model's output that holds the pain score (softmax: 1, sigmoid: 0)."""
        return CLASSES.index(PAIN) if self.output == "softmax2" else 0

    def head_layer_names(self) -> tuple[str, ...]:
        """Names of the head's layers with weights (dense layers and ``logits``), always trained."""
        return (*(f"head_dense{index}" for index in range(1, len(self.head) + 1)), "logits")

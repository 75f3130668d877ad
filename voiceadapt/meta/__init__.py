"""Meta-learning toolkit (ICLR 2019 meta-learners beside SEA adaptation): tasks and
functional parameters for any ``nn.Module``; MAML / first-order MAML and Reptile
(``gradient``), Prototypical Networks, LEO, CACTUs, Leap, MER (``continual``), MOLe and
model patches. ``training/benchmarks/meta.py`` checks each against a known answer."""

from voiceadapt.meta.gradient import MAML, Reptile, evaluate
from voiceadapt.meta.tasks import Sinusoids, Task, mlp

__all__ = ["MAML", "Reptile", "Sinusoids", "Task", "evaluate", "mlp"]

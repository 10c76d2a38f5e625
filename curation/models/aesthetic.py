"""The LAION improved-aesthetic-predictor head: an MLP on L2-normalised CLIP image embeddings, scoring about
1-10 (trained on OpenAI CLIP ViT-L/14, 768-d). State-dict keys ``layers.0/2/4/6/7`` as in the released file."""
from __future__ import annotations

import torch
from torch import nn

from curation.models.weights import FileSource, read_head_state


class AestheticHead(nn.Module):
    def __init__(self, input_dim: int = 768):
        super().__init__()
        self.input_dim = input_dim
        self.layers = nn.Sequential(
            nn.Linear(input_dim, 1024), nn.Dropout(0.2),
            nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, normalized_embeddings: torch.Tensor) -> torch.Tensor:
        """(N, D) unit-norm embeddings -> (N,) scores."""
        return self.layers(normalized_embeddings).squeeze(-1)


def load_aesthetic_head(source: FileSource, input_dim: int, device: str = "cpu", seed: int = 0) -> AestheticHead:
    """The head from ``source``, or seeded random weights."""
    if source.random:
        torch.manual_seed(seed)
        head = AestheticHead(input_dim)
    else:
        state = read_head_state(source.path)
        first = state["layers.0.weight"]
        if first.shape[1] != input_dim:
            raise ValueError(f"{source.path}: the head takes {first.shape[1]}-d embeddings but the CLIP model "
                             f"gives {input_dim}-d")
        head = AestheticHead(input_dim)
        head.load_state_dict(state)
    return head.to(device).eval()

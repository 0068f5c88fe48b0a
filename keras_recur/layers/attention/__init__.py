"""Attention mechanisms and the attention decoder.

- `attention_mechanism.py`: `AttentionMechanism`, the interface a mechanism
  implements (project the memory once, score a query) and what they share.
- `bahdanau_attention.py`: `BahdanauAttention`.
- `luong_attention.py`: `LuongAttention`.
- `attention_decoder.py`: `AttentionDecoder`, which runs any mechanism with
  the step it chooses (`BahdanauDecoding` or `LuongDecoding`).
"""

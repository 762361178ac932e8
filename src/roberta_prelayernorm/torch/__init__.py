"""The PyTorch family: ``modeling`` (the seven model classes), ``pretrained`` (their base class:
loading, saving, tying), ``checkpoint`` (weight files as tensors), ``generation``, ``precision`` (bf16,
fp16, int8) and ``onnx`` (export). Imported only when a PyTorch class is used."""
